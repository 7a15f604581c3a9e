package handlers

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
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

// Account list page sizes.
const (
	accountsDefaultLimit = 100
	accountsMaxLimit     = 500
)

// Profile limits. Weight is in kilograms and height in centimetres, the units the web client's
// form labels use; the ranges reject typing mistakes, not unusual patients.
const (
	maxProfileNameChars    = 100
	maxProfileRegionChars  = 100
	maxProfileAddressChars = 500
	maxAge                 = 150
	maxWeightKg            = 700
	maxHeightCm            = 300
)

// e164Pattern is an E.164 number: a plus sign and up to 15 digits, the first not zero.
var e164Pattern = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

var (
	errNoSuchUser     = apperr.New(apperr.NotFound, "No account has this id.").WithCode("not_found")
	errAdminRoleFixed = apperr.New(apperr.Forbidden,
		"An admin account's role cannot be changed through the API.").WithCode("forbidden")
	errSelfDeactivate = apperr.New(apperr.Forbidden, "You cannot deactivate your own account.").
				WithCode("forbidden")
	errAccountChanged = apperr.New(apperr.Conflict,
		"The account changed meanwhile. Reload it and try again.").WithCode("conflict")
)

// resetMailMessage is the reset request's response message, the same whether or not the email
// is registered.
const resetMailMessage = "If an active account has this email, a password reset link was sent " +
	"to it. The link works once, for 15 minutes."

func accountHandlers(d *Deps) map[string]httpapi.Handler {
	return map[string]httpapi.Handler{
		"users-list":           d.listAccounts,
		"users-get-profile":    d.getProfile,
		"users-update-profile": d.updateProfile,
		"users-update":         d.updateAccount,
		"users-activate":       d.activateAccount,
		"users-deactivate":     d.deactivateAccount,
		"auth-change-password": d.changePassword,
		"auth-request-reset":   d.requestPasswordReset,
		"auth-reset-password":  d.resetPassword,
		"auth-admin-reset":     d.adminResetPassword,
	}
}

func (d *Deps) listAccounts(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	limit, err := req.QueryInt("limit", accountsDefaultLimit, 1, accountsMaxLimit)
	if err != nil {
		return httpapi.Response{}, err
	}
	roleText, err := req.Query("role")
	if err != nil {
		return httpapi.Response{}, err
	}
	role := identity.Role(roleText)
	if role != "" && !role.Valid() {
		return httpapi.Response{}, apperr.InvalidField("role", "must be patient, provider or admin")
	}
	scope := store.CursorScope("accounts", roleText)
	before, err := d.decodeCursor(req, scope)
	if err != nil {
		return httpapi.Response{}, err
	}
	page, err := d.Users.List(ctx, role, before, limit, nil)
	if err != nil {
		return httpapi.Response{}, err
	}
	accounts := make([]accountJSON, 0, len(page.Users))
	for _, u := range page.Users {
		accounts = append(accounts, accountOf(u))
	}
	if err := d.record(ctx, req, audit.Entry{Action: audit.AccountsListed, Outcome: audit.Success,
		Details: fmt.Sprintf("accounts=%d role_filter=%s next_page=%t", len(accounts), roleText,
			page.Next != "")}); err != nil {
		return httpapi.Response{}, err
	}
	resp, _, err := d.pageResponse(scope, page.Next)
	if err != nil {
		return httpapi.Response{}, err
	}
	resp.Body = accounts
	return resp, nil
}

// profileJSON is a user's own profile: the account's email and role, then the same fields that
// profileRequest sets. Numbers are null when not set.
type profileJSON struct {
	Email string `json:"email"`
	Role  string `json:"role"`
	profileRequest
}

