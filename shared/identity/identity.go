// Package identity describes the authenticated caller as the authorizer passes it to handlers.
package identity

import (
	"fmt"
	"strconv"
)

// Role is a user's role. Every account has exactly one.
type Role string

// The three roles. Admins manage accounts and never see health data.
const (
	Patient  Role = "patient"
	Provider Role = "provider"
	Admin    Role = "admin"
)

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool {
	return r == Patient || r == Provider || r == Admin
}

// Caller is the user a request acts for, taken only from the validated bearer token.
type Caller struct {
	UserID    int64
	Role      Role
	SessionID string // SHA-256 of the bearer token, hex; never the token itself
}

// Authorizer context keys. API Gateway passes these from the authorizer's Context map to the
// handler's RequestContext.Authorizer map.
const (
	ContextUserID    = "userId"
	ContextRole      = "role"
	ContextSessionID = "sessionId"
)

// FromAuthorizer reads a Caller from an API Gateway authorizer context map. Values arrive as
// strings from a Lambda authorizer, but may be numbers in hand-made events, so both are accepted.
func FromAuthorizer(ctx map[string]any) (Caller, error) {
	if ctx == nil {
		return Caller{}, fmt.Errorf("no authorizer context")
	}
	var c Caller
	switch v := ctx[ContextUserID].(type) {
	case string:
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return Caller{}, fmt.Errorf("authorizer userId %q: %w", v, err)
		}
		c.UserID = id
	case float64:
		c.UserID = int64(v)
	default:
		return Caller{}, fmt.Errorf("authorizer context has no userId")
	}
	role, _ := ctx[ContextRole].(string)
	c.Role = Role(role)
	if c.UserID <= 0 || !c.Role.Valid() {
		return Caller{}, fmt.Errorf("authorizer context has an invalid user id or role")
	}
	c.SessionID, _ = ctx[ContextSessionID].(string)
	if c.SessionID == "" {
		return Caller{}, fmt.Errorf("authorizer context has no sessionId")
	}
	return c, nil
}

// AuthorizerContext is the inverse of FromAuthorizer.
func (c Caller) AuthorizerContext() map[string]any {
	return map[string]any{
		ContextUserID:    strconv.FormatInt(c.UserID, 10),
		ContextRole:      string(c.Role),
		ContextSessionID: c.SessionID,
	}
}
