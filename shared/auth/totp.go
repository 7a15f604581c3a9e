package auth

import (
	"context"
	"crypto/subtle"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTP parameters: RFC 6238 defaults that authenticator apps expect.
const (
	totpPeriod = 30
	totpDigits = otp.DigitsSix
	// totpSkew is how many 30-second steps either side of now are accepted.
	totpSkew = 1
)

// SecretCipher encrypts TOTP secrets at rest: KMS in AWS, a local AES key in the local runner.
type SecretCipher interface {
	Encrypt(ctx context.Context, plaintext []byte) ([]byte, error)
	Decrypt(ctx context.Context, ciphertext []byte) ([]byte, error)
}

// matchTOTP returns the time step whose code equals code, checking now and totpSkew steps either
// side, or ok=false. The step lets the caller reject a code already used in that step.
func matchTOTP(secret, code string, now time.Time) (step int64, ok bool) {
	opts := totp.ValidateOpts{Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1}
	current := now.Unix() / totpPeriod
	for delta := int64(-totpSkew); delta <= totpSkew; delta++ {
		s := current + delta
		want, err := totp.GenerateCodeCustom(secret, time.Unix(s*totpPeriod, 0), opts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return s, true
		}
	}
	return 0, false
}
