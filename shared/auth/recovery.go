package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/clinicpix/backend/shared/store"
)

// Recovery codes: RecoveryCodeCount codes of recoveryCodeChars base32 characters (80 random
// bits each), shown in groups of four. With that much entropy an unsalted SHA-256 is enough to
// store them, and it lets a login compare all ten without bcrypt's cost per code.
const (
	RecoveryCodeCount = 10
	recoveryCodeChars = 16
)

// NewRecoveryCodes returns RecoveryCodeCount fresh codes to show the user once, and the hashes
// to store in their place.
func NewRecoveryCodes() (codes, hashes []string) {
	for range RecoveryCodeCount {
		raw := make([]byte, recoveryCodeChars*5/8)
		mustRead(raw)
		plain := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw)
		var groups []string
		for i := 0; i < len(plain); i += 4 {
			groups = append(groups, plain[i:i+4])
		}
		codes = append(codes, strings.Join(groups, "-"))
		hashes = append(hashes, HashRecoveryCode(plain))
	}
	return codes, hashes
}

// normalizeRecoveryCode removes the separators a user may type and upper-cases the rest. It
// returns ok=false when the result cannot be a recovery code.
func normalizeRecoveryCode(code string) (string, bool) {
	var b strings.Builder
	for _, r := range strings.ToUpper(code) {
		switch {
		case r == '-' || r == ' ':
			continue
		case (r >= 'A' && r <= 'Z') || (r >= '2' && r <= '7'):
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	if b.Len() != recoveryCodeChars {
		return "", false
	}
	return b.String(), true
}

// HashRecoveryCode returns the stored form of a recovery code: the hex SHA-256 of the code
// without separators, in upper case.
func HashRecoveryCode(code string) string {
	normal, ok := normalizeRecoveryCode(code)
	if !ok {
		normal = code
	}
	sum := sha256.Sum256([]byte(normal))
	return hex.EncodeToString(sum[:])
}

// useRecoveryCode accepts one of the user's single-use recovery codes in place of a TOTP code
// and removes it, so it never works again. It returns the method name or the reason for the
// audit entry.
func (s *Service) useRecoveryCode(ctx context.Context, u store.User, code string) (bool, string, error) {
	if !u.TOTPEnabled {
		return false, "malformed", nil
	}
	normal, ok := normalizeRecoveryCode(code)
	if !ok {
		return false, "malformed", nil
	}
	_, err := s.Users.UseRecoveryCode(ctx, u.ID, HashRecoveryCode(normal))
	if errors.Is(err, store.ErrNotFound) {
		return false, "recovery_mismatch", nil
	}
	if err != nil {
		return false, "", err
	}
	return true, "recovery", nil
}
