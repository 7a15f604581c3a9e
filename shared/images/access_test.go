package images_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clinicpix/backend/shared/apperr"
	"github.com/clinicpix/backend/shared/audit"
	"github.com/clinicpix/backend/shared/images"
	"github.com/clinicpix/backend/shared/store"
	"github.com/clinicpix/backend/shared/testenv"
)

func TestNewUploadValidation(t *testing.T) {
	e := newEnv(t)
	e.assign.set(21, 5, true)
	tests := []struct {
		name  string
		req   images.UploadRequest
		kind  apperr.Kind
		field string
	}{
		{"empty name", images.UploadRequest{FileName: " \x00 ", FileType: "image/png"},
			apperr.Invalid, "fileName"},
		{"long name", images.UploadRequest{FileName: strings.Repeat("a", 256) + ".png"},
			apperr.Invalid, "fileName"},
		{"bad type", images.UploadRequest{FileName: "a.gif", FileType: "image/gif"},
			apperr.Invalid, "fileType"},
		{"no type and unknown extension", images.UploadRequest{FileName: "a.txt"},
			apperr.Invalid, "fileType"},
		{"too many tags", images.UploadRequest{FileName: "a.png", Tags: distinctTags(21)},
			apperr.Invalid, "tags"},
		{"tag with comma", images.UploadRequest{FileName: "a.png", Tags: []string{"a,b"}},
			apperr.Invalid, "tags"},
		{
			"long tag",
			images.UploadRequest{FileName: "a.png", Tags: []string{strings.Repeat("x", 51)}},
			apperr.Invalid,
			"tags",
		},
		{"too large", images.UploadRequest{FileName: "a.png", Size: 50_000_001},
			apperr.TooLarge, "fileSize"},
		{"unassigned patient", images.UploadRequest{FileName: "a.png", PatientID: 6},
			apperr.Forbidden, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.svc.NewUpload(context.Background(), 21, tt.req, e.record(21))
			if got := apperr.KindOf(err); got != tt.kind {
				t.Fatalf("error kind: got %v, want %v (error %v)", got, tt.kind, err)
			}
			var ae *apperr.Error
			if errors.As(err, &ae) && ae.Field != tt.field {
				t.Errorf("field: got %q, want %q", ae.Field, tt.field)
			}
		})
	}
	if n := e.audit.count(audit.UploadURLIssued, ""); n != 0 {
		t.Errorf("upload_url_issued entries: got %d, want 0", n)
	}
}

func distinctTags(n int) []string {
	tags := make([]string, n)
	for i := range tags {
		tags[i] = "tag" + strconv.Itoa(i)
	}
	return tags
}

func TestNewUploadKeyIgnoresFileName(t *testing.T) {
	e := newEnv(t)
	up := e.issue(t, 22, images.UploadRequest{FileName: "../../other/evil.png"})
	key := up.Image.ObjectKey
	if !strings.HasPrefix(key, "images/22/") {
		t.Errorf("object key %q: want prefix images/22/", key)
	}
	if strings.Contains(key, "..") || strings.Contains(key, "evil") {
		t.Errorf("object key %q contains part of the file name", key)
	}
	if up.Image.FileName != "../../other/evil.png" {
		t.Errorf("file name: got %q, want it kept as display text", up.Image.FileName)
	}
	u, err := url.Parse(up.URL)
	if err != nil {
		t.Fatalf("parse upload URL: %v", err)
	}
	if strings.Contains(u.Path, "..") || strings.Contains(u.Path, "evil") {
		t.Errorf("upload URL path %q contains part of the file name", u.Path)
	}
	if got := images.DownloadName(up.Image.FileName); got != "evil.png" {
		t.Errorf("DownloadName: got %q, want %q", got, "evil.png")
	}
}

