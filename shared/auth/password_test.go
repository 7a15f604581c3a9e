package auth

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/clinicpix/backend/shared/apperr"
	"github.com/clinicpix/backend/shared/audit"
)

var tokenInLink = regexp.MustCompile(`token=([A-Za-z0-9_-]+)`)

// requestReset requests a reset of email and returns the mailed token.
func requestReset(t *testing.T, f *fixture, email string) string {
	t.Helper()
	err := f.svc.RequestPasswordReset(context.Background(), ResetRequest{Email: email,
		ResetPage: "https://app.example.com/reset-password"})
	if err != nil {
		t.Fatalf("request reset: %v", err)
	}
	msgs := f.mailbox.Messages()
	m := tokenInLink.FindStringSubmatch(msgs[len(msgs)-1].Body)
	if m == nil {
		t.Fatalf("newest mail has no reset token")
	}
	return m[1]
}

func TestResetPasswordOnceWithinLifetime(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u := f.signup(t, "reset@example.com")
	token := f.signIn(t, "reset@example.com")

	expired := requestReset(t, f, "reset@example.com")
	f.clock.Advance(ResetLifetime)
	err := f.svc.ResetPassword(ctx, "reset@example.com", expired, "new password 1", audit.Origin{})
	if apperr.KindOf(err) != apperr.Invalid {
		t.Errorf("reset with an expired token: got %v, want invalid", err)
	}

	fresh := requestReset(t, f, "reset@example.com")
	if err := f.svc.ResetPassword(ctx, "other@example.com", fresh, "new password 1",
		audit.Origin{}); apperr.KindOf(err) != apperr.Invalid {
		t.Errorf("reset with another email: got %v, want invalid", err)
	}
	fresh = requestReset(t, f, "reset@example.com")
	if err := f.svc.ResetPassword(ctx, "reset@example.com", fresh, "new password 1", audit.Origin{}); err != nil {
		t.Fatalf("reset: %v", err)
	}
	if err := f.svc.ResetPassword(ctx, "reset@example.com", fresh, "new password 2",
		audit.Origin{}); apperr.KindOf(err) != apperr.Invalid {
		t.Errorf("second use of a reset token: got %v, want invalid", err)
	}
	if _, err := f.svc.Authenticate(ctx, token); apperr.KindOf(err) != apperr.Unauthorized {
		t.Errorf("session after reset: got %v, want it ended", err)
	}
	if _, err := f.svc.Login(ctx, "reset@example.com", "new password 1", audit.Origin{}); err != nil {
		t.Errorf("login with the new password: %v", err)
	}
	stored, err := f.svc.Users.Get(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored.PasswordHash, "new password") {
		t.Errorf("stored password hash contains the password")
	}
}

func TestRequestResetForUnknownEmailSendsNothing(t *testing.T) {
	f := newFixture(t)
	err := f.svc.RequestPasswordReset(context.Background(), ResetRequest{Email: "nobody@example.com",
		ResetPage: "https://app.example.com/reset-password"})
	if err != nil {
		t.Fatalf("request reset: %v", err)
	}
	if got := len(f.mailbox.Messages()); got != 0 {
		t.Errorf("mails = %d, want 0", got)
	}
}

func TestChangePasswordKeepsOnlyCurrentSession(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u := f.signup(t, "change@example.com")
	keep := f.signIn(t, "change@example.com")
	other := f.signIn(t, "change@example.com")
	caller, err := f.svc.Authenticate(ctx, keep)
	if err != nil {
		t.Fatal(err)
	}

	err = f.svc.ChangePassword(ctx, caller, "wrong password", "new password 1", audit.Origin{})
	if apperr.KindOf(err) != apperr.Invalid {
		t.Errorf("change with a wrong current password: got %v, want invalid", err)
	}
	stored, err := f.svc.Users.Get(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.FailedLogins != 1 {
		t.Errorf("failed logins after a wrong current password = %d, want 1", stored.FailedLogins)
	}
	if err := f.svc.ChangePassword(ctx, caller, "password one", "password one", audit.Origin{}); apperr.KindOf(err) != apperr.Invalid {
		t.Errorf("change to the same password: got %v, want invalid", err)
	}
	if err := f.svc.ChangePassword(ctx, caller, "password one", "new password 1", audit.Origin{}); err != nil {
		t.Fatalf("change: %v", err)
	}
	if _, err := f.svc.Authenticate(ctx, keep); err != nil {
		t.Errorf("current session after change: %v, want it kept", err)
	}
	if _, err := f.svc.Authenticate(ctx, other); apperr.KindOf(err) != apperr.Unauthorized {
		t.Errorf("other session after change: got %v, want it ended", err)
	}
}

func TestChangePasswordAuditFailureIs503(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.signup(t, "audit@example.com")
	token := f.signIn(t, "audit@example.com")
	caller, err := f.svc.Authenticate(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	f.svc.Audit = failingRecorder{action: audit.PasswordChanged, next: f.audit}
	err = f.svc.ChangePassword(ctx, caller, "password one", "new password 1", audit.Origin{})
	if apperr.KindOf(err) != apperr.Unavailable {
		t.Errorf("change with the audit log down: got %v, want unavailable", err)
	}
}
