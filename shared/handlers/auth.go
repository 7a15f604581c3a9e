package handlers

import (
	"context"
	"strings"

	"github.com/clinicpix/backend/shared/apperr"
	"github.com/clinicpix/backend/shared/auth"
	"github.com/clinicpix/backend/shared/httpapi"
	"github.com/clinicpix/backend/shared/identity"
	"github.com/clinicpix/backend/shared/store"
)

func authHandlers(d *Deps) map[string]httpapi.Handler {
	return map[string]httpapi.Handler{
		"auth-signup":     d.signup,
		"auth-login":      d.login,
		"auth-verify-otp": d.verifyOTP,
		"auth-protected":  d.protected,
		"auth-logout":     d.logout,
	}
}

// accountJSON is the account shape of signup and the admin list.
type accountJSON struct {
	ID          int64  `json:"id"`
	Username    string `json:"username"`
	Email       string `json:"email"`
	Role        string `json:"role"`
	IsActive    bool   `json:"is_active"`
	DateCreated string `json:"date_created"`
}

func accountOf(u store.User) accountJSON {
	return accountJSON{ID: u.ID, Username: u.Username, Email: u.Email, Role: string(u.Role),
		IsActive: u.Active, DateCreated: timestamp(u.CreatedAt)}
}

// sessionUserJSON is the signed-in user as verify-otp and protected return it. The client reads
// userName first, then username, so both are sent.
type sessionUserJSON struct {
	ID       int64  `json:"id"`
	Email    string `json:"email"`
	Username string `json:"username"`
	UserName string `json:"userName"`
	Role     string `json:"role"`
}

func sessionUserOf(u store.User) sessionUserJSON {
	return sessionUserJSON{ID: u.ID, Email: u.Email, Username: u.Username, UserName: u.Username,
		Role: string(u.Role)}
}

type signupRequest struct {
	UserName     string `json:"userName"`
	Email        string `json:"email"`
	Password     string `json:"password"`
	Role         string `json:"role"`
	ConsentGiven *bool  `json:"consentGiven"`
}

func (d *Deps) signup(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	var in signupRequest
	if err := req.DecodeJSON(&in); err != nil {
		return httpapi.Response{}, err
	}
	username, err := auth.ValidateUsername("userName", in.UserName)
	if err != nil {
		return httpapi.Response{}, err
	}
	email, err := auth.ValidateEmail("email", in.Email)
	if err != nil {
		return httpapi.Response{}, err
	}
	if err := auth.ValidatePassword("password", in.Password); err != nil {
		return httpapi.Response{}, err
	}
	role := identity.Role(in.Role)
	if role != identity.Patient && role != identity.Provider {
		return httpapi.Response{}, apperr.InvalidField("role", "must be patient or provider")
	}
	if in.ConsentGiven == nil || !*in.ConsentGiven {
		return httpapi.Response{}, apperr.InvalidField("consentGiven",
			"must be true: an account needs consent to the privacy policy")
	}
	u, err := d.Auth.Signup(ctx, auth.SignupInput{Username: username, Email: email,
		Password: in.Password, Role: role, Origin: originOf(req)})
	if err != nil {
		return httpapi.Response{}, err
	}
	msg := "Account created. You can sign in now."
	if !u.Active {
		msg = "Account created. An administrator must activate provider accounts before sign-in."
	}
	return httpapi.Created(map[string]any{"message": msg, "user": accountOf(u)}), nil
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (d *Deps) login(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	var in loginRequest
	if err := req.DecodeJSON(&in); err != nil {
		return httpapi.Response{}, err
	}
	email, err := auth.ValidateEmail("email", in.Email)
	if err != nil {
		return httpapi.Response{}, err
	}
	if in.Password == "" {
		return httpapi.Response{}, apperr.InvalidField("password", "is required")
	}
	if len(in.Password) > auth.MaxPasswordBytes {
		return httpapi.Response{}, apperr.InvalidField("password",
			"is longer than 72 bytes, which no account's password can be")
	}
	result, err := d.Auth.Login(ctx, email, in.Password, originOf(req))
	if err != nil {
		return httpapi.Response{}, err
	}
	msg := "A 6-digit sign-in code was sent to your email. It expires in 5 minutes."
	if result.Method == "totp" {
		msg = "Enter the 6-digit code from your authenticator app, or a recovery code."
	}
	return httpapi.OK(map[string]any{"message": msg, "email": email, "method": result.Method}), nil
}

type verifyRequest struct {
	Email string `json:"email"`
	OTP   string `json:"otp"`
}

func (d *Deps) verifyOTP(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	var in verifyRequest
	if err := req.DecodeJSON(&in); err != nil {
		return httpapi.Response{}, err
	}
	email, err := auth.ValidateEmail("email", in.Email)
	if err != nil {
		return httpapi.Response{}, err
	}
	code := strings.TrimSpace(in.OTP)
	if code == "" || len(code) > 32 {
		return httpapi.Response{}, apperr.InvalidField("otp",
			"must be the 6-digit code, or a recovery code")
	}
	v, err := d.Auth.VerifyCode(ctx, email, code, originOf(req))
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.OK(map[string]any{"message": "Signed in.", "token": v.Token,
		"user": sessionUserOf(v.User)}), nil
}

func (d *Deps) protected(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	if len(strings.TrimSpace(string(req.Body))) > 0 {
		var empty struct{}
		if err := req.DecodeJSON(&empty); err != nil {
			return httpapi.Response{}, err
		}
	}
	u, err := d.Users.Get(ctx, req.Caller.UserID)
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.OK(map[string]any{"message": "You are signed in.", "user": sessionUserOf(u)}), nil
}

type logoutRequest struct {
	UserID *int64 `json:"userId"`
	Email  string `json:"email"`
}

func (d *Deps) logout(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	var in logoutRequest
	if len(strings.TrimSpace(string(req.Body))) > 0 {
		if err := req.DecodeJSON(&in); err != nil {
			return httpapi.Response{}, err
		}
	}
	if in.UserID != nil {
		if err := requireSelf(req.Caller, "userId", *in.UserID); err != nil {
			return httpapi.Response{}, err
		}
	}
	if in.Email != "" {
		u, err := d.Users.Get(ctx, req.Caller.UserID)
		if err != nil {
			return httpapi.Response{}, err
		}
		if auth.NormalizeEmail(in.Email) != u.EmailKey {
			return httpapi.Response{}, apperr.New(apperr.Forbidden, "email must be your own").
				WithCode("forbidden")
		}
	}
	if err := d.Auth.Logout(ctx, req.Caller, originOf(req)); err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.OK(httpapi.Message("Signed out.")), nil
}
