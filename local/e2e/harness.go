// Package e2e runs the whole local API over real HTTP: DynamoDB Local, versitygw and the runner
// start once per test binary, and tests call the API as the web client does.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/clinicpix/backend/local/runner"
	"github.com/clinicpix/backend/shared/audit"
	"github.com/clinicpix/backend/shared/auth"
	"github.com/clinicpix/backend/shared/mail"
	"github.com/clinicpix/backend/shared/store"
)

// Harness is the running API shared by the tests of this package.
type Harness struct {
	Runner        *runner.Runner
	AdminEmail    string
	AdminPassword string
	client        *http.Client
}

var (
	shared   *Harness
	startErr error
	counter  atomic.Int64
)

// API returns the shared harness. When the runner could not start, the test is skipped with
// the reason, or fails when CI is set, so a CI run never passes by skipping.
func API(t testing.TB) *Harness {
	t.Helper()
	if shared != nil {
		return shared
	}
	msg := fmt.Sprintf("local API did not start (run `make tools` first): %v", startErr)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return nil
}

// Response is a decoded API response.
type Response struct {
	Status int
	Header http.Header
	Raw    []byte
	JSON   map[string]any
}

// Request is an API call. Body is marshalled to JSON unless it is a string or []byte, which are
// sent as they are.
type Request struct {
	Method  string
	Path    string // below /api, e.g. "/auth/login"
	Token   string
	Body    any
	Headers map[string]string
}

// Do sends req and decodes a JSON object response.
func (h *Harness) Do(t testing.TB, req Request) Response {
	t.Helper()
	var body io.Reader
	switch b := req.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("marshal request body: %v", err)
		}
		body = bytes.NewReader(data)
	}
	httpReq, err := http.NewRequest(req.Method, h.Runner.BaseURL()+req.Path, body)
	if err != nil {
		t.Fatalf("build request %s %s: %v", req.Method, req.Path, err)
	}
	if body != nil {
		httpReq.Header.Set("Content-Type", "application/json")
	}
	if req.Token != "" {
		httpReq.Header.Set("Authorization", "Bearer "+req.Token)
	}
	for k, v := range req.Headers {
		httpReq.Header.Set(k, v)
	}
	resp, err := h.client.Do(httpReq)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.Path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read response of %s %s: %v", req.Method, req.Path, err)
	}
	out := Response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &out.JSON); err != nil {
			t.Fatalf("decode response of %s %s: %v (body %s)", req.Method, req.Path, err, raw)
		}
	}
	return out
}

// Expect sends req and fails the test unless the status is want.
func (h *Harness) Expect(t testing.TB, want int, req Request) Response {
	t.Helper()
	resp := h.Do(t, req)
	if resp.Status != want {
		t.Fatalf("%s %s: got status %d, want %d (body %s)", req.Method, req.Path, resp.Status,
			want, resp.Raw)
	}
	return resp
}

// Account is a user a test created.
type Account struct {
	ID       int64
	Email    string
	Password string
	Role     string
	Token    string
}

// UniqueEmail returns an address no other test uses.
func UniqueEmail(prefix string) string {
	return fmt.Sprintf("%s-%d-%d@e2e.test", prefix, time.Now().UnixNano(), counter.Add(1))
}

// Signup creates an account of role ("patient" or "provider") and activates providers directly
// in the store, as an admin would.
func (h *Harness) Signup(t testing.TB, role string) Account {
	t.Helper()
	a := Account{Email: UniqueEmail(role), Password: "correct horse battery", Role: role}
	resp := h.Expect(t, http.StatusCreated, Request{Method: "POST", Path: "/auth/signup",
		Body: map[string]any{"userName": role + " user", "email": a.Email,
			"password": a.Password, "role": role, "consentGiven": true}})
	user, _ := resp.JSON["user"].(map[string]any)
	id, _ := user["id"].(float64)
	if id <= 0 {
		t.Fatalf("signup returned no user id: %s", resp.Raw)
	}
	a.ID = int64(id)
	if role == "provider" {
		if err := h.Runner.App.Deps.Users.Update(context.Background(), a.ID,
			map[string]any{"active": true}); err != nil {
			t.Fatalf("activate provider %d: %v", a.ID, err)
		}
	}
	return a
}

