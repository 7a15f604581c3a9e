package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/clinicpix/backend/shared/audit"
	"github.com/clinicpix/backend/shared/auth"
)

func TestSignInFlowEndToEnd(t *testing.T) {
	h := API(t)
	email := UniqueEmail("flow")
	signup := h.Expect(t, http.StatusCreated, Request{Method: "POST", Path: "/auth/signup",
		Body: map[string]any{"userName": "Flow Patient", "email": email,
			"password": "a long enough password", "role": "patient", "consentGiven": true}})
	user := signup.JSON["user"].(map[string]any)
	if got := user["is_active"]; got != true {
		t.Errorf("patient is_active: got %v, want true", got)
	}
	if got := user["role"]; got != "patient" {
		t.Errorf("role: got %v, want patient", got)
	}

	login := h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/auth/login",
		Body: map[string]string{"email": email, "password": "a long enough password"}})
	if got := login.JSON["email"]; got != email {
		t.Errorf("login email: got %v, want %s", got, email)
	}
	code := h.LatestCode(t, email)
	verify := h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/auth/verify-otp",
		Body: map[string]string{"email": email, "otp": code}})
	token, _ := verify.JSON["token"].(string)
	if len(token) < 43 {
		t.Fatalf("token length: got %d, want at least 43 base64 characters (256 bits)", len(token))
	}
	verifiedUser := verify.JSON["user"].(map[string]any)
	if verifiedUser["userName"] != "Flow Patient" || verifiedUser["username"] != "Flow Patient" {
		t.Errorf("verify-otp user names: got %v / %v, want Flow Patient", verifiedUser["userName"],
			verifiedUser["username"])
	}

	h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/auth/protected", Token: token, Body: "{}"})
	h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/auth/logout", Token: token,
		Body: map[string]any{"userId": user["id"], "email": email}})
	h.Expect(t, http.StatusUnauthorized, Request{Method: "POST", Path: "/auth/protected",
		Token: token, Body: "{}"})

	// The code was single use: replaying it after logout does not sign in again.
	h.Expect(t, http.StatusUnauthorized, Request{Method: "POST", Path: "/auth/verify-otp",
		Body: map[string]string{"email": email, "otp": code}})
}

func TestWrongCodeFiveTimesEndsChallenge(t *testing.T) {
	h := API(t)
	a := h.Signup(t, "patient")
	h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/auth/login",
		Body: map[string]string{"email": a.Email, "password": a.Password}})
	code := h.LatestCode(t, a.Email)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	for i := 1; i <= auth.MaxCodeTries; i++ {
		resp := h.Expect(t, http.StatusUnauthorized, Request{Method: "POST",
			Path: "/auth/verify-otp", Body: map[string]string{"email": a.Email, "otp": wrong}})
		if got := resp.JSON["error"]; got != "invalid_code" {
			t.Errorf("try %d error code: got %v, want invalid_code", i, got)
		}
	}
	// The challenge ended, so even the right code is refused now.
	h.Expect(t, http.StatusUnauthorized, Request{Method: "POST", Path: "/auth/verify-otp",
		Body: map[string]string{"email": a.Email, "otp": code}})
}

func TestTOTPCodeCannotBeReplayed(t *testing.T) {
	h := API(t)
	a := h.Signup(t, "patient")
	ctx := context.Background()
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "ClinicPix", AccountName: a.Email})
	if err != nil {
		t.Fatalf("generate TOTP key: %v", err)
	}
	sealed, err := h.Runner.App.Deps.Auth.Cipher.Encrypt(ctx, []byte(key.Secret()))
	if err != nil {
		t.Fatalf("encrypt TOTP secret: %v", err)
	}
	err = h.Runner.App.Deps.Users.Update(ctx, a.ID, map[string]any{
		"totpSecret": sealed, "totpEnabled": true, "totpLastStep": 0})
	if err != nil {
		t.Fatalf("store TOTP secret: %v", err)
	}
	mailsBefore := len(h.Mailbox(t))

	login := h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/auth/login",
		Body: map[string]string{"email": a.Email, "password": a.Password}})
	if got := login.JSON["method"]; got != "totp" {
		t.Errorf("login method: got %v, want totp", got)
	}
	if got := len(h.Mailbox(t)); got != mailsBefore {
		t.Errorf("mails after TOTP login: got %d, want %d (no code mailed)", got, mailsBefore)
	}
	code, err := totp.GenerateCode(key.Secret(), time.Now())
	if err != nil {
		t.Fatalf("generate code: %v", err)
	}
	h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/auth/verify-otp",
		Body: map[string]string{"email": a.Email, "otp": code}})

	h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/auth/login",
		Body: map[string]string{"email": a.Email, "password": a.Password}})
	h.Expect(t, http.StatusUnauthorized, Request{Method: "POST", Path: "/auth/verify-otp",
		Body: map[string]string{"email": a.Email, "otp": code}})
}

