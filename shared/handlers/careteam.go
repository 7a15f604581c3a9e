package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/clinicpix/backend/shared/apperr"
	"github.com/clinicpix/backend/shared/audit"
	"github.com/clinicpix/backend/shared/auth"
	"github.com/clinicpix/backend/shared/httpapi"
	"github.com/clinicpix/backend/shared/identity"
	"github.com/clinicpix/backend/shared/mail"
	"github.com/clinicpix/backend/shared/store"
)

// ShareEnder ends a provider's active shares to one patient and returns how many it ended.
// The images code implements it on *store.Shares.
type ShareEnder interface {
	EndSharesForPatient(ctx context.Context, providerID, patientID, endedBy int64) (int, error)
}

// maxNoteChars bounds the documentation note stored with an assignment or its end.
const maxNoteChars = 500

// Directory page sizes.
const (
	directoryDefaultLimit = 50
	directoryMaxLimit     = 200
)

var (
	errNoActivePatient = apperr.New(apperr.NotFound, "No active patient account has this email.").
				WithCode("not_found")
	errNotAssigned = apperr.New(apperr.NotFound, "This patient is not assigned to this provider.").
			WithCode("not_found")
	errNoSuchPatient = apperr.New(apperr.NotFound, "No patient assigned to you has this email.").
				WithCode("not_found")
)

func careTeamHandlers(d *Deps) map[string]httpapi.Handler {
	return map[string]httpapi.Handler{
		"patients-assign":    d.assignPatient,
		"patients-unassign":  d.unassignPatient,
		"patients-list":      d.listPatients,
		"patients-directory": d.patientDirectory,
		"patients-user-id":   d.lookupPatientID,
		"me-providers":       d.listCareTeam,
		"me-end-assignment":  d.endOwnAssignment,
	}
}

type assignRequest struct {
	ProviderID   *int64 `json:"providerId"`
	PatientEmail string `json:"patientEmail"`
	Note         string `json:"note"`
}

func (d *Deps) assignPatient(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	var in assignRequest
	if err := req.DecodeJSON(&in); err != nil {
		return httpapi.Response{}, err
	}
	providerID, err := d.actingProvider(ctx, req.Caller, in.ProviderID, true)
	if err != nil {
		return httpapi.Response{}, err
	}
	email, err := auth.ValidateEmail("patientEmail", in.PatientEmail)
	if err != nil {
		return httpapi.Response{}, err
	}
	note, err := validateNote("note", in.Note)
	if err != nil {
		return httpapi.Response{}, err
	}
	patient, err := d.Users.ByEmail(ctx, auth.NormalizeEmail(email))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return httpapi.Response{}, err
	}
	if err != nil || patient.Role != identity.Patient || !patient.Active {
		if err := d.record(ctx, req, audit.Entry{Action: audit.PatientAssigned,
			Outcome: audit.Failure, Details: fmt.Sprintf("provider=%d reason=no_active_patient",
				providerID)}); err != nil {
			return httpapi.Response{}, err
		}
		return httpapi.Response{}, errNoActivePatient
	}

	created, err := d.Assignments.Assign(ctx, providerID, patient.ID, req.Caller.UserID, note, d.Now())
	if err != nil {
		return httpapi.Response{}, err
	}
	details := fmt.Sprintf("provider=%d patient=%d by=%d created=%t%s", providerID, patient.ID,
		req.Caller.UserID, created, noteDigest(note))
	if err := d.record(ctx, req, audit.Entry{Action: audit.PatientAssigned, Outcome: audit.Success,
		TargetID: assignmentTarget(providerID, patient.ID), SubjectPatientID: patient.ID,
		Details: details}); err != nil {
		return httpapi.Response{}, err
	}
	if !created {
		return httpapi.OK(httpapi.Message("The patient is already assigned to this provider.")), nil
	}
	provider, err := d.Users.Get(ctx, providerID)
	if err != nil {
		return httpapi.Response{}, err
	}
	d.mailPatient(ctx, patient, "A provider was added to your ClinicPix care team",
		provider.Username+" (provider account "+fmt.Sprint(providerID)+") is now on your "+
			"ClinicPix care team. They can share medical images with you and see your name and "+
			"phone number.\n\nYou can remove them at any time from your care team page.\n")
	return httpapi.OK(httpapi.Message("Patient assigned.")), nil
}

