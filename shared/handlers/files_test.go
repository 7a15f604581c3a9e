package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/clinicpix/backend/shared/audit"
	"github.com/clinicpix/backend/shared/config"
	"github.com/clinicpix/backend/shared/httpapi"
	"github.com/clinicpix/backend/shared/identity"
	"github.com/clinicpix/backend/shared/images"
	"github.com/clinicpix/backend/shared/routes"
	"github.com/clinicpix/backend/shared/store"
	"github.com/clinicpix/backend/shared/testenv"
)

const filesTestBucket = "files-handler-test"

// switchableAudit records entries in memory and fails every write while down is set.
type switchableAudit struct {
	mu      sync.Mutex
	down    bool
	entries []audit.Entry
}

func (a *switchableAudit) Record(_ context.Context, e audit.Entry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.down {
		return errors.New("audit table unavailable")
	}
	a.entries = append(a.entries, e)
	return nil
}

func (a *switchableAudit) setDown(v bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.down = v
}

type filesEnv struct {
	deps  *Deps
	audit *switchableAudit
}

// newFilesEnv builds Deps with the real stores on DynamoDB Local and the image service on a
// fresh versitygw bucket.
func newFilesEnv(t *testing.T) *filesEnv {
	t.Helper()
	db, tables := testenv.NewTables(t)
	gw := testenv.VersityGW(t, "")
	client := gw.Client()
	_, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{
		Bucket: aws.String(filesTestBucket)})
	if err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	rec := &switchableAudit{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	assignments := &store.Assignments{DB: db, Table: tables.Assignments}
	svc := &images.Service{
		Images:      &store.Images{DB: db, Table: tables.Images},
		Shares:      &store.Shares{DB: db, Table: tables.Shares, Now: time.Now},
		Assignments: assignments, S3: client, Presign: images.NewPresigner(client),
		Audit: rec, Log: log, Now: time.Now,
		Settings: images.Settings{Bucket: filesTestBucket, KMSKeyID: "alias/test",
			MaxUploadBytes: 50_000_000},
	}
	deps := &Deps{
		Config: config.Config{ImagesBucket: filesTestBucket,
			CursorKey: []byte("files-handler-test-cursor-key")},
		Users: &store.Users{DB: db, Table: tables.Users}, Assignments: assignments,
		Audit: rec, Log: log, Now: time.Now, Images: svc, Shares: svc.Shares,
	}
	return &filesEnv{deps: deps, audit: rec}
}

// user creates an account of role directly in the store.
func (f *filesEnv) user(t *testing.T, role identity.Role) identity.Caller {
	t.Helper()
	ctx := context.Background()
	id, err := f.deps.Users.NextID(ctx)
	if err != nil {
		t.Fatalf("NextID: %v", err)
	}
	email := string(role) + strconv.FormatInt(id, 10) + "@files.test"
	err = f.deps.Users.Create(
		ctx,
		store.User{ID: id, Username: string(role) + " user", Email: email,
			EmailKey: email, Role: role, Active: true, CreatedAt: time.Now().UTC()},
	)
	if err != nil {
		t.Fatalf("create user: %v", err)
	}
	return identity.Caller{UserID: id, Role: role, SessionID: "s" + strconv.FormatInt(id, 10)}
}

func (f *filesEnv) assign(t *testing.T, provider, patient int64) {
	t.Helper()
	if _, err := f.deps.Assignments.Assign(context.Background(), provider, patient, provider, "",
		time.Now()); err != nil {
		t.Fatalf("assign: %v", err)
	}
}

