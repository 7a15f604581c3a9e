package app

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
)

// TestLoadRejectsLocalMail checks that a deployed function cannot be configured to use the local
// mailbox, which would keep sign-in codes in memory instead of sending them.
func TestLoadRejectsLocalMail(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(make([]byte, 32))
	env := map[string]string{
		"CLINICPIX_USERS_TABLE": "u", "CLINICPIX_SESSIONS_TABLE": "s", "CLINICPIX_AUDIT_TABLE": "a",
		"CLINICPIX_ASSIGNMENTS_TABLE": "as", "CLINICPIX_IMAGES_TABLE": "i",
		"CLINICPIX_SHARES_TABLE": "sh", "CLINICPIX_IMAGES_BUCKET": "b",
		"CLINICPIX_IMAGES_KMS_KEY_ID": "k", "CLINICPIX_MAIL_FROM": "no-reply@example.com",
		"CLINICPIX_TOTP_KMS_KEY_ID": "t", "CLINICPIX_CURSOR_KEY": key,
		"CLINICPIX_MAIL_MODE": "local", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	_, err := Load(context.Background())
	if err == nil {
		t.Fatal("Load accepted CLINICPIX_MAIL_MODE=local")
	}
	if !strings.Contains(err.Error(), "CLINICPIX_MAIL_MODE") {
		t.Errorf("error %q does not name CLINICPIX_MAIL_MODE", err)
	}
}
