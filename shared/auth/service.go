package auth

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/clinicpix/backend/shared/apperr"
	"github.com/clinicpix/backend/shared/audit"
	"github.com/clinicpix/backend/shared/identity"
	"github.com/clinicpix/backend/shared/mail"
	"github.com/clinicpix/backend/shared/store"
)

// Second-factor challenge limits.
const (
	CodeLifetime = 5 * time.Minute
	MaxCodeTries = 5
	// codeHashCost is the bcrypt cost for emailed codes. A 6-digit code has only a million
	// values, so a fast hash would fall to brute force from a copy of the table.
	codeHashCost = 10
)

// comparePassword is bcrypt's check; tests count its calls to prove every login path does the
// same work.
var comparePassword = bcrypt.CompareHashAndPassword

// Settings are the tunable sign-in rules, from config.
type Settings struct {
	BcryptCost         int
	PolicyVersion      string
	LoginMaxFailures   int
	LoginFailureWindow time.Duration
	LockoutDuration    time.Duration
	SessionIdleTimeout time.Duration
	SessionMaxLifetime time.Duration
}

// Service runs the sign-in flow.
type Service struct {
	Users    *store.Users
	Sessions *store.Sessions
	Audit    audit.Recorder
	Mail     mail.Sender
	Cipher   SecretCipher
	Settings Settings
	Now      func() time.Time

	dummyOnce     sync.Once
	dummyHash     []byte
	dummyCodeOnce sync.Once
	dummyCodeHash []byte
}

// The messages of failed sign-in steps. Each is the same whatever the cause, so a caller cannot
// tell an unknown email from a wrong password or a locked account.
var (
	errLoginFailed = apperr.New(apperr.Unauthorized,
		"The email or password is incorrect, or the account is locked for a while after too many attempts.").
		WithCode("invalid_credentials")
	errCodeFailed = apperr.New(apperr.Unauthorized,
		"The code is incorrect or has expired. Sign in again to get a new code.").WithCode("invalid_code")
	errSessionEnded = apperr.New(apperr.Unauthorized, "Your session has ended. Sign in again.").
			WithCode("unauthorized")
)

// SignupInput is a validated signup request.
type SignupInput struct {
	Username string
	Email    string
	Password string
	Role     identity.Role
	Origin   audit.Origin
}

// Signup creates an account. Providers start inactive until an admin activates them.
func (s *Service) Signup(ctx context.Context, in SignupInput) (store.User, error) {
	if in.Role != identity.Patient && in.Role != identity.Provider {
		return store.User{}, apperr.InvalidField("role", "must be patient or provider")
	}
	hash, err := HashPassword(in.Password, s.Settings.BcryptCost)
	if err != nil {
		return store.User{}, err
	}
	id, err := s.Users.NextID(ctx)
	if err != nil {
		return store.User{}, err
	}
	now := s.Now().UTC()
	u := store.User{
		ID: id, Username: in.Username, Email: in.Email, EmailKey: NormalizeEmail(in.Email),
		Role: in.Role, Active: in.Role == identity.Patient, PasswordHash: hash, CreatedAt: now,
		Consent: store.Consent{PolicyVersion: s.Settings.PolicyVersion, GivenAt: now,
			SourceIP: in.Origin.SourceIP},
	}
	err = s.Users.Create(ctx, u)
	if errors.Is(err, store.ErrEmailTaken) {
		return store.User{}, apperr.New(apperr.Conflict, "An account with this email already exists.").
			WithCode("email_taken")
	}
	if err != nil {
		return store.User{}, err
	}
	if err := s.record(ctx, in.Origin, audit.Entry{ActorID: id, ActorRole: u.Role,
		Action: audit.Signup, Outcome: audit.Success, TargetID: userTarget(id),
		Details: "policy=" + s.Settings.PolicyVersion}); err != nil {
		return store.User{}, err
	}
	return u, nil
}

// LoginResult is the outcome of a correct password: the second factor now due.
type LoginResult struct {
	Method string // "email" or "totp"
}

