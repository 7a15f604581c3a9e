package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// deactivatedAccount returns a signed-in account of role whose account an admin then
// deactivated, so its token is one a deactivated user still holds.
func deactivatedAccount(t *testing.T, h *Harness, role string) Account {
	t.Helper()
	a := h.SignedIn(t, role)
	admin := h.Admin(t)
	h.Expect(t, http.StatusOK, Request{Method: "PATCH",
		Path: fmt.Sprintf("/users/deactivate/%d", a.ID), Token: admin.Token, Body: "{}"})
	return a
}

// refusal is one caller that a route must turn away, with the status it must get.
type refusal struct {
	caller string
	token  string
	want   int
}

func checkRefusals(t *testing.T, h *Harness, method, path string, body any, cases []refusal) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.caller, func(t *testing.T) {
			resp := h.Do(t, Request{Method: method, Path: path, Token: c.token, Body: body})
			if resp.Status != c.want {
				t.Errorf("%s %s as %s: got status %d, want %d (body %s)", method, path, c.caller,
					resp.Status, c.want, resp.Raw)
			}
		})
	}
}

func TestPatientEndsAssignment(t *testing.T) {
	h := API(t)
	provider := h.SignedIn(t, "provider")
	patient := h.SignedIn(t, "patient")

	// The provider has shared nothing yet and assigns the patient, with a note.
	h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/patients/assign", Token: provider.Token,
		Body: map[string]any{"providerId": provider.ID, "patientEmail": patient.Email,
			"note": "referred for imaging"}})
	notice := h.LatestMail(t, patient.Email)
	if !strings.Contains(notice.Subject, "added to your ClinicPix care team") {
		t.Errorf("patient's newest mail subject = %q, want the care team notice", notice.Subject)
	}
	if !strings.Contains(notice.Body, fmt.Sprint(provider.ID)) {
		t.Errorf("care team notice does not name provider %d: %q", provider.ID, notice.Body)
	}

	list := h.Expect(t, http.StatusOK, Request{Method: "GET",
		Path: fmt.Sprintf("/patients/%d", provider.ID), Token: provider.Token})
	if !listsID(list.JSON["patients"], patient.ID) {
		t.Errorf("provider's patients = %s, want patient %d listed", list.Raw, patient.ID)
	}
	lookup := h.Expect(t, http.StatusOK, Request{Method: "GET",
		Path: "/user-id?email=" + url.QueryEscape(patient.Email), Token: provider.Token})
	if got := lookup.JSON["userId"]; got != float64(patient.ID) {
		t.Errorf("user-id = %v, want %d", got, patient.ID)
	}
	team := h.Expect(t, http.StatusOK, Request{Method: "GET", Path: "/me/providers",
		Token: patient.Token})
	if !listsID(team.JSON["providers"], provider.ID) {
		t.Errorf("patient's care team = %s, want provider %d listed", team.Raw, provider.ID)
	}

	// The patient revokes access.
	h.Expect(t, http.StatusOK, Request{Method: "DELETE",
		Path: fmt.Sprintf("/me/providers/%d", provider.ID), Token: patient.Token})

	list = h.Expect(t, http.StatusOK, Request{Method: "GET",
		Path: fmt.Sprintf("/patients/%d", provider.ID), Token: provider.Token})
	if listsID(list.JSON["patients"], patient.ID) {
		t.Errorf("provider's patients after the patient ended it = %s, want patient %d gone",
			list.Raw, patient.ID)
	}
	gone := h.Expect(t, http.StatusNotFound, Request{Method: "GET",
		Path: "/user-id?email=" + url.QueryEscape(patient.Email), Token: provider.Token})
	unknown := h.Expect(t, http.StatusNotFound, Request{Method: "GET",
		Path: "/user-id?email=" + url.QueryEscape(UniqueEmail("nobody")), Token: provider.Token})
	if string(gone.Raw) != string(unknown.Raw) {
		t.Errorf("lookup of an unassigned patient = %s, want the unknown-email body %s",
			gone.Raw, unknown.Raw)
	}
	a, err := h.Runner.App.Deps.Assignments.Get(context.Background(), provider.ID, patient.ID)
	if err != nil {
		t.Fatalf("read ended assignment: %v", err)
	}
	if a.Active {
		t.Errorf("assignment active = %v, want false", a.Active)
	}
	if a.EndedBy != patient.ID {
		t.Errorf("assignment endedBy = %d, want the patient %d", a.EndedBy, patient.ID)
	}
}

