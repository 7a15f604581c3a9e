package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/clinicpix/backend/shared/audit"
	"github.com/clinicpix/backend/shared/store"
	"github.com/clinicpix/backend/shared/testenv"
)

func TestCursorsRejectTampering(t *testing.T) {
	c := store.Cursors{Key: []byte("0123456789abcdef0123456789abcdef")}
	scope := store.CursorScope("audit", "actor=1")
	good, err := c.Encode(scope, "2026-12-04T10:00:00.000000000Z#abc")
	if err != nil {
		t.Fatal(err)
	}
	pos, err := c.Decode(scope, good)
	if err != nil {
		t.Fatalf("decode own cursor: %v", err)
	}
	if pos != "2026-12-04T10:00:00.000000000Z#abc" {
		t.Errorf("position = %q, want the encoded one", pos)
	}

	other := store.Cursors{Key: []byte("ffffffffffffffffffffffffffffffff")}
	foreign, err := other.Encode(scope, "x")
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct{ scope, cursor string }{
		"other scope":     {store.CursorScope("audit", "actor=2"), good},
		"other key":       {scope, foreign},
		"flipped payload": {scope, "A" + good[1:]},
		"no tag":          {scope, good[:len(good)-44]},
		"garbage":         {scope, "not-a-cursor"},
		"empty":           {scope, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := c.Decode(tc.scope, tc.cursor)
			if !errors.Is(err, store.ErrBadCursor) {
				t.Errorf("got %v, want ErrBadCursor", err)
			}
		})
	}
}

func TestAuditQueryPagesNewestFirst(t *testing.T) {
	db, tables := testenv.NewTables(t)
	ctx := context.Background()
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	log := &store.AuditLog{DB: db, Table: tables.Audit, Now: func() time.Time { return now }}

	// 30 entries one day apart span two month partitions; actor 1 wrote every third.
	for i := range 30 {
		e := audit.Entry{Time: now.Add(-time.Duration(i) * 24 * time.Hour), ActorID: int64(i%3 + 1),
			Action: audit.Login, Outcome: audit.Success, Details: fmt.Sprintf("n=%d", i)}
		if i%2 == 0 {
			e.Action = audit.Logout
		}
		if err := log.Record(ctx, e); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}

	cases := []struct {
		name  string
		query store.AuditQuery
		want  int
	}{
		{"all", store.AuditQuery{}, 30},
		{"actor", store.AuditQuery{ActorID: 1}, 10},
		{"action", store.AuditQuery{Action: audit.Logout}, 15},
		{"actor and action", store.AuditQuery{ActorID: 1, Action: audit.Logout}, 5},
		{"time range", store.AuditQuery{From: now.Add(-9 * 24 * time.Hour), To: now.Add(-24 * time.Hour)}, 9},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []audit.Entry
			q := tc.query
			q.Limit = 4
			for pages := 0; pages < 20; pages++ {
				page, err := log.Query(ctx, q)
				if err != nil {
					t.Fatalf("query: %v", err)
				}
				got = append(got, page.Entries...)
				if page.Next == "" {
					break
				}
				q.Before = page.Next
			}
			if len(got) != tc.want {
				t.Errorf("entries = %d, want %d", len(got), tc.want)
			}
			seen := map[string]bool{}
			for i, e := range got {
				if seen[e.ID] {
					t.Errorf("entry %s returned twice", e.ID)
				}
				seen[e.ID] = true
				if i > 0 && e.Time.After(got[i-1].Time) {
					t.Errorf("entry %d at %v is newer than the one before it at %v", i, e.Time, got[i-1].Time)
				}
				if tc.query.ActorID != 0 && e.ActorID != tc.query.ActorID {
					t.Errorf("entry actor = %d, want %d", e.ActorID, tc.query.ActorID)
				}
				if tc.query.Action != "" && e.Action != tc.query.Action {
					t.Errorf("entry action = %s, want %s", e.Action, tc.query.Action)
				}
			}
		})
	}
}