// Login checks a password and starts the second factor. Every failure returns the same error
// after the same bcrypt work.
func (s *Service) Login(ctx context.Context, email, password string, origin audit.Origin) (LoginResult, error) {
	now := s.Now()
	u, err := s.Users.ByEmail(ctx, NormalizeEmail(email))
	if errors.Is(err, store.ErrNotFound) {
		s.burnPasswordCheck(password)
		if err := s.record(ctx, origin, audit.Entry{Action: audit.Login,
			Outcome: audit.UnknownAccount}); err != nil {
			return LoginResult{}, err
		}
		return LoginResult{}, errLoginFailed
	}
	if err != nil {
		return LoginResult{}, err
	}
	entry := audit.Entry{ActorID: u.ID, ActorRole: u.Role, Action: audit.Login,
		TargetID: userTarget(u.ID)}

	// The attempt is counted before the password is checked, so parallel guesses cannot all be
	// checked before the first failure is recorded.
	attempt, err := s.Users.ChargeLoginAttempt(ctx, u.ID, now, s.Settings.LoginFailureWindow)
	if err != nil && !errors.Is(err, store.ErrLocked) {
		return LoginResult{}, err
	}
	if errors.Is(err, store.ErrLocked) || attempt > s.Settings.LoginMaxFailures {
		s.burnPasswordCheck(password)
		entry.Outcome = audit.LockedOut
		if err := s.record(ctx, origin, entry); err != nil {
			return LoginResult{}, err
		}
		return LoginResult{}, errLoginFailed
	}

	if comparePassword([]byte(u.PasswordHash), []byte(password)) != nil {
		entry.Outcome = audit.WrongPassword
		if err := s.record(ctx, origin, entry); err != nil {
			return LoginResult{}, err
		}
		if attempt == s.Settings.LoginMaxFailures {
			until := now.Add(s.Settings.LockoutDuration)
			if err := s.Users.Lock(ctx, u.ID, until); err != nil {
				return LoginResult{}, err
			}
			if err := s.record(ctx, origin, audit.Entry{ActorID: u.ID, ActorRole: u.Role,
				Action: audit.AccountLocked, Outcome: audit.Success, TargetID: userTarget(u.ID),
				Details: "until=" + until.UTC().Format(time.RFC3339)}); err != nil {
				return LoginResult{}, err
			}
		}
		return LoginResult{}, errLoginFailed
	}

	if err := s.Users.ClearLoginFailures(ctx, u.ID); err != nil {
		return LoginResult{}, err
	}
	if !u.Active {
		entry.Outcome = audit.Inactive
		if err := s.record(ctx, origin, entry); err != nil {
			return LoginResult{}, err
		}
		msg := "This account is deactivated. Contact your administrator."
		if u.Role == identity.Provider {
			msg = "This account is not active yet or was deactivated. An administrator activates provider accounts."
		}
		return LoginResult{}, apperr.New(apperr.Forbidden, msg).WithCode("account_inactive")
	}
	entry.Outcome = audit.Success
	if err := s.record(ctx, origin, entry); err != nil {
		return LoginResult{}, err
	}
	return s.startChallenge(ctx, u, origin)
}

func (s *Service) startChallenge(ctx context.Context, u store.User, origin audit.Origin) (LoginResult, error) {
	now := s.Now().UTC()
	c := store.Challenge{UserID: u.ID, AttemptID: randomID(), CreatedAt: now,
		ExpiresAt: now.Add(CodeLifetime)}
	if u.TOTPEnabled {
		c.Method = "totp"
		if err := s.Sessions.PutChallenge(ctx, c); err != nil {
			return LoginResult{}, err
		}
		return LoginResult{Method: c.Method}, nil
	}

	c.Method = "email"
	code := newCode()
	hash, err := bcrypt.GenerateFromPassword([]byte(code), codeHashCost)
	if err != nil {
		return LoginResult{}, fmt.Errorf("hash code: %w", err)
	}
	c.CodeHash = string(hash)
	if err := s.Sessions.PutChallenge(ctx, c); err != nil {
		return LoginResult{}, err
	}
	// Audit before sending, so a code never goes out unrecorded.
	if err := s.record(ctx, origin, audit.Entry{ActorID: u.ID, ActorRole: u.Role,
		Action: audit.CodeSent, Outcome: audit.Success, TargetID: userTarget(u.ID),
		Details: "method=email attempt=" + c.AttemptID}); err != nil {
		return LoginResult{}, err
	}
	err = s.Mail.Send(ctx, mail.Message{
		To:      u.Email,
		Subject: "Your ClinicPix sign-in code",
		Body: "Your ClinicPix sign-in code is " + code + ".\n\nIt expires in 5 minutes and " +
			"works once. If you did not try to sign in, change your password.\n",
	})
	if err != nil {
		return LoginResult{}, fmt.Errorf("mail code to user %d: %w", u.ID, err)
	}
	return LoginResult{Method: c.Method}, nil
}

// Verified is the outcome of a correct second factor.
type Verified struct {
	Token string
	User  store.User
}