func TestAssignIsIdempotentAndUnassignMails(t *testing.T) {
	h := API(t)
	provider := h.SignedIn(t, "provider")
	patient := h.Signup(t, "patient")
	assign := Request{Method: "POST", Path: "/patients/assign", Token: provider.Token,
		Body: map[string]any{"providerId": provider.ID, "patientEmail": patient.Email}}
	h.Expect(t, http.StatusOK, assign)
	before := len(h.Mailbox(t))
	second := h.Expect(t, http.StatusOK, assign)
	if msg, _ := second.JSON["message"].(string); !strings.Contains(msg, "already assigned") {
		t.Errorf("second assign message = %q, want it to say already assigned", msg)
	}
	if after := len(h.Mailbox(t)); after != before {
		t.Errorf("mailbox grew from %d to %d on a repeated assign, want no new mail", before, after)
	}

	h.Expect(t, http.StatusOK, Request{Method: "DELETE", Path: "/patients/unassign",
		Token: provider.Token, Body: map[string]any{"providerId": provider.ID,
			"patientId": patient.ID, "note": "care completed"}})
	notice := h.LatestMail(t, patient.Email)
	if !strings.Contains(notice.Subject, "removed from your ClinicPix care team") {
		t.Errorf("patient's newest mail subject = %q, want the removal notice", notice.Subject)
	}
	a, err := h.Runner.App.Deps.Assignments.Get(context.Background(), provider.ID, patient.ID)
	if err != nil {
		t.Fatalf("read ended assignment: %v", err)
	}
	if a.EndNote != "care completed" {
		t.Errorf("end note = %q, want %q", a.EndNote, "care completed")
	}
	h.Expect(t, http.StatusNotFound, Request{Method: "DELETE", Path: "/patients/unassign",
		Token: provider.Token, Body: map[string]any{"providerId": provider.ID,
			"patientId": patient.ID + 1000000}})
}

func TestAdminAssignsForProvider(t *testing.T) {
	h := API(t)
	admin := h.Admin(t)
	provider := h.Signup(t, "provider")
	patient := h.Signup(t, "patient")
	h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/patients/assign", Token: admin.Token,
		Body: map[string]any{"providerId": provider.ID, "patientEmail": patient.Email}})
	active, err := h.Runner.App.Deps.Assignments.IsActive(context.Background(), provider.ID, patient.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !active {
		t.Errorf("assignment made by admin active = %v, want true", active)
	}
	// An admin must name an active provider, not a patient.
	h.Expect(t, http.StatusBadRequest, Request{Method: "POST", Path: "/patients/assign",
		Token: admin.Token, Body: map[string]any{"providerId": patient.ID,
			"patientEmail": patient.Email}})
	h.Expect(t, http.StatusOK, Request{Method: "DELETE", Path: "/patients/unassign",
		Token: admin.Token, Body: map[string]any{"providerId": provider.ID, "patientId": patient.ID}})
}

func TestAssignRejectsBadTargets(t *testing.T) {
	h := API(t)
	provider := h.SignedIn(t, "provider")
	otherProvider := h.Signup(t, "provider")
	cases := []struct {
		name string
		body map[string]any
		want int
	}{
		{"unknown email", map[string]any{"patientEmail": UniqueEmail("ghost")}, http.StatusNotFound},
		{"provider email", map[string]any{"patientEmail": otherProvider.Email}, http.StatusNotFound},
		{"bad email", map[string]any{"patientEmail": "not an email"}, http.StatusBadRequest},
		{"long note", map[string]any{"patientEmail": otherProvider.Email,
			"note": strings.Repeat("x", 501)}, http.StatusBadRequest},
		{"unknown field", map[string]any{"patientEmail": otherProvider.Email, "x": 1},
			http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.Do(t, Request{Method: "POST", Path: "/patients/assign", Token: provider.Token,
				Body: tc.body})
			if resp.Status != tc.want {
				t.Errorf("got status %d, want %d (body %s)", resp.Status, tc.want, resp.Raw)
			}
		})
	}
}

func TestPatientDirectoryExcludesAssigned(t *testing.T) {
	h := API(t)
	provider := h.SignedIn(t, "provider")
	assigned := h.Signup(t, "patient")
	free := h.Signup(t, "patient")
	h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/patients/assign", Token: provider.Token,
		Body: map[string]any{"patientEmail": assigned.Email}})

	seen := map[int64]bool{}
	path := fmt.Sprintf("/patients/all-patient-emails/%d?limit=5", provider.ID)
	for pages := 0; pages < 1000; pages++ {
		resp := h.Expect(t, http.StatusOK, Request{Method: "GET", Path: path, Token: provider.Token})
		items, _ := resp.JSON["patients"].([]any)
		for _, it := range items {
			id := int64(it.(map[string]any)["id"].(float64))
			if seen[id] {
				t.Fatalf("patient %d listed twice", id)
			}
			seen[id] = true
		}
		next, _ := resp.JSON["nextCursor"].(string)
		if next == "" {
			break
		}
		if got := resp.Header.Get("X-Next-Cursor"); got != next {
			t.Errorf("X-Next-Cursor = %q, want the body's nextCursor", got)
		}
		path = fmt.Sprintf("/patients/all-patient-emails/%d?limit=5&cursor=%s", provider.ID,
			url.QueryEscape(next))
	}
	if !seen[free.ID] {
		t.Errorf("directory does not list unassigned patient %d", free.ID)
	}
	if seen[assigned.ID] {
		t.Errorf("directory lists patient %d, who is already assigned", assigned.ID)
	}
}