// SignedIn creates an account of role and signs it in.
func (h *Harness) SignedIn(t testing.TB, role string) Account {
	t.Helper()
	a := h.Signup(t, role)
	a.Token = h.Login(t, a.Email, a.Password)
	return a
}

// Admin signs in the seeded first admin.
func (h *Harness) Admin(t testing.TB) Account {
	t.Helper()
	u, err := h.Runner.App.Deps.Users.ByEmail(context.Background(), auth.NormalizeEmail(h.AdminEmail))
	if err != nil {
		t.Fatalf("read seeded admin: %v", err)
	}
	return Account{ID: u.ID, Email: h.AdminEmail, Password: h.AdminPassword, Role: "admin",
		Token: h.Login(t, h.AdminEmail, h.AdminPassword)}
}

var codePattern = regexp.MustCompile(`code is (\d{6})`)

// Login signs in with the emailed code and returns the bearer token.
func (h *Harness) Login(t testing.TB, email, password string) string {
	t.Helper()
	h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/auth/login",
		Body: map[string]string{"email": email, "password": password}})
	code := h.LatestCode(t, email)
	resp := h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/auth/verify-otp",
		Body: map[string]string{"email": email, "otp": code}})
	token, _ := resp.JSON["token"].(string)
	if token == "" {
		t.Fatalf("verify-otp returned no token: %s", resp.Raw)
	}
	return token
}

// Mailbox reads the local mailbox over HTTP, as a developer would.
func (h *Harness) Mailbox(t testing.TB) []mail.Message {
	t.Helper()
	resp, err := h.client.Get(h.Runner.ServerURL() + "/_local/mailbox")
	if err != nil {
		t.Fatalf("read mailbox: %v", err)
	}
	defer resp.Body.Close()
	var msgs []mail.Message
	if err := json.NewDecoder(resp.Body).Decode(&msgs); err != nil {
		t.Fatalf("decode mailbox: %v", err)
	}
	return msgs
}

// LatestMail returns the newest message to address, failing the test when there is none.
func (h *Harness) LatestMail(t testing.TB, address string) mail.Message {
	t.Helper()
	msgs := h.Mailbox(t)
	for i := len(msgs) - 1; i >= 0; i-- {
		if strings.EqualFold(msgs[i].To, address) {
			return msgs[i]
		}
	}
	t.Fatalf("no mail to %s in the local mailbox", address)
	return mail.Message{}
}

// LatestCode returns the sign-in code in the newest message to address.
func (h *Harness) LatestCode(t testing.TB, address string) string {
	t.Helper()
	m := h.LatestMail(t, address)
	match := codePattern.FindStringSubmatch(m.Body)
	if match == nil {
		t.Fatalf("newest mail to %s has no sign-in code (subject %q)", address, m.Subject)
	}
	return match[1]
}

// auditEntriesOf reads every audit entry whose actor is userID straight from the actor index.
func auditEntriesOf(h *Harness, userID int64) ([]audit.Entry, error) {
	out, err := h.Runner.App.Clients.DynamoDB.Query(context.Background(), &dynamodb.QueryInput{
		TableName:              aws.String(h.Runner.App.Config.Tables.Audit),
		IndexName:              aws.String(store.IndexGSI1),
		KeyConditionExpression: aws.String("gsi1pk = :actor"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":actor": &types.AttributeValueMemberS{Value: store.AuditActorKey(userID)},
		},
	})
	if err != nil {
		return nil, err
	}
	var entries []audit.Entry
	if err := attributevalue.UnmarshalListOfMaps(out.Items, &entries); err != nil {
		return nil, err
	}
	return entries, nil
}
