package handlers

import (
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/clinicpix/backend/shared/apperr"
	"github.com/clinicpix/backend/shared/httpapi"
)

func auditRequest(query map[string]string) *httpapi.Request {
	return &httpapi.Request{Event: events.APIGatewayProxyRequest{QueryStringParameters: query}}
}

func TestAuditQueryOf(t *testing.T) {
	cases := []struct {
		name  string
		query map[string]string
		field string // empty when valid
	}{
		{"defaults", nil, ""},
		{"all filters", map[string]string{"userId": "5", "action": "login", "limit": "500",
			"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}, ""},
		{"limit zero", map[string]string{"limit": "0"}, "limit"},
		{"limit too big", map[string]string{"limit": "501"}, "limit"},
		{"user id text", map[string]string{"userId": "abc"}, "userId"},
		{"user id negative", map[string]string{"userId": "-3"}, "userId"},
		{"action upper case", map[string]string{"action": "LOGIN"}, "action"},
		{"action injection", map[string]string{"action": "login OR 1=1"}, "action"},
		{"from not RFC 3339", map[string]string{"from": "2026-11-01"}, "from"},
		{"from after to", map[string]string{"from": "2026-12-02T00:00:00Z",
			"to": "2026-12-01T00:00:00Z"}, "from"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q, _, err := auditQueryOf(auditRequest(tc.query))
			if tc.field == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				if q.Limit < 1 || q.Limit > auditMaxLimit {
					t.Errorf("limit = %d, want 1 to %d", q.Limit, auditMaxLimit)
				}
				return
			}
			e, ok := err.(*apperr.Error)
			if !ok {
				t.Fatalf("got %v, want an invalid-field error", err)
			}
			if e.Field != tc.field {
				t.Errorf("field = %q, want %q", e.Field, tc.field)
			}
		})
	}
}

func TestAuditQueryScopeFollowsFilters(t *testing.T) {
	_, base, err := auditQueryOf(auditRequest(map[string]string{"userId": "5"}))
	if err != nil {
		t.Fatal(err)
	}
	_, sameFilters, err := auditQueryOf(auditRequest(map[string]string{"userId": "5", "limit": "7"}))
	if err != nil {
		t.Fatal(err)
	}
	_, otherUser, err := auditQueryOf(auditRequest(map[string]string{"userId": "6"}))
	if err != nil {
		t.Fatal(err)
	}
	if base != sameFilters {
		t.Errorf("scope changed with the limit alone, want cursors to survive a new page size")
	}
	if base == otherUser {
		t.Errorf("scope of userId=5 equals scope of userId=6, want them distinct")
	}
}
