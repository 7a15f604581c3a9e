// Package testenv gives tests running local emulators: one DynamoDB Local shared by the whole
// test binary, and a fresh versitygw S3 gateway per call.
//
// A package that uses DynamoDB must run its tests through Main:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// When a tool is not installed, tests are skipped with a message that names `make tools`,
// except when the environment variable CI is non-empty: then they fail, so that a CI run
// never passes by skipping.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/clinicpix/backend/local/emulator"
)

// startTimeout bounds how long an emulator may take to start. DynamoDB Local took about 3 s to
// accept requests on a 2-core machine, so this leaves room for slower or busier machines.
const startTimeout = 2 * time.Minute

var (
	mainMu     sync.Mutex
	mainCalled bool

	// sharedDynamoDB is the DynamoDB Local of this test binary, started by the first
	// DynamoDB call. sharedDynamoDBErr is its start error, kept so that later tests fail
	// at once instead of waiting for another start to time out.
	sharedDynamoDB    *emulator.Process
	sharedDynamoDBErr error

	rootOnce sync.Once
	root     string
	rootErr  error
)

// Main runs the tests of m, stops the shared DynamoDB Local if a test started it, and exits
// with the tests' exit code. It also sets AWS_EC2_METADATA_DISABLED=true, so that an AWS SDK
// configured from the environment does not contact the EC2 instance metadata service.
func Main(m *testing.M) {
	if err := os.Setenv("AWS_EC2_METADATA_DISABLED", "true"); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: set AWS_EC2_METADATA_DISABLED: %v\n", err)
		os.Exit(1)
	}
	mainMu.Lock()
	mainCalled = true
	mainMu.Unlock()

	code := m.Run()

	mainMu.Lock()
	proc := sharedDynamoDB
	sharedDynamoDB = nil
	mainMu.Unlock()
	if proc != nil {
		if err := proc.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: stop DynamoDB Local: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

// DynamoDB returns the endpoint URL of the DynamoDB Local shared by all tests in this binary,
// starting it on first use. Its data is kept in memory and shared between tests, so each test
// must use its own table names. The package's TestMain must call Main, which stops it.
func DynamoDB(t testing.TB) string {
	t.Helper()
	jar := DynamoDBJar(t)

	mainMu.Lock()
	defer mainMu.Unlock()
	if !mainCalled {
		t.Fatal("testenv.DynamoDB needs TestMain to call testenv.Main, " +
			"which stops DynamoDB Local when the tests end")
	}
	if sharedDynamoDB == nil && sharedDynamoDBErr == nil {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		sharedDynamoDB, sharedDynamoDBErr = emulator.StartDynamoDB(ctx,
			emulator.DynamoDBOptions{Jar: jar})
	}
	if sharedDynamoDBErr != nil {
		t.Fatalf("start shared DynamoDB Local: %v", sharedDynamoDBErr)
	}
	return sharedDynamoDB.Endpoint()
}

// RepoRoot returns the root of the repository: the nearest directory, from the working
// directory upwards, that contains go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	rootOnce.Do(func() {
		var wd string
		if wd, rootErr = os.Getwd(); rootErr == nil {
			root, rootErr = emulator.FindRepoRoot(wd)
		}
	})
	if rootErr != nil {
		t.Fatalf("find repository root: %v", rootErr)
	}
	return root
}

// DynamoDBJar returns the path of DynamoDBLocal.jar after checking that java is on PATH. If
// either is missing, it skips the test, or fails it when CI is set.
func DynamoDBJar(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("java"); err != nil {
		skipOrFail(t, fmt.Errorf("java 17 %w on PATH: apt-get install openjdk-17-jre-headless",
			emulator.ErrToolNotFound))
	}
	jar, err := emulator.FindDynamoDBJar(RepoRoot(t))
	if err != nil {
		skipOrFail(t, err)
	}
	return jar
}

// VersityGWBinary returns the path of the versitygw executable. If it is missing, it skips the
// test, or fails it when CI is set.
func VersityGWBinary(t testing.TB) string {
	t.Helper()
	binary, err := emulator.FindVersityGW(RepoRoot(t))
	if err != nil {
		skipOrFail(t, err)
	}
	return binary
}

// skipOrFail skips t for a missing tool, unless CI is set, and fails t for any other error.
func skipOrFail(t testing.TB, err error) {
	t.Helper()
	if !errors.Is(err, emulator.ErrToolNotFound) {
		t.Fatal(err)
	}
	if ci := os.Getenv("CI"); ci != "" {
		t.Fatalf("%v (CI=%s, so a missing tool fails the test instead of skipping it)", err, ci)
	}
	t.Skip(err)
}