// call runs the named route's handler with a hand-built request and returns the status and
// the JSON body, mapping errors through the same table as the adapter.
func (f *filesEnv) call(t *testing.T, function string, caller identity.Caller, body any,
	query, path map[string]string) (int, map[string]any) {
	t.Helper()
	route, ok := routes.ByFunction(function)
	if !ok {
		t.Fatalf("no route for %s", function)
	}
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			t.Fatalf("marshal body: %v", err)
		}
	}
	req := &httpapi.Request{Route: route, Caller: caller, Body: raw,
		Event: events.APIGatewayProxyRequest{QueryStringParameters: query, PathParameters: path,
			RequestContext: events.APIGatewayProxyRequestContext{RequestID: "req-1"}}}
	resp, err := Registry(f.deps)[function](context.Background(), req)
	status, out := resp.Status, resp.Body
	if err != nil {
		var eb httpapi.ErrorBody
		status, eb = httpapi.ErrorResponse(err, "req-1")
		out = eb
	}
	encoded, err := json.Marshal(out)
	if err != nil {
		t.Fatalf("encode response: %v", err)
	}
	var decoded map[string]any
	if err := json.Unmarshal(encoded, &decoded); err != nil {
		t.Fatalf("decode response: %v", err)
	}
	return status, decoded
}

// upload requests an upload URL, PUTs the test image and delivers its ObjectCreated event.
func (f *filesEnv) upload(t *testing.T, owner identity.Caller, fileName, testFile string) {
	t.Helper()
	status, body := f.call(
		t,
		"files-upload",
		owner,
		map[string]any{
			"fileName":   fileName,
			"fileType":   "",
			"uploadedBy": owner.UserID,
			"tags":       []string{"ct"},
		},
		nil,
		nil,
	)
	if status != http.StatusOK {
		t.Fatalf("files-upload: got status %d, want 200 (%v)", status, body)
	}
	data, err := os.ReadFile(filepath.Join("..", "images", "testdata", testFile))
	if err != nil {
		t.Fatalf("read test image: %v", err)
	}
	req, err := http.NewRequest(http.MethodPut, body["uploadUrl"].(string), bytes.NewReader(data))
	if err != nil {
		t.Fatalf("build PUT: %v", err)
	}
	for k, v := range body["uploadHeaders"].(map[string]any) {
		req.Header.Set(k, v.(string))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PUT: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT: got status %d, want 200", resp.StatusCode)
	}
	img, err := f.deps.Images.Images.ByName(
		context.Background(),
		owner.UserID,
		fileName,
		time.Now(),
	)
	if err != nil {
		t.Fatalf("read uploaded image: %v", err)
	}
	event := events.S3Event{Records: []events.S3EventRecord{{
		EventName: "ObjectCreated:Put",
		S3: events.S3Entity{Bucket: events.S3Bucket{Name: filesTestBucket},
			Object: events.S3Object{Key: img.ObjectKey, Size: int64(len(data)), Sequencer: "01"}},
	}}}
	if err := f.deps.Images.HandleS3Event(context.Background(), event); err != nil {
		t.Fatalf("HandleS3Event: %v", err)
	}
}

func TestFileRoutesRejectAdmin(t *testing.T) {
	for _, r := range routes.Table {
		if !strings.HasPrefix(r.Function, "files-") {
			continue
		}
		if r.Allows(identity.Admin) {
			t.Errorf("%s %s: admins allowed, want 403 for every image route", r.Method, r.Path)
		}
	}
	// Through the adapter, an admin's call never reaches the handler.
	adapter := &httpapi.Adapter{MaxBodyBytes: 1 << 16, Sessions: adminSessions{},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: time.Now}
	for _, r := range routes.Table {
		if !strings.HasPrefix(r.Function, "files-") {
			continue
		}
		reached := false
		h := adapter.Wrap(r, func(context.Context, *httpapi.Request) (httpapi.Response, error) {
			reached = true
			return httpapi.OK(map[string]string{}), nil
		})
		resp, err := h(context.Background(), events.APIGatewayProxyRequest{HTTPMethod: r.Method,
			RequestContext: events.APIGatewayProxyRequestContext{Authorizer: map[string]any{
				identity.ContextUserID: "1", identity.ContextRole: "admin",
				identity.ContextSessionID: "admin-session"}}})
		if err != nil {
			t.Fatalf("%s: %v", r.Function, err)
		}
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s as admin: got status %d, want 403", r.Function, resp.StatusCode)
		}
		if reached {
			t.Errorf("%s as admin: handler ran, want it never called", r.Function)
		}
	}
}

type adminSessions struct{}

