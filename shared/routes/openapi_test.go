package routes

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite openapi.json from the route table")

func TestOpenAPIIsValidAndComplete(t *testing.T) {
	doc := OpenAPI()
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("OpenAPI document is invalid: %v", err)
	}
	for _, r := range Table {
		item := doc.Paths.Value(BasePath + r.Path)
		if item == nil {
			t.Errorf("%s %s missing from the document", r.Method, r.Path)
			continue
		}
		op := item.GetOperation(r.Method)
		if op == nil || op.OperationID != r.Function {
			t.Errorf("%s %s: operation missing or misnamed", r.Method, r.Path)
			continue
		}
		if got := len(rolesOf(op)); !r.Public && got != len(r.Roles) {
			t.Errorf("%s %s: roles got %d, want %d", r.Method, r.Path, got, len(r.Roles))
		}
	}
}

// TestOpenAPIFileUpToDate keeps the committed openapi.json equal to the table; run
// `go test ./shared/routes -run OpenAPIFile -update` after changing a route.
func TestOpenAPIFileUpToDate(t *testing.T) {
	want, err := json.MarshalIndent(OpenAPI(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	path := filepath.Join("..", "..", "openapi.json")
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v (generate it with -update)", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is out of date: run go test ./shared/routes -run OpenAPIFile -update", path)
	}
}
