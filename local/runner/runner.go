// Package runner serves the whole API on this machine: it starts DynamoDB Local and versitygw,
// creates the tables and the images bucket, seeds the first admin, and turns each HTTP request
// into the API Gateway event that AWS would send, running the same authorizer and handler code
// as the Lambdas.
package runner

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/clinicpix/backend/local/emulator"
	"github.com/clinicpix/backend/shared/app"
	"github.com/clinicpix/backend/shared/apperr"
	"github.com/clinicpix/backend/shared/config"
	"github.com/clinicpix/backend/shared/mail"
	"github.com/clinicpix/backend/shared/store"
)

// Options configures a Runner. Zero values take the defaults documented on each field.
type Options struct {
	// Root is the repository root, where `make tools` installed the emulators. Empty means
	// the root found above the working directory.
	Root string
	// Port is the API's port on 127.0.0.1. 0 picks a free one.
	Port int
	// DataDir keeps DynamoDB Local's database, versitygw's objects and the local TOTP key.
	// Empty keeps everything in a temporary directory removed on Stop, with DynamoDB in memory.
	DataDir string
	// DynamoDBPort and S3Port are the stand-ins' ports. 0 picks free ones.
	DynamoDBPort int
	S3Port       int
	// AdminEmail and AdminPassword seed the first admin when no account has that email yet.
	// An empty password generates one, which Start returns in SeededAdminPassword.
	AdminEmail    string
	AdminPassword string
	// Env overrides configuration variables (the same CLINICPIX_* names the functions read);
	// nil reads the process environment.
	Env func(string) (string, bool)
	// Log receives the runner's JSON log, including each local mail message. Nil is stderr.
	Log io.Writer
	// Now is the clock. Nil is time.Now.
	Now func() time.Time
}

// Runner is a running local API.
type Runner struct {
	App     *app.App
	Mailbox *mail.Mailbox
	// SeededAdminPassword is set when Start generated the first admin's password.
	SeededAdminPassword string
	// S3 is a client for the local images bucket, for tests.
	S3 *s3.Client

	baseURL  string
	server   *http.Server
	dynamo   *emulator.Process
	versity  *emulator.Process
	tempDir  string
	log      *slog.Logger
	stopOnce sync.Once
	handlers sync.Map // function name -> httpapi.LambdaHandler
}

// Local stand-in settings that are not secrets: versitygw's root keys exist only on this machine.
const (
	localAccessKey = "clinicpix-local"
	localSecretKey = "clinicpix-local-secret"
	localBucket    = "clinicpix-images-local"
	localKMSKeyID  = "alias/clinicpix-images-local"
)

// BaseURL is the API's root, e.g. http://127.0.0.1:5001/api.
func (r *Runner) BaseURL() string { return r.baseURL + "/api" }

// ServerURL is the server's root, e.g. http://127.0.0.1:5001, where /_local/mailbox lives.
func (r *Runner) ServerURL() string { return r.baseURL }