func (adminSessions) CheckSession(context.Context, string) (identity.Caller, error) {
	return identity.Caller{UserID: 1, Role: identity.Admin, SessionID: "admin-session"}, nil
}

func TestFilesAccessRules(t *testing.T) {
	f := newFilesEnv(t)
	provider, other := f.user(t, identity.Provider), f.user(t, identity.Provider)
	patient, stranger := f.user(t, identity.Patient), f.user(t, identity.Patient)
	f.assign(t, provider.UserID, patient.UserID)
	f.assign(t, provider.UserID, stranger.UserID)
	f.upload(t, provider, "chest ct.dcm", "CT_small.dcm")
	f.upload(t, other, "chest ct.dcm", "CT_small.dcm")

	status, body := f.call(t, "files-share", provider, map[string]any{"fileName": "chest ct.dcm",
		"uploadedBy": provider.UserID, "sharedWith": patient.UserID, "expiresIn": 86400}, nil, nil)
	if status != http.StatusOK {
		t.Fatalf("files-share: got status %d, want 200 (%v)", status, body)
	}
	if tok, _ := body["sharedToken"].(string); tok == "" {
		t.Errorf("files-share: got no sharedToken")
	}

	id := func(c identity.Caller) string { return strconv.FormatInt(c.UserID, 10) }
	view := map[string]string{"fileName": "chest ct.dcm"}
	tests := []struct {
		name     string
		function string
		caller   identity.Caller
		body     any
		query    map[string]string
		path     map[string]string
		want     int
	}{
		{
			"owner views",
			"files-view",
			provider,
			nil,
			map[string]string{"uploadedBy": id(provider)},
			view,
			200,
		},
		{
			"patient views share",
			"files-view",
			patient,
			nil,
			map[string]string{"uploadedBy": id(provider)},
			view,
			200,
		},
		{"patient downloads share", "files-download", patient, nil,
			map[string]string{"uploadedBy": id(provider), "fileName": "chest ct.dcm"}, nil, 200},
		{"other patient views share", "files-view", stranger, nil,
			map[string]string{"uploadedBy": id(provider)}, view, 403},
		{"patient views other provider's image", "files-view", patient, nil,
			map[string]string{"uploadedBy": id(other)}, view, 403},
		{"provider views other provider's image", "files-view", provider, nil,
			map[string]string{"uploadedBy": id(other)}, view, 403},
		{"provider downloads other provider's image", "files-download", provider, nil,
			map[string]string{"uploadedBy": id(other), "fileName": "chest ct.dcm"}, nil, 403},
		{"provider deletes other provider's image", "files-delete", provider, nil,
			map[string]string{"uploadedBy": id(other)}, view, 403},
		{"provider lists other provider's images", "files-list", provider, nil,
			map[string]string{"uploadedBy": id(other)}, nil, 403},
		{"patient lists another patient's shares", "files-shared", patient, nil,
			map[string]string{"sharedWith": id(stranger)}, nil, 403},
		{"provider shares as other provider", "files-share", provider, map[string]any{
			"fileName": "chest ct.dcm", "uploadedBy": other.UserID, "sharedWith": patient.UserID},
			nil, nil, 403},
		{"share with another patient than the subject", "files-share", provider, map[string]any{
			"fileName": "chest ct.dcm", "uploadedBy": provider.UserID, "sharedWith": stranger.UserID},
			nil, nil, 409},
		{"share with unassigned patient", "files-share", other, map[string]any{
			"fileName": "chest ct.dcm", "uploadedBy": other.UserID, "sharedWith": patient.UserID},
			nil, nil, 403},
		{"patient view without uploadedBy", "files-view", patient, nil, nil, view, 400},
		{"share with unknown field", "files-share", provider, map[string]any{
			"fileName": "chest ct.dcm", "sharedWith": patient.UserID, "owner": 1}, nil, nil, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := f.call(t, tt.function, tt.caller, tt.body, tt.query, tt.path)
			if status != tt.want {
				t.Errorf("got status %d, want %d (%v)", status, tt.want, body)
			}
		})
	}

	status, body = f.call(t, "files-shared", patient, nil,
		map[string]string{"sharedWith": id(patient)}, nil)
	if status != http.StatusOK {
		t.Fatalf("files-shared: got status %d, want 200 (%v)", status, body)
	}
	shared, _ := body["sharedFiles"].([]any)
	if len(shared) != 1 {
		t.Fatalf("files-shared: got %d files, want 1", len(shared))
	}
	item := shared[0].(map[string]any)
	if item["file_name"] != "chest ct.dcm" {
		t.Errorf("file_name: got %v, want chest ct.dcm", item["file_name"])
	}
	if item["tags"] != "ct" {
		t.Errorf("tags: got %v, want the string ct", item["tags"])
	}

	status, _ = f.call(t, "files-revoke", provider, map[string]any{"fileName": "chest ct.dcm",
		"uploadedBy": provider.UserID, "sharedWith": patient.UserID}, nil, nil)
	if status != http.StatusOK {
		t.Fatalf("files-revoke: got status %d, want 200", status)
	}
	status, _ = f.call(
		t,
		"files-view",
		patient,
		nil,
		map[string]string{"uploadedBy": id(provider)},
		view,
	)
	if status != http.StatusForbidden {
		t.Errorf("view after revoke: got status %d, want 403", status)
	}
	status, body = f.call(t, "files-provider-shared", provider, nil,
		map[string]string{"uploadedBy": id(provider)}, nil)
	if status != http.StatusOK {
		t.Fatalf("files-provider-shared: got status %d, want 200", status)
	}
	list, _ := body["sharedFiles"].([]any)
	if len(list) != 1 {
		t.Fatalf("files-provider-shared: got %d shares, want 1", len(list))
	}
	if got := list[0].(map[string]any)["status"]; got != "revoked" {
		t.Errorf("share status: got %v, want revoked", got)
	}
}