// VerifyCode checks the second factor of the user's newest login attempt and, when it matches,
// ends the challenge and opens a session.
func (s *Service) VerifyCode(ctx context.Context, email, code string, origin audit.Origin) (Verified, error) {
	now := s.Now()
	u, err := s.Users.ByEmail(ctx, NormalizeEmail(email))
	if errors.Is(err, store.ErrNotFound) {
		s.burnCodeCheck(code)
		if err := s.record(ctx, origin, audit.Entry{Action: audit.CodeFailed,
			Outcome: audit.UnknownAccount}); err != nil {
			return Verified{}, err
		}
		return Verified{}, errCodeFailed
	}
	if err != nil {
		return Verified{}, err
	}
	entry := audit.Entry{ActorID: u.ID, ActorRole: u.Role, TargetID: userTarget(u.ID)}
	fail := func(action audit.Action, outcome audit.Outcome, details string) (Verified, error) {
		e := entry
		e.Action, e.Outcome, e.Details = action, outcome, details
		if err := s.record(ctx, origin, e); err != nil {
			return Verified{}, err
		}
		return Verified{}, errCodeFailed
	}

	c, err := s.Sessions.GetChallenge(ctx, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		s.burnCodeCheck(code)
		return fail(audit.CodeFailed, audit.Failure, "reason=no_challenge")
	}
	if err != nil {
		return Verified{}, err
	}
	if !now.Before(c.ExpiresAt) {
		_ = s.Sessions.DeleteChallenge(ctx, u.ID, c.AttemptID)
		return fail(audit.CodeExpired, audit.Failure, "attempt="+c.AttemptID)
	}
	tries, err := s.Sessions.CountChallengeTry(ctx, u.ID, c.AttemptID, MaxCodeTries)
	if errors.Is(err, store.ErrConditionFailed) {
		_ = s.Sessions.DeleteChallenge(ctx, u.ID, c.AttemptID)
		return fail(audit.CodeFailed, audit.Failure, "reason=too_many_tries attempt="+c.AttemptID)
	}
	if err != nil {
		return Verified{}, err
	}

	ok, method, err := s.checkCode(ctx, u, c, code, now)
	if err != nil {
		return Verified{}, err
	}
	if !ok {
		details := "reason=" + method + " attempt=" + c.AttemptID + " try=" + strconv.Itoa(tries)
		if tries >= MaxCodeTries {
			// The last try is spent: the challenge ends and a new login is needed.
			_ = s.Sessions.DeleteChallenge(ctx, u.ID, c.AttemptID)
			details += " ended=true"
		}
		return fail(audit.CodeFailed, audit.Failure, details)
	}
	if err := s.Sessions.DeleteChallenge(ctx, u.ID, c.AttemptID); err != nil {
		if errors.Is(err, store.ErrConditionFailed) {
			return fail(audit.CodeFailed, audit.Failure, "reason=already_used attempt="+c.AttemptID)
		}
		return Verified{}, err
	}
	token, err := s.openSession(ctx, u)
	if err != nil {
		return Verified{}, err
	}
	if u.ResetHold {
		// The user proved both factors, so an admin's email change is now confirmed by them.
		if err := s.Users.Update(ctx, u.ID, map[string]any{"resetHold": false}); err != nil {
			return Verified{}, err
		}
	}
	if method == "recovery" {
		used := entry
		used.Action, used.Outcome, used.Details = audit.RecoveryCodeUsed, audit.Success,
			"attempt="+c.AttemptID
		if err := s.record(ctx, origin, used); err != nil {
			return Verified{}, err
		}
	}
	entry.Action, entry.Outcome, entry.Details = audit.CodeVerified, audit.Success, "method="+method
	if err := s.record(ctx, origin, entry); err != nil {
		return Verified{}, err
	}
	return Verified{Token: token, User: u}, nil
}

// checkCode compares code with the challenge's factor. It returns the method that matched, or the
// reason it did not, for the audit entry.
func (s *Service) checkCode(ctx context.Context, u store.User, c store.Challenge, code string,
	now time.Time) (bool, string, error) {
	if c.Method == "email" {
		if !isSixDigits(code) {
			return false, "malformed", nil
		}
		ok := bcrypt.CompareHashAndPassword([]byte(c.CodeHash), []byte(code)) == nil
		return ok, "email", nil
	}
	if isSixDigits(code) {
		secret, err := s.Cipher.Decrypt(ctx, u.TOTPSecret)
		if err != nil {
			return false, "", fmt.Errorf("decrypt TOTP secret of user %d: %w", u.ID, err)
		}
		step, ok := matchTOTP(string(secret), code, now)
		if !ok {
			return false, "totp_mismatch", nil
		}
		err = s.Users.UseTOTPStep(ctx, u.ID, step)
		if errors.Is(err, store.ErrConditionFailed) {
			return false, "totp_replay", nil
		}
		return err == nil, "totp", err
	}
	return s.useRecoveryCode(ctx, u, code)
}

func (s *Service) openSession(ctx context.Context, u store.User) (string, error) {
	now := s.Now().UTC()
	token, id := NewToken()
	end := now.Add(s.Settings.SessionMaxLifetime)
	err := s.Sessions.CreateSession(ctx, store.Session{
		ID: id, UserID: u.ID, Role: u.Role, CreatedAt: now, LastSeen: now, AbsoluteEnd: end,
		ExpiresAtTTL: minTime(now.Add(s.Settings.SessionIdleTimeout), end).Unix(),
	})
	if err != nil {
		return "", err
	}
	return token, nil
}

