package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/clinicpix/backend/shared/store"
	"github.com/clinicpix/backend/shared/testenv"
)

func TestResetWorksOnce(t *testing.T) {
	db, tables := testenv.NewTables(t)
	s := &store.Sessions{DB: db, Table: tables.Sessions}
	ctx := context.Background()
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	if err := s.PutReset(ctx, store.Reset{ID: "aa", UserID: 7, CreatedAt: now,
		ExpiresAt: now.Add(15 * time.Minute)}); err != nil {
		t.Fatalf("put reset: %v", err)
	}

	var wg sync.WaitGroup
	results := make([]error, 4)
	for i := range results {
		wg.Go(func() { _, results[i] = s.TakeReset(ctx, "aa") })
	}
	wg.Wait()
	wins := 0
	for _, err := range results {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, store.ErrNotFound):
			t.Errorf("take reset: got %v, want nil or ErrNotFound", err)
		}
	}
	if wins != 1 {
		t.Errorf("concurrent takes that succeeded = %d, want 1", wins)
	}
}

func TestDeleteUserResetsLeavesSessions(t *testing.T) {
	db, tables := testenv.NewTables(t)
	s := &store.Sessions{DB: db, Table: tables.Sessions}
	ctx := context.Background()
	now := time.Now().UTC()
	for _, id := range []string{"r1", "r2"} {
		if err := s.PutReset(ctx, store.Reset{ID: id, UserID: 7, CreatedAt: now,
			ExpiresAt: now.Add(time.Minute)}); err != nil {
			t.Fatalf("put reset: %v", err)
		}
	}
	if err := s.CreateSession(ctx, store.Session{ID: "s1", UserID: 7, Role: "patient",
		CreatedAt: now, LastSeen: now, AbsoluteEnd: now.Add(time.Hour)}); err != nil {
		t.Fatalf("create session: %v", err)
	}

	removed, err := s.DeleteUserResets(ctx, 7)
	if err != nil {
		t.Fatalf("delete resets: %v", err)
	}
	if removed != 2 {
		t.Errorf("removed = %d, want 2", removed)
	}
	if _, err := s.TakeReset(ctx, "r1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("take removed reset: got %v, want ErrNotFound", err)
	}
	if _, err := s.GetSession(ctx, "s1"); err != nil {
		t.Errorf("session after deleting resets: %v, want it kept", err)
	}
	ended, err := s.DeleteUserSessions(ctx, 7, "")
	if err != nil {
		t.Fatalf("delete sessions: %v", err)
	}
	if ended != 1 {
		t.Errorf("sessions ended = %d, want 1", ended)
	}
}
