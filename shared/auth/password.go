package auth

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/clinicpix/backend/shared/apperr"
	"github.com/clinicpix/backend/shared/audit"
	"github.com/clinicpix/backend/shared/identity"
	"github.com/clinicpix/backend/shared/mail"
	"github.com/clinicpix/backend/shared/store"
)

// ResetLifetime is how long a mailed password reset link works.
const ResetLifetime = 15 * time.Minute

var errResetFailed = apperr.InvalidField("token",
	"is invalid, used or expired; request a new password reset email")

// ChangePassword sets a new password for the signed-in caller after checking the current one,
// and ends every other session of the caller. A wrong current password counts towards the
// account lockout. newPassword must already have passed ValidatePassword.
func (s *Service) ChangePassword(ctx context.Context, caller identity.Caller, current, newPassword string,
	origin audit.Origin) error {
	now := s.Now()
	u, err := s.Users.Get(ctx, caller.UserID)
	if err != nil {
		return err
	}
	if u.LockedUntil.After(now) {
		if err := s.record(ctx, origin, s.selfEntry(u, audit.PasswordChanged, audit.LockedOut, "")); err != nil {
			return err
		}
		return errFactorLocked
	}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(current)) != nil {
		if _, err := s.Users.RecordLoginFailure(ctx, u, now, s.Settings.LoginFailureWindow,
			s.Settings.LoginMaxFailures, s.Settings.LockoutDuration); err != nil {
			return err
		}
		if err := s.record(ctx, origin, s.selfEntry(u, audit.PasswordChanged, audit.WrongPassword, "")); err != nil {
			return err
		}
		return apperr.InvalidField("currentPassword", "is incorrect")
	}
	if current == newPassword {
		return apperr.InvalidField("newPassword", "must differ from the current password")
	}
	if err := s.setPassword(ctx, u, newPassword); err != nil {
		return err
	}
	ended, err := s.Sessions.DeleteUserSessions(ctx, u.ID, caller.SessionID)
	if err != nil {
		return err
	}
	if _, err := s.Sessions.DeleteUserResets(ctx, u.ID); err != nil {
		return err
	}
	if err := s.record(ctx, origin, s.selfEntry(u, audit.PasswordChanged, audit.Success,
		"other_sessions_ended="+strconv.Itoa(ended))); err != nil {
		return err
	}
	s.notify(ctx, u, "Your ClinicPix password was changed",
		"The password of your ClinicPix account was changed, and your other sessions were "+
			"signed out.\n\nIf you did not do this, reset your password and contact your "+
			"administrator.\n")
	return nil
}

// ResetRequest is a request to mail a reset link.
type ResetRequest struct {
	Email string
	// ResetPage is the web client's reset page; the token and email are added as query
	// parameters.
	ResetPage string
	// By is the admin who asked for the reset, or zero when the user asked themself.
	By     identity.Caller
	Origin audit.Origin
}

