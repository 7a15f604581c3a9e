package testenv_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/clinicpix/backend/local/emulator"
	"github.com/clinicpix/backend/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestDynamoDBIsShared(t *testing.T) {
	first := testenv.DynamoDB(t)
	second := testenv.DynamoDB(t)
	if first != second {
		t.Errorf("second DynamoDB call returned %s, want the shared %s", second, first)
	}

	client := dynamodb.New(dynamodb.Options{
		Region:       emulator.Region,
		BaseEndpoint: aws.String(first),
		Credentials: credentials.NewStaticCredentialsProvider(
			emulator.DummyAccessKey, emulator.DummySecretKey, ""),
	})
	if _, err := client.ListTables(context.Background(), &dynamodb.ListTablesInput{}); err != nil {
		t.Errorf("ListTables on %s: %v", first, err)
	}
}

func TestMainDisablesEC2Metadata(t *testing.T) {
	if got := os.Getenv("AWS_EC2_METADATA_DISABLED"); got != "true" {
		t.Errorf("AWS_EC2_METADATA_DISABLED = %q, want true", got)
	}
}

func TestVersityGWStoresObjectsInDataDir(t *testing.T) {
	gateway := testenv.VersityGW(t, "")
	client := gateway.Client()
	ctx := context.Background()

	_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("images")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("images"), Key: aws.String("1/scan.png"),
		Body: strings.NewReader("pixels"),
	})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := os.ReadFile(filepath.Join(gateway.DataDir, "images", "1", "scan.png"))
	if err != nil {
		t.Fatalf("object file in data directory: %v", err)
	}
	if string(stored) != "pixels" {
		t.Errorf("stored object = %q, want pixels", stored)
	}
}

func TestVersityGWSendsWebhookEvents(t *testing.T) {
	listener, err := emulator.LoopbackListener()
	if err != nil {
		t.Fatal(err)
	}
	bodies := make(chan string, 10)
	server := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			bodies <- string(body)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = server.Serve(listener) }()
	t.Cleanup(func() { _ = server.Close() })

	gateway := testenv.VersityGW(t, "http://"+listener.Addr().String()+"/events")
	client := gateway.Client()
	ctx := context.Background()
	_, err = client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("images")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("images"), Key: aws.String("scan.png"), Body: strings.NewReader("x"),
	})
	if err != nil {
		t.Fatal(err)
	}

	deadline := time.After(5 * time.Second)
	for {
		select {
		case body := <-bodies:
			if strings.Contains(body, `"eventName":"s3:ObjectCreated:Put"`) {
				return
			}
		case <-deadline:
			t.Fatal("no s3:ObjectCreated:Put event within 5 s")
		}
	}
}

func TestToolLookupSkipsOrFails(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "versitygw")
	t.Setenv(emulator.EnvVersityGW, missing)

	tests := []struct {
		ci       string
		wantSkip bool
	}{
		{ci: "", wantSkip: true},
		{ci: "true", wantSkip: false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("CI=%q", tt.ci), func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			recorder := runWithRecorder(t, func(tb testing.TB) { testenv.VersityGWBinary(tb) })
			if recorder.skipped != tt.wantSkip {
				t.Errorf("skipped = %v, want %v", recorder.skipped, tt.wantSkip)
			}
			if recorder.failed == tt.wantSkip {
				t.Errorf("failed = %v, want %v", recorder.failed, !tt.wantSkip)
			}
			if !strings.Contains(recorder.message, "make tools") {
				t.Errorf("message %q does not name `make tools`", recorder.message)
			}
		})
	}
}

// recorder is a testing.TB that records Skip and Fatal instead of acting on them.
type recorder struct {
	testing.TB
	skipped bool
	failed  bool
	message string
}

// errStopped ends the function under test when it calls Skip or Fatal.
var errStopped = errors.New("recorder: test function stopped")

func (r *recorder) Helper() {}

func (r *recorder) Skip(args ...any) {
	r.skipped, r.message = true, fmt.Sprint(args...)
	panic(errStopped)
}

func (r *recorder) Fatal(args ...any) {
	r.failed, r.message = true, fmt.Sprint(args...)
	panic(errStopped)
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed, r.message = true, fmt.Sprintf(format, args...)
	panic(errStopped)
}

// runWithRecorder calls fn with a recorder and returns the recorder once fn returns or stops.
func runWithRecorder(t *testing.T, fn func(testing.TB)) (r *recorder) {
	r = &recorder{TB: t}
	defer func() {
		if value := recover(); value != nil && value != errStopped {
			panic(value)
		}
	}()
	fn(r)
	return r
}
