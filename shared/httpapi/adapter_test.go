package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/clinicpix/backend/shared/apperr"
	"github.com/clinicpix/backend/shared/audit"
	"github.com/clinicpix/backend/shared/identity"
	"github.com/clinicpix/backend/shared/routes"
)

// sessions is a SessionChecker that accepts one session id.
type sessions struct{ caller identity.Caller }

func (s sessions) CheckSession(_ context.Context, id string) (identity.Caller, error) {
	if id != s.caller.SessionID {
		return identity.Caller{}, apperr.New(apperr.Unauthorized, "session ended")
	}
	return s.caller, nil
}

var patient = identity.Caller{UserID: 7, Role: identity.Patient, SessionID: "s1"}

func newAdapter() *Adapter {
	return &Adapter{
		CORS:         CORS{AllowedOrigins: []string{"http://localhost:4200"}},
		MaxBodyBytes: 1024,
		Sessions:     sessions{caller: patient},
		Log:          slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Now:          time.Now,
	}
}

type echoBody struct {
	Email string   `json:"email"`
	Count int      `json:"count"`
	Tags  []string `json:"tags"`
}

func echo(_ context.Context, req *Request) (Response, error) {
	var in echoBody
	if err := req.DecodeJSON(&in); err != nil {
		return Response{}, err
	}
	return OK(map[string]any{"email": in.Email, "auth": req.Header("authorization")}), nil
}

func call(t *testing.T, route routes.Route, h Handler, e events.APIGatewayProxyRequest) (int, map[string]any, map[string]string) {
	t.Helper()
	resp, err := newAdapter().Wrap(route, h)(context.Background(), e)
	if err != nil {
		t.Fatalf("handler returned error %v; the adapter must always answer", err)
	}
	var body map[string]any
	if resp.Body != "" {
		if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
			t.Fatalf("response body is not JSON: %s", resp.Body)
		}
	}
	return resp.StatusCode, body, resp.Headers
}

var publicRoute = routes.Route{Method: "POST", Path: "/echo", Public: true}
var patientRoute = routes.Route{Method: "POST", Path: "/echo", Roles: []identity.Role{identity.Patient}}

func TestDecodeRejectsBadJSON(t *testing.T) {
	cases := []struct {
		name, body, field string
	}{
		{"unknown field", `{"email":"a@b.co","role":"admin"}`, "role"},
		{"duplicate field", `{"email":"a@b.co","email":"c@d.co"}`, "email"},
		{"duplicate nested field", `{"email":"a@b.co","tags":[{"x":1,"x":2}]}`, "x"},
		{"wrong type", `{"email":"a@b.co","count":"three"}`, "count"},
		{"array for string", `{"email":["a@b.co"]}`, "email"},
		{"not an object", `[1,2]`, "body"},
		{"trailing data", `{"email":"a@b.co"} {}`, "body"},
		{"truncated", `{"email":`, "body"},
		{"empty", ``, "body"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body, _ := call(t, publicRoute, echo, events.APIGatewayProxyRequest{Body: c.body})
			if status != 400 {
				t.Fatalf("status: got %d, want 400 (body %v)", status, body)
			}
			if body["field"] != c.field {
				t.Errorf("field: got %v, want %s", body["field"], c.field)
			}
			if body["error"] != "invalid_request" {
				t.Errorf("error code: got %v, want invalid_request", body["error"])
			}
		})
	}
}

func TestBase64Body(t *testing.T) {
	raw := `{"email":"a@b.co"}`
	status, body, _ := call(t, publicRoute, echo, events.APIGatewayProxyRequest{
		Body: base64.StdEncoding.EncodeToString([]byte(raw)), IsBase64Encoded: true})
	if status != 200 {
		t.Fatalf("status: got %d, want 200 (%v)", status, body)
	}
	if body["email"] != "a@b.co" {
		t.Errorf("email: got %v, want a@b.co", body["email"])
	}

	status, body, _ = call(t, publicRoute, echo, events.APIGatewayProxyRequest{
		Body: "not base64!", IsBase64Encoded: true})
	if status != 400 || body["field"] != "body" {
		t.Errorf("invalid base64: got %d %v, want 400 naming body", status, body)
	}
}