func (d *Deps) getProfile(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	if err := requireSelfString(req.Caller, "userId", req.PathParam("userId")); err != nil {
		return httpapi.Response{}, err
	}
	u, err := d.Users.Get(ctx, req.Caller.UserID)
	if err != nil {
		return httpapi.Response{}, err
	}
	if err := d.record(ctx, req, d.profileEntry(u, audit.ProfileViewed, "")); err != nil {
		return httpapi.Response{}, err
	}
	p := u.Profile
	return httpapi.OK(profileJSON{Email: u.Email, Role: string(u.Role), profileRequest: profileRequest{
		Name: p.Name, DOB: p.DOB, State: p.State, Country: p.Country, Age: p.Age,
		Weight: p.Weight, Height: p.Height, Address: p.Address, Phone: p.Phone}}), nil
}

// profileRequest replaces the whole profile: a field that is missing or null is cleared.
type profileRequest struct {
	Name    string   `json:"name"`
	DOB     string   `json:"dob"`
	State   string   `json:"state"`
	Country string   `json:"country"`
	Age     *int     `json:"age"`
	Weight  *float64 `json:"weight"`
	Height  *float64 `json:"height"`
	Address string   `json:"address"`
	Phone   string   `json:"phone"`
}

func (d *Deps) updateProfile(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	if err := requireSelfString(req.Caller, "userId", req.PathParam("userId")); err != nil {
		return httpapi.Response{}, err
	}
	var in profileRequest
	if err := req.DecodeJSON(&in); err != nil {
		return httpapi.Response{}, err
	}
	p, err := validateProfile(in, d.Now())
	if err != nil {
		return httpapi.Response{}, err
	}
	u, err := d.Users.Get(ctx, req.Caller.UserID)
	if err != nil {
		return httpapi.Response{}, err
	}
	if err := d.Users.Update(ctx, u.ID, map[string]any{"profile": p}); err != nil {
		return httpapi.Response{}, err
	}
	if err := d.record(ctx, req, d.profileEntry(u, audit.ProfileUpdated, "")); err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.OK(httpapi.Message("Profile saved.")), nil
}

func (d *Deps) profileEntry(u store.User, action audit.Action, details string) audit.Entry {
	e := audit.Entry{Action: action, Outcome: audit.Success, TargetID: userTarget(u.ID),
		Details: details}
	if u.Role == identity.Patient {
		e.SubjectPatientID = u.ID
	}
	return e
}

// validateProfile checks every profile field and returns the profile to store.
func validateProfile(in profileRequest, now time.Time) (store.Profile, error) {
	var p store.Profile
	var err error
	if p.Name, err = boundedText("name", in.Name, maxProfileNameChars); err != nil {
		return p, err
	}
	if p.State, err = boundedText("state", in.State, maxProfileRegionChars); err != nil {
		return p, err
	}
	if p.Country, err = boundedText("country", in.Country, maxProfileRegionChars); err != nil {
		return p, err
	}
	if p.Address, err = boundedText("address", in.Address, maxProfileAddressChars); err != nil {
		return p, err
	}
	if p.DOB = strings.TrimSpace(in.DOB); p.DOB != "" {
		dob, err := time.Parse(time.DateOnly, p.DOB)
		if err != nil {
			return p, apperr.InvalidField("dob", "must be a date written YYYY-MM-DD, such as 1980-04-30")
		}
		if dob.After(now) || dob.Year() < now.Year()-maxAge {
			return p, apperr.InvalidField("dob", fmt.Sprintf(
				"must not be in the future or more than %d years ago", maxAge))
		}
	}
	if in.Age != nil && (*in.Age < 0 || *in.Age > maxAge) {
		return p, apperr.InvalidField("age", fmt.Sprintf("must be a whole number from 0 to %d", maxAge))
	}
	p.Age = in.Age
	if in.Weight != nil && (*in.Weight <= 0 || *in.Weight > maxWeightKg) {
		return p, apperr.InvalidField("weight", fmt.Sprintf(
			"must be in kilograms, above 0 and at most %d", maxWeightKg))
	}
	p.Weight = in.Weight
	if in.Height != nil && (*in.Height <= 0 || *in.Height > maxHeightCm) {
		return p, apperr.InvalidField("height", fmt.Sprintf(
			"must be in centimetres, above 0 and at most %d", maxHeightCm))
	}
	p.Height = in.Height
	if p.Phone = strings.TrimSpace(in.Phone); p.Phone != "" && !e164Pattern.MatchString(p.Phone) {
		return p, apperr.InvalidField("phone",
			"must be in E.164 form: a plus sign, the country code and the number, digits only, "+
				"such as +14155550100")
	}
	return p, nil
}

