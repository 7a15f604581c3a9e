package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"strconv"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/clinicpix/backend/shared/apperr"
	"github.com/clinicpix/backend/shared/audit"
	"github.com/clinicpix/backend/shared/mail"
	"github.com/clinicpix/backend/shared/store"
)

// totpIssuer is the name authenticator apps show next to the account.
const totpIssuer = "ClinicPix"

// qrSize is the width and height in pixels of the enrollment QR code.
const qrSize = 200

// Enrollment is a started TOTP enrollment: what the user scans or types into an authenticator
// app. Secret is the base32 secret for typing in by hand.
type Enrollment struct {
	URL    string
	QRPNG  []byte
	Secret string
}

var (
	errTOTPAlreadyOn = apperr.New(apperr.Conflict,
		"An authenticator app is already enrolled. Disable it before enrolling another.").
		WithCode("totp_enabled")
	errTOTPOff = apperr.New(apperr.Conflict, "No authenticator app is enrolled.").
			WithCode("totp_not_enabled")
	errNoPendingTOTP = apperr.New(apperr.Conflict,
		"No enrollment is in progress. Start enrollment first.").WithCode("totp_not_started")
	errFactorLocked = apperr.New(apperr.Locked,
		"Too many wrong codes or passwords. Try again in a few minutes.").WithCode("locked")
)

// StartTOTPEnrollment generates a new TOTP secret for userID and stores it encrypted, pending
// confirmation. Login keeps using emailed codes until ConfirmTOTP succeeds. Starting again
// replaces a pending secret.
func (s *Service) StartTOTPEnrollment(ctx context.Context, userID int64, origin audit.Origin) (Enrollment, error) {
	u, err := s.Users.Get(ctx, userID)
	if err != nil {
		return Enrollment{}, err
	}
	if u.TOTPEnabled {
		return Enrollment{}, errTOTPAlreadyOn
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: totpIssuer, AccountName: u.Email,
		Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return Enrollment{}, fmt.Errorf("generate TOTP secret for user %d: %w", u.ID, err)
	}
	img, err := key.Image(qrSize, qrSize)
	if err != nil {
		return Enrollment{}, fmt.Errorf("draw TOTP QR code for user %d: %w", u.ID, err)
	}
	var qr bytes.Buffer
	if err := png.Encode(&qr, img); err != nil {
		return Enrollment{}, fmt.Errorf("encode TOTP QR code for user %d: %w", u.ID, err)
	}
	sealed, err := s.Cipher.Encrypt(ctx, []byte(key.Secret()))
	if err != nil {
		return Enrollment{}, fmt.Errorf("encrypt TOTP secret of user %d: %w", u.ID, err)
	}
	// Audit before storing, so a secret never exists unrecorded.
	if err := s.record(ctx, origin, s.selfEntry(u, audit.TOTPEnrollStarted, audit.Success, "")); err != nil {
		return Enrollment{}, err
	}
	err = s.Users.SetPendingTOTP(ctx, u.ID, sealed)
	if errors.Is(err, store.ErrConditionFailed) {
		return Enrollment{}, errTOTPAlreadyOn
	}
	if err != nil {
		return Enrollment{}, err
	}
	return Enrollment{URL: key.URL(), QRPNG: qr.Bytes(), Secret: key.Secret()}, nil
}

// ConfirmTOTP turns TOTP on after the first correct code from the pending secret and returns
// the recovery codes, which are shown only this once.
func (s *Service) ConfirmTOTP(ctx context.Context, userID int64, code string, origin audit.Origin) ([]string, error) {
	u, err := s.Users.Get(ctx, userID)
	if err != nil {
		return nil, err
	}
	if u.TOTPEnabled {
		return nil, errTOTPAlreadyOn
	}
	if len(u.TOTPSecret) == 0 {
		return nil, errNoPendingTOTP
	}
	if err := s.checkFactorCode(ctx, u, code, false, audit.TOTPEnabled, origin); err != nil {
		return nil, err
	}
	codes, hashes := NewRecoveryCodes()
	err = s.Users.EnableTOTP(ctx, u.ID, hashes)
	if errors.Is(err, store.ErrConditionFailed) {
		return nil, errTOTPAlreadyOn
	}
	if err != nil {
		return nil, err
	}
	if err := s.record(ctx, origin, s.selfEntry(u, audit.TOTPEnabled, audit.Success,
		"recovery_codes="+strconv.Itoa(len(codes)))); err != nil {
		return nil, err
	}
	s.notify(ctx, u, "An authenticator app was added to your ClinicPix account",
		"An authenticator app now provides your ClinicPix sign-in codes, and emailed codes "+
			"are no longer sent.\n\nIf you did not do this, reset your password and contact "+
			"your administrator.\n")
	return codes, nil
}

