// Package handlers holds one httpapi.Handler per route function. Handlers parse and validate the
// request, check that ids sent by the client match the caller, and call the services.
package handlers

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/clinicpix/backend/shared/apperr"
	"github.com/clinicpix/backend/shared/audit"
	"github.com/clinicpix/backend/shared/auth"
	"github.com/clinicpix/backend/shared/config"
	"github.com/clinicpix/backend/shared/httpapi"
	"github.com/clinicpix/backend/shared/identity"
	"github.com/clinicpix/backend/shared/images"
	"github.com/clinicpix/backend/shared/mail"
	"github.com/clinicpix/backend/shared/store"
)

// Deps is everything a handler may use, built once per process by package app.
type Deps struct {
	Config      config.Config
	Auth        *auth.Service
	Users       *store.Users
	Sessions    *store.Sessions
	Assignments *store.Assignments
	Audit       audit.Recorder
	Mail        mail.Sender
	Log         *slog.Logger
	Now         func() time.Time
	// Shares ends a provider's shares to a patient when their assignment ends. A nil Shares
	// fails every unassignment with a 500 rather than leave shares working.
	Shares ShareEnder
	// Images is the image service behind the files routes.
	Images *images.Service
}

// Registry maps each route's function name to its handler.
func Registry(d *Deps) map[string]httpapi.Handler {
	all := map[string]httpapi.Handler{}
	for _, group := range []map[string]httpapi.Handler{
		authHandlers(d),
		careTeamHandlers(d),
		accountHandlers(d),
		totpHandlers(d),
		auditLogHandlers(d),
		fileHandlers(d),
	} {
		for name, h := range group {
			all[name] = h
		}
	}
	return all
}

// originOf copies the request facts every audit entry carries.
func originOf(req *httpapi.Request) audit.Origin {
	return audit.Origin{SourceIP: req.SourceIP(), UserAgent: req.UserAgent(), RequestID: req.RequestID()}
}

// record writes an audit entry for req; a failure fails the request with a 503.
func (d *Deps) record(ctx context.Context, req *httpapi.Request, e audit.Entry) error {
	if e.ActorID == 0 && req.Caller.UserID != 0 {
		e.ActorID, e.ActorRole = req.Caller.UserID, req.Caller.Role
	}
	return auth.Record(ctx, d.Audit, originOf(req), e)
}

// requireSelf checks that an id the client sent is the caller's own. A mismatch is a 403, never
// a silent switch to the other user.
func requireSelf(caller identity.Caller, field string, id int64) error {
	if id != caller.UserID {
		return apperr.New(apperr.Forbidden, field+" must be your own user id").WithCode("forbidden")
	}
	return nil
}

// requireSelfString is requireSelf for an id that arrives as text (query or path). An empty
// value is allowed: the caller's id is implied.
func requireSelfString(caller identity.Caller, field, value string) error {
	if value == "" {
		return nil
	}
	id, err := httpapi.ParseUserID(field, value)
	if err != nil {
		return err
	}
	return requireSelf(caller, field, id)
}

func userTarget(id int64) string { return "user:" + strconv.FormatInt(id, 10) }

// timestamp formats t as the contract's RFC 3339 UTC string.
func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
