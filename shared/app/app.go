// Package app wires the functions: it builds AWS clients, stores and services once per process
// from Config, and hands each function its Lambda handler.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/clinicpix/backend/shared/auth"
	"github.com/clinicpix/backend/shared/config"
	"github.com/clinicpix/backend/shared/handlers"
	"github.com/clinicpix/backend/shared/httpapi"
	"github.com/clinicpix/backend/shared/mail"
	"github.com/clinicpix/backend/shared/routes"
	"github.com/clinicpix/backend/shared/store"
)

// Clients are the AWS clients the service uses. The local runner passes clients aimed at the
// local stand-ins and a Mailbox in place of SES.
type Clients struct {
	DynamoDB *dynamodb.Client
	S3       *s3.Client
	KMS      *kms.Client // nil when TOTP secrets use the local key
	Mail     mail.Sender
}

// App is one process's wiring.
type App struct {
	Config   config.Config
	Clients  Clients
	Deps     *handlers.Deps
	Adapter  *httpapi.Adapter
	Log      *slog.Logger
	registry map[string]httpapi.Handler
}

// NewLogger returns the JSON logger every function uses.
func NewLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// Load reads Config from the environment and builds clients for AWS. Lambda mains call it.
func Load(ctx context.Context) (*App, error) {
	cfg, err := config.Load(os.LookupEnv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(cfg.Region))
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	clients := Clients{
		DynamoDB: dynamodb.NewFromConfig(awsCfg),
		S3:       s3.NewFromConfig(awsCfg),
	}
	if cfg.TOTPKeyMode == "kms" {
		clients.KMS = kms.NewFromConfig(awsCfg)
	}
	if cfg.MailMode != "ses" {
		return nil, fmt.Errorf("config: CLINICPIX_MAIL_MODE: %q works only in the local runner; "+
			"deployed functions use ses", cfg.MailMode)
	}
	clients.Mail = &mail.SES{Client: sesv2.NewFromConfig(awsCfg), From: cfg.MailFrom}
	return New(cfg, clients, NewLogger(os.Stdout), time.Now)
}

// New builds the App from config and clients.
func New(cfg config.Config, clients Clients, log *slog.Logger, now func() time.Time) (*App, error) {
	var cipher auth.SecretCipher
	switch cfg.TOTPKeyMode {
	case "local":
		c, err := auth.NewLocalCipher(cfg.TOTPLocalKey)
		if err != nil {
			return nil, err
		}
		cipher = c
	default:
		if clients.KMS == nil {
			return nil, fmt.Errorf("config: CLINICPIX_TOTP_KEY_MODE is kms but no KMS client was built")
		}
		cipher = &auth.KMSCipher{Client: clients.KMS, KeyID: cfg.TOTPKMSKeyID}
	}
	users := &store.Users{DB: clients.DynamoDB, Table: cfg.Tables.Users}
	sessions := &store.Sessions{DB: clients.DynamoDB, Table: cfg.Tables.Sessions}
	auditLog := &store.AuditLog{DB: clients.DynamoDB, Table: cfg.Tables.Audit, Now: now}
	svc := &auth.Service{
		Users: users, Sessions: sessions, Audit: auditLog, Mail: clients.Mail, Cipher: cipher,
		Settings: auth.Settings{
			BcryptCost: cfg.BcryptCost, PolicyVersion: cfg.PolicyVersion,
			LoginMaxFailures: cfg.LoginMaxFailures, LoginFailureWindow: cfg.LoginFailureWindow,
			LockoutDuration: cfg.LockoutDuration, SessionIdleTimeout: cfg.SessionIdleTimeout,
			SessionMaxLifetime: cfg.SessionMaxLifetime,
		},
		Now: now,
	}
	deps := &handlers.Deps{
		Config: cfg, Auth: svc, Users: users, Sessions: sessions, Audit: auditLog,
		Assignments: &store.Assignments{DB: clients.DynamoDB, Table: cfg.Tables.Assignments},
		Mail:        clients.Mail, Log: log, Now: now,
	}
	a := &App{
		Config: cfg, Clients: clients, Deps: deps, Log: log,
		Adapter: &httpapi.Adapter{
			CORS:         httpapi.CORS{AllowedOrigins: cfg.AllowedOrigins},
			MaxBodyBytes: cfg.MaxBodyBytes,
			Sessions:     svc,
			Log:          log,
			Now:          now,
			Audit:        auditLog,
		},
	}
	deps.Images, deps.Shares = newImageService(cfg, clients, deps, auditLog, log, now)
	a.registry = handlers.Registry(deps)
	return a, nil
}

// API returns the Lambda handler of the named route function.
func (a *App) API(function string) (httpapi.LambdaHandler, error) {
	route, ok := routes.ByFunction(function)
	if !ok {
		return nil, fmt.Errorf("no route is served by function %q", function)
	}
	h, ok := a.registry[function]
	if !ok {
		return nil, fmt.Errorf("function %q has no handler", function)
	}
	return a.Adapter.Wrap(route, h), nil
}

// AWSConfigForLocal returns an aws.Config with static credentials for the local stand-ins.
func AWSConfigForLocal(region, accessKey, secretKey string) aws.Config {
	return aws.Config{
		Region: region,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey,
				Source: "clinicpix-local"}, nil
		}),
	}
}

// MustLoad is Load for a Lambda main: it logs the error and exits when start-up fails.
func MustLoad() *App {
	a, err := Load(context.Background())
	if err != nil {
		NewLogger(os.Stderr).Error("start-up failed", "error", err.Error())
		os.Exit(1)
	}
	return a
}

// MustAPI is API for a Lambda main: it logs the error and exits when the function is unknown.
func (a *App) MustAPI(function string) httpapi.LambdaHandler {
	h, err := a.API(function)
	if err != nil {
		a.Log.Error("start-up failed", "function", function, "error", err.Error())
		os.Exit(1)
	}
	return h
}
