package config

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

func validEnv() map[string]string {
	key := base64.StdEncoding.EncodeToString(make([]byte, 32))
	return map[string]string{
		"CLINICPIX_USERS_TABLE": "u", "CLINICPIX_SESSIONS_TABLE": "s", "CLINICPIX_AUDIT_TABLE": "a",
		"CLINICPIX_ASSIGNMENTS_TABLE": "as", "CLINICPIX_IMAGES_TABLE": "i",
		"CLINICPIX_SHARES_TABLE": "sh", "CLINICPIX_IMAGES_BUCKET": "b",
		"CLINICPIX_IMAGES_KMS_KEY_ID": "k", "CLINICPIX_MAIL_FROM": "no-reply@example.com",
		"CLINICPIX_TOTP_KMS_KEY_ID": "t", "CLINICPIX_CURSOR_KEY": key,
	}
}

func lookup(env map[string]string) Lookup {
	return func(name string) (string, bool) { v, ok := env[name]; return v, ok }
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(lookup(validEnv()))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.BcryptCost != 12 {
		t.Errorf("BcryptCost: got %d, want 12", c.BcryptCost)
	}
	if c.SessionIdleTimeout != 30*time.Minute || c.SessionMaxLifetime != 12*time.Hour {
		t.Errorf("session timeouts: got %v / %v, want 30m / 12h", c.SessionIdleTimeout, c.SessionMaxLifetime)
	}
	if c.LoginMaxFailures != 5 || c.LockoutDuration != 15*time.Minute {
		t.Errorf("lockout: got %d / %v, want 5 / 15m", c.LoginMaxFailures, c.LockoutDuration)
	}
	if c.MailMode != "ses" || c.TOTPKeyMode != "kms" {
		t.Errorf("modes: got %s / %s, want ses / kms", c.MailMode, c.TOTPKeyMode)
	}
	if c.MaxUploadBytes != 50_000_000 {
		t.Errorf("MaxUploadBytes: got %d, want 50000000", c.MaxUploadBytes)
	}
}

func TestLoadNamesTheBadVariable(t *testing.T) {
	cases := []struct {
		name, variable, value string
	}{
		{"missing table", "CLINICPIX_USERS_TABLE", ""},
		{"bcrypt cost below 12", "CLINICPIX_BCRYPT_COST", "10"},
		{"bad duration", "CLINICPIX_LOCKOUT_DURATION", "soon"},
		{"bad origin", "CLINICPIX_ALLOWED_ORIGINS", "localhost:4200/app"},
		{"bad mail mode", "CLINICPIX_MAIL_MODE", "smtp"},
		{"bad endpoint", "CLINICPIX_DYNAMODB_ENDPOINT", "127.0.0.1:8000"},
		{"short cursor key", "CLINICPIX_CURSOR_KEY", "c2hvcnQ="},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := validEnv()
			env[c.variable] = c.value
			_, err := Load(lookup(env))
			if err == nil {
				t.Fatalf("Load accepted %s=%q", c.variable, c.value)
			}
			if !strings.Contains(err.Error(), c.variable) {
				t.Errorf("error %q does not name %s", err, c.variable)
			}
		})
	}
}
