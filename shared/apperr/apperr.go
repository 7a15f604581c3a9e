// Package apperr defines the errors that handlers return and that the HTTP adapter turns into
// statuses. Code below the handlers wraps these with context; one table in package httpapi maps
// each Kind to a status and a stable error code.
package apperr

import (
	"errors"
	"fmt"
)

// Kind classifies an error for the HTTP layer.
type Kind int

// The kinds of client-visible failure. Any error that is not an *Error is a 500.
const (
	Invalid Kind = iota + 1
	Unauthorized
	Forbidden
	NotFound
	MethodNotAllowed
	Conflict
	Locked
	TooLarge
	TooManyRequests
	Unavailable
)

// Error is a failure whose Message is safe to show the caller: it names the field or the rule,
// never PHI, a password, a token or a one-time code.
type Error struct {
	Kind    Kind
	Code    string // short stable code such as "invalid_request"; empty means the Kind's default
	Message string
	Field   string // the request field at fault, for Invalid
	Err     error  // the cause, logged but never sent
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Err != nil {
		return msg + ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches another *Error of the same Kind and Code, so sentinel values work with errors.Is.
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) {
		return false
	}
	return t.Kind == e.Kind && (t.Code == "" || t.Code == e.Code) && t.Message == ""
}

// New returns an error of the given kind with a caller-safe message.
func New(kind Kind, message string) *Error {
	return &Error{Kind: kind, Message: message}
}

// Newf is New with a format string. The arguments must not carry PHI or secrets.
func Newf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// InvalidField reports a bad request field. The message should state what a valid value is.
func InvalidField(field, message string) *Error {
	return &Error{Kind: Invalid, Field: field, Message: message}
}

// WithCode returns a copy of e with a specific stable error code.
func (e *Error) WithCode(code string) *Error {
	c := *e
	c.Code = code
	return &c
}

// Sentinels for errors.Is checks in tests and callers. Compare by Kind only.
var (
	ErrInvalid      = &Error{Kind: Invalid}
	ErrUnauthorized = &Error{Kind: Unauthorized}
	ErrForbidden    = &Error{Kind: Forbidden}
	ErrNotFound     = &Error{Kind: NotFound}
	ErrConflict     = &Error{Kind: Conflict}
	ErrUnavailable  = &Error{Kind: Unavailable}
)

// KindOf returns the Kind of the first *Error in err's chain, or 0 when there is none.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}