// boundedText trims s and checks that it is valid UTF-8 of at most limit characters with no
// control characters.
func boundedText(field, s string, limit int) (string, error) {
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) {
		return "", apperr.InvalidField(field, "must be valid UTF-8 text")
	}
	if utf8.RuneCountInString(s) > limit {
		return "", apperr.InvalidField(field, fmt.Sprintf("must be at most %d characters", limit))
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "", apperr.InvalidField(field, "must not contain control characters")
		}
	}
	return s, nil
}

type updateAccountRequest struct {
	Username *string `json:"username"`
	Email    *string `json:"email"`
	Role     *string `json:"role"`
}

func (d *Deps) updateAccount(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	target, err := d.targetAccount(ctx, req)
	if err != nil {
		return httpapi.Response{}, err
	}
	var in updateAccountRequest
	if err := req.DecodeJSON(&in); err != nil {
		return httpapi.Response{}, err
	}
	if in.Username == nil && in.Email == nil && in.Role == nil {
		return httpapi.Response{}, apperr.InvalidField("body", "must set username, email or role")
	}

	// Every value and rule is checked before the first write, so a request rejected by a check
	// changes nothing.
	var name, email string
	if in.Username != nil {
		if name, err = auth.ValidateUsername("username", *in.Username); err != nil {
			return httpapi.Response{}, err
		}
	}
	if in.Email != nil {
		if email, err = auth.ValidateEmail("email", *in.Email); err != nil {
			return httpapi.Response{}, err
		}
	}
	role := target.Role
	if in.Role != nil && identity.Role(*in.Role) != target.Role {
		role = identity.Role(*in.Role)
		if err := d.checkRoleChange(ctx, target, role); err != nil {
			return httpapi.Response{}, err
		}
	}

	var changed []string
	if in.Email != nil {
		err = d.Users.ChangeEmail(ctx, target, email, auth.NormalizeEmail(email))
		switch {
		case errors.Is(err, store.ErrEmailTaken):
			return httpapi.Response{}, apperr.New(apperr.Conflict,
				"Another account already has this email.").WithCode("email_taken")
		case errors.Is(err, store.ErrConditionFailed):
			return httpapi.Response{}, errAccountChanged
		case err != nil:
			return httpapi.Response{}, err
		}
		changed = append(changed, "email")
		if err := d.afterEmailChange(ctx, target, email); err != nil {
			return httpapi.Response{}, err
		}
	}
	if in.Username != nil {
		if err := d.Users.Update(ctx, target.ID, map[string]any{"username": name}); err != nil {
			return httpapi.Response{}, err
		}
		changed = append(changed, "username")
	}
	if role != target.Role {
		if err := d.applyRoleChange(ctx, target, role); err != nil {
			return httpapi.Response{}, err
		}
		changed = append(changed, "role:"+string(target.Role)+">"+string(role))
	}
	if err := d.record(ctx, req, audit.Entry{Action: audit.AccountUpdated, Outcome: audit.Success,
		TargetID: userTarget(target.ID),
		Details:  "changed=" + strings.Join(changed, ",")}); err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.OK(httpapi.Message("Account updated.")), nil
}