func TestLoginDoesNotRevealAccounts(t *testing.T) {
	h := API(t)
	a := h.Signup(t, "patient")
	unknown := h.Expect(t, http.StatusUnauthorized, Request{Method: "POST", Path: "/auth/login",
		Body: map[string]string{"email": UniqueEmail("nobody"), "password": a.Password}})
	wrong := h.Expect(t, http.StatusUnauthorized, Request{Method: "POST", Path: "/auth/login",
		Body: map[string]string{"email": a.Email, "password": "not the password"}})
	if string(unknown.Raw) != string(wrong.Raw) {
		t.Errorf("unknown-account body %s differs from wrong-password body %s", unknown.Raw, wrong.Raw)
	}
}

func TestLockoutAfterFiveWrongPasswords(t *testing.T) {
	h := API(t)
	a := h.Signup(t, "patient")
	for i := 0; i < 5; i++ {
		h.Expect(t, http.StatusUnauthorized, Request{Method: "POST", Path: "/auth/login",
			Body: map[string]string{"email": a.Email, "password": "wrong password " + string(rune('a'+i))}})
	}
	locked := h.Expect(t, http.StatusUnauthorized, Request{Method: "POST", Path: "/auth/login",
		Body: map[string]string{"email": a.Email, "password": a.Password}})
	if got := locked.JSON["error"]; got != "invalid_credentials" {
		t.Errorf("locked login error: got %v, want invalid_credentials", got)
	}
	u, err := h.Runner.App.Deps.Users.Get(context.Background(), a.ID)
	if err != nil {
		t.Fatalf("read user: %v", err)
	}
	if !u.LockedUntil.After(time.Now()) {
		t.Errorf("lockedUntil: got %v, want a time in the future", u.LockedUntil)
	}
	if got := countAudit(t, h, a.ID, audit.AccountLocked); got != 1 {
		t.Errorf("account_locked entries: got %d, want 1", got)
	}
}

func TestSignupRules(t *testing.T) {
	h := API(t)
	base := UniqueEmail("rules")
	local, domain, _ := strings.Cut(base, "@")
	h.Expect(t, http.StatusCreated, Request{Method: "POST", Path: "/auth/signup",
		Body: signupBody("User"+local+"@"+strings.ToUpper(domain), strings.Repeat("x", 72))})

	cases := []struct {
		name   string
		body   any
		status int
		field  string
	}{
		{"same email lower case with spaces", signupBody(" user"+local+"@"+domain+" ", "password1"), 409, ""},
		{"same email in fullwidth letters", signupBody(fullwidth("user")+local+"@"+domain, "password1"), 409, ""},
		{"password of 73 bytes", signupBody(UniqueEmail("long"), strings.Repeat("x", 73)), 400, "password"},
		{"password of 7 characters", signupBody(UniqueEmail("short"), "1234567"), 400, "password"},
		{"admin role", map[string]any{"userName": "x", "email": UniqueEmail("adm"),
			"password": "password1", "role": "admin", "consentGiven": true}, 400, "role"},
		{"no consent", map[string]any{"userName": "x", "email": UniqueEmail("nc"),
			"password": "password1", "role": "patient", "consentGiven": false}, 400, "consentGiven"},
		{"unknown field", `{"userName":"x","email":"a@b.co","password":"password1","role":"patient","consentGiven":true,"isAdmin":true}`, 400, "isAdmin"},
		{"duplicate field", `{"userName":"x","email":"a@b.co","email":"c@d.co","password":"password1","role":"patient","consentGiven":true}`, 400, "email"},
		{"wrong type", `{"userName":"x","email":"a@b.co","password":12345678,"role":"patient","consentGiven":true}`, 400, "password"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := h.Expect(t, c.status, Request{Method: "POST", Path: "/auth/signup", Body: c.body})
			if c.field != "" {
				if got := resp.JSON["field"]; got != c.field {
					t.Errorf("field: got %v, want %s", got, c.field)
				}
				if msg, _ := resp.JSON["message"].(string); !strings.Contains(msg, c.field) {
					t.Errorf("message %q does not name %s", msg, c.field)
				}
			}
		})
	}
}

