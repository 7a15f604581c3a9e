package auth

import (
	"context"
	"errors"
	"regexp"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/clinicpix/backend/shared/apperr"
	"github.com/clinicpix/backend/shared/audit"
	"github.com/clinicpix/backend/shared/identity"
	"github.com/clinicpix/backend/shared/mail"
	"github.com/clinicpix/backend/shared/store"
	"github.com/clinicpix/backend/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// failingRecorder fails every audit write, or only those of one action when action is set.
type failingRecorder struct {
	next   audit.Recorder
	action audit.Action
}

func (f failingRecorder) Record(ctx context.Context, e audit.Entry) error {
	if f.action == "" || f.action == e.Action {
		return errors.New("audit table unavailable")
	}
	return f.next.Record(ctx, e)
}

type fixture struct {
	svc     *Service
	clock   *clock
	mailbox *mail.Mailbox
	audit   *store.AuditLog
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db, tables := testenv.NewTables(t)
	// The clock runs a year ahead of real time because DynamoDB Local deletes items whose TTL
	// is past by the real clock, which would end sessions under a test's feet.
	c := &clock{now: time.Now().UTC().AddDate(1, 0, 0).Truncate(time.Second)}
	cipher, err := NewLocalCipher(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{clock: c, mailbox: &mail.Mailbox{Now: c.Now},
		audit: &store.AuditLog{DB: db, Table: tables.Audit, Now: c.Now}}
	f.svc = &Service{
		Users:    &store.Users{DB: db, Table: tables.Users},
		Sessions: &store.Sessions{DB: db, Table: tables.Sessions},
		Audit:    f.audit, Mail: f.mailbox, Cipher: cipher, Now: c.Now,
		Settings: Settings{BcryptCost: bcrypt.MinCost, PolicyVersion: "test",
			LoginMaxFailures: 5, LoginFailureWindow: 15 * time.Minute,
			LockoutDuration: 15 * time.Minute, SessionIdleTimeout: 30 * time.Minute,
			SessionMaxLifetime: 12 * time.Hour},
	}
	return f
}

func (f *fixture) signup(t *testing.T, email string) store.User {
	t.Helper()
	u, err := f.svc.Signup(context.Background(), SignupInput{Username: "Test", Email: email,
		Password: "password one", Role: identity.Patient})
	if err != nil {
		t.Fatalf("signup %s: %v", email, err)
	}
	return u
}

var codeInMail = regexp.MustCompile(`code is (\d{6})`)

func (f *fixture) signIn(t *testing.T, email string) string {
	t.Helper()
	ctx := context.Background()
	if _, err := f.svc.Login(ctx, email, "password one", audit.Origin{}); err != nil {
		t.Fatalf("login: %v", err)
	}
	msgs := f.mailbox.Messages()
	code := codeInMail.FindStringSubmatch(msgs[len(msgs)-1].Body)[1]
	v, err := f.svc.VerifyCode(ctx, email, code, audit.Origin{})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return v.Token
}

func TestLockoutEndsAfterDuration(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.signup(t, "lock@example.com")
	for i := 0; i < 5; i++ {
		_, err := f.svc.Login(ctx, "lock@example.com", "wrong password", audit.Origin{})
		if apperr.KindOf(err) != apperr.Unauthorized {
			t.Fatalf("wrong password %d: got %v, want Unauthorized", i+1, err)
		}
	}
	if _, err := f.svc.Login(ctx, "lock@example.com", "password one", audit.Origin{}); !errors.Is(err, errLoginFailed) {
		t.Fatalf("correct password while locked: got %v, want the login failure", err)
	}
	f.clock.Advance(15 * time.Minute)
	if _, err := f.svc.Login(ctx, "lock@example.com", "password one", audit.Origin{}); err != nil {
		t.Fatalf("correct password after the lock: got %v, want success", err)
	}
}

func TestFailuresOutsideWindowDoNotLock(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.signup(t, "window@example.com")
	for round := 0; round < 2; round++ {
		for i := 0; i < 4; i++ {
			_, _ = f.svc.Login(ctx, "window@example.com", "wrong password", audit.Origin{})
		}
		f.clock.Advance(16 * time.Minute)
	}
	if _, err := f.svc.Login(ctx, "window@example.com", "password one", audit.Origin{}); err != nil {
		t.Fatalf("login after 4+4 failures in separate windows: got %v, want success", err)
	}
}

func TestEveryLoginFailureSpendsOneBcryptCheck(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.signup(t, "even@example.com")
	calls := 0
	saved := comparePassword
	comparePassword = func(hash, password []byte) error { calls++; return saved(hash, password) }
	t.Cleanup(func() { comparePassword = saved })

	cases := []struct{ name, email string }{
		{"unknown account", "nobody@example.com"},
		{"wrong password", "even@example.com"},
	}
	for _, c := range cases {
		calls = 0
		_, err := f.svc.Login(ctx, c.email, "wrong password", audit.Origin{})
		if !errors.Is(err, errLoginFailed) {
			t.Errorf("%s: got %v, want the shared login failure", c.name, err)
		}
		if calls != 1 {
			t.Errorf("%s: bcrypt checks: got %d, want 1", c.name, calls)
		}
	}
}

func TestCodeExpiresAfterFiveMinutes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u := f.signup(t, "expire@example.com")
	if _, err := f.svc.Login(ctx, "expire@example.com", "password one", audit.Origin{}); err != nil {
		t.Fatal(err)
	}
	msgs := f.mailbox.Messages()
	code := codeInMail.FindStringSubmatch(msgs[len(msgs)-1].Body)[1]
	f.clock.Advance(CodeLifetime)
	if _, err := f.svc.VerifyCode(ctx, "expire@example.com", code, audit.Origin{}); !errors.Is(err, errCodeFailed) {
		t.Fatalf("expired code: got %v, want the code failure", err)
	}
	entries := actorEntries(t, f, u.ID)
	if entries[audit.CodeExpired] != 1 {
		t.Errorf("otp_expired entries: got %d, want 1", entries[audit.CodeExpired])
	}
}

func TestNewLoginReplacesOldCode(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.signup(t, "twice@example.com")
	if _, err := f.svc.Login(ctx, "twice@example.com", "password one", audit.Origin{}); err != nil {
		t.Fatal(err)
	}
	first := codeInMail.FindStringSubmatch(f.mailbox.Messages()[0].Body)[1]
	if _, err := f.svc.Login(ctx, "twice@example.com", "password one", audit.Origin{}); err != nil {
		t.Fatal(err)
	}
	second := codeInMail.FindStringSubmatch(f.mailbox.Messages()[1].Body)[1]
	if first != second {
		if _, err := f.svc.VerifyCode(ctx, "twice@example.com", first, audit.Origin{}); err == nil {
			t.Fatal("the first attempt's code still signed in after a second login")
		}
	}
	if _, err := f.svc.VerifyCode(ctx, "twice@example.com", second, audit.Origin{}); err != nil {
		t.Fatalf("the newest code: got %v, want success", err)
	}
}

func TestSessionTimeouts(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.signup(t, "session@example.com")

	token := f.signIn(t, "session@example.com")
	f.clock.Advance(29 * time.Minute)
	if _, err := f.svc.Authenticate(ctx, token); err != nil {
		t.Fatalf("after 29 idle minutes: got %v, want a live session", err)
	}
	f.clock.Advance(29 * time.Minute)
	if _, err := f.svc.Authenticate(ctx, token); err != nil {
		t.Fatalf("29 minutes after the last request: got %v, want a live session", err)
	}
	f.clock.Advance(31 * time.Minute)
	if _, err := f.svc.Authenticate(ctx, token); apperr.KindOf(err) != apperr.Unauthorized {
		t.Fatalf("after 31 idle minutes: got %v, want Unauthorized", err)
	}

	token = f.signIn(t, "session@example.com")
	for elapsed := time.Duration(0); elapsed < 12*time.Hour-20*time.Minute; elapsed += 20 * time.Minute {
		f.clock.Advance(20 * time.Minute)
		if _, err := f.svc.Authenticate(ctx, token); err != nil {
			t.Fatalf("active session at %v: got %v, want live", elapsed, err)
		}
	}
	f.clock.Advance(20 * time.Minute)
	if _, err := f.svc.Authenticate(ctx, token); apperr.KindOf(err) != apperr.Unauthorized {
		t.Fatalf("active session past 12 hours: got %v, want Unauthorized", err)
	}
}

func TestAuditFailureFailsSignIn(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.signup(t, "audit@example.com")
	f.svc.Audit = failingRecorder{next: f.audit, action: audit.CodeSent}
	_, err := f.svc.Login(ctx, "audit@example.com", "password one", audit.Origin{})
	if apperr.KindOf(err) != apperr.Unavailable {
		t.Fatalf("login with audit down: got %v, want Unavailable", err)
	}
	if n := len(f.mailbox.Messages()); n != 0 {
		t.Errorf("mails sent while the audit write failed: got %d, want 0", n)
	}
}

func TestDeactivatedUserSessionEnds(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u := f.signup(t, "inactive@example.com")
	token := f.signIn(t, "inactive@example.com")
	if err := f.svc.Users.Update(ctx, u.ID, map[string]any{"active": false}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(ctx, token); apperr.KindOf(err) != apperr.Unauthorized {
		t.Fatalf("session of a deactivated user: got %v, want Unauthorized", err)
	}
	_, err := f.svc.Login(ctx, "inactive@example.com", "password one", audit.Origin{})
	if apperr.KindOf(err) != apperr.Forbidden {
		t.Fatalf("login of a deactivated user: got %v, want Forbidden", err)
	}
}

func actorEntries(t *testing.T, f *fixture, userID int64) map[audit.Action]int {
	t.Helper()
	page, err := f.audit.Query(context.Background(), store.AuditQuery{ActorID: userID, Limit: 500})
	if err != nil {
		t.Fatalf("read audit entries: %v", err)
	}
	counts := map[audit.Action]int{}
	for _, e := range page.Entries {
		counts[e.Action]++
	}
	return counts
}