func TestBodySizeLimit(t *testing.T) {
	big := `{"email":"` + strings.Repeat("a", 2000) + `"}`
	status, body, _ := call(t, publicRoute, echo, events.APIGatewayProxyRequest{Body: big})
	if status != 413 {
		t.Fatalf("status: got %d, want 413 (%v)", status, body)
	}
}

func TestHeadersAreCaseInsensitive(t *testing.T) {
	e := events.APIGatewayProxyRequest{
		Body:    `{"email":"a@b.co"}`,
		Headers: map[string]string{"authorization": "Bearer x", "origin": "http://localhost:4200"},
	}
	status, body, headers := call(t, publicRoute, echo, e)
	if status != 200 {
		t.Fatalf("status: got %d, want 200", status)
	}
	if body["auth"] != "Bearer x" {
		t.Errorf("lowercase authorization header: got %v, want Bearer x", body["auth"])
	}
	if headers["Access-Control-Allow-Origin"] != "http://localhost:4200" {
		t.Errorf("lowercase origin header: CORS origin got %q", headers["Access-Control-Allow-Origin"])
	}

	multi := events.APIGatewayProxyRequest{Body: `{}`,
		MultiValueHeaders: map[string][]string{"AUTHORIZATION": {"Bearer y"}}}
	_, body, _ = call(t, publicRoute, echo, multi)
	if body["auth"] != "Bearer y" {
		t.Errorf("multi-value header: got %v, want Bearer y", body["auth"])
	}
}

func TestCORSOnErrors(t *testing.T) {
	e := events.APIGatewayProxyRequest{Headers: map[string]string{"Origin": "http://localhost:4200"}}
	status, _, headers := call(t, patientRoute, echo, e)
	if status != 401 {
		t.Fatalf("no authorizer context: got %d, want 401", status)
	}
	if headers["Access-Control-Allow-Origin"] != "http://localhost:4200" {
		t.Errorf("CORS on 401: got %q", headers["Access-Control-Allow-Origin"])
	}
	preflight := events.APIGatewayProxyRequest{HTTPMethod: "OPTIONS",
		Headers: map[string]string{"Origin": "http://localhost:4200"}}
	status, _, headers = call(t, patientRoute, echo, preflight)
	if status != 204 || headers["Access-Control-Allow-Origin"] == "" {
		t.Errorf("preflight: got %d %v, want 204 with CORS headers and no token", status, headers)
	}
}

func TestRolesAndSessionChecked(t *testing.T) {
	withCaller := func(c identity.Caller) events.APIGatewayProxyRequest {
		e := events.APIGatewayProxyRequest{Body: `{}`}
		e.RequestContext.Authorizer = c.AuthorizerContext()
		return e
	}
	adminRoute := routes.Route{Method: "GET", Path: "/x", Roles: []identity.Role{identity.Admin}}
	cases := []struct {
		name   string
		route  routes.Route
		caller identity.Caller
		want   int
	}{
		{"allowed role", patientRoute, patient, 200},
		{"wrong role", adminRoute, patient, 403},
		{"ended session", patientRoute, identity.Caller{UserID: 7, Role: identity.Patient, SessionID: "old"}, 401},
		{"context role differs from session", patientRoute, identity.Caller{UserID: 7, Role: identity.Admin, SessionID: "s1"}, 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body, _ := call(t, c.route, echo, withCaller(c.caller))
			if status != c.want {
				t.Errorf("status: got %d, want %d (%v)", status, c.want, body)
			}
		})
	}
}

