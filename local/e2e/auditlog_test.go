package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/clinicpix/backend/shared/audit"
)

func TestAuditLogPagesWithoutGaps(t *testing.T) {
	h := API(t)
	admin := h.Admin(t)
	// An actor id no account has, so only this test's entries match the filter.
	actor := 8_000_000_000 + time.Now().UnixNano()%1_000_000_000
	start := time.Now().UTC().Add(-time.Hour)
	const total = 1000
	for i := range total {
		err := h.Runner.App.Deps.Audit.Record(t.Context(), audit.Entry{
			Time: start.Add(time.Duration(i) * time.Second), ActorID: actor,
			Action: audit.Login, Outcome: audit.Success, Details: fmt.Sprintf("n=%d", i)})
		if err != nil {
			t.Fatalf("record entry %d: %v", i, err)
		}
	}

	base := fmt.Sprintf("/audit-logs?limit=400&userId=%d", actor)
	path := base
	var got []map[string]any
	var cursors []string
	for page := 1; page <= 3; page++ {
		resp := h.Expect(t, http.StatusOK, Request{Method: "GET", Path: path, Token: admin.Token})
		var entries []map[string]any
		decodeJSON(t, resp.Raw, &entries)
		got = append(got, entries...)
		cursor := resp.Header.Get("X-Next-Cursor")
		if page < 3 && cursor == "" {
			t.Fatalf("page %d has no X-Next-Cursor header", page)
		}
		if page == 3 && cursor != "" {
			t.Errorf("page 3 has a next cursor, want none after the last entry")
		}
		cursors = append(cursors, cursor)
		path = base + "&cursor=" + url.QueryEscape(cursor)
	}
	if len(got) != total {
		t.Fatalf("entries over three pages = %d, want %d", len(got), total)
	}
	for i, e := range got {
		want := fmt.Sprintf("n=%d", total-1-i)
		if e["details"] != want {
			t.Fatalf("entry %d details = %v, want %s (newest first, no gaps or repeats)", i,
				e["details"], want)
		}
	}
	for _, field := range []string{"id", "user_id", "action", "details", "ip_address",
		"user_agent", "created_at", "user_email", "user_username", "user_role"} {
		if _, ok := got[0][field]; !ok {
			t.Errorf("audit entry has no %s field", field)
		}
	}

	first := cursors[0]
	forged := first[:len(first)-2] + "AA"
	if forged == first {
		forged = first[:len(first)-2] + "BB"
	}
	cases := map[string]string{
		"forged tag":    base + "&cursor=" + url.QueryEscape(forged),
		"garbage":       base + "&cursor=not-a-cursor",
		"other filter":  fmt.Sprintf("/audit-logs?limit=400&userId=%d&cursor=%s", actor+1, url.QueryEscape(first)),
		"other action":  base + "&action=logout&cursor=" + url.QueryEscape(first),
		"limit too big": base + "&limit=501",
		"bad from":      base + "&from=yesterday",
		"bad action":    base + "&action=DROP%20TABLE",
	}
	for name, p := range cases {
		t.Run(name, func(t *testing.T) {
			resp := h.Do(t, Request{Method: "GET", Path: p, Token: admin.Token})
			if resp.Status != http.StatusBadRequest {
				t.Errorf("got status %d, want 400 (body %s)", resp.Status, resp.Raw)
			}
		})
	}
}

func TestAuditLogFiltersByTimeAndAction(t *testing.T) {
	h := API(t)
	admin := h.Admin(t)
	actor := 7_000_000_000 + time.Now().UnixNano()%1_000_000_000
	start := time.Date(2026, 10, 30, 0, 0, 0, 0, time.UTC)
	for i := range 10 {
		action := audit.Login
		if i%2 == 1 {
			action = audit.Logout
		}
		err := h.Runner.App.Deps.Audit.Record(t.Context(), audit.Entry{
			Time: start.Add(time.Duration(i) * 24 * time.Hour), ActorID: actor, Action: action,
			Outcome: audit.Success})
		if err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name, query string
		want        int
	}{
		{"actor", "", 10},
		{"action", "&action=logout", 5},
		{"range across months", "&from=2026-10-31T00:00:00Z&to=2026-11-03T00:00:00Z", 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.Expect(t, http.StatusOK, Request{Method: "GET",
				Path: fmt.Sprintf("/audit-logs?userId=%d%s", actor, tc.query), Token: admin.Token})
			var entries []map[string]any
			decodeJSON(t, resp.Raw, &entries)
			if len(entries) != tc.want {
				t.Errorf("entries = %d, want %d", len(entries), tc.want)
			}
		})
	}
	all := h.Expect(t, http.StatusOK, Request{Method: "GET", Path: "/audit-logs?limit=5",
		Token: admin.Token})
	var newest []map[string]any
	decodeJSON(t, all.Raw, &newest)
	if len(newest) != 5 {
		t.Errorf("unfiltered page = %d entries, want 5", len(newest))
	}
}