func TestFilesTagsLimit(t *testing.T) {
	f := newFilesEnv(t)
	provider := f.user(t, identity.Provider)
	f.upload(t, provider, "a.png", "ct_small.png")
	tags := make([]string, 21)
	for i := range tags {
		tags[i] = "t" + strconv.Itoa(i)
	}
	status, body := f.call(t, "files-update-tags", provider,
		map[string]any{"fileName": "a.png", "tags": tags}, nil, nil)
	if status != http.StatusBadRequest {
		t.Errorf("21 tags: got status %d, want 400", status)
	}
	if body["field"] != "tags" {
		t.Errorf("21 tags: got field %v, want tags", body["field"])
	}
	status, _ = f.call(t, "files-update-tags", provider,
		map[string]any{"fileName": "a.png", "tags": tags[:20]}, nil, nil)
	if status != http.StatusOK {
		t.Errorf("20 tags: got status %d, want 200", status)
	}
}

func TestFilesAuditFailureIs503WithoutURL(t *testing.T) {
	f := newFilesEnv(t)
	provider, patient := f.user(t, identity.Provider), f.user(t, identity.Patient)
	f.assign(t, provider.UserID, patient.UserID)
	f.upload(t, provider, "a.png", "ct_small.png")
	status, _ := f.call(t, "files-share", provider, map[string]any{"fileName": "a.png",
		"sharedWith": patient.UserID}, nil, nil)
	if status != http.StatusOK {
		t.Fatalf("files-share: got status %d, want 200", status)
	}
	f.audit.setDown(true)
	id := strconv.FormatInt(provider.UserID, 10)
	tests := []struct {
		name     string
		function string
		caller   identity.Caller
		body     any
		query    map[string]string
		path     map[string]string
		urlField string
	}{
		{
			"upload",
			"files-upload",
			provider,
			map[string]any{"fileName": "b.png"},
			nil,
			nil,
			"uploadUrl",
		},
		{
			"owner view",
			"files-view",
			provider,
			nil,
			nil,
			map[string]string{"fileName": "a.png"},
			"viewUrl",
		},
		{"patient view", "files-view", patient, nil, map[string]string{"uploadedBy": id},
			map[string]string{"fileName": "a.png"}, "viewUrl"},
		{"download", "files-download", patient, nil,
			map[string]string{"uploadedBy": id, "fileName": "a.png"}, nil, "downloadUrl"},
		{"share", "files-share", provider, map[string]any{"fileName": "a.png",
			"sharedWith": patient.UserID}, nil, nil, "sharedToken"},
		{"list", "files-list", provider, nil, nil, nil, "files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := f.call(t, tt.function, tt.caller, tt.body, tt.query, tt.path)
			if status != http.StatusServiceUnavailable {
				t.Errorf("got status %d, want 503", status)
			}
			if _, ok := body[tt.urlField]; ok {
				t.Errorf("response has %s although the audit write failed", tt.urlField)
			}
		})
	}
}

