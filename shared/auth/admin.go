package auth

import (
	"context"
	"errors"

	"github.com/clinicpix/backend/shared/apperr"
	"github.com/clinicpix/backend/shared/audit"
	"github.com/clinicpix/backend/shared/identity"
	"github.com/clinicpix/backend/shared/store"
)

// CreateAdmin creates an active admin account. Only the local runner's first-admin seed and the
// operator command-line tool call it; no HTTP route can create an admin.
func (s *Service) CreateAdmin(ctx context.Context, email, username, password string) (store.User, error) {
	email, err := ValidateEmail("email", email)
	if err != nil {
		return store.User{}, err
	}
	username, err = ValidateUsername("username", username)
	if err != nil {
		return store.User{}, err
	}
	if err := ValidatePassword("password", password); err != nil {
		return store.User{}, err
	}
	hash, err := HashPassword(password, s.Settings.BcryptCost)
	if err != nil {
		return store.User{}, err
	}
	id, err := s.Users.NextID(ctx)
	if err != nil {
		return store.User{}, err
	}
	now := s.Now().UTC()
	u := store.User{ID: id, Username: username, Email: email, EmailKey: NormalizeEmail(email),
		Role: identity.Admin, Active: true, PasswordHash: hash, CreatedAt: now}
	if err := s.Users.Create(ctx, u); err != nil {
		if errors.Is(err, store.ErrEmailTaken) {
			return store.User{}, apperr.New(apperr.Conflict, "An account with this email already exists.").
				WithCode("email_taken")
		}
		return store.User{}, err
	}
	err = s.record(ctx, audit.Origin{}, audit.Entry{ActorID: id, ActorRole: identity.Admin,
		Action: audit.AdminCreated, Outcome: audit.Success, TargetID: userTarget(id),
		Details: "source=operator_tool"})
	return u, err
}
