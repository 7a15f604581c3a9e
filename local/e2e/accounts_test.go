package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

func TestDeactivationEndsSessionAtOnce(t *testing.T) {
	h := API(t)
	admin := h.Admin(t)
	patient := h.SignedIn(t, "patient")
	h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/auth/protected", Token: patient.Token,
		Body: "{}"})

	h.Expect(t, http.StatusOK, Request{Method: "PATCH",
		Path: fmt.Sprintf("/users/deactivate/%d", patient.ID), Token: admin.Token, Body: "{}"})
	h.Expect(t, http.StatusUnauthorized, Request{Method: "POST", Path: "/auth/protected",
		Token: patient.Token, Body: "{}"})
	h.Expect(t, http.StatusForbidden, Request{Method: "POST", Path: "/auth/login",
		Body: map[string]string{"email": patient.Email, "password": patient.Password}})

	h.Expect(t, http.StatusOK, Request{Method: "PATCH",
		Path: fmt.Sprintf("/users/activate/%d", patient.ID), Token: admin.Token})
	h.Login(t, patient.Email, patient.Password)
}

func TestAdminCannotDeactivateOrDemoteSelf(t *testing.T) {
	h := API(t)
	admin := h.Admin(t)
	h.Expect(t, http.StatusForbidden, Request{Method: "PATCH",
		Path: fmt.Sprintf("/users/deactivate/%d", admin.ID), Token: admin.Token, Body: "{}"})
	h.Expect(t, http.StatusForbidden, Request{Method: "PUT", Path: fmt.Sprintf("/users/%d", admin.ID),
		Token: admin.Token, Body: map[string]any{"role": "provider"}})
	h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/auth/protected", Token: admin.Token,
		Body: "{}"})
}

func TestAdminUpdatesAccount(t *testing.T) {
	h := API(t)
	admin := h.Admin(t)
	target := h.SignedIn(t, "patient")
	taken := h.Signup(t, "patient")
	path := fmt.Sprintf("/users/%d", target.ID)

	cases := []struct {
		name string
		body map[string]any
		want int
	}{
		{"make admin", map[string]any{"role": "admin"}, http.StatusBadRequest},
		{"unknown role", map[string]any{"role": "doctor"}, http.StatusBadRequest},
		{"taken email", map[string]any{"email": strings.ToUpper(taken.Email)}, http.StatusConflict},
		{"empty body", map[string]any{}, http.StatusBadRequest},
		{"bad username", map[string]any{"username": ""}, http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.Do(t, Request{Method: "PUT", Path: path, Token: admin.Token, Body: tc.body})
			if resp.Status != tc.want {
				t.Errorf("got status %d, want %d (body %s)", resp.Status, tc.want, resp.Raw)
			}
		})
	}

	newEmail := UniqueEmail("renamed")
	h.Expect(t, http.StatusOK, Request{Method: "PUT", Path: path, Token: admin.Token,
		Body: map[string]any{"username": "Renamed", "email": newEmail, "role": "provider"}})
	// The role change ended the sessions, which carried the old role.
	h.Expect(t, http.StatusUnauthorized, Request{Method: "POST", Path: "/auth/protected",
		Token: target.Token, Body: "{}"})
	token := h.Login(t, newEmail, target.Password)
	me := h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/auth/protected", Token: token,
		Body: "{}"})
	user, _ := me.JSON["user"].(map[string]any)
	if user["role"] != "provider" {
		t.Errorf("role after update = %v, want provider", user["role"])
	}
	if user["username"] != "Renamed" {
		t.Errorf("username after update = %v, want Renamed", user["username"])
	}
	h.Expect(t, http.StatusNotFound, Request{Method: "PUT", Path: "/users/999999999",
		Token: admin.Token, Body: map[string]any{"username": "x"}})
}

func TestRoleChangeBlockedByAssignments(t *testing.T) {
	h := API(t)
	admin := h.Admin(t)
	provider := h.SignedIn(t, "provider")
	patient := h.Signup(t, "patient")
	h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/patients/assign", Token: provider.Token,
		Body: map[string]any{"patientEmail": patient.Email}})

	resp := h.Expect(t, http.StatusConflict, Request{Method: "PUT",
		Path: fmt.Sprintf("/users/%d", provider.ID), Token: admin.Token,
		Body: map[string]any{"role": "patient", "email": UniqueEmail("moved")}})
	if got := resp.JSON["error"]; got != "has_assignments" {
		t.Errorf("error code = %v, want has_assignments", got)
	}
	// The rejected request changed nothing, the email included.
	h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/auth/protected",
		Token: provider.Token, Body: "{}"})
	h.Login(t, provider.Email, provider.Password)
}