func TestNewUploadSignsHeaders(t *testing.T) {
	e := newEnv(t)
	up := e.issue(t, 23, images.UploadRequest{FileName: "s.dcm", FileType: "application/dicom"})
	u, err := url.Parse(up.URL)
	if err != nil {
		t.Fatalf("parse upload URL: %v", err)
	}
	q := u.Query()
	if got, want := q.Get("X-Amz-SignedHeaders"),
		"content-type;host;x-amz-server-side-encryption;x-amz-server-side-encryption-aws-kms-key-id"; got != want {
		t.Errorf("signed headers: got %q, want %q", got, want)
	}
	if got := q.Get("X-Amz-Expires"); got != "300" {
		t.Errorf("X-Amz-Expires: got %q, want 300", got)
	}
	want := map[string]string{
		"Content-Type":                                "application/dicom",
		"X-Amz-Server-Side-Encryption":                "aws:kms",
		"X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id": testKMSKey,
	}
	if len(up.Headers) != len(want) {
		t.Errorf("upload headers: got %v, want %v", up.Headers, want)
	}
	for k, v := range want {
		if up.Headers[k] != v {
			t.Errorf("upload header %s: got %q, want %q", k, up.Headers[k], v)
		}
	}
	// versitygw checks the signature: the PUT fails without the signed headers.
	data := readTestdata(t, "CT_small.dcm")
	contentTypeOnly := map[string]string{"Content-Type": "application/dicom"}
	if status := testenv.PutPresigned(t, up.URL, contentTypeOnly, data); status != http.StatusForbidden {
		t.Errorf("PUT without SSE headers: got status %d, want 403", status)
	}
	if status := testenv.PutPresigned(t, up.URL, up.Headers, data); status != http.StatusOK {
		t.Errorf("PUT with upload headers: got status %d, want 200", status)
	}
}

func TestNewUploadNameConflict(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.uploadAndNotify(
		t,
		24,
		images.UploadRequest{FileName: "x.png"},
		readTestdata(t, "ct_small.png"),
		"01",
	)
	_, err := e.svc.NewUpload(ctx, 24, images.UploadRequest{FileName: "x.png"}, e.record(24))
	if got := apperr.KindOf(err); got != apperr.Conflict {
		t.Errorf("second upload of an available name: got kind %v, want Conflict", got)
	}
	// Another owner may use the same name.
	e.issue(t, 25, images.UploadRequest{FileName: "x.png"})
	// A pending name may be issued again, for a retry.
	e.issue(t, 24, images.UploadRequest{FileName: "y.png"})
	e.issue(t, 24, images.UploadRequest{FileName: "y.png"})
	// After deletion the name is free.
	if err := e.svc.Delete(ctx, 24, "x.png", e.record(24)); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	e.issue(t, 24, images.UploadRequest{FileName: "x.png"})
}

func TestViewURLSignsOnlyHost(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	data := readTestdata(t, "ct_small.png")
	e.uploadAndNotify(t, 26, images.UploadRequest{FileName: "dir/../scan 1.png"}, data, "01")
	img, err := e.svc.OwnerImage(ctx, 26, "dir/../scan 1.png")
	if err != nil {
		t.Fatalf("OwnerImage: %v", err)
	}
	for _, download := range []bool{false, true} {
		raw, err := e.svc.ViewURL(ctx, img, time.Time{}, download, e.record(26),
			audit.Entry{Action: audit.ImageViewed})
		if err != nil {
			t.Fatalf("ViewURL: %v", err)
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("parse view URL: %v", err)
		}
		if got := u.Query().Get("X-Amz-SignedHeaders"); got != "host" {
			t.Errorf("signed headers: got %q, want host", got)
		}
		if got := u.Query().Get("X-Amz-Expires"); got != "300" {
			t.Errorf("X-Amz-Expires: got %q, want 300", got)
		}
		if u.Query().Has("x-amz-checksum-mode") {
			t.Errorf("view URL asks for checksum mode, which a plain GET cannot satisfy")
		}
		resp, err := http.Get(raw)
		if err != nil {
			t.Fatalf("GET view URL: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET view URL: got status %d, want 200", resp.StatusCode)
		}
		if string(body) != string(data) {
			t.Errorf("GET view URL: got %d bytes, want the %d uploaded bytes", len(body), len(data))
		}
		if got := resp.Header.Get("Content-Type"); got != "image/png" {
			t.Errorf("Content-Type: got %q, want image/png", got)
		}
		disposition := resp.Header.Get("Content-Disposition")
		if download && disposition != "attachment; filename=scan_1.png" {
			t.Errorf(
				"Content-Disposition: got %q, want %q",
				disposition,
				"attachment; filename=scan_1.png",
			)
		}
	}
}

func TestViewURLNeverOutlivesShare(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	img := e.uploadAndNotify(
		t,
		27,
		images.UploadRequest{FileName: "v.png"},
		readTestdata(t, "ct_small.png"),
		"01",
	)
	raw, err := e.svc.ViewURL(ctx, img, e.now.Add(90*time.Second), false, e.record(27),
		audit.Entry{Action: audit.ImageViewed})
	if err != nil {
		t.Fatalf("ViewURL: %v", err)
	}
	u, _ := url.Parse(raw)
	if got := u.Query().Get("X-Amz-Expires"); got != "90" {
		t.Errorf("X-Amz-Expires: got %q, want 90", got)
	}
}

