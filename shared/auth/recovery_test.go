package auth

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/clinicpix/backend/shared/apperr"
	"github.com/clinicpix/backend/shared/audit"
)

var recoveryCodeShape = regexp.MustCompile(`^[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}$`)

func TestNewRecoveryCodes(t *testing.T) {
	codes, hashes := NewRecoveryCodes()
	if len(codes) != RecoveryCodeCount {
		t.Fatalf("codes = %d, want %d", len(codes), RecoveryCodeCount)
	}
	if len(hashes) != len(codes) {
		t.Fatalf("hashes = %d, want one per code", len(hashes))
	}
	seen := map[string]bool{}
	for i, c := range codes {
		if !recoveryCodeShape.MatchString(c) {
			t.Errorf("code %q does not have the XXXX-XXXX-XXXX-XXXX base32 shape", c)
		}
		if seen[c] {
			t.Errorf("code %q issued twice", c)
		}
		seen[c] = true
		if hashes[i] != HashRecoveryCode(c) {
			t.Errorf("hash %d does not match its code", i)
		}
		if strings.Contains(hashes[i], strings.ReplaceAll(c, "-", "")) {
			t.Errorf("hash %d contains the code itself", i)
		}
	}
}

func TestNormalizeRecoveryCode(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"ABCD-EFGH-IJKL-MNOP", "ABCDEFGHIJKLMNOP", true},
		{"abcd efgh ijkl mnop", "ABCDEFGHIJKLMNOP", true},
		{"abcdefghijklmnop", "ABCDEFGHIJKLMNOP", true},
		{"ABCD-EFGH-IJKL-MNO", "", false},
		{"ABCD-EFGH-IJKL-MNOPQ", "", false},
		{"ABCD-EFGH-IJKL-MN01", "", false}, // 0 and 1 are not base32 digits
		{"123456", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := normalizeRecoveryCode(tc.in)
			if ok != tc.ok {
				t.Errorf("ok = %v, want %v", ok, tc.ok)
			}
			if got != tc.want {
				t.Errorf("normalized = %q, want %q", got, tc.want)
			}
		})
	}
}

// enrollTOTP enrolls the user through the service and returns the secret and recovery codes.
func enrollTOTP(t *testing.T, f *fixture, userID int64) (string, []string) {
	t.Helper()
	ctx := context.Background()
	e, err := f.svc.StartTOTPEnrollment(ctx, userID, audit.Origin{})
	if err != nil {
		t.Fatalf("start enrollment: %v", err)
	}
	code, err := totp.GenerateCode(e.Secret, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	codes, err := f.svc.ConfirmTOTP(ctx, userID, code, audit.Origin{})
	if err != nil {
		t.Fatalf("confirm enrollment: %v", err)
	}
	return e.Secret, codes
}

func TestRecoveryCodeConcurrentUseWinsOnce(t *testing.T) {
	f := newFixture(t)
	u := f.signup(t, "race@example.com")
	_, codes := enrollTOTP(t, f, u.ID)
	fresh, err := f.svc.Users.Get(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	results := make([]bool, 8)
	errs := make([]error, len(results))
	for i := range results {
		wg.Go(func() {
			results[i], _, errs[i] = f.svc.useRecoveryCode(context.Background(), fresh, codes[3])
		})
	}
	wg.Wait()
	wins := 0
	for i, ok := range results {
		if errs[i] != nil {
			t.Errorf("use %d: %v", i, errs[i])
		}
		if ok {
			wins++
		}
	}
	if wins != 1 {
		t.Errorf("concurrent uses of one recovery code that passed = %d, want 1", wins)
	}
}

func TestTOTPEnrollmentAndLogin(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u := f.signup(t, "totp@example.com")
	secret, codes := enrollTOTP(t, f, u.ID)
	if len(codes) != RecoveryCodeCount {
		t.Errorf("recovery codes = %d, want %d", len(codes), RecoveryCodeCount)
	}
	if _, err := f.svc.StartTOTPEnrollment(ctx, u.ID, audit.Origin{}); apperr.KindOf(err) != apperr.Conflict {
		t.Errorf("enroll while enrolled: got %v, want a conflict", err)
	}

	mails := len(f.mailbox.Messages())
	res, err := f.svc.Login(ctx, "totp@example.com", "password one", audit.Origin{})
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	if res.Method != "totp" {
		t.Errorf("login method = %q, want totp", res.Method)
	}
	if got := len(f.mailbox.Messages()); got != mails {
		t.Errorf("mails after a TOTP login = %d, want %d", got, mails)
	}
	// The confirmation used the current step, so its code is a replay until the next step.
	same, err := totp.GenerateCode(secret, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.VerifyCode(ctx, "totp@example.com", same, audit.Origin{}); err == nil {
		t.Errorf("verify with the confirmation's code succeeded, want a replay rejection")
	}
	f.clock.Advance(30 * time.Second)
	next, err := totp.GenerateCode(secret, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.VerifyCode(ctx, "totp@example.com", next, audit.Origin{}); err != nil {
		t.Errorf("verify with the next step's code: %v", err)
	}

	// Disabling with a wrong code is rejected, and with a current one it works.
	if err := f.svc.DisableTOTP(ctx, u.ID, "ZZZZ-ZZZZ-ZZZZ-ZZZZ", audit.Origin{}); apperr.KindOf(err) != apperr.Invalid {
		t.Errorf("disable with a wrong code: got %v, want invalid", err)
	}
	f.clock.Advance(30 * time.Second)
	later, err := totp.GenerateCode(secret, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.DisableTOTP(ctx, u.ID, later, audit.Origin{}); err != nil {
		t.Fatalf("disable: %v", err)
	}
	res, err = f.svc.Login(ctx, "totp@example.com", "password one", audit.Origin{})
	if err != nil {
		t.Fatalf("login after disable: %v", err)
	}
	if res.Method != "email" {
		t.Errorf("login method after disable = %q, want email", res.Method)
	}
}
