package testenv

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/clinicpix/backend/local/emulator"
)

// Root credentials of the gateways that VersityGW starts.
const (
	VersityAccessKey = "clinicpix-test"
	VersitySecretKey = "clinicpix-test-secret"
)

// S3Gateway is a running versitygw started by VersityGW.
type S3Gateway struct {
	// Endpoint is the base URL, for example "http://127.0.0.1:41234". Use path-style requests.
	Endpoint string
	// Region is the region that requests must be signed for.
	Region string
	// AccessKey and SecretKey are the root user's credentials.
	AccessKey string
	SecretKey string
	// DataDir is the posix backend root: each bucket is a directory below it.
	DataDir string
}

// VersityGW starts a versitygw with an empty data directory for this test and stops it when the
// test ends. If webhookURL is not empty, versitygw POSTs object events to it, so the receiver
// must already listen on a loopback address (see emulator.VersityOptions.WebhookURL). The
// gateway's output goes to the test log.
func VersityGW(t testing.TB, webhookURL string) *S3Gateway {
	t.Helper()
	binary := VersityGWBinary(t)
	dataDir := filepath.Join(t.TempDir(), "s3")
	log := &testLogWriter{t: t, prefix: "versitygw: "}

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	proc, err := emulator.StartVersityGW(ctx, emulator.VersityOptions{
		Binary:     binary,
		DataDir:    dataDir,
		AccessKey:  VersityAccessKey,
		SecretKey:  VersitySecretKey,
		WebhookURL: webhookURL,
		Log:        log,
	})
	if err != nil {
		t.Fatalf("start versitygw: %v", err)
	}
	t.Cleanup(func() {
		// Stop returns an error only if versitygw exited on its own during the test.
		if err := proc.Stop(); err != nil {
			t.Error(err)
		}
		log.flush()
	})
	return &S3Gateway{
		Endpoint:  proc.Endpoint(),
		Region:    emulator.Region,
		AccessKey: VersityAccessKey,
		SecretKey: VersitySecretKey,
		DataDir:   dataDir,
	}
}

// Client returns an S3 client for the gateway: path-style addressing, the root credentials,
// and checksums only when an operation requires them. Optional functions adjust the options
// further. The client reads no shared AWS configuration.
func (g *S3Gateway) Client(optFns ...func(*s3.Options)) *s3.Client {
	opts := s3.Options{
		Region:       g.Region,
		BaseEndpoint: aws.String(g.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(
			g.AccessKey, g.SecretKey, ""),
		UsePathStyle:               true,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	for _, fn := range optFns {
		fn(&opts)
	}
	return s3.New(opts)
}

// testLogWriter writes each complete line it receives to the test log.
type testLogWriter struct {
	t      testing.TB
	prefix string

	mu      sync.Mutex
	partial []byte
}

func (w *testLogWriter) Write(data []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, data...)
	for {
		line, rest, found := bytes.Cut(w.partial, []byte("\n"))
		if !found {
			break
		}
		w.t.Log(w.prefix + string(line))
		w.partial = rest
	}
	return len(data), nil
}

// flush logs a final line that did not end in a newline.
func (w *testLogWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) > 0 {
		w.t.Log(w.prefix + string(w.partial))
		w.partial = nil
	}
}

// PutPresigned sends data to a presigned PUT URL with exactly the given headers, as a browser
// would, and returns the HTTP status.
func PutPresigned(t testing.TB, rawURL string, headers map[string]string, data []byte) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, rawURL, bytes.NewReader(data))
	if err != nil {
		t.Fatalf("build PUT: %v", err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PUT: %v", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}
