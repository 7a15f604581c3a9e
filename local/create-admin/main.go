// Command create-admin creates an admin account in the configured DynamoDB tables. Admins are
// never created over HTTP, so this operator tool and the local runner's first-admin seed are the
// only ways to make one. It reads the same CLINICPIX_* environment as the functions, and the
// password from the first line of standard input, so it stays out of the shell history and the
// process list:
//
//	printf '%s\n' "$PASSWORD" | go run ./local/create-admin -email ops@example.com -username ops
//
// With CLINICPIX_DYNAMODB_ENDPOINT set it talks to that endpoint (DynamoDB Local) with dummy
// credentials; without it, it uses the AWS SDK's default credential chain and region.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/clinicpix/backend/local/emulator"
	"github.com/clinicpix/backend/shared/auth"
	"github.com/clinicpix/backend/shared/config"
	"github.com/clinicpix/backend/shared/store"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.LookupEnv, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "create-admin:", err)
		os.Exit(1)
	}
}

// run parses args, reads the password from stdin and creates the admin, printing its id.
func run(ctx context.Context, args []string, env config.Lookup, stdin io.Reader, stdout io.Writer) error {
	flags := flag.NewFlagSet("create-admin", flag.ContinueOnError)
	email := flags.String("email", "", "email address of the new admin (required)")
	username := flags.String("username", "", "display name of the new admin (required)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *email == "" || *username == "" {
		return errors.New("-email and -username are required")
	}
	password, err := readPassword(stdin)
	if err != nil {
		return err
	}
	cfg, err := config.Load(env)
	if err != nil {
		return err
	}
	db, err := dynamoClient(ctx, cfg)
	if err != nil {
		return err
	}
	svc := &auth.Service{
		Users:    &store.Users{DB: db, Table: cfg.Tables.Users},
		Sessions: &store.Sessions{DB: db, Table: cfg.Tables.Sessions},
		Audit:    &store.AuditLog{DB: db, Table: cfg.Tables.Audit, Now: time.Now},
		Settings: auth.Settings{BcryptCost: cfg.BcryptCost, PolicyVersion: cfg.PolicyVersion},
		Now:      time.Now,
	}
	u, err := svc.CreateAdmin(ctx, *email, *username, password)
	if err != nil {
		return fmt.Errorf("create admin: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "created admin account %d\n", u.ID)
	return err
}

// readPassword returns the first line of r without its line ending.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from standard input: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	if password == "" {
		return "", errors.New("no password on standard input; pipe it in as the first line")
	}
	return password, nil
}

// dynamoClient builds the DynamoDB client for cfg: the local endpoint with dummy credentials when
// one is configured, otherwise AWS through the default credential chain.
func dynamoClient(ctx context.Context, cfg config.Config) (*dynamodb.Client, error) {
	if cfg.DynamoDBEndpoint != "" {
		return dynamodb.New(dynamodb.Options{
			Region:       cfg.Region,
			BaseEndpoint: aws.String(cfg.DynamoDBEndpoint),
			Credentials: credentials.NewStaticCredentialsProvider(
				emulator.DummyAccessKey, emulator.DummySecretKey, ""),
		}), nil
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(cfg.Region))
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	return dynamodb.NewFromConfig(awsCfg), nil
}
