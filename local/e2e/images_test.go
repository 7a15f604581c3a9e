package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/clinicpix/backend/shared/store"
	"github.com/clinicpix/backend/shared/testenv"
)

// eventWait bounds how long a test waits for versitygw's webhook to reach the runner. Events
// normally arrive within milliseconds; the bound only keeps a lost event from hanging the test.
const eventWait = 30 * time.Second

func readImage(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "shared", "images", "testdata", name))
	if err != nil {
		t.Fatalf("read test image: %v", err)
	}
	return b
}

// issuedUpload is the response of POST /files/upload.
type issuedUpload struct {
	URL     string
	Headers map[string]string
	ImageID string
}

// requestUpload requests an upload URL as provider.
func requestUpload(
	t *testing.T,
	h *Harness,
	provider Account,
	fileName, fileType string,
) issuedUpload {
	t.Helper()
	resp := h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/files/upload",
		Token: provider.Token, Body: map[string]any{"fileName": fileName, "fileType": fileType,
			"uploadedBy": provider.ID, "tags": []string{"e2e"}}})
	up := issuedUpload{Headers: map[string]string{}}
	up.URL, _ = resp.JSON["uploadUrl"].(string)
	headers, _ := resp.JSON["uploadHeaders"].(map[string]any)
	for k, v := range headers {
		up.Headers[k], _ = v.(string)
	}
	u, err := url.Parse(up.URL)
	if err != nil || up.URL == "" {
		t.Fatalf("upload URL %q: %v", up.URL, err)
	}
	if host := u.Hostname(); host != "127.0.0.1" {
		t.Fatalf("upload URL host: got %q, want 127.0.0.1", host)
	}
	up.ImageID = path.Base(u.Path)
	return up
}

