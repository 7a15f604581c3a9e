package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clinicpix/backend/shared/testenv"
)

// chromiumPath is Debian's chromium package, which `make browser-tools` installs.
const chromiumPath = "/usr/bin/chromium"

// browserTools returns the node executable and the playwright-core package directory. If either
// or Chromium is missing, it skips the test, or fails it when CI is set.
func browserTools(t *testing.T) (node, playwrightCore string) {
	t.Helper()
	missing := func(what string) {
		msg := what + " not found: run `make browser-tools`"
		if os.Getenv("CI") != "" {
			t.Fatalf("%s (CI is set, so a missing tool fails the test)", msg)
		}
		t.Skip(msg)
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		missing("chromium at " + chromiumPath)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node")
	}
	playwrightCore = filepath.Join(
		testenv.RepoRoot(t),
		".tools",
		"npm",
		"node_modules",
		"playwright-core",
	)
	if _, err := os.Stat(filepath.Join(playwrightCore, "package.json")); err != nil {
		missing("playwright-core in .tools/npm")
	}
	return node, playwrightCore
}

// webClientOrigin returns the first allowed origin on this machine, which the test serves its
// page from, because the bucket's CORS rules and the API allow only the configured origins.
func webClientOrigin(t *testing.T, h *Harness) *url.URL {
	t.Helper()
	for _, o := range h.Runner.App.Config.AllowedOrigins {
		u, err := url.Parse(o)
		if err == nil && u.Scheme == "http" && u.Port() != "" &&
			(u.Hostname() == "localhost" || u.Hostname() == "127.0.0.1") {
			return u
		}
	}
	t.Fatalf(
		"no allowed origin is a local http origin with a port: %v",
		h.Runner.App.Config.AllowedOrigins,
	)
	return nil
}

const browserTestPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>ClinicPix upload check</title></head>
<body><p>upload check</p></body></html>`

func TestBrowserUploadAndView(t *testing.T) {
	h := API(t)
	node, playwrightCore := browserTools(t)
	provider := h.SignedIn(t, "provider")
	origin := webClientOrigin(t, h)

	listener, err := net.Listen("tcp", "127.0.0.1:"+origin.Port())
	if err != nil {
		t.Fatalf(
			"listen on the web client's port %s (is another server using it?): %v",
			origin.Port(),
			err,
		)
	}
	server := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(browserTestPage))
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = server.Serve(listener) }()
	t.Cleanup(func() { _ = server.Close() })

	png := readImage(t, "ct_small.png")
	input, err := json.Marshal(map[string]string{
		"playwrightCore": playwrightCore,
		"chromium":       chromiumPath,
		"userDataDir":    t.TempDir(),
		"pageURL":        origin.String() + "/",
		"apiBase":        h.Runner.BaseURL(),
		"token":          provider.Token,
		"fileName":       "browser ct.png",
		"fileType":       "image/png",
		"fileBase64":     base64.StdEncoding.EncodeToString(png),
	})
	if err != nil {
		t.Fatalf("encode script input: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	script := filepath.Join("browser", "upload_view.cjs")
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Env = append(os.Environ(), "BROWSER_TEST_INPUT="+string(input))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) || ctx.Err() != nil {
			t.Fatalf("browser script failed: %v\n%s", err, stderr.String())
		}
		t.Fatalf("run node: %v", err)
	}

	var result struct {
		Step          string `json:"step"`
		Status        int    `json:"status"`
		Body          string `json:"body"`
		PutStatus     int    `json:"putStatus"`
		ImageLoaded   bool   `json:"imageLoaded"`
		NaturalWidth  int    `json:"naturalWidth"`
		NaturalHeight int    `json:"naturalHeight"`
	}
	line := strings.TrimSpace(stdout.String())
	if err := json.Unmarshal([]byte(line), &result); err != nil {
		t.Fatalf("decode script output %q: %v", line, err)
	}
	if result.Step != "done" {
		t.Fatalf(
			"browser stopped at step %q with status %d: %s",
			result.Step,
			result.Status,
			result.Body,
		)
	}
	if result.PutStatus != http.StatusOK {
		t.Errorf("browser PUT: got status %d, want 200", result.PutStatus)
	}
	if !result.ImageLoaded {
		t.Errorf("<img> from the view URL: got an error, want it loaded")
	}
	if result.NaturalWidth != 128 || result.NaturalHeight != 128 {
		t.Errorf("image size: got %dx%d, want 128x128", result.NaturalWidth, result.NaturalHeight)
	}
}