type unassignRequest struct {
	ProviderID *int64 `json:"providerId"`
	PatientID  *int64 `json:"patientId"`
	Note       string `json:"note"`
}

func (d *Deps) unassignPatient(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	var in unassignRequest
	if err := req.DecodeJSON(&in); err != nil {
		return httpapi.Response{}, err
	}
	providerID, err := d.actingProvider(ctx, req.Caller, in.ProviderID, false)
	if err != nil {
		return httpapi.Response{}, err
	}
	if in.PatientID == nil || *in.PatientID <= 0 {
		return httpapi.Response{}, apperr.InvalidField("patientId", "must be a positive whole number")
	}
	note, err := validateNote("note", in.Note)
	if err != nil {
		return httpapi.Response{}, err
	}
	msg, err := d.endAssignment(ctx, req, providerID, *in.PatientID, note)
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.OK(httpapi.Message(msg)), nil
}

type endOwnRequest struct {
	Note string `json:"note"`
}

func (d *Deps) endOwnAssignment(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	providerID, err := httpapi.ParseUserID("providerId", req.PathParam("providerId"))
	if err != nil {
		return httpapi.Response{}, err
	}
	var in endOwnRequest
	if len(strings.TrimSpace(string(req.Body))) > 0 {
		if err := req.DecodeJSON(&in); err != nil {
			return httpapi.Response{}, err
		}
	}
	note, err := validateNote("note", in.Note)
	if err != nil {
		return httpapi.Response{}, err
	}
	msg, err := d.endAssignment(ctx, req, providerID, req.Caller.UserID, note)
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.OK(httpapi.Message(msg)), nil
}

// endAssignment ends an assignment and the provider's shares to the patient, audits it and
// mails the patient. Ending an assignment that has already ended ends any shares left over from
// an earlier attempt that failed half way, and succeeds.
func (d *Deps) endAssignment(ctx context.Context, req *httpapi.Request, providerID, patientID int64,
	note string) (string, error) {
	if d.Shares == nil {
		return "", errors.New("end assignment: Deps.Shares is not wired, so shares cannot be ended")
	}
	err := d.Assignments.End(ctx, providerID, patientID, req.Caller.UserID, note, d.Now())
	already := errors.Is(err, store.ErrConditionFailed)
	if errors.Is(err, store.ErrNotFound) {
		return "", errNotAssigned
	}
	if err != nil && !already {
		return "", err
	}
	ended, err := d.Shares.EndSharesForPatient(ctx, providerID, patientID, req.Caller.UserID)
	if err != nil {
		return "", fmt.Errorf("end shares of provider %d to patient %d: %w", providerID, patientID, err)
	}
	details := fmt.Sprintf("provider=%d patient=%d by=%d already_ended=%t shares_ended=%d%s",
		providerID, patientID, req.Caller.UserID, already, ended, noteDigest(note))
	if err := d.record(ctx, req, audit.Entry{Action: audit.PatientUnassigned, Outcome: audit.Success,
		TargetID: assignmentTarget(providerID, patientID), SubjectPatientID: patientID,
		Details: details}); err != nil {
		return "", err
	}
	if already {
		return "The assignment had already ended.", nil
	}
	patient, err := d.Users.Get(ctx, patientID)
	if err != nil {
		return "", err
	}
	provider, err := d.Users.Get(ctx, providerID)
	if err != nil {
		return "", err
	}
	d.mailPatient(ctx, patient, "A provider was removed from your ClinicPix care team",
		provider.Username+" (provider account "+fmt.Sprint(providerID)+") is no longer on your "+
			"ClinicPix care team. They can no longer see your details, and the images they shared "+
			"with you are no longer shared.\n")
	return "Assignment ended.", nil
}