func TestAdminListsAccountsByPage(t *testing.T) {
	h := API(t)
	admin := h.Admin(t)
	newest := h.Signup(t, "provider")

	resp := h.Expect(t, http.StatusOK, Request{Method: "GET", Path: "/users/all?limit=1&role=provider",
		Token: admin.Token})
	var first []map[string]any
	decodeJSON(t, resp.Raw, &first)
	if len(first) != 1 {
		t.Fatalf("first page has %d accounts, want 1", len(first))
	}
	if first[0]["id"] != float64(newest.ID) {
		t.Errorf("newest provider = %v, want %d", first[0]["id"], newest.ID)
	}
	for _, field := range []string{"id", "username", "email", "role", "is_active", "date_created"} {
		if _, ok := first[0][field]; !ok {
			t.Errorf("account has no %s field", field)
		}
	}
	cursor := resp.Header.Get("X-Next-Cursor")
	if cursor == "" {
		t.Fatal("first page has no X-Next-Cursor header")
	}
	next := h.Expect(t, http.StatusOK, Request{Method: "GET",
		Path: "/users/all?limit=1&role=provider&cursor=" + url.QueryEscape(cursor), Token: admin.Token})
	var second []map[string]any
	decodeJSON(t, next.Raw, &second)
	if len(second) == 1 && second[0]["id"] == first[0]["id"] {
		t.Errorf("second page repeats account %v", first[0]["id"])
	}
	// A cursor is bound to its filter.
	h.Expect(t, http.StatusBadRequest, Request{Method: "GET",
		Path: "/users/all?limit=1&role=patient&cursor=" + url.QueryEscape(cursor), Token: admin.Token})
	h.Expect(t, http.StatusBadRequest, Request{Method: "GET", Path: "/users/all?role=root",
		Token: admin.Token})
}

func TestAccountRoutesRefuseOtherCallers(t *testing.T) {
	h := API(t)
	patient := h.SignedIn(t, "patient")
	provider := h.SignedIn(t, "provider")
	admin := h.Admin(t)
	otherPatient := h.SignedIn(t, "patient")
	gone := deactivatedAccount(t, h, "patient")
	target := h.Signup(t, "patient")

	adminOnly := []refusal{
		{"patient", patient.Token, http.StatusForbidden},
		{"provider", provider.Token, http.StatusForbidden},
		{"anonymous", "", http.StatusUnauthorized},
		{"deactivated", gone.Token, http.StatusUnauthorized},
	}
	adminRoutes := []struct {
		method, path string
		body         any
	}{
		{"GET", "/users/all", nil},
		{"PUT", fmt.Sprintf("/users/%d", target.ID), map[string]any{"username": "x"}},
		{"PATCH", fmt.Sprintf("/users/activate/%d", target.ID), "{}"},
		{"PATCH", fmt.Sprintf("/users/deactivate/%d", target.ID), "{}"},
		{"POST", "/auth/admin-reset-password", map[string]any{"targetEmail": target.Email}},
		{"GET", "/audit-logs", nil},
	}
	for _, r := range adminRoutes {
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			checkRefusals(t, h, r.method, r.path, r.body, adminOnly)
		})
	}

	profile := fmt.Sprintf("/users/%d", patient.ID)
	selfOnly := []refusal{
		{"other patient", otherPatient.Token, http.StatusForbidden},
		{"provider", provider.Token, http.StatusForbidden},
		{"admin", admin.Token, http.StatusForbidden},
		{"anonymous", "", http.StatusUnauthorized},
		{"deactivated", gone.Token, http.StatusUnauthorized},
	}
	t.Run("get profile", func(t *testing.T) {
		checkRefusals(t, h, "GET", profile, nil, selfOnly)
	})
	t.Run("update profile", func(t *testing.T) {
		checkRefusals(t, h, "PUT", profile+"/profile", map[string]any{"name": "Mallory"}, selfOnly)
	})
	signedIn := []refusal{
		{"anonymous", "", http.StatusUnauthorized},
		{"deactivated", gone.Token, http.StatusUnauthorized},
	}
	for _, path := range []string{"/auth/change-password", "/auth/totp/enroll", "/auth/totp/confirm",
		"/auth/totp/disable", "/auth/recovery-codes"} {
		t.Run(path, func(t *testing.T) {
			checkRefusals(t, h, "POST", path, map[string]any{"code": "123456"}, signedIn)
		})
	}
}

