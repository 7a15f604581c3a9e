package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/clinicpix/backend/shared/store"
	"github.com/clinicpix/backend/shared/testenv"
)

func TestAssignmentLifecycle(t *testing.T) {
	db, tables := testenv.NewTables(t)
	s := &store.Assignments{DB: db, Table: tables.Assignments}
	ctx := context.Background()
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)

	created, err := s.Assign(ctx, 10, 20, 10, "first visit", now)
	if err != nil {
		t.Fatalf("assign: %v", err)
	}
	if !created {
		t.Errorf("first assign created = %v, want true", created)
	}
	created, err = s.Assign(ctx, 10, 20, 10, "again", now.Add(time.Minute))
	if err != nil {
		t.Fatalf("assign again: %v", err)
	}
	if created {
		t.Errorf("second assign created = %v, want false", created)
	}
	a, err := s.Get(ctx, 10, 20)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if a.Note != "first visit" {
		t.Errorf("note = %q, want the first assignment's note", a.Note)
	}
	if _, err := s.Assign(ctx, 11, 20, 11, "", now); err != nil {
		t.Fatalf("assign second provider: %v", err)
	}
	if _, err := s.Assign(ctx, 10, 21, 10, "", now); err != nil {
		t.Fatalf("assign second patient: %v", err)
	}

	byProvider, err := s.ListByProvider(ctx, 10)
	if err != nil {
		t.Fatalf("list by provider: %v", err)
	}
	if len(byProvider) != 2 {
		t.Errorf("provider 10 has %d patients, want 2", len(byProvider))
	}
	byPatient, err := s.ListByPatient(ctx, 20)
	if err != nil {
		t.Fatalf("list by patient: %v", err)
	}
	if len(byPatient) != 2 {
		t.Errorf("patient 20 has %d providers, want 2", len(byPatient))
	}

	if err := s.End(ctx, 10, 20, 20, "moved away", now.Add(time.Hour)); err != nil {
		t.Fatalf("end: %v", err)
	}
	active, err := s.IsActive(ctx, 10, 20)
	if err != nil {
		t.Fatalf("is active: %v", err)
	}
	if active {
		t.Errorf("IsActive after End = %v, want false", active)
	}
	ended, err := s.Get(ctx, 10, 20)
	if err != nil {
		t.Fatalf("get ended: %v", err)
	}
	if ended.EndedBy != 20 {
		t.Errorf("endedBy = %d, want 20", ended.EndedBy)
	}
	if ended.EndNote != "moved away" {
		t.Errorf("endNote = %q, want %q", ended.EndNote, "moved away")
	}
	byPatient, err = s.ListByPatient(ctx, 20)
	if err != nil {
		t.Fatalf("list by patient after end: %v", err)
	}
	if len(byPatient) != 1 || byPatient[0].ProviderID != 11 {
		t.Errorf("patient 20's care team = %+v, want only provider 11", byPatient)
	}

	if err := s.End(ctx, 10, 20, 20, "", now); !errors.Is(err, store.ErrConditionFailed) {
		t.Errorf("ending twice: got %v, want ErrConditionFailed", err)
	}
	if err := s.End(ctx, 10, 99, 10, "", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ending a missing assignment: got %v, want ErrNotFound", err)
	}

	created, err = s.Assign(ctx, 10, 20, 10, "", now.Add(2*time.Hour))
	if err != nil {
		t.Fatalf("reassign: %v", err)
	}
	if !created {
		t.Errorf("reassign after end created = %v, want true", created)
	}
}
