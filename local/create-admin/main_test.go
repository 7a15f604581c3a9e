package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/clinicpix/backend/shared/apperr"
	"github.com/clinicpix/backend/shared/identity"
	"github.com/clinicpix/backend/shared/store"
	"github.com/clinicpix/backend/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestCreateAdminWritesActiveAdmin(t *testing.T) {
	db, tables := testenv.NewTables(t)
	endpoint := testenv.DynamoDB(t)
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	env := map[string]string{
		"CLINICPIX_DYNAMODB_ENDPOINT": endpoint,
		"CLINICPIX_USERS_TABLE":       tables.Users,
		"CLINICPIX_SESSIONS_TABLE":    tables.Sessions,
		"CLINICPIX_AUDIT_TABLE":       tables.Audit,
		"CLINICPIX_ASSIGNMENTS_TABLE": tables.Assignments,
		"CLINICPIX_IMAGES_TABLE":      tables.Images,
		"CLINICPIX_SHARES_TABLE":      tables.Shares,
		"CLINICPIX_IMAGES_BUCKET":     "unused",
		"CLINICPIX_IMAGES_KMS_KEY_ID": "unused",
		"CLINICPIX_MAIL_FROM":         "no-reply@example.com",
		"CLINICPIX_TOTP_KEY_MODE":     "local",
		"CLINICPIX_TOTP_LOCAL_KEY":    key,
		"CLINICPIX_CURSOR_KEY":        key,
	}
	lookup := func(name string) (string, bool) { v, ok := env[name]; return v, ok }
	args := []string{"-email", "Ops@Example.com", "-username", "ops"}

	var out bytes.Buffer
	err := run(context.Background(), args, lookup, strings.NewReader("operator password\n"), &out)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if !strings.HasPrefix(out.String(), "created admin account ") {
		t.Errorf("output = %q, want the created account id", out.String())
	}
	users := &store.Users{DB: db, Table: tables.Users}
	u, err := users.ByEmail(context.Background(), "ops@example.com")
	if err != nil {
		t.Fatalf("read created admin: %v", err)
	}
	if u.Role != identity.Admin {
		t.Errorf("role = %s, want admin", u.Role)
	}
	if !u.Active {
		t.Errorf("active = %v, want true", u.Active)
	}

	err = run(context.Background(), args, lookup, strings.NewReader("operator password\n"), &out)
	if apperr.KindOf(err) != apperr.Conflict {
		t.Errorf("second run with the same email: got %v, want a conflict", err)
	}
	err = run(context.Background(), args, lookup, strings.NewReader(""), &out)
	if err == nil || !strings.Contains(err.Error(), "no password") {
		t.Errorf("run without a password: got %v, want a missing-password error", err)
	}
	err = run(context.Background(), []string{"-email", "x@example.com"}, lookup,
		strings.NewReader("operator password\n"), &out)
	if err == nil {
		t.Errorf("run without -username: got %v, want an error", err)
	}
}