func TestFilesUploadFileNameNeverInKey(t *testing.T) {
	f := newFilesEnv(t)
	provider := f.user(t, identity.Provider)
	status, body := f.call(t, "files-upload", provider,
		map[string]any{"fileName": "../../other/evil.png", "fileType": "image/png"}, nil, nil)
	if status != http.StatusOK {
		t.Fatalf("files-upload: got status %d, want 200 (%v)", status, body)
	}
	uploadURL, _ := body["uploadUrl"].(string)
	if strings.Contains(uploadURL, "evil") || strings.Contains(uploadURL, "..") ||
		strings.Contains(uploadURL, "other") {
		t.Errorf("upload URL %q contains part of the file name", uploadURL)
	}
	if !strings.HasPrefix(uploadURL, "http://127.0.0.1:") {
		t.Errorf("upload URL %q: want a loopback address", uploadURL)
	}
	headers, _ := body["uploadHeaders"].(map[string]any)
	if headers["Content-Type"] != "image/png" {
		t.Errorf("uploadHeaders Content-Type: got %v, want image/png", headers["Content-Type"])
	}
}

func TestFilesListCursorIsSigned(t *testing.T) {
	f := newFilesEnv(t)
	provider := f.user(t, identity.Provider)
	other := f.user(t, identity.Provider)
	for _, name := range []string{"a.png", "b.png", "c.png"} {
		f.upload(t, provider, name, "ct_small.png")
	}
	f.upload(t, other, "d.png", "ct_small.png")
	list := func(caller identity.Caller, cursor string) (int, map[string]any) {
		query := map[string]string{"uploadedBy": strconv.FormatInt(caller.UserID, 10),
			"limit": "1"}
		if cursor != "" {
			query["cursor"] = cursor
		}
		return f.call(t, "files-list", caller, nil, query, nil)
	}

	status, body := list(provider, "")
	if status != http.StatusOK {
		t.Fatalf("first page: got status %d, want 200 (%v)", status, body)
	}
	cursor, _ := body["nextCursor"].(string)
	if cursor == "" {
		t.Fatalf("first page: got no nextCursor, want one (%v)", body)
	}
	status, body = list(provider, cursor)
	if status != http.StatusOK {
		t.Fatalf("second page: got status %d, want 200 (%v)", status, body)
	}
	if files, _ := body["files"].([]any); len(files) != 1 {
		t.Errorf("second page: got %d files, want 1", len(files))
	}

	payload, tag, ok := strings.Cut(cursor, ".")
	if !ok {
		t.Fatalf("cursor %q has no signature part", cursor)
	}
	editedPayload := []byte(payload)
	editedPayload[len(editedPayload)/2] ^= 1
	editedTag := []byte(tag)
	editedTag[len(editedTag)/2] ^= 1
	tests := []struct {
		name   string
		caller identity.Caller
		cursor string
	}{
		{"edited payload", provider, string(editedPayload) + "." + tag},
		{"edited signature", provider, payload + "." + string(editedTag)},
		{"signature removed", provider, payload},
		{"other provider's cursor", other, cursor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := list(tt.caller, tt.cursor)
			if status != http.StatusBadRequest {
				t.Errorf("status: got %d, want 400 (%v)", status, body)
			}
			if body["field"] != "cursor" {
				t.Errorf("field: got %v, want cursor", body["field"])
			}
		})
	}
}
