// Command local serves the whole ClinicPix API on this machine (`make dev`). It starts DynamoDB
// Local and versitygw, creates the tables and bucket, seeds the first admin, and serves
// http://localhost:5001/api until interrupted.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/clinicpix/backend/local/runner"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "local runner:", err)
		os.Exit(1)
	}
}

func run() error {
	port, err := portFromEnv("CLINICPIX_PORT", 5001)
	if err != nil {
		return err
	}
	dynamoPort, err := portFromEnv("CLINICPIX_DYNAMODB_PORT", 5002)
	if err != nil {
		return err
	}
	s3Port, err := portFromEnv("CLINICPIX_S3_PORT", 5003)
	if err != nil {
		return err
	}
	dataDir := os.Getenv("CLINICPIX_DATA_DIR")
	if dataDir == "" {
		dataDir = ".local/data"
	}
	// No AWS SDK call from the runner may reach the instance metadata service.
	if err := os.Setenv("AWS_EC2_METADATA_DISABLED", "true"); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := runner.Start(ctx, runner.Options{
		Port: port, DynamoDBPort: dynamoPort, S3Port: s3Port, DataDir: dataDir,
		AdminEmail:    os.Getenv("CLINICPIX_ADMIN_EMAIL"),
		AdminPassword: os.Getenv("CLINICPIX_ADMIN_PASSWORD"),
	})
	if err != nil {
		return err
	}
	defer r.Stop()

	fmt.Printf("\nClinicPix API:  %s\nLocal mailbox:  %s/_local/mailbox\nData folder:    %s\n",
		r.BaseURL(), r.ServerURL(), dataDir)
	if r.SeededAdminPassword != "" {
		email := os.Getenv("CLINICPIX_ADMIN_EMAIL")
		if email == "" {
			email = "admin@clinicpix.local"
		}
		// Printed once, at the seed; it is not stored anywhere in clear.
		fmt.Printf("First admin:    %s / %s (shown once; set CLINICPIX_ADMIN_PASSWORD to choose)\n",
			email, r.SeededAdminPassword)
	}
	fmt.Println("Press Ctrl-C to stop.")
	<-ctx.Done()
	fmt.Println("\nStopping.")
	return nil
}

func portFromEnv(name string, def int) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	p, err := strconv.Atoi(v)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("%s: invalid port %q; expected a number from 1 to 65535", name, v)
	}
	return p, nil
}