func TestProfileReadAndValidate(t *testing.T) {
	h := API(t)
	patient := h.SignedIn(t, "patient")
	path := fmt.Sprintf("/users/%d/profile", patient.ID)
	valid := map[string]any{"name": "Ada Patient", "dob": "1980-04-30", "state": "CA",
		"country": "US", "age": 46, "weight": 61.5, "height": 170, "address": "1 Main St",
		"phone": "+14155550100"}
	h.Expect(t, http.StatusOK, Request{Method: "PUT", Path: path, Token: patient.Token, Body: valid})
	got := h.Expect(t, http.StatusOK, Request{Method: "GET", Path: fmt.Sprintf("/users/%d", patient.ID),
		Token: patient.Token})
	for field, want := range valid {
		if fmt.Sprint(got.JSON[field]) != fmt.Sprint(want) {
			t.Errorf("profile %s = %v, want %v", field, got.JSON[field], want)
		}
	}
	if got.JSON["email"] != patient.Email {
		t.Errorf("profile email = %v, want %s", got.JSON["email"], patient.Email)
	}

	invalid := []struct {
		field string
		value any
	}{
		{"dob", "30/04/1980"},
		{"dob", "2999-01-01"},
		{"age", 151},
		{"age", "46"},
		{"weight", 0},
		{"weight", 5000},
		{"height", -1},
		{"phone", "415-555-0100"},
		{"phone", "+0123"},
		{"name", strings.Repeat("n", 101)},
		{"address", "line\x00break"},
	}
	for _, tc := range invalid {
		t.Run(fmt.Sprintf("%s=%v", tc.field, tc.value), func(t *testing.T) {
			body := map[string]any{}
			for k, v := range valid {
				body[k] = v
			}
			body[tc.field] = tc.value
			resp := h.Do(t, Request{Method: "PUT", Path: path, Token: patient.Token, Body: body})
			if resp.Status != http.StatusBadRequest {
				t.Fatalf("got status %d, want 400 (body %s)", resp.Status, resp.Raw)
			}
			if resp.JSON["field"] != tc.field {
				t.Errorf("error field = %v, want %s", resp.JSON["field"], tc.field)
			}
		})
	}
}

func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	h := API(t)
	a := h.SignedIn(t, "patient")
	other := h.Login(t, a.Email, a.Password)

	h.Expect(t, http.StatusBadRequest, Request{Method: "POST", Path: "/auth/change-password",
		Token: a.Token, Body: map[string]any{"currentPassword": "wrong password",
			"newPassword": "a brand new password"}})
	h.Expect(t, http.StatusBadRequest, Request{Method: "POST", Path: "/auth/change-password",
		Token: a.Token, Body: map[string]any{"currentPassword": a.Password, "newPassword": "short"}})
	h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/auth/change-password",
		Token: a.Token, Body: map[string]any{"currentPassword": a.Password,
			"newPassword": "a brand new password"}})

	h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/auth/protected", Token: a.Token,
		Body: "{}"})
	h.Expect(t, http.StatusUnauthorized, Request{Method: "POST", Path: "/auth/protected",
		Token: other, Body: "{}"})
	h.Expect(t, http.StatusUnauthorized, Request{Method: "POST", Path: "/auth/login",
		Body: map[string]string{"email": a.Email, "password": a.Password}})
	h.Login(t, a.Email, "a brand new password")
}

var resetLinkPattern = regexp.MustCompile(`token=([A-Za-z0-9_-]+)`)

