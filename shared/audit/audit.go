// Package audit defines audit entries and the actions they record. Entries are append-only: the
// code has no path that updates or deletes one. Free text never carries PHI, file names or
// secrets, only ids and outcome codes.
package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/clinicpix/backend/shared/identity"
)

// Action names what happened.
type Action string

// Actions recorded by the sign-in flow. Later features add their own.
const (
	Signup        Action = "signup"
	Login         Action = "login"
	AccountLocked Action = "account_locked"
	CodeSent      Action = "otp_sent"
	CodeVerified  Action = "otp_verified"
	CodeFailed    Action = "otp_failed"
	CodeExpired   Action = "otp_expired"
	Logout        Action = "logout"
	// AccessRefused is a 403 or 404 sent to a signed-in caller, on any route.
	AccessRefused Action = "access_refused"
	AdminCreated  Action = "admin_created"
)

// Outcome is the result of an action.
type Outcome string

// Outcomes. Login uses the specific ones; most actions are Success, Denied or Failure.
const (
	Success        Outcome = "success"
	Failure        Outcome = "failure"
	Denied         Outcome = "denied"
	WrongPassword  Outcome = "wrong_password"
	UnknownAccount Outcome = "unknown_account"
	LockedOut      Outcome = "locked"
	Inactive       Outcome = "inactive"
	// NotFoundOutcome is a refusal because the resource does not exist for the caller.
	NotFoundOutcome Outcome = "not_found"
)

// Entry is one audit record.
type Entry struct {
	ID               string        `dynamodbav:"id" json:"id"`
	Time             time.Time     `dynamodbav:"time" json:"time"`
	ActorID          int64         `dynamodbav:"actorId" json:"actorId"` // 0 when unknown
	ActorRole        identity.Role `dynamodbav:"actorRole,omitempty" json:"actorRole,omitempty"`
	Action           Action        `dynamodbav:"action" json:"action"`
	Outcome          Outcome       `dynamodbav:"outcome" json:"outcome"`
	TargetID         string        `dynamodbav:"targetId,omitempty" json:"targetId,omitempty"`
	SubjectPatientID int64         `dynamodbav:"subjectPatientId,omitempty" json:"subjectPatientId,omitempty"`
	SourceIP         string        `dynamodbav:"sourceIp,omitempty" json:"sourceIp,omitempty"`
	UserAgent        string        `dynamodbav:"userAgent,omitempty" json:"userAgent,omitempty"`
	RequestID        string        `dynamodbav:"requestId,omitempty" json:"requestId,omitempty"`
	// Details holds ids and codes only, e.g. "reason=magic_mismatch".
	Details string `dynamodbav:"details,omitempty" json:"details,omitempty"`
}

// Recorder appends entries. If Record fails, the caller must fail the request.
type Recorder interface {
	Record(ctx context.Context, e Entry) error
}

// NewID returns a random 128-bit entry id.
func NewID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// Origin is the source of a request (address, user agent, request id), copied into every
// entry the request causes.
type Origin struct {
	SourceIP  string
	UserAgent string
	RequestID string
}

// maxUserAgent bounds the stored User-Agent so one header cannot bloat the table.
const maxUserAgent = 256

// Apply copies o into e, bounding the user agent.
func (o Origin) Apply(e Entry) Entry {
	e.SourceIP = o.SourceIP
	e.UserAgent = o.UserAgent
	if len(e.UserAgent) > maxUserAgent {
		e.UserAgent = e.UserAgent[:maxUserAgent]
	}
	e.RequestID = o.RequestID
	return e
}
