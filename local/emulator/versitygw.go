package emulator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// VersityOptions configures StartVersityGW.
type VersityOptions struct {
	// Binary is the path of the versitygw executable, as returned by FindVersityGW. Required.
	Binary string
	// Port is the TCP port to listen on, on 127.0.0.1 only. 0 picks a free one.
	Port int
	// DataDir is the root directory of the posix backend: each subdirectory is a bucket and
	// each file below it an object. It is created if missing. Required.
	DataDir string
	// AccessKey and SecretKey are the root user's credentials, which every request must be
	// signed with. Required.
	AccessKey string
	SecretKey string
	// WebhookURL, if set, receives an HTTP POST for each object event (see README.md for the
	// body). It must be an http URL on a loopback host.
	//
	// The receiver must already accept connections when StartVersityGW is called: versitygw
	// POSTs a test event while it starts and exits if the connection is refused. Create the
	// listener first, for example with LoopbackListener, and serve on it.
	WebhookURL string
	// Quiet turns off versitygw's log line for each request (--quiet).
	Quiet bool
	// Log receives the combined stdout and stderr of versitygw. Nil discards it.
	Log io.Writer
}

// versityEnvDrop lists the environment variables that versitygw reads as defaults for its flags
// (v1.8.0). They are removed from the child's environment so that settings in a developer's
// shell, such as an audit-log WEBHOOK URL, cannot change or redirect the local gateway.
var versityEnvDrop = []string{"VGW_*", "ROOT_*", "WEBHOOK", "LOGFILE"}

// StartVersityGW starts versitygw with the posix backend, listening on 127.0.0.1 only, and
// returns once a signed ListBuckets request succeeds. It gives up when ctx ends, or after
// DefaultStartTimeout if ctx has no deadline. The caller must call Stop on the result.
func StartVersityGW(ctx context.Context, opts VersityOptions) (*Process, error) {
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("start versitygw: %w", err)
	}
	if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("start versitygw: create data directory: %w", err)
	}

	for attempt := 1; ; attempt++ {
		port := opts.Port
		if port == 0 {
			var err error
			if port, err = FreePort(); err != nil {
				return nil, err
			}
		}
		proc, err := startVersityGWOnPort(ctx, opts, port)
		if err == nil {
			return proc, nil
		}
		if opts.Port != 0 || attempt == startAttempts || !isAddressInUse(err) {
			return nil, err
		}
	}
}

func (opts VersityOptions) validate() error {
	switch {
	case opts.Binary == "":
		return errors.New("VersityOptions.Binary is empty")
	case opts.DataDir == "":
		return errors.New("VersityOptions.DataDir is empty")
	case opts.AccessKey == "" || opts.SecretKey == "":
		return errors.New("VersityOptions.AccessKey and SecretKey are required")
	}
	if err := checkFile(opts.Binary); err != nil {
		return err
	}
	if opts.WebhookURL != "" {
		if err := checkLoopbackURL(opts.WebhookURL); err != nil {
			return fmt.Errorf("invalid VersityOptions.WebhookURL: %w", err)
		}
	}
	return nil
}

func startVersityGWOnPort(ctx context.Context, opts VersityOptions, port int) (*Process, error) {
	args := []string{
		"--port", "127.0.0.1:" + strconv.Itoa(port),
		"--access", opts.AccessKey,
		"--secret", opts.SecretKey,
		"--region", Region,
	}
	if opts.Quiet {
		args = append(args, "--quiet")
	}
	if opts.WebhookURL != "" {
		// Without --event-filter, versitygw sends every event type.
		args = append(args, "--event-webhook-url", opts.WebhookURL)
	}
	args = append(args, "posix", opts.DataDir)

	cmd := exec.Command(opts.Binary, args...)
	cmd.Env = childEnv(versityEnvDrop, "AWS_EC2_METADATA_DISABLED=true")

	endpoint := "http://127.0.0.1:" + strconv.Itoa(port)
	proc, err := startProcess("versitygw", cmd, opts.Log, endpoint, port)
	if err != nil {
		return nil, err
	}
	client := newS3ProbeClient(endpoint, opts.AccessKey, opts.SecretKey)
	probe := func(ctx context.Context) error {
		_, err := client.ListBuckets(ctx, &s3.ListBucketsInput{})
		return err
	}
	if err := proc.waitReady(ctx, probe); err != nil {
		_ = proc.Stop()
		return nil, err
	}
	return proc, nil
}

// newS3ProbeClient returns an S3 client without retries for readiness checks. It reads no
// shared AWS configuration, so it never contacts the EC2 instance metadata service.
func newS3ProbeClient(endpoint, accessKey, secretKey string) *s3.Client {
	return s3.New(s3.Options{
		Region:           Region,
		BaseEndpoint:     aws.String(endpoint),
		Credentials:      credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
		UsePathStyle:     true,
		RetryMaxAttempts: 1,
	})
}

// checkLoopbackURL returns an error unless rawURL is an http URL whose host is localhost or a
// loopback IP address, because the local gateway must not send events to other hosts.
func checkLoopbackURL(rawURL string) error {
	parsed, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	if parsed.Scheme != "http" {
		return fmt.Errorf("%q: scheme must be http", rawURL)
	}
	host := parsed.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%q: host must be localhost, 127.0.0.0/8 or ::1", rawURL)
}
