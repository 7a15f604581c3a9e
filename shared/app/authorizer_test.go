package app

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/clinicpix/backend/shared/audit"
	"github.com/clinicpix/backend/shared/auth"
	"github.com/clinicpix/backend/shared/config"
	"github.com/clinicpix/backend/shared/identity"
	"github.com/clinicpix/backend/shared/mail"
	"github.com/clinicpix/backend/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestStageWildcard(t *testing.T) {
	cases := map[string]string{
		"arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/api/files":       "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/*/*",
		"arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/POST/api/auth/login": "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/*/*",
	}
	for in, want := range cases {
		if got := StageWildcard(in); got != want {
			t.Errorf("StageWildcard(%q): got %q, want %q", in, got, want)
		}
	}
}

func TestBearerToken(t *testing.T) {
	cases := []struct {
		header, token string
		ok            bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"  Bearer   abc  ", "abc", true},
		{"Basic abc", "", false},
		{"Bearer", "", false},
		{"", "", false},
	}
	for _, c := range cases {
		token, ok := BearerToken(c.header)
		if token != c.token || ok != c.ok {
			t.Errorf("BearerToken(%q): got %q %v, want %q %v", c.header, token, ok, c.token, c.ok)
		}
	}
}

func TestAuthorizerPolicyCoversEveryRoute(t *testing.T) {
	a, box := newTestApp(t)
	ctx := context.Background()
	svc := a.Deps.Auth
	if _, err := svc.Signup(ctx, auth.SignupInput{Username: "P", Email: "p@example.com",
		Password: "password one", Role: identity.Patient}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Login(ctx, "p@example.com", "password one", audit.Origin{}); err != nil {
		t.Fatal(err)
	}
	body := box.Messages()[0].Body
	code := body[len("Your ClinicPix sign-in code is ") : len("Your ClinicPix sign-in code is ")+6]
	v, err := svc.VerifyCode(ctx, "p@example.com", code, audit.Origin{})
	if err != nil {
		t.Fatal(err)
	}

	req := events.APIGatewayCustomAuthorizerRequestTypeRequest{
		MethodArn: "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/api/files/shared",
		Headers:   map[string]string{"authorization": "Bearer " + v.Token},
	}
	resp, err := a.Authorizer()(ctx, req)
	if err != nil {
		t.Fatalf("valid token: %v", err)
	}
	stmt := resp.PolicyDocument.Statement[0]
	if stmt.Effect != "Allow" || stmt.Resource[0] != "arn:aws:execute-api:us-east-1:123456789012:abc/prod/*/*" {
		t.Errorf("policy: got %s on %v, want Allow on the whole stage", stmt.Effect, stmt.Resource)
	}
	caller, err := identity.FromAuthorizer(resp.Context)
	if err != nil {
		t.Fatalf("context: %v", err)
	}
	if caller.UserID != v.User.ID || caller.Role != identity.Patient {
		t.Errorf("context caller: got %+v, want user %d patient", caller, v.User.ID)
	}
	if caller.SessionID == v.Token {
		t.Error("the context carries the raw token; it must carry only its hash")
	}

	req.Headers["authorization"] = "Bearer not-a-session"
	if _, err := a.Authorizer()(ctx, req); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("unknown token: got %v, want Unauthorized", err)
	}
	delete(req.Headers, "authorization")
	if _, err := a.Authorizer()(ctx, req); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("missing token: got %v, want Unauthorized", err)
	}
}

func newTestApp(t *testing.T) (*App, *mail.Mailbox) {
	t.Helper()
	db, tables := testenv.NewTables(t)
	key := make([]byte, 32)
	cfg, err := config.Load(func(name string) (string, bool) {
		v, ok := map[string]string{
			"CLINICPIX_USERS_TABLE": tables.Users, "CLINICPIX_SESSIONS_TABLE": tables.Sessions,
			"CLINICPIX_AUDIT_TABLE": tables.Audit, "CLINICPIX_ASSIGNMENTS_TABLE": tables.Assignments,
			"CLINICPIX_IMAGES_TABLE": tables.Images, "CLINICPIX_SHARES_TABLE": tables.Shares,
			"CLINICPIX_IMAGES_BUCKET": "images", "CLINICPIX_IMAGES_KMS_KEY_ID": "alias/images",
			"CLINICPIX_MAIL_MODE": "local", "CLINICPIX_MAIL_FROM": "no-reply@example.com",
			"CLINICPIX_TOTP_KEY_MODE":  "local",
			"CLINICPIX_TOTP_LOCAL_KEY": base64.StdEncoding.EncodeToString(key),
			"CLINICPIX_CURSOR_KEY":     base64.StdEncoding.EncodeToString(key),
		}[name]
		return v, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	box := &mail.Mailbox{}
	a, err := New(cfg, Clients{DynamoDB: db, Mail: box}, NewLogger(io.Discard), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return a, box
}