// afterEmailChange ends every session of target and mails a notice to both addresses, so that a change the
// user did not ask for is noticed. The account's ResetHold, set by ChangeEmail, keeps password
// resets off until the user signs in again.
func (d *Deps) afterEmailChange(ctx context.Context, target store.User, email string) error {
	if _, err := d.Sessions.DeleteUserSessions(ctx, target.ID, ""); err != nil {
		return err
	}
	body := "An administrator changed the email address of your ClinicPix account from " +
		target.Email + " to " + email + ", and signed out every session. Sign in with the new " +
		"address and your current password. Password resets stay off until you do.\n\n" +
		"If you did not ask for this change, contact your clinic at once.\n"
	for _, to := range []string{target.Email, email} {
		err := d.Mail.Send(ctx, mail.Message{To: to,
			Subject: "The email address of your ClinicPix account changed", Body: body})
		if err != nil {
			d.Log.ErrorContext(ctx, "email change notice not sent", "userId", target.ID,
				"error", err.Error())
		}
	}
	return nil
}

// checkRoleChange checks that target may move to role. Only patient and provider accounts move,
// and only between those two roles, so the API never makes or unmakes an admin. An account with
// active assignments keeps its role until they end, so no assignment points at the wrong kind
// of account.
func (d *Deps) checkRoleChange(ctx context.Context, target store.User, role identity.Role) error {
	if target.Role == identity.Admin {
		return errAdminRoleFixed
	}
	if role != identity.Patient && role != identity.Provider {
		return apperr.InvalidField("role", "must be patient or provider; admins are created only "+
			"by the operator command-line tool")
	}
	var active []store.Assignment
	var err error
	if target.Role == identity.Provider {
		active, err = d.Assignments.ListByProvider(ctx, target.ID)
	} else {
		active, err = d.Assignments.ListByPatient(ctx, target.ID)
	}
	if err != nil {
		return err
	}
	if len(active) > 0 {
		return apperr.New(apperr.Conflict, fmt.Sprintf("The account has %d active assignments. "+
			"End them before changing its role.", len(active))).WithCode("has_assignments")
	}
	return nil
}

// applyRoleChange sets the role checked by checkRoleChange and ends the account's sessions,
// which carry the old role.
func (d *Deps) applyRoleChange(ctx context.Context, target store.User, role identity.Role) error {
	err := d.Users.SetRole(ctx, target.ID, target.Role, role)
	if errors.Is(err, store.ErrConditionFailed) {
		return errAccountChanged
	}
	if err != nil {
		return err
	}
	_, err = d.Sessions.DeleteUserSessions(ctx, target.ID, "")
	return err
}

func (d *Deps) activateAccount(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	target, err := d.targetAccount(ctx, req)
	if err != nil {
		return httpapi.Response{}, err
	}
	if err := decodeEmptyBody(req); err != nil {
		return httpapi.Response{}, err
	}
	if err := d.Users.Update(ctx, target.ID, map[string]any{"active": true}); err != nil {
		return httpapi.Response{}, err
	}
	if err := d.record(ctx, req, audit.Entry{Action: audit.AccountActivated, Outcome: audit.Success,
		TargetID: userTarget(target.ID),
		Details:  fmt.Sprintf("was_active=%t", target.Active)}); err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.OK(httpapi.Message("Account activated.")), nil
}

func (d *Deps) deactivateAccount(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	target, err := d.targetAccount(ctx, req)
	if err != nil {
		return httpapi.Response{}, err
	}
	if err := decodeEmptyBody(req); err != nil {
		return httpapi.Response{}, err
	}
	if target.ID == req.Caller.UserID {
		return httpapi.Response{}, errSelfDeactivate
	}
	if err := d.Users.Update(ctx, target.ID, map[string]any{"active": false}); err != nil {
		return httpapi.Response{}, err
	}
	ended, err := d.Sessions.DeleteUserSessions(ctx, target.ID, "")
	if err != nil {
		return httpapi.Response{}, err
	}
	if err := d.record(ctx, req, audit.Entry{Action: audit.AccountDeactivated, Outcome: audit.Success,
		TargetID: userTarget(target.ID),
		Details:  fmt.Sprintf("was_active=%t sessions_ended=%d", target.Active, ended)}); err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.OK(httpapi.Message("Account deactivated and signed out everywhere.")), nil
}