// waitForState polls the image record until it reaches want, failing after eventWait.
func waitForState(t *testing.T, h *Harness, imageID string, want store.ImageState) store.Image {
	t.Helper()
	deadline := time.Now().Add(eventWait)
	for {
		img, err := h.Runner.App.Deps.Images.Images.Get(context.Background(), imageID, time.Now())
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("read image %s: %v", imageID, err)
		}
		if err == nil && img.State == want {
			return img
		}
		if time.Now().After(deadline) {
			t.Fatalf(
				"image %s: got state %q after %v, want %q",
				imageID,
				img.State,
				eventWait,
				want,
			)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func fetch(t *testing.T, rawURL string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(rawURL)
	if err != nil {
		t.Fatalf("GET presigned URL: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read presigned URL body: %v", err)
	}
	return resp.StatusCode, body
}

func TestImagesUploadShareViewRevoke(t *testing.T) {
	h := API(t)
	ctx := context.Background()
	provider := h.SignedIn(t, "provider")
	patient := h.SignedIn(t, "patient")
	otherPatient := h.SignedIn(t, "patient")
	otherProvider := h.SignedIn(t, "provider")
	for _, p := range []Account{patient, otherPatient} {
		if _, err := h.Runner.App.Deps.Assignments.Assign(ctx, provider.ID, p.ID, provider.ID, "",
			time.Now()); err != nil {
			t.Fatalf("assign patient: %v", err)
		}
	}

	dicom, png := readImage(t, "CT_small.dcm"), readImage(t, "ct_small.png")
	dicomUp := requestUpload(t, h, provider, "CT_small.dcm", "")
	pngUp := requestUpload(t, h, provider, "ct_small.png", "image/png")
	if got := dicomUp.Headers["Content-Type"]; got != "application/dicom" {
		t.Errorf("DICOM upload Content-Type header: got %q, want application/dicom", got)
	}

	// versitygw checks the signature, so a PUT without the signed SSE headers is rejected.
	contentTypeOnly := map[string]string{"Content-Type": "image/png"}
	if status := testenv.PutPresigned(t, pngUp.URL, contentTypeOnly, png); status != http.StatusForbidden {
		t.Errorf("PUT without the signed headers: got status %d, want 403", status)
	}
	if status := testenv.PutPresigned(t, dicomUp.URL, dicomUp.Headers, dicom); status != http.StatusOK {
		t.Fatalf("PUT CT_small.dcm: got status %d, want 200", status)
	}
	if status := testenv.PutPresigned(t, pngUp.URL, pngUp.Headers, png); status != http.StatusOK {
		t.Fatalf("PUT ct_small.png: got status %d, want 200", status)
	}
	waitForState(t, h, dicomUp.ImageID, store.ImageAvailable)
	waitForState(t, h, pngUp.ImageID, store.ImageAvailable)

	providerID := strconv.FormatInt(provider.ID, 10)
	list := h.Expect(
		t,
		http.StatusOK,
		Request{Method: "GET", Path: "/files?uploadedBy=" + providerID,
			Token: provider.Token},
	)
	files, _ := list.JSON["files"].([]any)
	if len(files) != 2 {
		t.Fatalf("files list: got %d files, want 2 (%s)", len(files), list.Raw)
	}

	h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/files/share", Token: provider.Token,
		Body: map[string]any{"fileName": "CT_small.dcm", "uploadedBy": provider.ID,
			"sharedWith": patient.ID, "expiresIn": 86400}})

	patientID := strconv.FormatInt(patient.ID, 10)
	shared := h.Expect(t, http.StatusOK, Request{Method: "GET",
		Path: "/files/shared?sharedWith=" + patientID, Token: patient.Token})
	sharedFiles, _ := shared.JSON["sharedFiles"].([]any)
	if len(sharedFiles) != 1 {
		t.Fatalf("shared list: got %d files, want 1 (%s)", len(sharedFiles), shared.Raw)
	}
	if got := sharedFiles[0].(map[string]any)["file_name"]; got != "CT_small.dcm" {
		t.Errorf("shared file_name: got %v, want CT_small.dcm", got)
	}

	viewPath := "/files/view/" + url.PathEscape("CT_small.dcm") + "?uploadedBy=" + providerID
	view := h.Expect(t, http.StatusOK, Request{Method: "GET", Path: viewPath, Token: patient.Token})
	viewURL, _ := view.JSON["viewUrl"].(string)
	status, body := fetch(t, viewURL)
	if status != http.StatusOK {
		t.Fatalf("GET view URL: got status %d, want 200", status)
	}
	if !bytes.Equal(body, dicom) {
		t.Errorf("viewed bytes: got %d bytes, want the %d uploaded bytes", len(body), len(dicom))
	}

	// No other caller gets a URL: not another patient, another provider or an admin.
	h.Expect(
		t,
		http.StatusForbidden,
		Request{Method: "GET", Path: viewPath, Token: otherPatient.Token},
	)
	h.Expect(
		t,
		http.StatusForbidden,
		Request{Method: "GET", Path: viewPath, Token: otherProvider.Token},
	)
	admin := h.Admin(t)
	h.Expect(t, http.StatusForbidden, Request{Method: "GET", Path: viewPath, Token: admin.Token})
	h.Expect(
		t,
		http.StatusForbidden,
		Request{Method: "GET", Path: "/files?uploadedBy=" + providerID,
			Token: admin.Token},
	)

	h.Expect(t, http.StatusOK, Request{Method: "POST", Path: "/files/revoke", Token: provider.Token,
		Body: map[string]any{"fileName": "CT_small.dcm", "uploadedBy": provider.ID,
			"sharedWith": patient.ID}})
	h.Expect(t, http.StatusForbidden, Request{Method: "GET", Path: viewPath, Token: patient.Token})

	// Deleting removes the object, and its ObjectRemoved event changes nothing more.
	h.Expect(t, http.StatusOK, Request{Method: "DELETE",
		Path:  "/files/delete/" + url.PathEscape("ct_small.png") + "?uploadedBy=" + providerID,
		Token: provider.Token})
	waitForState(t, h, pngUp.ImageID, store.ImageDeleted)
	h.Expect(t, http.StatusNotFound, Request{Method: "GET",
		Path: "/files/view/" + url.PathEscape("ct_small.png"), Token: provider.Token})
}