func TestAuditFailureReturnsNoURL(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	img := e.uploadAndNotify(
		t,
		28,
		images.UploadRequest{FileName: "w.png"},
		readTestdata(t, "ct_small.png"),
		"01",
	)
	e.assign.set(28, 7, true)
	e.audit.setFailing(true)

	up, err := e.svc.NewUpload(ctx, 28, images.UploadRequest{FileName: "z.png"}, e.record(28))
	if got := apperr.KindOf(err); got != apperr.Unavailable {
		t.Errorf("NewUpload: got kind %v, want Unavailable", got)
	}
	if up.URL != "" {
		t.Errorf("NewUpload returned a URL with the audit log down")
	}
	viewURL, err := e.svc.ViewURL(ctx, img, time.Time{}, false, e.record(28),
		audit.Entry{Action: audit.ImageViewed})
	if got := apperr.KindOf(err); got != apperr.Unavailable {
		t.Errorf("ViewURL: got kind %v, want Unavailable", got)
	}
	if viewURL != "" {
		t.Errorf("ViewURL returned a URL with the audit log down")
	}
	res, err := e.svc.Share(ctx, 28, "w.png", 7, 3600, e.record(28))
	if got := apperr.KindOf(err); got != apperr.Unavailable {
		t.Errorf("Share: got kind %v, want Unavailable", got)
	}
	if res.Token != "" {
		t.Errorf("Share returned a token with the audit log down")
	}
	if _, err := e.svc.Shares.Get(ctx, img.ID, 7); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("share after failed audit: got %v, want ErrNotFound", err)
	}
	if err := e.svc.Delete(ctx, 28, "w.png", e.record(28)); apperr.KindOf(
		err,
	) != apperr.Unavailable {
		t.Errorf("Delete: got %v, want Unavailable", err)
	}
	if !e.objectExists(t, img.ObjectKey) {
		t.Errorf("Delete removed the object although the audit write failed")
	}
}