func TestCORSOnUnauthorized(t *testing.T) {
	h := API(t)
	resp := h.Expect(t, http.StatusUnauthorized, Request{Method: "POST", Path: "/auth/protected",
		Token: "not-a-token", Body: "{}", Headers: map[string]string{"Origin": "http://localhost:4200"}})
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "http://localhost:4200" {
		t.Errorf("Access-Control-Allow-Origin on 401: got %q, want http://localhost:4200", got)
	}
	preflight := h.Expect(t, http.StatusNoContent, Request{Method: "OPTIONS", Path: "/files/upload",
		Headers: map[string]string{"Origin": "http://localhost:4200",
			"Access-Control-Request-Method": "POST"}})
	if got := preflight.Header.Get("Access-Control-Allow-Headers"); !strings.Contains(got, "Authorization") {
		t.Errorf("preflight Access-Control-Allow-Headers: got %q, want it to list Authorization", got)
	}
	other := h.Expect(t, http.StatusUnauthorized, Request{Method: "POST", Path: "/auth/protected",
		Body: "{}", Headers: map[string]string{"Origin": "http://evil.test"}})
	if got := other.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("Access-Control-Allow-Origin for an unknown origin: got %q, want none", got)
	}
}

func signupBody(email, password string) map[string]any {
	return map[string]any{"userName": "Rule Tester", "email": email, "password": password,
		"role": "patient", "consentGiven": true}
}

// fullwidth maps ASCII letters to their fullwidth forms (U+FF41 for a, ...), which NFKC folds back.
func fullwidth(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' {
			r = r - 'a' + 'ａ'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// countAudit counts the audit entries of an action whose actor is userID, reading the actor index.
func countAudit(t testing.TB, h *Harness, userID int64, action audit.Action) int {
	t.Helper()
	entries, err := auditEntriesOf(h, userID)
	if err != nil {
		t.Fatalf("read audit entries of user %d: %v", userID, err)
	}
	n := 0
	for _, e := range entries {
		if e.Action == action {
			n++
		}
	}
	return n
}

// TestParallelGuessesAreCounted sends a burst of wrong passwords with the right one among them:
// at most five of them may reach the password check, whatever order they land in.
func TestParallelGuessesAreCounted(t *testing.T) {
	h := API(t)
	a := h.Signup(t, "patient")
	const guesses = 12
	var wg sync.WaitGroup
	for i := 0; i < guesses; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			password := fmt.Sprintf("wrong password %d", i)
			if i == guesses/2 {
				password = a.Password
			}
			h.Do(t, Request{Method: "POST", Path: "/auth/login",
				Body: map[string]string{"email": a.Email, "password": password}})
		}(i)
	}
	wg.Wait()

	entries, err := auditEntriesOf(h, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	checked, refused := 0, 0
	for _, e := range entries {
		if e.Action != audit.Login {
			continue
		}
		switch e.Outcome {
		case audit.WrongPassword, audit.Success:
			checked++
		case audit.LockedOut:
			refused++
		}
	}
	if checked > 5 {
		t.Errorf("passwords checked in the burst: got %d, want at most 5", checked)
	}
	if checked+refused != guesses {
		t.Errorf("login audit entries: got %d checked + %d refused, want %d in all", checked, refused, guesses)
	}
}

func TestWrongMethodIs405(t *testing.T) {
	h := API(t)
	resp := h.Expect(t, http.StatusMethodNotAllowed, Request{Method: "GET", Path: "/auth/login"})
	if got := resp.Header.Get("Allow"); !strings.Contains(got, "POST") {
		t.Errorf("Allow header: got %q, want it to list POST", got)
	}
	h.Expect(t, http.StatusNotFound, Request{Method: "GET", Path: "/no-such-route"})
}

func TestRefusedRequestIsAudited(t *testing.T) {
	h := API(t)
	p := h.SignedIn(t, "patient")
	other := h.Signup(t, "patient")
	h.Expect(t, http.StatusForbidden, Request{Method: "GET",
		Path: fmt.Sprintf("/users/%d", other.ID), Token: p.Token})
	if got := countAudit(t, h, p.ID, audit.AccessRefused); got != 1 {
		t.Errorf("access_refused entries for the caller: got %d, want 1", got)
	}
}
