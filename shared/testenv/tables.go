package testenv

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/clinicpix/backend/local/emulator"
	"github.com/clinicpix/backend/shared/config"
	"github.com/clinicpix/backend/shared/store"
)

var tableSeq atomic.Int64

// NewTables creates every ClinicPix table in the shared DynamoDB Local under names unique to
// this call and returns a client and the names. The package's TestMain must call Main.
func NewTables(t testing.TB) (*dynamodb.Client, config.Tables) {
	t.Helper()
	endpoint := DynamoDB(t)
	client := dynamodb.New(dynamodb.Options{
		Region:       emulator.Region,
		BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(
			emulator.DummyAccessKey, emulator.DummySecretKey, ""),
	})
	prefix := fmt.Sprintf("t%d-%d-", time.Now().UnixNano(), tableSeq.Add(1))
	tables := config.Tables{
		Users: prefix + "users", Sessions: prefix + "sessions", Audit: prefix + "audit",
		Assignments: prefix + "assignments", Images: prefix + "images", Shares: prefix + "shares",
	}
	if err := store.CreateTables(context.Background(), client, tables); err != nil {
		t.Fatalf("create tables: %v", err)
	}
	return client, tables
}