// DisableTOTP turns TOTP off after a current TOTP code or an unused recovery code. Later logins
// get emailed codes again.
func (s *Service) DisableTOTP(ctx context.Context, userID int64, code string, origin audit.Origin) error {
	u, err := s.Users.Get(ctx, userID)
	if err != nil {
		return err
	}
	if !u.TOTPEnabled {
		return errTOTPOff
	}
	if err := s.checkFactorCode(ctx, u, code, true, audit.TOTPDisabled, origin); err != nil {
		return err
	}
	err = s.Users.DisableTOTP(ctx, u.ID)
	if errors.Is(err, store.ErrConditionFailed) {
		return errTOTPOff
	}
	if err != nil {
		return err
	}
	if err := s.record(ctx, origin, s.selfEntry(u, audit.TOTPDisabled, audit.Success, "")); err != nil {
		return err
	}
	s.notify(ctx, u, "The authenticator app was removed from your ClinicPix account",
		"Your ClinicPix sign-in codes are emailed again from now on.\n\nIf you did not do this, "+
			"reset your password and contact your administrator.\n")
	return nil
}

// RegenerateRecoveryCodes replaces the user's recovery codes after a current TOTP code and
// returns the new ones. The old codes stop working at once.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, userID int64, code string,
	origin audit.Origin) ([]string, error) {
	u, err := s.Users.Get(ctx, userID)
	if err != nil {
		return nil, err
	}
	if !u.TOTPEnabled {
		return nil, errTOTPOff
	}
	if err := s.checkFactorCode(ctx, u, code, false, audit.RecoveryCodesReissued, origin); err != nil {
		return nil, err
	}
	codes, hashes := NewRecoveryCodes()
	err = s.Users.SetRecoveryCodes(ctx, u.ID, hashes)
	if errors.Is(err, store.ErrConditionFailed) {
		return nil, errTOTPOff
	}
	if err != nil {
		return nil, err
	}
	if err := s.record(ctx, origin, s.selfEntry(u, audit.RecoveryCodesReissued, audit.Success,
		"recovery_codes="+strconv.Itoa(len(codes)))); err != nil {
		return nil, err
	}
	return codes, nil
}

// checkFactorCode checks a code for a signed-in second-factor change: a TOTP code of u's
// secret (pending or enabled), each time step usable once, or, when allowRecovery is set, one
// of u's recovery codes. A wrong code counts towards the account lockout like a wrong password,
// so a stolen session cannot guess codes without limit. Failures are audited under action.
func (s *Service) checkFactorCode(ctx context.Context, u store.User, code string, allowRecovery bool,
	action audit.Action, origin audit.Origin) error {
	now := s.Now()
	if u.LockedUntil.After(now) {
		if err := s.record(ctx, origin, s.selfEntry(u, action, audit.LockedOut, "")); err != nil {
			return err
		}
		return errFactorLocked
	}
	ok, method := false, "malformed"
	if isSixDigits(code) {
		secret, err := s.Cipher.Decrypt(ctx, u.TOTPSecret)
		if err != nil {
			return fmt.Errorf("decrypt TOTP secret of user %d: %w", u.ID, err)
		}
		step, matched := matchTOTP(string(secret), code, now)
		method = "totp_mismatch"
		if matched {
			err := s.Users.UseTOTPStep(ctx, u.ID, step)
			switch {
			case errors.Is(err, store.ErrConditionFailed):
				method = "totp_replay"
			case err != nil:
				return err
			default:
				ok, method = true, "totp"
			}
		}
	} else if allowRecovery {
		var err error
		ok, method, err = s.useRecoveryCode(ctx, u, code)
		if err != nil {
			return err
		}
		if ok {
			if err := s.record(ctx, origin, s.selfEntry(u, audit.RecoveryCodeUsed, audit.Success,
				"for="+string(action))); err != nil {
				return err
			}
		}
	}
	if ok {
		return nil
	}
	if _, err := s.Users.RecordLoginFailure(ctx, u, now, s.Settings.LoginFailureWindow,
		s.Settings.LoginMaxFailures, s.Settings.LockoutDuration); err != nil {
		return err
	}
	if err := s.record(ctx, origin, s.selfEntry(u, action, audit.Failure, "reason="+method)); err != nil {
		return err
	}
	msg := "is incorrect or was already used; enter the current 6-digit code from your app"
	if allowRecovery {
		msg += ", or an unused recovery code"
	}
	return apperr.InvalidField("code", msg)
}

// selfEntry is an audit entry for an action a user takes on their own account.
func (s *Service) selfEntry(u store.User, action audit.Action, outcome audit.Outcome, details string) audit.Entry {
	return audit.Entry{ActorID: u.ID, ActorRole: u.Role, Action: action, Outcome: outcome,
		TargetID: userTarget(u.ID), Details: details}
}

// notify mails a security notice to u. The change it reports has already happened and been
// audited, so a mail failure is not returned; it is only lost.
// NOTE: the Service has no logger, so a failed notice is not logged either.
func (s *Service) notify(ctx context.Context, u store.User, subject, body string) {
	_ = s.Mail.Send(ctx, mail.Message{To: u.Email, Subject: subject, Body: body})
}
