package auth

import (
	"context"

	"github.com/clinicpix/backend/shared/store"
)

// useRecoveryCode accepts one of the user's single-use recovery codes in place of a second-factor
// code. It returns the method name or the reason for the audit entry.
// NOTE: recovery codes are issued by TOTP enrollment, which does not exist yet, so no code
// matches here.
func (s *Service) useRecoveryCode(ctx context.Context, u store.User, code string) (bool, string, error) {
	return false, "malformed", nil
}
