package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/clinicpix/backend/shared/identity"
	"github.com/clinicpix/backend/shared/store"
	"github.com/clinicpix/backend/shared/testenv"
)

func createUsers(t *testing.T, s *store.Users, roles ...identity.Role) []store.User {
	t.Helper()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var out []store.User
	for i, role := range roles {
		id, err := s.NextID(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		email := fmt.Sprintf("user%d@example.com", id)
		u := store.User{ID: id, Username: fmt.Sprintf("user%d", id), Email: email, EmailKey: email,
			Role: role, Active: true, CreatedAt: start.Add(time.Duration(i) * time.Hour)}
		if err := s.Create(context.Background(), u); err != nil {
			t.Fatal(err)
		}
		out = append(out, u)
	}
	return out
}

func TestUserListPagesNewestFirst(t *testing.T) {
	db, tables := testenv.NewTables(t)
	s := &store.Users{DB: db, Table: tables.Users}
	ctx := context.Background()
	roles := []identity.Role{identity.Patient, identity.Provider, identity.Patient, identity.Admin,
		identity.Patient, identity.Provider, identity.Patient}
	users := createUsers(t, s, roles...)

	cases := []struct {
		role identity.Role
		want []int64
	}{
		{"", []int64{users[6].ID, users[5].ID, users[4].ID, users[3].ID, users[2].ID, users[1].ID, users[0].ID}},
		{identity.Patient, []int64{users[6].ID, users[4].ID, users[2].ID, users[0].ID}},
		{identity.Provider, []int64{users[5].ID, users[1].ID}},
	}
	for _, tc := range cases {
		t.Run("role="+string(tc.role), func(t *testing.T) {
			var got []int64
			before := ""
			for range 10 {
				page, err := s.List(ctx, tc.role, before, 3, nil)
				if err != nil {
					t.Fatalf("list: %v", err)
				}
				for _, u := range page.Users {
					got = append(got, u.ID)
				}
				if page.Next == "" {
					break
				}
				before = page.Next
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("ids = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestChangeEmailKeepsUniqueness(t *testing.T) {
	db, tables := testenv.NewTables(t)
	s := &store.Users{DB: db, Table: tables.Users}
	ctx := context.Background()
	users := createUsers(t, s, identity.Patient, identity.Patient)
	a, b := users[0], users[1]

	if err := s.ChangeEmail(ctx, a, b.Email, b.EmailKey); !errors.Is(err, store.ErrEmailTaken) {
		t.Errorf("change to a taken email: got %v, want ErrEmailTaken", err)
	}
	if err := s.ChangeEmail(ctx, a, "new@example.com", "new@example.com"); err != nil {
		t.Fatalf("change email: %v", err)
	}
	got, err := s.ByEmail(ctx, "new@example.com")
	if err != nil {
		t.Fatalf("by new email: %v", err)
	}
	if got.ID != a.ID {
		t.Errorf("new email belongs to %d, want %d", got.ID, a.ID)
	}
	if _, err := s.ByEmail(ctx, a.EmailKey); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("old email lookup: got %v, want ErrNotFound", err)
	}
	if err := s.ChangeEmail(ctx, a, "newer@example.com", "newer@example.com"); !errors.Is(err, store.ErrConditionFailed) {
		t.Errorf("change from a stale record: got %v, want ErrConditionFailed", err)
	}
}

func TestSetRoleMovesRoleIndex(t *testing.T) {
	db, tables := testenv.NewTables(t)
	s := &store.Users{DB: db, Table: tables.Users}
	ctx := context.Background()
	u := createUsers(t, s, identity.Patient)[0]

	if err := s.SetRole(ctx, u.ID, identity.Patient, identity.Provider); err != nil {
		t.Fatalf("set role: %v", err)
	}
	if err := s.SetRole(ctx, u.ID, identity.Patient, identity.Provider); !errors.Is(err, store.ErrConditionFailed) {
		t.Errorf("set role from a stale role: got %v, want ErrConditionFailed", err)
	}
	providers, err := s.List(ctx, identity.Provider, "", 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(providers.Users) != 1 || providers.Users[0].ID != u.ID {
		t.Errorf("providers = %+v, want only user %d", providers.Users, u.ID)
	}
	patients, err := s.List(ctx, identity.Patient, "", 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(patients.Users) != 0 {
		t.Errorf("patients = %d, want 0", len(patients.Users))
	}
}

func TestRecoveryCodeUsedOnce(t *testing.T) {
	db, tables := testenv.NewTables(t)
	s := &store.Users{DB: db, Table: tables.Users}
	ctx := context.Background()
	u := createUsers(t, s, identity.Patient)[0]
	if err := s.SetPendingTOTP(ctx, u.ID, []byte("sealed")); err != nil {
		t.Fatalf("set pending: %v", err)
	}
	if err := s.EnableTOTP(ctx, u.ID, []string{"h1", "h2", "h3"}); err != nil {
		t.Fatalf("enable: %v", err)
	}
	if err := s.EnableTOTP(ctx, u.ID, []string{"x"}); !errors.Is(err, store.ErrConditionFailed) {
		t.Errorf("enable twice: got %v, want ErrConditionFailed", err)
	}
	if err := s.SetPendingTOTP(ctx, u.ID, []byte("other")); !errors.Is(err, store.ErrConditionFailed) {
		t.Errorf("replace an enabled secret: got %v, want ErrConditionFailed", err)
	}

	var wg sync.WaitGroup
	results := make([]error, 6)
	for i := range results {
		code := "h2"
		if i%2 == 1 {
			code = "h3"
		}
		wg.Go(func() { _, results[i] = s.UseRecoveryCode(ctx, u.ID, code) })
	}
	wg.Wait()
	wins := 0
	for _, err := range results {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, store.ErrNotFound):
			t.Errorf("use code: got %v, want nil or ErrNotFound", err)
		}
	}
	if wins != 2 {
		t.Errorf("successful uses = %d, want 2 (one per distinct code)", wins)
	}
	left, err := s.UseRecoveryCode(ctx, u.ID, "h1")
	if err != nil {
		t.Fatalf("use last code: %v", err)
	}
	if left != 0 {
		t.Errorf("codes left = %d, want 0", left)
	}
	if err := s.DisableTOTP(ctx, u.ID); err != nil {
		t.Fatalf("disable: %v", err)
	}
	got, err := s.Get(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.TOTPEnabled || got.TOTPSecret != nil || len(got.RecoveryCodes) != 0 {
		t.Errorf("after disable: enabled=%v secret=%v codes=%d, want all cleared",
			got.TOTPEnabled, got.TOTPSecret != nil, len(got.RecoveryCodes))
	}
}