// touchInterval is the maximum age of lastSeen before a request writes it again, which saves a
// write per request. The idle timeout is thus enforced to within this interval.
const touchInterval = time.Minute

// CheckSession returns the caller of a live session and extends its idle deadline. A session past
// its idle or absolute limit, or whose user is gone or inactive, is ended and rejected.
func (s *Service) CheckSession(ctx context.Context, sessionID string) (identity.Caller, error) {
	now := s.Now()
	sess, err := s.Sessions.GetSession(ctx, sessionID)
	if errors.Is(err, store.ErrNotFound) {
		return identity.Caller{}, errSessionEnded
	}
	if err != nil {
		return identity.Caller{}, err
	}
	if !now.Before(sess.AbsoluteEnd) || !now.Before(sess.LastSeen.Add(s.Settings.SessionIdleTimeout)) {
		if err := s.Sessions.DeleteSession(ctx, sessionID); err != nil {
			return identity.Caller{}, err
		}
		return identity.Caller{}, errSessionEnded
	}
	u, err := s.Users.Get(ctx, sess.UserID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (!u.Active || u.Role != sess.Role)) {
		if err := s.Sessions.DeleteSession(ctx, sessionID); err != nil {
			return identity.Caller{}, err
		}
		return identity.Caller{}, errSessionEnded
	}
	if err != nil {
		return identity.Caller{}, err
	}
	if now.Sub(sess.LastSeen) >= touchInterval {
		ttl := minTime(now.Add(s.Settings.SessionIdleTimeout), sess.AbsoluteEnd)
		err := s.Sessions.TouchSession(ctx, sessionID, now.UTC(), ttl)
		if errors.Is(err, store.ErrNotFound) {
			return identity.Caller{}, errSessionEnded
		}
		if err != nil {
			return identity.Caller{}, err
		}
	}
	return identity.Caller{UserID: sess.UserID, Role: sess.Role, SessionID: sessionID}, nil
}

// Authenticate checks a bearer token, for the authorizer.
func (s *Service) Authenticate(ctx context.Context, token string) (identity.Caller, error) {
	if token == "" {
		return identity.Caller{}, errSessionEnded
	}
	return s.CheckSession(ctx, TokenID(token))
}

// Logout ends the caller's session at once.
func (s *Service) Logout(ctx context.Context, caller identity.Caller, origin audit.Origin) error {
	if err := s.Sessions.DeleteSession(ctx, caller.SessionID); err != nil {
		return err
	}
	return s.record(ctx, origin, audit.Entry{ActorID: caller.UserID, ActorRole: caller.Role,
		Action: audit.Logout, Outcome: audit.Success, TargetID: userTarget(caller.UserID)})
}

// burnPasswordCheck spends the same bcrypt work as a real check, so response time does not tell
// an unknown or locked account from a wrong password.
func (s *Service) burnPasswordCheck(password string) {
	s.dummyOnce.Do(func() {
		s.dummyHash, _ = bcrypt.GenerateFromPassword([]byte("clinicpix-timing-equalizer"), s.Settings.BcryptCost)
	})
	_ = comparePassword(s.dummyHash, []byte(password))
}

// burnCodeCheck spends the bcrypt work of an emailed-code check, so response time does not tell
// whether an email has an account or a pending sign-in.
func (s *Service) burnCodeCheck(code string) {
	s.dummyCodeOnce.Do(func() {
		s.dummyCodeHash, _ = bcrypt.GenerateFromPassword([]byte("000000"), codeHashCost)
	})
	_ = bcrypt.CompareHashAndPassword(s.dummyCodeHash, []byte(code))
}

// record writes an audit entry; a failure becomes a 503 so the request fails closed.
func (s *Service) record(ctx context.Context, origin audit.Origin, e audit.Entry) error {
	return Record(ctx, s.Audit, origin, e)
}

// Record writes e with origin's fields through r, turning a failure into a 503 for the caller.
func Record(ctx context.Context, r audit.Recorder, origin audit.Origin, e audit.Entry) error {
	if err := r.Record(ctx, origin.Apply(e)); err != nil {
		return &apperr.Error{Kind: apperr.Unavailable, Code: "audit_unavailable",
			Message: "The request could not be recorded, so it was not carried out. Try again later.",
			Err:     err}
	}
	return nil
}

func userTarget(id int64) string { return "user:" + strconv.FormatInt(id, 10) }

func isSixDigits(code string) bool {
	if len(code) != 6 {
		return false
	}
	for _, r := range code {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
