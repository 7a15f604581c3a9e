// Package auth implements sign-in: signup, password login with lockout, the second factor
// (emailed code or TOTP), bearer-token sessions and logout.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"

	"github.com/clinicpix/backend/shared/apperr"
)

// Password limits. bcrypt reads at most 72 bytes, so a longer password is rejected rather than
// silently truncated; there are no composition rules.
const (
	MinPasswordChars = 8
	MaxPasswordBytes = 72
	MaxEmailBytes    = 254
	MaxUsernameChars = 64
)

// NormalizeEmail returns the uniqueness key of an address: trimmed, Unicode NFKC, case-folded.
// "User@Example.com", " user@example.com" and the fullwidth "ｕｓｅｒ@example.com" share one key.
func NormalizeEmail(email string) string {
	s := norm.NFKC.String(strings.TrimSpace(email))
	return norm.NFKC.String(cases.Fold().String(s))
}

// ValidateEmail checks an address's shape and returns it trimmed.
func ValidateEmail(field, email string) (string, error) {
	email = strings.TrimSpace(email)
	if email == "" {
		return "", apperr.InvalidField(field, "is required")
	}
	if len(email) > MaxEmailBytes || !utf8.ValidString(email) {
		return "", apperr.InvalidField(field, fmt.Sprintf("must be a valid email address of at most %d bytes", MaxEmailBytes))
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || addr.Name != "" {
		return "", apperr.InvalidField(field, "must be a valid email address such as name@example.com")
	}
	at := strings.LastIndex(email, "@")
	if at < 1 || !strings.Contains(email[at+1:], ".") {
		return "", apperr.InvalidField(field, "must be a valid email address such as name@example.com")
	}
	// RFC 5321 limits: 64 bytes before the @, 63 per domain label.
	if at > 64 {
		return "", apperr.InvalidField(field, "must have at most 64 bytes before the @")
	}
	for _, label := range strings.Split(email[at+1:], ".") {
		if label == "" || len(label) > 63 {
			return "", apperr.InvalidField(field, "must have a domain of labels of 1 to 63 bytes")
		}
	}
	if hasInvisible(email) {
		return "", apperr.InvalidField(field, "must not contain control or invisible formatting characters")
	}
	return email, nil
}

// ValidatePassword applies the password rules.
func ValidatePassword(field, password string) error {
	if utf8.RuneCountInString(password) < MinPasswordChars {
		return apperr.InvalidField(field, fmt.Sprintf("must be at least %d characters", MinPasswordChars))
	}
	if len(password) > MaxPasswordBytes {
		return apperr.InvalidField(field, fmt.Sprintf(
			"must be at most %d bytes (bcrypt's limit); it would otherwise be cut short", MaxPasswordBytes))
	}
	// U+FFFD is what JSON decoding makes of invalid bytes, so two different inputs could meet.
	if !utf8.ValidString(password) || strings.ContainsRune(password, utf8.RuneError) {
		return apperr.InvalidField(field, "must be valid UTF-8 text")
	}
	return nil
}

// ValidateUsername checks a display name and returns it trimmed.
func ValidateUsername(field, name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", apperr.InvalidField(field, "is required")
	}
	if utf8.RuneCountInString(name) > MaxUsernameChars {
		return "", apperr.InvalidField(field, fmt.Sprintf("must be at most %d characters", MaxUsernameChars))
	}
	if hasInvisible(name) {
		return "", apperr.InvalidField(field, "must not contain control or invisible formatting characters")
	}
	return name, nil
}

// hasInvisible reports control characters and Unicode format characters (category Cf, such as
// zero-width spaces, soft hyphens and right-to-left overrides), which make two different strings
// look the same.
func hasInvisible(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return true
		}
	}
	return false
}

// HashPassword hashes a validated password with bcrypt at cost.
func HashPassword(password string, cost int) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// NewToken returns an opaque bearer token of 256 random bits and the id it is stored under (its
// hex SHA-256). The token itself is never stored.
func NewToken() (token, id string) {
	b := make([]byte, 32)
	mustRead(b)
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, TokenID(token)
}

// TokenID is the stored form of a bearer or reset token.
func TokenID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// newCode returns a uniformly random 6-digit code from crypto/rand.
func newCode() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return fmt.Sprintf("%06d", n.Int64())
}

func mustRead(b []byte) {
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
}

// randomID returns a random 128-bit hex id.
func randomID() string {
	b := make([]byte, 16)
	mustRead(b)
	return hex.EncodeToString(b)
}