func TestPasswordResetByMailedLink(t *testing.T) {
	h := API(t)
	a := h.SignedIn(t, "patient")

	known := h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/auth/request-password-reset",
		Body: map[string]string{"email": a.Email}})
	unknown := h.Expect(t, http.StatusOK, Request{Method: "POST",
		Path: "/auth/request-password-reset", Body: map[string]string{"email": UniqueEmail("nobody")}})
	if string(known.Raw) != string(unknown.Raw) {
		t.Errorf("reset answer for a known email %s differs from an unknown one %s", known.Raw,
			unknown.Raw)
	}
	link := h.LatestMail(t, a.Email)
	match := resetLinkPattern.FindStringSubmatch(link.Body)
	if match == nil {
		t.Fatalf("reset mail has no token (subject %q)", link.Subject)
	}
	token := match[1]

	reset := map[string]string{"email": a.Email, "token": token, "newPassword": "reset password 1"}
	h.Expect(t, http.StatusBadRequest, Request{Method: "POST", Path: "/auth/reset-password",
		Body: map[string]string{"email": a.Email, "token": token + "x",
			"newPassword": "reset password 1"}})
	h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/auth/reset-password", Body: reset})
	h.Expect(t, http.StatusBadRequest, Request{Method: "POST", Path: "/auth/reset-password",
		Body: reset})
	h.Expect(t, http.StatusUnauthorized, Request{Method: "POST", Path: "/auth/protected",
		Token: a.Token, Body: "{}"})

	// The reset does not skip the second factor: login still requires the mailed code.
	login := h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/auth/login",
		Body: map[string]string{"email": a.Email, "password": "reset password 1"}})
	if login.JSON["token"] != nil {
		t.Errorf("login after reset returned a token, want the second factor first")
	}
	if got := login.JSON["method"]; got != "email" {
		t.Errorf("second factor after reset = %v, want email", got)
	}
	h.Login(t, a.Email, "reset password 1")
}

func TestAdminStartsPasswordReset(t *testing.T) {
	h := API(t)
	admin := h.Admin(t)
	a := h.Signup(t, "provider")
	h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/auth/admin-reset-password",
		Token: admin.Token, Body: map[string]string{"targetEmail": a.Email}})
	m := h.LatestMail(t, a.Email)
	if !resetLinkPattern.MatchString(m.Body) {
		t.Errorf("admin-started reset mail has no reset link (subject %q)", m.Subject)
	}
}

// decodeJSON decodes raw into v, failing the test on malformed JSON.
func decodeJSON(t *testing.T, raw []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
}

// TestAdminEmailChangeCannotTakeOver checks that an admin who moves an account to an address
// they read cannot reset the password from there: resets stay off until the owner signs in.
func TestAdminEmailChangeCannotTakeOver(t *testing.T) {
	h := API(t)
	admin := h.Admin(t)
	victim := h.SignedIn(t, "patient")
	adminInbox := UniqueEmail("admin-inbox")

	h.Expect(t, http.StatusOK, Request{Method: "PUT", Path: fmt.Sprintf("/users/%d", victim.ID),
		Token: admin.Token, Body: map[string]any{"email": adminInbox}})
	h.Expect(t, http.StatusUnauthorized, Request{Method: "POST", Path: "/auth/protected",
		Token: victim.Token, Body: "{}"})
	oldNotice := h.LatestMail(t, victim.Email)
	if !strings.Contains(oldNotice.Subject, "email address") {
		t.Errorf("old address's newest mail: got subject %q, want the change notice", oldNotice.Subject)
	}

	mailsBefore := len(h.Mailbox(t))
	h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/auth/admin-reset-password",
		Token: admin.Token, Body: map[string]string{"targetEmail": adminInbox}})
	h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/auth/request-password-reset",
		Body: map[string]string{"email": adminInbox}})
	if got := len(h.Mailbox(t)); got != mailsBefore {
		t.Fatalf("mails after reset requests on a held account: got %d new, want 0", got-mailsBefore)
	}

	// The owner signs in at the new address with the password only they know, which lifts the
	// hold, and resets work again.
	h.Login(t, adminInbox, victim.Password)
	h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/auth/request-password-reset",
		Body: map[string]string{"email": adminInbox}})
	if m := h.LatestMail(t, adminInbox); !strings.Contains(m.Subject, "Reset") {
		t.Errorf("after the owner's sign-in: newest mail subject %q, want a reset link", m.Subject)
	}
}
