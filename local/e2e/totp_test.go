package e2e

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/clinicpix/backend/shared/audit"
)

// totpCode returns the code of secret for the 30-second step containing at.
func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCode(secret, at)
	if err != nil {
		t.Fatalf("generate TOTP code: %v", err)
	}
	return code
}

// startTOTPLogin posts the password and checks that the second factor due is TOTP.
func startTOTPLogin(t *testing.T, h *Harness, a Account) {
	t.Helper()
	resp := h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/auth/login",
		Body: map[string]string{"email": a.Email, "password": a.Password}})
	if got := resp.JSON["method"]; got != "totp" {
		t.Fatalf("login method = %v, want totp", got)
	}
}

func verify(h *Harness, t *testing.T, a Account, code string) Response {
	t.Helper()
	return h.Do(t, Request{Method: "POST", Path: "/auth/verify-otp",
		Body: map[string]string{"email": a.Email, "otp": code}})
}

func TestTOTPEnrollLoginReplayAndRecovery(t *testing.T) {
	h := API(t)
	a := h.SignedIn(t, "patient")

	enroll := h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/auth/totp/enroll",
		Token: a.Token, Body: "{}"})
	secret, _ := enroll.JSON["secret"].(string)
	otpURL, _ := enroll.JSON["otpauthUrl"].(string)
	if !strings.HasPrefix(otpURL, "otpauth://totp/") || !strings.Contains(otpURL, "secret="+secret) {
		t.Errorf("otpauthUrl = %q, want an otpauth://totp/ URL with the secret", otpURL)
	}
	png, err := base64.StdEncoding.DecodeString(enroll.JSON["qrCodePng"].(string))
	if err != nil {
		t.Fatalf("qrCodePng is not base64: %v", err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("qrCodePng does not start with the PNG signature")
	}
	stored, err := h.Runner.App.Deps.Users.Get(t.Context(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stored.TOTPSecret, []byte(secret)) {
		t.Errorf("stored TOTP secret contains the plain secret, want it encrypted")
	}

	now := time.Now()
	wrong := "000000"
	if totpCode(t, secret, now) == wrong {
		wrong = "111111"
	}
	h.Expect(t, http.StatusBadRequest, Request{Method: "POST", Path: "/auth/totp/confirm",
		Token: a.Token, Body: map[string]string{"code": wrong}})
	confirm := h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/auth/totp/confirm",
		Token: a.Token, Body: map[string]string{"code": totpCode(t, secret, now)}})
	raw, _ := confirm.JSON["recoveryCodes"].([]any)
	if len(raw) != 10 {
		t.Fatalf("recovery codes = %d, want 10", len(raw))
	}
	recovery := make([]string, len(raw))
	for i, c := range raw {
		recovery[i] = c.(string)
	}
	h.Expect(t, http.StatusConflict, Request{Method: "POST", Path: "/auth/totp/enroll",
		Token: a.Token, Body: "{}"})

	// Login now requests a TOTP code and mails none.
	mailsBefore := countMail(h, t, a.Email)
	startTOTPLogin(t, h, a)
	if got := countMail(h, t, a.Email); got != mailsBefore {
		t.Errorf("mails to the user after a TOTP login = %d, want %d (no code mailed)", got, mailsBefore)
	}
	// The confirmation used this step's code, so the next step's code (accepted within the
	// one-step skew) signs in.
	code := totpCode(t, secret, now.Add(30*time.Second))
	if resp := verify(h, t, a, code); resp.Status != http.StatusOK {
		t.Fatalf("verify with a TOTP code: got status %d, want 200 (body %s)", resp.Status, resp.Raw)
	}

	startTOTPLogin(t, h, a)
	if resp := verify(h, t, a, code); resp.Status != http.StatusUnauthorized {
		t.Errorf("replayed TOTP code: got status %d, want 401", resp.Status)
	}
	if resp := verify(h, t, a, strings.ToLower(recovery[0])); resp.Status != http.StatusOK {
		t.Fatalf("verify with a recovery code: got status %d, want 200 (body %s)", resp.Status, resp.Raw)
	}
	startTOTPLogin(t, h, a)
	if resp := verify(h, t, a, recovery[0]); resp.Status != http.StatusUnauthorized {
		t.Errorf("reused recovery code: got status %d, want 401", resp.Status)
	}
	if resp := verify(h, t, a, recovery[1]); resp.Status != http.StatusOK {
		t.Fatalf("second recovery code: got status %d, want 200", resp.Status)
	}

	entries, err := auditEntriesOf(h, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	var sawEnabled, sawRecovery bool
	recoveryUses := 0
	for _, e := range entries {
		if e.Action == audit.RecoveryCodeUsed && e.Outcome == audit.Success {
			recoveryUses++
		}
		sawEnabled = sawEnabled || (e.Action == audit.TOTPEnabled && e.Outcome == audit.Success)
		sawRecovery = sawRecovery || (e.Action == audit.CodeVerified && e.Details == "method=recovery")
	}
	if recoveryUses != 2 {
		t.Errorf("recovery_code_used entries: got %d, want 2", recoveryUses)
	}
	if !sawEnabled {
		t.Errorf("audit log has no successful %s entry", audit.TOTPEnabled)
	}
	if !sawRecovery {
		t.Errorf("audit log has no sign-in by recovery code")
	}

	// Disabling needs a code: a wrong one is refused, an unused recovery code works.
	h.Expect(t, http.StatusBadRequest, Request{Method: "POST", Path: "/auth/totp/disable",
		Token: a.Token, Body: map[string]string{"code": recovery[0]}})
	h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/auth/totp/disable", Token: a.Token,
		Body: map[string]string{"code": recovery[2]}})
	resp := h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/auth/login",
		Body: map[string]string{"email": a.Email, "password": a.Password}})
	if got := resp.JSON["method"]; got != "email" {
		t.Errorf("login method after disabling TOTP = %v, want email", got)
	}
}

func TestRecoveryCodesRegenerate(t *testing.T) {
	h := API(t)
	a := h.SignedIn(t, "provider")
	enroll := h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/auth/totp/enroll",
		Token: a.Token})
	secret := enroll.JSON["secret"].(string)
	now := time.Now()
	first := h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/auth/totp/confirm",
		Token: a.Token, Body: map[string]string{"code": totpCode(t, secret, now)}})
	old := first.JSON["recoveryCodes"].([]any)[0].(string)

	// Reissuing needs a TOTP code of a step not used yet.
	again := h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/auth/recovery-codes",
		Token: a.Token, Body: map[string]string{"code": totpCode(t, secret, now.Add(30*time.Second))}})
	fresh := again.JSON["recoveryCodes"].([]any)
	if len(fresh) != 10 {
		t.Errorf("reissued recovery codes = %d, want 10", len(fresh))
	}
	startTOTPLogin(t, h, a)
	if resp := verify(h, t, a, old); resp.Status != http.StatusUnauthorized {
		t.Errorf("replaced recovery code: got status %d, want 401", resp.Status)
	}
	if resp := verify(h, t, a, fresh[0].(string)); resp.Status != http.StatusOK {
		t.Errorf("reissued recovery code: got status %d, want 200", resp.Status)
	}
}

// countMail returns how many messages in the local mailbox are addressed to address.
func countMail(h *Harness, t *testing.T, address string) int {
	t.Helper()
	n := 0
	for _, m := range h.Mailbox(t) {
		if strings.EqualFold(m.To, address) {
			n++
		}
	}
	return n
}