func TestShareRules(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const provider, other, patient, stranger = 31, 32, 41, 42
	e.assign.set(provider, patient, true)
	e.assign.set(provider, stranger, true)
	e.uploadAndNotify(
		t,
		provider,
		images.UploadRequest{FileName: "s.png"},
		readTestdata(t, "ct_small.png"),
		"01",
	)
	e.uploadAndNotify(t, provider, images.UploadRequest{FileName: "t.png", PatientID: patient},
		readTestdata(t, "ct_small.png"), "01")

	res, err := e.svc.Share(ctx, provider, "s.png", patient, 86400, e.record(provider))
	if err != nil {
		t.Fatalf("Share: %v", err)
	}
	if len(res.Token) < 40 {
		t.Errorf("share token: got %d characters, want at least 40", len(res.Token))
	}
	if res.Share.TokenHash == res.Token || res.Share.TokenHash == "" {
		t.Errorf("share stores the token instead of its hash")
	}
	img, share, err := e.svc.SharedImage(ctx, patient, provider, "s.png")
	if err != nil {
		t.Fatalf("SharedImage for the patient: %v", err)
	}
	if img.SubjectPatientID != patient {
		t.Errorf("subject: got %d, want %d (set by the first share)", img.SubjectPatientID, patient)
	}
	if !share.ValidUntil.Equal(e.now.Add(24 * time.Hour)) {
		t.Errorf("valid until: got %v, want %v", share.ValidUntil, e.now.Add(24*time.Hour))
	}

	tests := []struct {
		name string
		err  error
		kind apperr.Kind
	}{
		{
			"share with another patient",
			shareErr(e, provider, "s.png", stranger, 86400),
			apperr.Conflict,
		},
		{
			"share with another patient than the subject",
			shareErr(e, provider, "t.png", stranger, 86400),
			apperr.Conflict,
		},
		{
			"share with unassigned patient",
			shareErr(e, provider, "s.png", 99, 86400),
			apperr.Forbidden,
		},
		{
			"share of another provider's image",
			shareErr(e, other, "s.png", patient, 86400),
			apperr.NotFound,
		},
		{"expiresIn too short", shareErr(e, provider, "s.png", patient, 59), apperr.Invalid},
		{
			"expiresIn too long",
			shareErr(e, provider, "s.png", patient, 365*86400+1),
			apperr.Invalid,
		},
		{"other patient views", sharedErr(e, stranger, provider, "s.png"), apperr.Forbidden},
		{"patient names wrong owner", sharedErr(e, patient, other, "s.png"), apperr.Forbidden},
		{
			"patient views unshared image",
			sharedErr(e, patient, provider, "t.png"),
			apperr.Forbidden,
		},
		{"provider views another provider's image", ownerErr(e, other, "s.png"), apperr.NotFound},
	}
	for _, tt := range tests {
		if got := apperr.KindOf(tt.err); got != tt.kind {
			t.Errorf("%s: got kind %v, want %v (error %v)", tt.name, got, tt.kind, tt.err)
		}
	}

	// Sharing again renews the expiry.
	res, err = e.svc.Share(ctx, provider, "s.png", patient, 3600, e.record(provider))
	if err != nil {
		t.Fatalf("Share again: %v", err)
	}
	if !res.Updated {
		t.Errorf("second share: got Updated false, want true")
	}
	if n := e.audit.count(audit.ShareUpdated, ""); n != 1 {
		t.Errorf("share_updated entries: got %d, want 1", n)
	}

	// Expiry, assignment end and revocation each stop the patient's access.
	e.now = e.now.Add(2 * time.Hour)
	if err := sharedErr(e, patient, provider, "s.png"); apperr.KindOf(err) != apperr.Forbidden {
		t.Errorf("view after expiry: got %v, want Forbidden", err)
	}
	e.now = e.now.Add(-2 * time.Hour)
	e.assign.set(provider, patient, false)
	if err := sharedErr(e, patient, provider, "s.png"); apperr.KindOf(err) != apperr.Forbidden {
		t.Errorf("view after unassignment: got %v, want Forbidden", err)
	}
	e.assign.set(provider, patient, true)
	if err := sharedErr(e, patient, provider, "s.png"); err != nil {
		t.Fatalf("view after reassignment: %v", err)
	}
	if err := e.svc.Revoke(ctx, provider, "s.png", patient, e.record(provider)); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if err := sharedErr(e, patient, provider, "s.png"); apperr.KindOf(err) != apperr.Forbidden {
		t.Errorf("view after revoke: got %v, want Forbidden", err)
	}
	if err := e.svc.Revoke(ctx, provider, "s.png", patient, e.record(provider)); apperr.KindOf(
		err,
	) != apperr.NotFound {
		t.Errorf("second revoke: got %v, want NotFound", err)
	}
}

func shareErr(e *env, owner int64, name string, patient, expiresIn int64) error {
	_, err := e.svc.Share(context.Background(), owner, name, patient, expiresIn, e.record(owner))
	return err
}

func sharedErr(e *env, patient, owner int64, name string) error {
	_, _, err := e.svc.SharedImage(context.Background(), patient, owner, name)
	return err
}

func ownerErr(e *env, owner int64, name string) error {
	_, err := e.svc.OwnerImage(context.Background(), owner, name)
	return err
}

func TestEndSharesForPatient(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const provider, patient, otherPatient = 51, 61, 62
	e.assign.set(provider, patient, true)
	e.assign.set(provider, otherPatient, true)
	for _, name := range []string{"a.png", "b.png"} {
		e.uploadAndNotify(
			t,
			provider,
			images.UploadRequest{FileName: name},
			readTestdata(t, "ct_small.png"),
			"01",
		)
		if _, err := e.svc.Share(ctx, provider, name, patient, 3600, e.record(provider)); err != nil {
			t.Fatalf("Share %s: %v", name, err)
		}
	}
	e.uploadAndNotify(
		t,
		provider,
		images.UploadRequest{FileName: "c.png"},
		readTestdata(t, "ct_small.png"),
		"01",
	)
	if _, err := e.svc.Share(ctx, provider, "c.png", otherPatient, 3600, e.record(provider)); err != nil {
		t.Fatalf("Share c.png: %v", err)
	}

	ended, err := e.svc.Shares.EndSharesForPatient(ctx, provider, patient, provider)
	if err != nil {
		t.Fatalf("EndSharesForPatient: %v", err)
	}
	if ended != 2 {
		t.Errorf("ended: got %d, want 2", ended)
	}
	for _, name := range []string{"a.png", "b.png"} {
		if err := sharedErr(e, patient, provider, name); apperr.KindOf(err) != apperr.Forbidden {
			t.Errorf("view %s after shares ended: got %v, want Forbidden", name, err)
		}
	}
	if err := sharedErr(e, otherPatient, provider, "c.png"); err != nil {
		t.Errorf("other patient's share: got %v, want it still working", err)
	}
	shares, err := e.svc.SharedBy(ctx, provider, e.record(provider))
	if err != nil {
		t.Fatalf("SharedBy: %v", err)
	}
	endedInList := 0
	for _, s := range shares {
		if s.PatientID == patient && s.EndReason == store.ShareAssignmentEnded {
			endedInList++
		}
	}
	if endedInList != 2 {
		t.Errorf("shares listed as ended by the assignment: got %d, want 2", endedInList)
	}
	again, err := e.svc.Shares.EndSharesForPatient(ctx, provider, patient, provider)
	if err != nil {
		t.Fatalf("EndSharesForPatient again: %v", err)
	}
	if again != 0 {
		t.Errorf("ended on second call: got %d, want 0", again)
	}
}