// Start starts the stand-ins and the API and returns once requests are served.
func Start(ctx context.Context, opts Options) (_ *Runner, err error) {
	if opts.Log == nil {
		opts.Log = os.Stderr
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Env == nil {
		opts.Env = os.LookupEnv
	}
	r := &Runner{log: app.NewLogger(opts.Log)}
	defer func() {
		if err != nil {
			r.Stop()
		}
	}()
	if opts.Root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		if opts.Root, err = emulator.FindRepoRoot(wd); err != nil {
			return nil, err
		}
	}
	if opts.DataDir != "" {
		// DynamoDB Local runs in the jar's folder, so a relative -dbPath would point there.
		if opts.DataDir, err = filepath.Abs(opts.DataDir); err != nil {
			return nil, fmt.Errorf("data directory %q: %w", opts.DataDir, err)
		}
	}
	dataDir := opts.DataDir
	if dataDir == "" {
		if r.tempDir, err = os.MkdirTemp("", "clinicpix-runner-"); err != nil {
			return nil, fmt.Errorf("create temporary data directory: %w", err)
		}
		dataDir = r.tempDir
	}

	if err := r.startDynamoDB(ctx, opts, dataDir); err != nil {
		return nil, err
	}

	// versitygw posts a test event while it starts, so the API (and its webhook) must already
	// be listening.
	listener, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(opts.Port))
	if err != nil {
		return nil, fmt.Errorf("listen on 127.0.0.1:%d (set CLINICPIX_PORT to another port): %w",
			opts.Port, err)
	}
	r.baseURL = "http://" + listener.Addr().String()
	r.server = &http.Server{Handler: r.routes(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := r.server.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.log.Error("local API server stopped", "error", err.Error())
		}
	}()

	if err := r.startVersityGW(ctx, opts, dataDir); err != nil {
		return nil, err
	}
	cfg, err := r.config(opts, dataDir)
	if err != nil {
		return nil, err
	}
	if err := r.buildApp(ctx, cfg, opts); err != nil {
		return nil, err
	}
	if err := r.seedAdmin(ctx, opts); err != nil {
		return nil, err
	}
	r.log.Info("local API ready", "api", r.BaseURL(), "mailbox", r.baseURL+"/_local/mailbox",
		"dynamodb", r.dynamo.Endpoint(), "s3", r.versity.Endpoint())
	return r, nil
}

func (r *Runner) startDynamoDB(ctx context.Context, opts Options, dataDir string) error {
	jar, err := emulator.FindDynamoDBJar(opts.Root)
	if err != nil {
		return err
	}
	dynamoDir := ""
	if opts.DataDir != "" {
		dynamoDir = filepath.Join(dataDir, "dynamodb")
	}
	r.dynamo, err = emulator.StartDynamoDB(ctx, emulator.DynamoDBOptions{
		Jar: jar, Port: opts.DynamoDBPort, DataDir: dynamoDir, Log: io.Discard,
	})
	return err
}

func (r *Runner) startVersityGW(ctx context.Context, opts Options, dataDir string) error {
	bin, err := emulator.FindVersityGW(opts.Root)
	if err != nil {
		return err
	}
	r.versity, err = emulator.StartVersityGW(ctx, emulator.VersityOptions{
		Binary: bin, Port: opts.S3Port, DataDir: filepath.Join(dataDir, "s3"),
		AccessKey: localAccessKey, SecretKey: localSecretKey,
		WebhookURL: r.baseURL + "/_local/s3-events", Quiet: true, Log: io.Discard,
	})
	return err
}

// config layers the runner's local defaults under the environment, so every CLINICPIX_*
// variable the functions read also works locally.
func (r *Runner) config(opts Options, dataDir string) (config.Config, error) {
	totpKey, err := localTOTPKey(opts.DataDir, dataDir)
	if err != nil {
		return config.Config{}, err
	}
	defaults := map[string]string{
		"AWS_REGION":                  emulator.Region,
		"CLINICPIX_DYNAMODB_ENDPOINT": r.dynamo.Endpoint(),
		"CLINICPIX_S3_ENDPOINT":       r.versity.Endpoint(),
		"CLINICPIX_USERS_TABLE":       "clinicpix-users",
		"CLINICPIX_SESSIONS_TABLE":    "clinicpix-sessions",
		"CLINICPIX_AUDIT_TABLE":       "clinicpix-audit",
		"CLINICPIX_ASSIGNMENTS_TABLE": "clinicpix-assignments",
		"CLINICPIX_IMAGES_TABLE":      "clinicpix-images",
		"CLINICPIX_SHARES_TABLE":      "clinicpix-shares",
		"CLINICPIX_IMAGES_BUCKET":     localBucket,
		"CLINICPIX_IMAGES_KMS_KEY_ID": localKMSKeyID,
		"CLINICPIX_MAIL_MODE":         "local",
		"CLINICPIX_MAIL_FROM":         "no-reply@clinicpix.local",
		"CLINICPIX_TOTP_KEY_MODE":     "local",
		"CLINICPIX_TOTP_LOCAL_KEY":    totpKey,
		"CLINICPIX_CURSOR_KEY":        randomKey(),
	}
	// The stand-ins' endpoints are the runner's own; the environment may not point them away.
	fixed := map[string]bool{"CLINICPIX_DYNAMODB_ENDPOINT": true, "CLINICPIX_S3_ENDPOINT": true,
		"CLINICPIX_MAIL_MODE": true, "CLINICPIX_TOTP_KEY_MODE": true}
	return config.Load(func(name string) (string, bool) {
		if !fixed[name] {
			if v, ok := opts.Env(name); ok && v != "" {
				return v, true
			}
		}
		v, ok := defaults[name]
		return v, ok
	})
}