func TestServerErrorHidesCause(t *testing.T) {
	failing := func(context.Context, *Request) (Response, error) {
		return Response{}, errors.New("dynamodb: table clinicpix-users: patient jane@example.com")
	}
	e := events.APIGatewayProxyRequest{Body: `{}`}
	e.RequestContext.RequestID = "req-123"
	status, body, _ := call(t, publicRoute, failing, e)
	if status != 500 {
		t.Fatalf("status: got %d, want 500", status)
	}
	msg, _ := body["message"].(string)
	if strings.Contains(msg, "jane") || strings.Contains(msg, "dynamodb") {
		t.Errorf("500 body leaks the cause: %q", msg)
	}
	if body["requestId"] != "req-123" {
		t.Errorf("requestId: got %v, want req-123", body["requestId"])
	}
}

func TestRepeatedQueryParameterRejected(t *testing.T) {
	req := &Request{Event: events.APIGatewayProxyRequest{
		QueryStringParameters:           map[string]string{"uploadedBy": "2"},
		MultiValueQueryStringParameters: map[string][]string{"uploadedBy": {"1", "2"}},
	}}
	if _, err := req.Query("uploadedBy"); apperr.KindOf(err) != apperr.Invalid {
		t.Errorf("repeated parameter: got %v, want Invalid", err)
	}
}

func TestDecodeRejectsCaseVariants(t *testing.T) {
	cases := []struct {
		name, body, field string
	}{
		{"same name in two cases", `{"email":"a@b.co","Email":"c@d.co"}`, "Email"},
		{"upper-case name", `{"EMAIL":"a@b.co"}`, "EMAIL"},
		{"invalid UTF-8", "{\"email\":\"\xff\xfe\"}", "body"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body, _ := call(t, publicRoute, echo, events.APIGatewayProxyRequest{Body: c.body})
			if status != 400 {
				t.Fatalf("status: got %d, want 400 (%v)", status, body)
			}
			if body["field"] != c.field {
				t.Errorf("field: got %v, want %s", body["field"], c.field)
			}
		})
	}
}

type entries struct{ got []audit.Entry }

func (e *entries) Record(_ context.Context, entry audit.Entry) error {
	e.got = append(e.got, entry)
	return nil
}

func TestRefusalsAreAudited(t *testing.T) {
	adminRoute := routes.Route{Method: "GET", Path: "/x", Function: "x-admin",
		Roles: []identity.Role{identity.Admin}}
	cases := []struct {
		name   string
		route  routes.Route
		want   int
		audits int
	}{
		{"wrong role", adminRoute, 403, 1},
		{"allowed", patientRoute, 200, 0},
		{"public route", publicRoute, 200, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := &entries{}
			a := newAdapter()
			a.Audit = rec
			e := events.APIGatewayProxyRequest{Body: `{}`}
			e.RequestContext.Authorizer = patient.AuthorizerContext()
			e.RequestContext.RequestID = "req-9"
			resp, _ := a.Wrap(c.route, echo)(context.Background(), e)
			if resp.StatusCode != c.want {
				t.Fatalf("status: got %d, want %d", resp.StatusCode, c.want)
			}
			if len(rec.got) != c.audits {
				t.Fatalf("audit entries: got %d, want %d", len(rec.got), c.audits)
			}
			if c.audits == 0 {
				return
			}
			got := rec.got[0]
			if got.Action != audit.AccessRefused || got.Outcome != audit.Denied {
				t.Errorf("entry: got %s/%s, want access_refused/denied", got.Action, got.Outcome)
			}
			if got.ActorID != patient.UserID || got.RequestID != "req-9" {
				t.Errorf("entry actor/request: got %d/%s, want %d/req-9", got.ActorID,
					got.RequestID, patient.UserID)
			}
			if got.Details != "route=x-admin status=403" {
				t.Errorf("details: got %q, want route=x-admin status=403", got.Details)
			}
		})
	}
}
