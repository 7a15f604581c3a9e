package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/clinicpix/backend/shared/store"
	"github.com/clinicpix/backend/shared/testenv"
)

func TestUnassignEndsProviderShares(t *testing.T) {
	h := API(t)
	provider := h.SignedIn(t, "provider")
	patient := h.SignedIn(t, "patient")
	h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/patients/assign", Token: provider.Token,
		Body: map[string]any{"patientEmail": patient.Email}})

	up := requestUpload(t, h, provider, "ct_small.png", "image/png")
	if status := testenv.PutPresigned(t, up.URL, up.Headers, readImage(t, "ct_small.png")); status != http.StatusOK {
		t.Fatalf("PUT ct_small.png: got status %d, want 200", status)
	}
	waitForState(t, h, up.ImageID, store.ImageAvailable)
	h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/files/share", Token: provider.Token,
		Body: map[string]any{"fileName": "ct_small.png", "uploadedBy": provider.ID,
			"sharedWith": patient.ID, "expiresIn": 86400}})
	viewPath := fmt.Sprintf("/files/view/%s?uploadedBy=%d", url.PathEscape("ct_small.png"), provider.ID)
	h.Expect(t, http.StatusOK, Request{Method: "GET", Path: viewPath, Token: patient.Token})

	h.Expect(t, http.StatusOK, Request{Method: "DELETE", Path: "/patients/unassign",
		Token: provider.Token, Body: map[string]any{"providerId": provider.ID, "patientId": patient.ID}})

	h.Expect(t, http.StatusForbidden, Request{Method: "GET", Path: viewPath, Token: patient.Token})
	shared := h.Expect(t, http.StatusOK, Request{Method: "GET",
		Path: fmt.Sprintf("/files/shared?sharedWith=%d", patient.ID), Token: patient.Token})
	if files, _ := shared.JSON["sharedFiles"].([]any); len(files) != 0 {
		t.Errorf("patient's shared list after unassign = %s, want empty", shared.Raw)
	}
	mine := h.Expect(t, http.StatusOK, Request{Method: "GET",
		Path: fmt.Sprintf("/files/provider-shared?uploadedBy=%d", provider.ID), Token: provider.Token})
	files, _ := mine.JSON["sharedFiles"].([]any)
	if len(files) != 1 {
		t.Fatalf("provider's shares = %d, want 1 (%s)", len(files), mine.Raw)
	}
	share := files[0].(map[string]any)
	if got := share["status"]; got != "assignment_ended" {
		t.Errorf("share status after unassign = %v, want assignment_ended", got)
	}
	if got, _ := share["ended_at"].(string); got == "" {
		t.Errorf("share ended_at after unassign is empty, want the end time")
	}
}