// RequestPasswordReset mails a single-use reset link valid for ResetLifetime when the email
// belongs to an active account. It returns nil whatever the account's state, so the caller's
// response cannot reveal whether the email is registered. Only the audit log records why no
// mail was sent.
// NOTE: an unknown email skips the token write and the mail, so the response time still differs.
func (s *Service) RequestPasswordReset(ctx context.Context, r ResetRequest) error {
	entry := audit.Entry{ActorID: r.By.UserID, ActorRole: r.By.Role, Action: audit.PasswordResetRequest}
	u, err := s.Users.ByEmail(ctx, NormalizeEmail(r.Email))
	if errors.Is(err, store.ErrNotFound) {
		entry.Outcome = audit.UnknownAccount
		return s.record(ctx, r.Origin, entry)
	}
	if err != nil {
		return err
	}
	if entry.ActorID == 0 {
		entry.ActorID, entry.ActorRole = u.ID, u.Role
	}
	entry.TargetID = userTarget(u.ID)
	if !u.Active {
		entry.Outcome, entry.Details = audit.Inactive, "mail=not_sent"
		return s.record(ctx, r.Origin, entry)
	}
	if u.ResetHold {
		entry.Outcome, entry.Details = audit.Denied, "reason=reset_hold mail=not_sent"
		return s.record(ctx, r.Origin, entry)
	}

	now := s.Now().UTC()
	token, id := NewToken()
	if err := s.Sessions.PutReset(ctx, store.Reset{ID: id, UserID: u.ID, CreatedAt: now,
		ExpiresAt: now.Add(ResetLifetime)}); err != nil {
		return err
	}
	entry.Outcome, entry.Details = audit.Success, "reset="+id[:16]
	if err := s.record(ctx, r.Origin, entry); err != nil {
		return err
	}
	link := strings.TrimRight(r.ResetPage, "?") + "?" + url.Values{
		"token": {token}, "email": {u.Email}}.Encode()
	err = s.Mail.Send(ctx, mail.Message{
		To:      u.Email,
		Subject: "Reset your ClinicPix password",
		Body: "Someone asked to reset the password of your ClinicPix account. To choose a new " +
			"password, open this link within 15 minutes:\n\n" + link + "\n\nThe link works once. " +
			"Your sign-in code or authenticator app is still needed afterwards. If you did not " +
			"ask for this, ignore this email.\n",
	})
	if err != nil {
		return fmt.Errorf("mail password reset link to user %d: %w", u.ID, err)
	}
	return nil
}

// ResetPassword sets a new password with a mailed reset token, which then stops working, and
// ends every session of the user. The second factor is untouched, so the next login still needs
// it. newPassword must already have passed ValidatePassword.
func (s *Service) ResetPassword(ctx context.Context, email, token, newPassword string, origin audit.Origin) error {
	now := s.Now()
	entry := audit.Entry{Action: audit.PasswordReset, Outcome: audit.Failure}
	r, err := s.Sessions.TakeReset(ctx, TokenID(token))
	if errors.Is(err, store.ErrNotFound) {
		entry.Details = "reason=unknown_token"
		if err := s.record(ctx, origin, entry); err != nil {
			return err
		}
		return errResetFailed
	}
	if err != nil {
		return err
	}
	entry.ActorID, entry.TargetID = r.UserID, userTarget(r.UserID)
	if !now.Before(r.ExpiresAt) {
		entry.Details = "reason=expired"
		if err := s.record(ctx, origin, entry); err != nil {
			return err
		}
		return errResetFailed
	}
	u, err := s.Users.Get(ctx, r.UserID)
	if err != nil {
		return err
	}
	entry.ActorRole = u.Role
	if NormalizeEmail(email) != u.EmailKey || !u.Active || u.ResetHold {
		entry.Details = "reason=email_mismatch_inactive_or_hold"
		if err := s.record(ctx, origin, entry); err != nil {
			return err
		}
		return errResetFailed
	}
	if err := s.setPassword(ctx, u, newPassword); err != nil {
		return err
	}
	if err := s.Users.Unlock(ctx, u.ID); err != nil {
		return err
	}
	ended, err := s.Sessions.DeleteUserSessions(ctx, u.ID, "")
	if err != nil {
		return err
	}
	if _, err := s.Sessions.DeleteUserResets(ctx, u.ID); err != nil {
		return err
	}
	entry.Outcome, entry.Details = audit.Success, "sessions_ended="+strconv.Itoa(ended)
	if err := s.record(ctx, origin, entry); err != nil {
		return err
	}
	s.notify(ctx, u, "Your ClinicPix password was reset",
		"The password of your ClinicPix account was reset with an emailed link, and every "+
			"session was signed out.\n\nIf you did not do this, contact your administrator.\n")
	return nil
}

// setPassword hashes and stores a new password for u.
func (s *Service) setPassword(ctx context.Context, u store.User, password string) error {
	hash, err := HashPassword(password, s.Settings.BcryptCost)
	if err != nil {
		return err
	}
	return s.Users.Update(ctx, u.ID, map[string]any{"passwordHash": hash})
}