type patientJSON struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Email    string `json:"email"`
	Name     string `json:"name"`
	Phone    string `json:"phone"`
}

func (d *Deps) listPatients(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	if err := requireSelfString(req.Caller, "providerId", req.PathParam("providerId")); err != nil {
		return httpapi.Response{}, err
	}
	assignments, err := d.Assignments.ListByProvider(ctx, req.Caller.UserID)
	if err != nil {
		return httpapi.Response{}, err
	}
	patients := []patientJSON{}
	for _, a := range assignments {
		u, err := d.Users.Get(ctx, a.PatientID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return httpapi.Response{}, err
		}
		patients = append(patients, patientJSON{ID: u.ID, Username: u.Username, Email: u.Email,
			Name: u.Profile.Name, Phone: u.Profile.Phone})
	}
	if err := d.record(ctx, req, audit.Entry{Action: audit.PatientListViewed, Outcome: audit.Success,
		TargetID: userTarget(req.Caller.UserID),
		Details:  fmt.Sprintf("patients=%d", len(patients))}); err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.OK(map[string]any{"patients": patients}), nil
}

type directoryEntryJSON struct {
	ID       int64  `json:"id"`
	Email    string `json:"email"`
	Username string `json:"username"`
}

func (d *Deps) patientDirectory(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	if err := requireSelfString(req.Caller, "providerId", req.PathParam("providerId")); err != nil {
		return httpapi.Response{}, err
	}
	limit, err := req.QueryInt("limit", directoryDefaultLimit, 1, directoryMaxLimit)
	if err != nil {
		return httpapi.Response{}, err
	}
	scope := store.CursorScope("patient-directory", fmt.Sprint(req.Caller.UserID))
	before, err := d.decodeCursor(req, scope)
	if err != nil {
		return httpapi.Response{}, err
	}
	assignments, err := d.Assignments.ListByProvider(ctx, req.Caller.UserID)
	if err != nil {
		return httpapi.Response{}, err
	}
	assigned := map[int64]bool{}
	for _, a := range assignments {
		assigned[a.PatientID] = true
	}
	page, err := d.Users.List(ctx, identity.Patient, before, limit, func(u store.User) bool {
		return u.Active && !assigned[u.ID]
	})
	if err != nil {
		return httpapi.Response{}, err
	}
	entries := []directoryEntryJSON{}
	for _, u := range page.Users {
		entries = append(entries, directoryEntryJSON{ID: u.ID, Email: u.Email, Username: u.Username})
	}
	if err := d.record(ctx, req, audit.Entry{Action: audit.DirectoryListed, Outcome: audit.Success,
		Details: fmt.Sprintf("patients=%d limit=%d next_page=%t", len(entries), limit,
			page.Next != "")}); err != nil {
		return httpapi.Response{}, err
	}
	resp, next, err := d.pageResponse(scope, page.Next)
	if err != nil {
		return httpapi.Response{}, err
	}
	resp.Body = map[string]any{"patients": entries, "nextCursor": next}
	return resp, nil
}

func (d *Deps) lookupPatientID(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	raw, err := req.RequiredQuery("email")
	if err != nil {
		return httpapi.Response{}, err
	}
	email, err := auth.ValidateEmail("email", raw)
	if err != nil {
		return httpapi.Response{}, err
	}
	id, err := d.Users.IDByEmail(ctx, auth.NormalizeEmail(email))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return httpapi.Response{}, err
	}
	assigned := false
	if err == nil {
		if assigned, err = d.Assignments.IsActive(ctx, req.Caller.UserID, id); err != nil {
			return httpapi.Response{}, err
		}
	}
	entry := audit.Entry{Action: audit.UserIDLookup, Outcome: audit.Success}
	if assigned {
		entry.TargetID, entry.SubjectPatientID = userTarget(id), id
	} else {
		entry.Outcome, entry.Details = audit.Denied, "reason=unknown_or_not_assigned"
	}
	if err := d.record(ctx, req, entry); err != nil {
		return httpapi.Response{}, err
	}
	if !assigned {
		return httpapi.Response{}, errNoSuchPatient
	}
	return httpapi.OK(map[string]any{"userId": id}), nil
}

