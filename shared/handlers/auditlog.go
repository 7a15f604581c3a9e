package handlers

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/clinicpix/backend/shared/apperr"
	"github.com/clinicpix/backend/shared/audit"
	"github.com/clinicpix/backend/shared/httpapi"
	"github.com/clinicpix/backend/shared/store"
)

// Audit-log page sizes.
const (
	auditDefaultLimit = 100
	auditMaxLimit     = 500
)

// NextCursorHeader carries the cursor of the next page on list routes whose body is a bare JSON
// array. It is absent on the last page.
const NextCursorHeader = "X-Next-Cursor"

var actionPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

func auditLogHandlers(d *Deps) map[string]httpapi.Handler {
	return map[string]httpapi.Handler{
		"audit-logs": d.readAuditLog,
	}
}

// auditEntryJSON is one audit entry as the admin client shows it. The user_* fields describe
// the actor and are empty when the actor is unknown.
type auditEntryJSON struct {
	ID               string `json:"id"`
	UserID           int64  `json:"user_id"`
	Action           string `json:"action"`
	Outcome          string `json:"outcome"`
	TargetID         string `json:"target_id,omitempty"`
	SubjectPatientID int64  `json:"subject_patient_id,omitempty"`
	Details          string `json:"details"`
	IPAddress        string `json:"ip_address"`
	UserAgent        string `json:"user_agent"`
	CreatedAt        string `json:"created_at"`
	UserEmail        string `json:"user_email"`
	UserUsername     string `json:"user_username"`
	UserRole         string `json:"user_role"`
}

func (d *Deps) readAuditLog(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	q, scope, err := auditQueryOf(req)
	if err != nil {
		return httpapi.Response{}, err
	}
	if q.Before, err = d.decodeCursor(req, scope); err != nil {
		return httpapi.Response{}, err
	}
	reader, ok := d.Audit.(AuditReader)
	if !ok {
		return httpapi.Response{}, fmt.Errorf("read audit log: recorder %T cannot be queried", d.Audit)
	}
	page, err := reader.Query(ctx, q)
	if err != nil {
		return httpapi.Response{}, err
	}
	entries, err := d.describeEntries(ctx, page.Entries)
	if err != nil {
		return httpapi.Response{}, err
	}
	if err := d.record(ctx, req, audit.Entry{Action: audit.AuditLogViewed, Outcome: audit.Success,
		Details: fmt.Sprintf("entries=%d actor_filter=%d action_filter=%s next_page=%t",
			len(entries), q.ActorID, q.Action, page.Next != "")}); err != nil {
		return httpapi.Response{}, err
	}
	resp, _, err := d.pageResponse(scope, page.Next)
	if err != nil {
		return httpapi.Response{}, err
	}
	resp.Body = entries
	return resp, nil
}

// auditQueryOf reads the audit-log filters from the query string and returns the query and the
// cursor scope it binds cursors to.
func auditQueryOf(req *httpapi.Request) (store.AuditQuery, string, error) {
	var q store.AuditQuery
	var err error
	if q.Limit, err = req.QueryInt("limit", auditDefaultLimit, 1, auditMaxLimit); err != nil {
		return q, "", err
	}
	userID, err := req.Query("userId")
	if err != nil {
		return q, "", err
	}
	if userID != "" {
		if q.ActorID, err = httpapi.ParseUserID("userId", userID); err != nil {
			return q, "", err
		}
	}
	action, err := req.Query("action")
	if err != nil {
		return q, "", err
	}
	if action != "" && !actionPattern.MatchString(action) {
		return q, "", apperr.InvalidField("action",
			"must be an action name of lower-case letters, digits and underscores, such as login")
	}
	q.Action = audit.Action(action)
	if q.From, err = queryTime(req, "from"); err != nil {
		return q, "", err
	}
	if q.To, err = queryTime(req, "to"); err != nil {
		return q, "", err
	}
	if !q.From.IsZero() && !q.To.IsZero() && q.From.After(q.To) {
		return q, "", apperr.InvalidField("from", "must not be later than to")
	}
	scope := store.CursorScope("audit-logs", strconv.FormatInt(q.ActorID, 10), action,
		stamp(q.From), stamp(q.To))
	return q, scope, nil
}

// queryTime reads an optional RFC 3339 time from the query string.
func queryTime(req *httpapi.Request, name string) (time.Time, error) {
	v, err := req.Query(name)
	if err != nil || v == "" {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, apperr.InvalidField(name,
			"must be an RFC 3339 time such as 2026-12-01T00:00:00Z")
	}
	return t.UTC(), nil
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return store.SortTime(t)
}

// describeEntries adds each actor's account fields, reading each account once per page.
func (d *Deps) describeEntries(ctx context.Context, entries []audit.Entry) ([]auditEntryJSON, error) {
	accounts := map[int64]store.User{}
	out := make([]auditEntryJSON, 0, len(entries))
	for _, e := range entries {
		j := auditEntryJSON{ID: e.ID, UserID: e.ActorID, Action: string(e.Action),
			Outcome: string(e.Outcome), TargetID: e.TargetID, SubjectPatientID: e.SubjectPatientID,
			Details: e.Details, IPAddress: e.SourceIP, UserAgent: e.UserAgent,
			CreatedAt: e.Time.UTC().Format(time.RFC3339Nano), UserRole: string(e.ActorRole)}
		if e.ActorID != 0 {
			u, ok := accounts[e.ActorID]
			if !ok {
				var err error
				u, err = d.Users.Get(ctx, e.ActorID)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return nil, err
				}
				accounts[e.ActorID] = u
			}
			j.UserEmail, j.UserUsername = u.Email, u.Username
			if j.UserRole == "" {
				j.UserRole = string(u.Role)
			}
		}
		out = append(out, j)
	}
	return out, nil
}

// AuditReader reads pages of the audit log. The *store.AuditLog wired as Deps.Audit is one.
type AuditReader interface {
	Query(ctx context.Context, q store.AuditQuery) (store.AuditPage, error)
}

var _ AuditReader = (*store.AuditLog)(nil)

// decodeCursor returns the position in the request's cursor parameter, or "" when there is none.
func (d *Deps) decodeCursor(req *httpapi.Request, scope string) (string, error) {
	cursor, err := req.Query("cursor")
	if err != nil || cursor == "" {
		return "", err
	}
	pos, err := store.Cursors{Key: d.Config.CursorKey}.Decode(scope, strings.TrimSpace(cursor))
	if errors.Is(err, store.ErrBadCursor) {
		return "", apperr.InvalidField("cursor",
			"is invalid or belongs to another query; repeat the query without a cursor")
	}
	return pos, err
}

// pageResponse starts a 200 response for a page whose next position is next, with the next
// cursor in NextCursorHeader. It also returns the cursor, "" on the last page.
func (d *Deps) pageResponse(scope, next string) (httpapi.Response, string, error) {
	resp := httpapi.Response{Status: 200}
	if next == "" {
		return resp, "", nil
	}
	cursor, err := store.Cursors{Key: d.Config.CursorKey}.Encode(scope, next)
	if err != nil {
		return httpapi.Response{}, "", err
	}
	resp.Headers = map[string]string{NextCursorHeader: cursor,
		"Access-Control-Expose-Headers": NextCursorHeader}
	return resp, cursor, nil
}
