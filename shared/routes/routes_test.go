package routes

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/clinicpix/backend/shared/identity"
)

func TestTableIsConsistent(t *testing.T) {
	seen := map[string]bool{}
	functions := map[string]bool{}
	for _, r := range Table {
		key := r.Method + " " + r.Path
		if seen[key] {
			t.Errorf("%s is listed twice", key)
		}
		seen[key] = true
		if functions[r.Function] {
			t.Errorf("function %s serves two routes", r.Function)
		}
		functions[r.Function] = true
		if !r.Public && len(r.Roles) == 0 {
			t.Errorf("%s needs a token but allows no role", key)
		}
		if r.Public && len(r.Roles) > 0 {
			t.Errorf("%s is public but lists roles", key)
		}
		if _, err := os.Stat(filepath.Join("..", "..", "functions", r.Function, "main.go")); err != nil {
			t.Errorf("%s: functions/%s/main.go is missing", key, r.Function)
		}
	}
}

func TestMatchPrefersLiteralSegments(t *testing.T) {
	cases := []struct {
		method, path, function string
		params                 map[string]string
	}{
		{"GET", "/api/users/all", "users-list", nil},
		{"GET", "/api/users/12", "users-get-profile", map[string]string{"userId": "12"}},
		{"GET", "/api/patients/all-patient-emails/3", "patients-directory", map[string]string{"providerId": "3"}},
		{"GET", "/api/patients/3", "patients-list", map[string]string{"providerId": "3"}},
		{"GET", "/api/files/view/a%20b%2Fc.png", "files-view", map[string]string{"fileName": "a b/c.png"}},
		{"PATCH", "/api/users/activate/5", "users-activate", map[string]string{"userId": "5"}},
	}
	for _, c := range cases {
		r, params, ok := Match(c.method, c.path)
		if !ok {
			t.Errorf("%s %s: no match", c.method, c.path)
			continue
		}
		if r.Function != c.function {
			t.Errorf("%s %s: got %s, want %s", c.method, c.path, r.Function, c.function)
		}
		for k, v := range c.params {
			if params[k] != v {
				t.Errorf("%s %s: param %s got %q, want %q", c.method, c.path, k, params[k], v)
			}
		}
	}
	if _, _, ok := Match("GET", "/api/nothing"); ok {
		t.Error("GET /api/nothing matched a route")
	}
	if _, _, ok := Match("GET", "/files"); ok {
		t.Error("a path without the /api prefix matched")
	}
}

func TestAdminHasNoImageRoute(t *testing.T) {
	for _, r := range Table {
		if strings.HasPrefix(r.Path, "/files") && r.Allows(identity.Admin) {
			t.Errorf("%s %s allows admins, who must never see images", r.Method, r.Path)
		}
	}
}

// TestSampleEvents decodes every file in events/ and checks that each API event reaches the route
// its file is named after, and that every route has a sample.
func TestSampleEvents(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "events", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample events found: %v", err)
	}
	sampled := map[string]bool{}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case name == "authorizer":
			var e events.APIGatewayCustomAuthorizerRequestTypeRequest
			if err := json.Unmarshal(data, &e); err != nil || e.MethodArn == "" {
				t.Errorf("%s: decode authorizer request: %v", file, err)
			}
		case strings.HasPrefix(name, "s3-"):
			var e events.S3Event
			if err := json.Unmarshal(data, &e); err != nil || len(e.Records) == 0 {
				t.Errorf("%s: decode S3 event: %v", file, err)
			}
		default:
			var e events.APIGatewayProxyRequest
			if err := json.Unmarshal(data, &e); err != nil {
				t.Errorf("%s: decode proxy request: %v", file, err)
				continue
			}
			r, _, ok := Match(e.HTTPMethod, e.Path)
			if !ok || r.Function != name {
				t.Errorf("%s: %s %s reaches %q, want %q", file, e.HTTPMethod, e.Path, r.Function, name)
			}
			sampled[name] = true
		}
	}
	for _, r := range Table {
		if !sampled[r.Function] {
			t.Errorf("route %s %s has no sample event events/%s.json", r.Method, r.Path, r.Function)
		}
	}
}
