package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/clinicpix/backend/local/runner"
)

// TestMain starts the runner once, before any test runs. Tests that need it call API(t).
func TestMain(m *testing.M) {
	if err := os.Setenv("AWS_EC2_METADATA_DISABLED", "true"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		h := &Harness{AdminEmail: "admin@e2e.test", AdminPassword: "e2e-admin-password",
			client: &http.Client{Timeout: 60 * time.Second}}
		r, err := runner.Start(ctx, runner.Options{
			AdminEmail: h.AdminEmail, AdminPassword: h.AdminPassword,
			Env: func(string) (string, bool) { return "", false },
			Log: io.Discard,
		})
		if err != nil {
			startErr = err
		} else {
			h.Runner = r
			shared = h
			defer r.Stop()
		}
		return m.Run()
	}()
	os.Exit(code)
}
