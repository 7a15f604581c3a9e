package handlers

import (
	"context"
	"encoding/base64"
	"strings"

	"github.com/clinicpix/backend/shared/apperr"
	"github.com/clinicpix/backend/shared/httpapi"
)

// maxCodeChars bounds a submitted TOTP or recovery code before any work is done on it.
const maxCodeChars = 32

func totpHandlers(d *Deps) map[string]httpapi.Handler {
	return map[string]httpapi.Handler{
		"totp-enroll":         d.startTOTPEnrollment,
		"totp-confirm":        d.confirmTOTP,
		"totp-disable":        d.disableTOTP,
		"totp-recovery-codes": d.regenerateRecoveryCodes,
	}
}

func (d *Deps) startTOTPEnrollment(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	if err := decodeEmptyBody(req); err != nil {
		return httpapi.Response{}, err
	}
	e, err := d.Auth.StartTOTPEnrollment(ctx, req.Caller.UserID, originOf(req))
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.OK(map[string]any{
		"message": "Scan the QR code with your authenticator app, then confirm with the first " +
			"6-digit code it shows.",
		"otpauthUrl": e.URL,
		"qrCodePng":  base64.StdEncoding.EncodeToString(e.QRPNG),
		"secret":     e.Secret,
	}), nil
}

type factorCodeRequest struct {
	Code string `json:"code"`
}

// factorCode decodes a {code} body and checks the code's length.
func factorCode(req *httpapi.Request) (string, error) {
	var in factorCodeRequest
	if err := req.DecodeJSON(&in); err != nil {
		return "", err
	}
	code := strings.TrimSpace(in.Code)
	if code == "" || len(code) > maxCodeChars {
		return "", apperr.InvalidField("code", "must be the 6-digit code from your authenticator app")
	}
	return code, nil
}

func (d *Deps) confirmTOTP(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	code, err := factorCode(req)
	if err != nil {
		return httpapi.Response{}, err
	}
	codes, err := d.Auth.ConfirmTOTP(ctx, req.Caller.UserID, code, originOf(req))
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.OK(map[string]any{
		"message": "Authenticator app enrolled. Store these recovery codes somewhere safe: each " +
			"signs you in once without the app, and they are not shown again.",
		"recoveryCodes": codes,
	}), nil
}

func (d *Deps) disableTOTP(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	code, err := factorCode(req)
	if err != nil {
		return httpapi.Response{}, err
	}
	if err := d.Auth.DisableTOTP(ctx, req.Caller.UserID, code, originOf(req)); err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.OK(httpapi.Message(
		"Authenticator app removed. Sign-in codes are emailed from now on.")), nil
}

func (d *Deps) regenerateRecoveryCodes(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	code, err := factorCode(req)
	if err != nil {
		return httpapi.Response{}, err
	}
	codes, err := d.Auth.RegenerateRecoveryCodes(ctx, req.Caller.UserID, code, originOf(req))
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.OK(map[string]any{
		"message":       "New recovery codes issued. The old ones no longer work.",
		"recoveryCodes": codes,
	}), nil
}