// localTOTPKey returns the local AES key for TOTP secrets: kept in the data directory so that a
// restarted `make dev` can still read enrolled secrets, or random for a throwaway runner.
func localTOTPKey(persistentDir, dataDir string) (string, error) {
	if persistentDir == "" {
		return randomKey(), nil
	}
	path := filepath.Join(dataDir, "totp.key")
	if b, err := os.ReadFile(path); err == nil {
		return string(b), nil
	}
	key := randomKey()
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(key), 0o600); err != nil {
		return "", fmt.Errorf("write local TOTP key: %w", err)
	}
	return key, nil
}

func randomKey() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return base64.StdEncoding.EncodeToString(b)
}

func (r *Runner) buildApp(ctx context.Context, cfg config.Config, opts Options) error {
	// DynamoDB Local accepts only letters and digits in an access key, so it gets its own.
	dynamoCfg := app.AWSConfigForLocal(cfg.Region, emulator.DummyAccessKey, emulator.DummySecretKey)
	awsCfg := app.AWSConfigForLocal(cfg.Region, localAccessKey, localSecretKey)
	db := dynamodb.NewFromConfig(dynamoCfg, func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(cfg.DynamoDBEndpoint)
	})
	r.S3 = s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(cfg.S3Endpoint)
		o.UsePathStyle = true
		// Presigned GETs must sign only host, so a plain <img> or link works.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	if err := store.CreateTables(ctx, db, cfg.Tables); err != nil {
		return err
	}
	if err := createBucket(ctx, r.S3, cfg); err != nil {
		return err
	}
	r.Mailbox = &mail.Mailbox{Now: opts.Now, OnSend: func(m mail.Message) {
		// Local only: the runner's log is the developer's inbox.
		r.log.Info("local mail", "to", m.To, "subject", m.Subject, "body", m.Body)
	}}
	a, err := app.New(cfg, app.Clients{DynamoDB: db, S3: r.S3, Mail: r.Mailbox}, r.log, opts.Now)
	if err != nil {
		return err
	}
	r.App = a
	return nil
}

func (r *Runner) seedAdmin(ctx context.Context, opts Options) error {
	email := opts.AdminEmail
	if email == "" {
		email = "admin@clinicpix.local"
	}
	password := opts.AdminPassword
	generated := password == ""
	if generated {
		b := make([]byte, 18)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		password = base64.RawURLEncoding.EncodeToString(b)
	}
	_, err := r.App.Deps.Auth.CreateAdmin(ctx, email, "admin", password)
	if apperr.KindOf(err) == apperr.Conflict {
		r.log.Info("first admin already exists; keeping its password")
		return nil
	}
	if err != nil {
		return fmt.Errorf("seed first admin: %w", err)
	}
	if generated {
		r.SeededAdminPassword = password
	}
	return nil
}

// Stop stops the API and both stand-ins and removes a temporary data directory.
func (r *Runner) Stop() {
	r.stopOnce.Do(func() {
		if r.server != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = r.server.Shutdown(ctx)
			cancel()
		}
		if r.versity != nil {
			_ = r.versity.Stop()
		}
		if r.dynamo != nil {
			_ = r.dynamo.Stop()
		}
		if r.tempDir != "" {
			_ = os.RemoveAll(r.tempDir)
		}
	})
}