type careTeamMemberJSON struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Email    string `json:"email"`
	Since    string `json:"since"`
}

func (d *Deps) listCareTeam(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	assignments, err := d.Assignments.ListByPatient(ctx, req.Caller.UserID)
	if err != nil {
		return httpapi.Response{}, err
	}
	team := []careTeamMemberJSON{}
	for _, a := range assignments {
		u, err := d.Users.Get(ctx, a.ProviderID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return httpapi.Response{}, err
		}
		team = append(team, careTeamMemberJSON{ID: u.ID, Username: u.Username, Email: u.Email,
			Since: timestamp(a.CreatedAt)})
	}
	if err := d.record(ctx, req, audit.Entry{Action: audit.CareTeamViewed, Outcome: audit.Success,
		TargetID: userTarget(req.Caller.UserID), SubjectPatientID: req.Caller.UserID,
		Details: fmt.Sprintf("providers=%d", len(team))}); err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.OK(map[string]any{"providers": team}), nil
}

// actingProvider returns the provider an assign or unassign acts for. A provider acts only for
// themself. An admin names a provider account, which must be active when requireActive is set,
// so that an admin can still end the assignments of a deactivated provider.
func (d *Deps) actingProvider(ctx context.Context, caller identity.Caller, sent *int64,
	requireActive bool) (int64, error) {
	if caller.Role == identity.Provider {
		if sent == nil {
			return caller.UserID, nil
		}
		return caller.UserID, requireSelf(caller, "providerId", *sent)
	}
	if caller.Role != identity.Admin {
		return 0, apperr.New(apperr.Forbidden, "only providers and admins manage assignments")
	}
	if sent == nil || *sent <= 0 {
		return 0, apperr.InvalidField("providerId", "must be a positive whole number")
	}
	u, err := d.Users.Get(ctx, *sent)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return 0, err
	}
	if err != nil || u.Role != identity.Provider || (requireActive && !u.Active) {
		return 0, apperr.InvalidField("providerId", "must be the id of an active provider account")
	}
	return u.ID, nil
}

// validateNote trims a documentation note and checks its length and characters.
func validateNote(field, note string) (string, error) {
	note = strings.TrimSpace(note)
	if !utf8.ValidString(note) {
		return "", apperr.InvalidField(field, "must be valid UTF-8 text")
	}
	if utf8.RuneCountInString(note) > maxNoteChars {
		return "", apperr.InvalidField(field, fmt.Sprintf("must be at most %d characters", maxNoteChars))
	}
	for _, r := range note {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return "", apperr.InvalidField(field, "must not contain control characters")
		}
	}
	return note, nil
}

// noteDigest returns an audit detail that identifies a note without copying it, because notes
// are free text that may contain PHI and audit details must not. The note stays on the
// assignment item.
func noteDigest(note string) string {
	if note == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(note))
	return " note_sha256=" + hex.EncodeToString(sum[:8])
}

func assignmentTarget(providerID, patientID int64) string {
	return fmt.Sprintf("assignment:%d:%d", providerID, patientID)
}

// mailPatient sends a care-team notice. The change is already made and audited, so a failed
// mail is logged, by user id only, and the request still succeeds.
func (d *Deps) mailPatient(ctx context.Context, patient store.User, subject, body string) {
	err := d.Mail.Send(ctx, mail.Message{To: patient.Email, Subject: subject, Body: body})
	if err != nil {
		d.Log.ErrorContext(ctx, "care team notice not sent", "userId", patient.ID,
			"error", err.Error())
	}
}