func TestImagesRunnerEventsDecodeAndReject(t *testing.T) {
	h := API(t)
	provider := h.SignedIn(t, "provider")
	png := readImage(t, "ct_small.png")

	// A file name with a space, '+', '%' and non-ASCII letters: the key never carries it, and
	// the event round trip through the runner must still find the image.
	odd := requestUpload(t, h, provider, "a b+c%d é.png", "image/png")
	if status := testenv.PutPresigned(t, odd.URL, odd.Headers, png); status != http.StatusOK {
		t.Fatalf("PUT: got status %d, want 200", status)
	}
	img := waitForState(t, h, odd.ImageID, store.ImageAvailable)
	if img.FileName != "a b+c%d é.png" {
		t.Errorf("file name: got %q, want %q", img.FileName, "a b+c%d é.png")
	}

	tests := []struct {
		file, fileType, reason string
	}{
		{"not_an_image.jpg", "image/jpeg", "magic_mismatch"},
		{"random_bytes.png", "image/png", "magic_mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			up := requestUpload(t, h, provider, tt.file, tt.fileType)
			if status := testenv.PutPresigned(t, up.URL, up.Headers, readImage(t, tt.file)); status != http.StatusOK {
				t.Fatalf("PUT: got status %d, want 200", status)
			}
			img := waitForState(t, h, up.ImageID, store.ImageRejected)
			if img.RejectReason != tt.reason {
				t.Errorf("reject reason: got %q, want %q", img.RejectReason, tt.reason)
			}
			if objectExists(t, h, img.ObjectKey) {
				t.Errorf("rejected object still exists, want it deleted")
			}
		})
	}
}

// objectExists reports whether the images bucket has key, using the runner's S3 client.
func objectExists(t *testing.T, h *Harness, key string) bool {
	t.Helper()
	_, err := h.Runner.S3.HeadObject(context.Background(), &s3.HeadObjectInput{
		Bucket: aws.String(h.Runner.App.Config.ImagesBucket), Key: aws.String(key)})
	return err == nil
}

// waitForObjectGone polls the images bucket until key is gone, failing after eventWait.
func waitForObjectGone(t *testing.T, h *Harness, key string) {
	t.Helper()
	deadline := time.Now().Add(eventWait)
	for objectExists(t, h, key) {
		if time.Now().After(deadline) {
			t.Fatalf("object still exists after %v, want it deleted by its event", eventWait)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestImagesReuploadAfterDeleteIsDeleted(t *testing.T) {
	h := API(t)
	provider := h.SignedIn(t, "provider")
	providerID := strconv.FormatInt(provider.ID, 10)
	png := readImage(t, "ct_small.png")
	up := requestUpload(t, h, provider, "gone.png", "image/png")
	if status := testenv.PutPresigned(t, up.URL, up.Headers, png); status != http.StatusOK {
		t.Fatalf("PUT: got status %d, want 200", status)
	}
	img := waitForState(t, h, up.ImageID, store.ImageAvailable)
	h.Expect(t, http.StatusOK, Request{Method: "DELETE",
		Path:  "/files/delete/" + url.PathEscape("gone.png") + "?uploadedBy=" + providerID,
		Token: provider.Token})
	waitForState(t, h, up.ImageID, store.ImageDeleted)

	// The upload URL is still valid after the delete, so the PUT stores the bytes again.
	if status := testenv.PutPresigned(t, up.URL, up.Headers, png); status != http.StatusOK {
		t.Fatalf("PUT after delete: got status %d, want 200", status)
	}
	waitForObjectGone(t, h, img.ObjectKey)
	got, err := h.Runner.App.Deps.Images.Images.Get(context.Background(), up.ImageID, time.Now())
	if err != nil {
		t.Fatalf("read image: %v", err)
	}
	if got.State != store.ImageDeleted {
		t.Errorf("state: got %q, want %q", got.State, store.ImageDeleted)
	}
}

func TestImagesOverwriteRejectsImage(t *testing.T) {
	h := API(t)
	provider := h.SignedIn(t, "provider")
	png := readImage(t, "ct_small.png")
	up := requestUpload(t, h, provider, "swap.png", "image/png")
	if status := testenv.PutPresigned(t, up.URL, up.Headers, png); status != http.StatusOK {
		t.Fatalf("PUT: got status %d, want 200", status)
	}
	waitForState(t, h, up.ImageID, store.ImageAvailable)

	// Other bytes that still pass every check of a PNG.
	swapped := append(append([]byte{}, png...), 0)
	if status := testenv.PutPresigned(t, up.URL, up.Headers, swapped); status != http.StatusOK {
		t.Fatalf("second PUT: got status %d, want 200", status)
	}
	img := waitForState(t, h, up.ImageID, store.ImageRejected)
	if img.RejectReason != "overwritten" {
		t.Errorf("reject reason: got %q, want overwritten", img.RejectReason)
	}
	waitForObjectGone(t, h, img.ObjectKey)
}