func TestDeleteEndsSharesAndObject(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.assign.set(71, 81, true)
	img := e.uploadAndNotify(
		t,
		71,
		images.UploadRequest{FileName: "d.png"},
		readTestdata(t, "ct_small.png"),
		"01",
	)
	if _, err := e.svc.Share(ctx, 71, "d.png", 81, 3600, e.record(71)); err != nil {
		t.Fatalf("Share: %v", err)
	}
	if err := e.svc.Delete(ctx, 72, "d.png", e.record(72)); apperr.KindOf(err) != apperr.NotFound {
		t.Errorf("Delete by another provider: got %v, want NotFound", err)
	}
	if err := e.svc.Delete(ctx, 71, "d.png", e.record(71)); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if e.objectExists(t, img.ObjectKey) {
		t.Errorf("object still exists after Delete")
	}
	if got := e.image(t, img.ID).State; got != store.ImageDeleted {
		t.Errorf("state: got %q, want %q", got, store.ImageDeleted)
	}
	if err := sharedErr(e, 81, 71, "d.png"); apperr.KindOf(err) != apperr.Forbidden {
		t.Errorf("view after delete: got %v, want Forbidden", err)
	}
	// The ObjectRemoved event of the deletion arrives afterwards and changes nothing.
	ev := s3Event(t, "ObjectRemoved:Delete", img.ObjectKey, "02", -1)
	if err := e.svc.HandleS3Event(ctx, ev); err != nil {
		t.Fatalf("HandleS3Event(removed): %v", err)
	}
	if n := e.audit.count(audit.ObjectRemoved, ""); n != 0 {
		t.Errorf("object_removed entries: got %d, want 0 (already deleted)", n)
	}
	if n := e.audit.count(audit.ImageDeleted, ""); n != 1 {
		t.Errorf("image_deleted entries: got %d, want 1", n)
	}
}

func TestListOwnedPages(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for i, name := range []string{"1.png", "2.png", "3.png"} {
		e.now = e.now.Add(time.Second)
		e.uploadAndNotify(
			t,
			91,
			images.UploadRequest{FileName: name},
			readTestdata(t, "ct_small.png"),
			"0"+string(rune('1'+i)),
		)
	}
	e.issue(t, 91, images.UploadRequest{FileName: "pending.png"})
	page1, next, err := e.svc.ListOwned(ctx, 91, 2, "", e.record(91))
	if err != nil {
		t.Fatalf("ListOwned page 1: %v", err)
	}
	if len(page1) != 2 || page1[0].FileName != "3.png" || page1[1].FileName != "2.png" {
		t.Errorf("page 1: got %v, want 3.png and 2.png", names(page1))
	}
	if next == "" {
		t.Fatalf("page 1: got no cursor, want one")
	}
	page2, _, err := e.svc.ListOwned(ctx, 91, 2, next, e.record(91))
	if err != nil {
		t.Fatalf("ListOwned page 2: %v", err)
	}
	if len(page2) != 1 || page2[0].FileName != "1.png" {
		t.Errorf("page 2: got %v, want 1.png", names(page2))
	}
	if _, _, err := e.svc.ListOwned(ctx, 92, 2, next, e.record(92)); apperr.KindOf(
		err,
	) != apperr.Invalid {
		t.Errorf("another owner's cursor: got %v, want Invalid", err)
	}
}

func names(imgs []store.Image) []string {
	var out []string
	for _, img := range imgs {
		out = append(out, img.FileName)
	}
	return out
}
