package images_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/clinicpix/backend/shared/audit"
	"github.com/clinicpix/backend/shared/auth"
	"github.com/clinicpix/backend/shared/images"
	"github.com/clinicpix/backend/shared/store"
	"github.com/clinicpix/backend/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const (
	testBucket = "images-test"
	testKMSKey = "alias/images-test"
)

// assignments is an in-memory AssignmentChecker: provider -> patient -> active.
type assignments struct {
	mu     sync.Mutex
	active map[[2]int64]bool
}

func (a *assignments) IsActive(_ context.Context, providerID, patientID int64) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.active[[2]int64{providerID, patientID}], nil
}

func (a *assignments) set(providerID, patientID int64, active bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.active[[2]int64{providerID, patientID}] = active
}

// auditLog keeps entries in memory and fails every write while failing is set.
type auditLog struct {
	mu      sync.Mutex
	entries []audit.Entry
	failing bool
}

var errAuditDown = errors.New("audit table unavailable")

func (l *auditLog) Record(_ context.Context, e audit.Entry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failing {
		return errAuditDown
	}
	l.entries = append(l.entries, e)
	return nil
}

func (l *auditLog) setFailing(v bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failing = v
}

// count returns how many entries have action and, when details is not empty, those details.
func (l *auditLog) count(action audit.Action, details string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.entries {
		if e.Action == action && (details == "" || e.Details == details) {
			n++
		}
	}
	return n
}

type env struct {
	svc    *images.Service
	s3     *s3.Client
	assign *assignments
	audit  *auditLog
	now    time.Time
}

// newEnv builds a Service on fresh DynamoDB Local tables and a fresh versitygw bucket.
func newEnv(t *testing.T) *env {
	t.Helper()
	db, tables := testenv.NewTables(t)
	gw := testenv.VersityGW(t, "")
	client := gw.Client()
	_, err := client.CreateBucket(
		context.Background(),
		&s3.CreateBucketInput{Bucket: aws.String(testBucket)},
	)
	if err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	e := &env{s3: client, assign: &assignments{active: map[[2]int64]bool{}}, audit: &auditLog{},
		now: time.Now().UTC()}
	e.svc = &images.Service{
		Images:      &store.Images{DB: db, Table: tables.Images},
		Shares:      &store.Shares{DB: db, Table: tables.Shares, Now: e.clock},
		Assignments: e.assign,
		S3:          client,
		Presign:     images.NewPresigner(client),
		Audit:       e.audit,
		Log:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:         e.clock,
		Settings: images.Settings{Bucket: testBucket, KMSKeyID: testKMSKey,
			MaxUploadBytes: 50_000_000},
	}
	return e
}

func (e *env) clock() time.Time { return e.now }

// record returns a Recorder that writes to the env's audit log with actorID as actor, turning a
// failed write into a 503 as the handlers do.
func (e *env) record(actorID int64) images.Recorder {
	return func(entry audit.Entry) error {
		entry.ActorID = actorID
		return auth.Record(context.Background(), e.audit, audit.Origin{}, entry)
	}
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read test image: %v", err)
	}
	return b
}

// issue requests an upload URL and fails the test on error.
func (e *env) issue(t *testing.T, ownerID int64, r images.UploadRequest) images.Upload {
	t.Helper()
	up, err := e.svc.NewUpload(context.Background(), ownerID, r, e.record(ownerID))
	if err != nil {
		t.Fatalf("NewUpload(%q): %v", r.FileName, err)
	}
	return up
}

// s3Event builds an S3 notification the way Amazon S3 sends it and decodes it as the Lambda
// runtime does. encodedKey must already be URL-encoded.
func s3Event(t *testing.T, eventName, encodedKey, sequencer string, size int64) events.S3Event {
	t.Helper()
	object := map[string]any{"key": encodedKey, "sequencer": sequencer}
	if size >= 0 {
		object["size"] = size
	}
	body := map[string]any{"Records": []any{map[string]any{
		"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
		"eventTime": "2026-12-04T16:00:00.000Z", "eventName": eventName,
		"responseElements": map[string]string{"x-amz-request-id": "REQ1"},
		"s3": map[string]any{
			"s3SchemaVersion": "1.0",
			"bucket": map[string]any{
				"name": testBucket,
				"arn":  "arn:aws:s3:::" + testBucket,
			},
			"object": object,
		},
	}}}
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatalf("marshal event: %v", err)
	}
	var ev events.S3Event
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatalf("decode event: %v", err)
	}
	return ev
}

// uploadAndNotify uploads data through a fresh upload URL and delivers its ObjectCreated event
// with sequencer seq. It returns the image as stored afterwards.
func (e *env) uploadAndNotify(t *testing.T, ownerID int64, r images.UploadRequest, data []byte,
	seq string) store.Image {
	t.Helper()
	up := e.issue(t, ownerID, r)
	if status := testenv.PutPresigned(t, up.URL, up.Headers, data); status != http.StatusOK {
		t.Fatalf("PUT %q: got status %d, want 200", r.FileName, status)
	}
	ev := s3Event(t, "ObjectCreated:Put", up.Image.ObjectKey, seq, int64(len(data)))
	if err := e.svc.HandleS3Event(context.Background(), ev); err != nil {
		t.Fatalf("HandleS3Event: %v", err)
	}
	return e.image(t, up.Image.ID)
}

func (e *env) image(t *testing.T, id string) store.Image {
	t.Helper()
	img, err := e.svc.Images.Get(context.Background(), id, e.now)
	if err != nil {
		t.Fatalf("get image %s: %v", id, err)
	}
	return img
}

// objectExists reports whether the bucket has key.
func (e *env) objectExists(t *testing.T, key string) bool {
	t.Helper()
	_, err := e.s3.HeadObject(context.Background(), &s3.HeadObjectInput{
		Bucket: aws.String(testBucket), Key: aws.String(key)})
	return err == nil
}