func TestCareTeamRoutesRefuseOtherCallers(t *testing.T) {
	h := API(t)
	provider := h.SignedIn(t, "provider")
	other := h.SignedIn(t, "provider")
	patient := h.SignedIn(t, "patient")
	otherPatient := h.SignedIn(t, "patient")
	admin := h.Admin(t)
	gone := deactivatedAccount(t, h, "provider")
	h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/patients/assign", Token: provider.Token,
		Body: map[string]any{"patientEmail": patient.Email}})

	assign := map[string]any{"providerId": provider.ID, "patientEmail": otherPatient.Email}
	unassign := map[string]any{"providerId": provider.ID, "patientId": patient.ID}
	manage := []refusal{
		{"patient", patient.Token, http.StatusForbidden},
		{"other provider", other.Token, http.StatusForbidden},
		{"anonymous", "", http.StatusUnauthorized},
		{"deactivated", gone.Token, http.StatusUnauthorized},
	}
	t.Run("assign", func(t *testing.T) {
		checkRefusals(t, h, "POST", "/patients/assign", assign, manage)
	})
	t.Run("unassign", func(t *testing.T) {
		checkRefusals(t, h, "DELETE", "/patients/unassign", unassign, manage)
	})
	providerOnly := []refusal{
		{"patient", patient.Token, http.StatusForbidden},
		{"other provider", other.Token, http.StatusForbidden},
		{"admin", admin.Token, http.StatusForbidden},
		{"anonymous", "", http.StatusUnauthorized},
		{"deactivated", gone.Token, http.StatusUnauthorized},
	}
	t.Run("patient list", func(t *testing.T) {
		checkRefusals(t, h, "GET", fmt.Sprintf("/patients/%d", provider.ID), nil, providerOnly)
	})
	t.Run("directory", func(t *testing.T) {
		checkRefusals(t, h, "GET", fmt.Sprintf("/patients/all-patient-emails/%d", provider.ID),
			nil, providerOnly)
	})
	t.Run("user-id", func(t *testing.T) {
		checkRefusals(t, h, "GET", "/user-id?email="+url.QueryEscape(patient.Email), nil, []refusal{
			{"patient", patient.Token, http.StatusForbidden},
			{"other provider", other.Token, http.StatusNotFound},
			{"admin", admin.Token, http.StatusForbidden},
			{"anonymous", "", http.StatusUnauthorized},
			{"deactivated", gone.Token, http.StatusUnauthorized},
		})
	})
	patientOnly := []refusal{
		{"provider", provider.Token, http.StatusForbidden},
		{"admin", admin.Token, http.StatusForbidden},
		{"anonymous", "", http.StatusUnauthorized},
		{"deactivated", gone.Token, http.StatusUnauthorized},
	}
	t.Run("care team", func(t *testing.T) {
		checkRefusals(t, h, "GET", "/me/providers", nil, patientOnly)
	})
	t.Run("end own assignment", func(t *testing.T) {
		checkRefusals(t, h, "DELETE", fmt.Sprintf("/me/providers/%d", provider.ID), nil,
			append(patientOnly, refusal{"other patient", otherPatient.Token, http.StatusNotFound}))
	})

	// None of the refused calls changed the assignment.
	active, err := h.Runner.App.Deps.Assignments.IsActive(context.Background(), provider.ID, patient.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !active {
		t.Errorf("assignment active after refused calls = %v, want true", active)
	}
	team := h.Expect(t, http.StatusOK, Request{Method: "GET", Path: "/me/providers",
		Token: otherPatient.Token})
	if listsID(team.JSON["providers"], provider.ID) {
		t.Errorf("another patient's care team lists provider %d: %s", provider.ID, team.Raw)
	}
}

// listsID reports whether items, a decoded JSON array of objects, has one with id.
func listsID(items any, id int64) bool {
	list, _ := items.([]any)
	for _, it := range list {
		if m, ok := it.(map[string]any); ok && m["id"] == float64(id) {
			return true
		}
	}
	return false
}
