package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/clinicpix/backend/shared/apperr"
	"github.com/clinicpix/backend/shared/httpapi"
	"github.com/clinicpix/backend/shared/identity"
	"github.com/clinicpix/backend/shared/mail"
	"github.com/clinicpix/backend/shared/store"
	"github.com/clinicpix/backend/shared/testenv"
)

// fakeShareEnder records EndSharesForPatient calls and returns err.
type fakeShareEnder struct {
	calls [][3]int64
	err   error
}

func (f *fakeShareEnder) EndSharesForPatient(_ context.Context, providerID, patientID, endedBy int64) (int, error) {
	f.calls = append(f.calls, [3]int64{providerID, patientID, endedBy})
	return 2, f.err
}

var _ ShareEnder = (*fakeShareEnder)(nil)

// newCareDeps returns Deps over fresh DynamoDB Local tables, with an active provider and patient
// already assigned to each other.
func newCareDeps(t *testing.T) (*Deps, store.User, store.User) {
	t.Helper()
	db, tables := testenv.NewTables(t)
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	d := &Deps{
		Users:       &store.Users{DB: db, Table: tables.Users},
		Sessions:    &store.Sessions{DB: db, Table: tables.Sessions},
		Assignments: &store.Assignments{DB: db, Table: tables.Assignments},
		Audit:       &store.AuditLog{DB: db, Table: tables.Audit, Now: func() time.Time { return now }},
		Mail:        &mail.Mailbox{},
		Log:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:         func() time.Time { return now },
	}
	var users []store.User
	for _, role := range []identity.Role{identity.Provider, identity.Patient} {
		id, err := d.Users.NextID(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		email := fmt.Sprintf("%s%d@example.com", role, id)
		u := store.User{ID: id, Username: string(role), Email: email, EmailKey: email, Role: role,
			Active: true, CreatedAt: now}
		if err := d.Users.Create(context.Background(), u); err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
	}
	if _, err := d.Assignments.Assign(context.Background(), users[0].ID, users[1].ID, users[0].ID,
		"", now); err != nil {
		t.Fatal(err)
	}
	return d, users[0], users[1]
}

func unassignRequestFor(t *testing.T, caller identity.Caller, providerID, patientID int64) *httpapi.Request {
	t.Helper()
	body, err := json.Marshal(map[string]int64{"providerId": providerID, "patientId": patientID})
	if err != nil {
		t.Fatal(err)
	}
	return &httpapi.Request{Caller: caller, Body: body}
}

func TestUnassignWithoutShareEnderFails(t *testing.T) {
	d, provider, patient := newCareDeps(t)
	caller := identity.Caller{UserID: provider.ID, Role: identity.Provider, SessionID: "s"}

	_, err := d.unassignPatient(context.Background(), unassignRequestFor(t, caller, provider.ID, patient.ID))
	if err == nil {
		t.Fatal("unassign with no ShareEnder succeeded, want an error")
	}
	if kind := apperr.KindOf(err); kind != 0 {
		t.Errorf("error kind = %v, want a plain error that becomes a 500", kind)
	}
	active, err := d.Assignments.IsActive(context.Background(), provider.ID, patient.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !active {
		t.Errorf("assignment active after the failed unassign = %v, want true", active)
	}
}

func TestUnassignEndsShares(t *testing.T) {
	d, provider, patient := newCareDeps(t)
	shares := &fakeShareEnder{}
	d.Shares = shares
	caller := identity.Caller{UserID: provider.ID, Role: identity.Provider, SessionID: "s"}
	req := unassignRequestFor(t, caller, provider.ID, patient.ID)

	resp, err := d.unassignPatient(context.Background(), req)
	if err != nil {
		t.Fatalf("unassign: %v", err)
	}
	if resp.Status != 200 {
		t.Errorf("status = %d, want 200", resp.Status)
	}
	want := [3]int64{provider.ID, patient.ID, provider.ID}
	if len(shares.calls) != 1 || shares.calls[0] != want {
		t.Errorf("EndSharesForPatient calls = %v, want [%v]", shares.calls, want)
	}
	msgs := d.Mail.(*mail.Mailbox).Messages()
	if len(msgs) != 1 || msgs[0].To != patient.Email {
		t.Errorf("mail = %+v, want one notice to the patient", msgs)
	}

	// A retry after a half-finished attempt ends leftover shares again and succeeds.
	if _, err := d.unassignPatient(context.Background(), req); err != nil {
		t.Fatalf("repeated unassign: %v", err)
	}
	if len(shares.calls) != 2 {
		t.Errorf("EndSharesForPatient calls after a retry = %d, want 2", len(shares.calls))
	}

	shares.err = errors.New("shares table down")
	if _, err := d.Assignments.Assign(context.Background(), provider.ID, patient.ID, provider.ID,
		"", d.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := d.unassignPatient(context.Background(), req); err == nil {
		t.Errorf("unassign with a failing ShareEnder succeeded, want an error")
	}
}

func TestUnassignRejectsOtherProvider(t *testing.T) {
	d, provider, patient := newCareDeps(t)
	d.Shares = &fakeShareEnder{}
	other := identity.Caller{UserID: provider.ID + 100, Role: identity.Provider, SessionID: "s"}

	_, err := d.unassignPatient(context.Background(), unassignRequestFor(t, other, provider.ID, patient.ID))
	if apperr.KindOf(err) != apperr.Forbidden {
		t.Errorf("unassign for another provider: got %v, want forbidden", err)
	}
}

func TestAdminUnassignsForInactiveProvider(t *testing.T) {
	d, provider, patient := newCareDeps(t)
	d.Shares = &fakeShareEnder{}
	if err := d.Users.Update(context.Background(), provider.ID, map[string]any{"active": false}); err != nil {
		t.Fatal(err)
	}
	admin := identity.Caller{UserID: 999, Role: identity.Admin, SessionID: "s"}

	if _, err := d.unassignPatient(context.Background(),
		unassignRequestFor(t, admin, provider.ID, patient.ID)); err != nil {
		t.Fatalf("admin unassign for a deactivated provider: %v", err)
	}
	active, err := d.Assignments.IsActive(context.Background(), provider.ID, patient.ID)
	if err != nil {
		t.Fatal(err)
	}
	if active {
		t.Errorf("assignment active after admin unassign = %v, want false", active)
	}
	_, err = d.unassignPatient(context.Background(), unassignRequestFor(t, admin, patient.ID, provider.ID))
	if apperr.KindOf(err) != apperr.Invalid {
		t.Errorf("admin unassign naming a patient as provider: got %v, want invalid", err)
	}
}

func TestValidateNote(t *testing.T) {
	cases := []struct {
		name, note string
		ok         bool
	}{
		{"empty", "", true},
		{"plain", "referred by Dr. Lee", true},
		{"multi-line", "line one\nline two", true},
		{"at limit", strings.Repeat("é", maxNoteChars), true},
		{"over limit", strings.Repeat("a", maxNoteChars+1), false},
		{"control character", "bell\a", false},
		{"invalid UTF-8", "\xff", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := validateNote("note", tc.note)
			if got := err == nil; got != tc.ok {
				t.Errorf("valid = %v, want %v (error %v)", got, tc.ok, err)
			}
		})
	}
}

func TestNoteDigestHidesNote(t *testing.T) {
	got := noteDigest("patient has diabetes")
	if strings.Contains(got, "diabetes") {
		t.Errorf("digest %q contains the note text", got)
	}
	if !strings.HasPrefix(got, " note_sha256=") {
		t.Errorf("digest = %q, want a note_sha256 detail", got)
	}
	if noteDigest("") != "" {
		t.Errorf("digest of an empty note = %q, want empty", noteDigest(""))
	}
}