// targetAccount reads the account named by the userId path parameter of an admin route.
func (d *Deps) targetAccount(ctx context.Context, req *httpapi.Request) (store.User, error) {
	id, err := httpapi.ParseUserID("userId", req.PathParam("userId"))
	if err != nil {
		return store.User{}, err
	}
	u, err := d.Users.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, errNoSuchUser
	}
	return u, err
}

// decodeEmptyBody accepts no body or an empty JSON object.
func decodeEmptyBody(req *httpapi.Request) error {
	if len(strings.TrimSpace(string(req.Body))) == 0 {
		return nil
	}
	var empty struct{}
	return req.DecodeJSON(&empty)
}

type changePasswordRequest struct {
	CurrentPassword string `json:"currentPassword"`
	NewPassword     string `json:"newPassword"`
}

func (d *Deps) changePassword(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	var in changePasswordRequest
	if err := req.DecodeJSON(&in); err != nil {
		return httpapi.Response{}, err
	}
	if in.CurrentPassword == "" {
		return httpapi.Response{}, apperr.InvalidField("currentPassword", "is required")
	}
	if len(in.CurrentPassword) > auth.MaxPasswordBytes {
		return httpapi.Response{}, apperr.InvalidField("currentPassword", "is incorrect")
	}
	if err := auth.ValidatePassword("newPassword", in.NewPassword); err != nil {
		return httpapi.Response{}, err
	}
	err := d.Auth.ChangePassword(ctx, req.Caller, in.CurrentPassword, in.NewPassword, originOf(req))
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.OK(httpapi.Message("Password changed. Your other sessions were signed out.")), nil
}

type requestResetRequest struct {
	Email string `json:"email"`
}

func (d *Deps) requestPasswordReset(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	var in requestResetRequest
	if err := req.DecodeJSON(&in); err != nil {
		return httpapi.Response{}, err
	}
	email, err := auth.ValidateEmail("email", in.Email)
	if err != nil {
		return httpapi.Response{}, err
	}
	err = d.Auth.RequestPasswordReset(ctx, auth.ResetRequest{Email: email,
		ResetPage: d.resetPage(), Origin: originOf(req)})
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.OK(httpapi.Message(resetMailMessage)), nil
}

type adminResetRequest struct {
	TargetEmail string `json:"targetEmail"`
}

func (d *Deps) adminResetPassword(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	var in adminResetRequest
	if err := req.DecodeJSON(&in); err != nil {
		return httpapi.Response{}, err
	}
	email, err := auth.ValidateEmail("targetEmail", in.TargetEmail)
	if err != nil {
		return httpapi.Response{}, err
	}
	err = d.Auth.RequestPasswordReset(ctx, auth.ResetRequest{Email: email,
		ResetPage: d.resetPage(), By: req.Caller, Origin: originOf(req)})
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.OK(httpapi.Message(resetMailMessage)), nil
}

type resetPasswordRequest struct {
	Email       string `json:"email"`
	Token       string `json:"token"`
	NewPassword string `json:"newPassword"`
}

func (d *Deps) resetPassword(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	var in resetPasswordRequest
	if err := req.DecodeJSON(&in); err != nil {
		return httpapi.Response{}, err
	}
	email, err := auth.ValidateEmail("email", in.Email)
	if err != nil {
		return httpapi.Response{}, err
	}
	token := strings.TrimSpace(in.Token)
	if token == "" || len(token) > 128 {
		return httpapi.Response{}, apperr.InvalidField("token", "must be the token from the reset email")
	}
	if err := auth.ValidatePassword("newPassword", in.NewPassword); err != nil {
		return httpapi.Response{}, err
	}
	if err := d.Auth.ResetPassword(ctx, email, token, in.NewPassword, originOf(req)); err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.OK(httpapi.Message("Password reset. Sign in with the new password.")), nil
}

// resetPage is the web client's page that reads a reset link's token and email.
func (d *Deps) resetPage() string {
	return strings.TrimRight(d.Config.PublicURL, "/") + "/reset-password"
}
