package images_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/clinicpix/backend/shared/audit"
	"github.com/clinicpix/backend/shared/images"
	"github.com/clinicpix/backend/shared/store"
	"github.com/clinicpix/backend/shared/testenv"
)

// withETag returns ev with the object ETag set, unquoted as Amazon S3 sends it in events.
func withETag(ev events.S3Event, etag string) events.S3Event {
	ev.Records[0].S3.Object.ETag = strings.Trim(etag, `"`)
	return ev
}

// headETag returns the ETag of the current object at key.
func (e *env) headETag(t *testing.T, key string) string {
	t.Helper()
	out, err := e.s3.HeadObject(context.Background(), &s3.HeadObjectInput{
		Bucket: aws.String(testBucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("head object: %v", err)
	}
	return aws.ToString(out.ETag)
}

// versionCount returns how many versions of key the bucket lists, delete markers excluded.
func (e *env) versionCount(t *testing.T, key string) int {
	t.Helper()
	out, err := e.s3.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{
		Bucket: aws.String(testBucket), Prefix: aws.String(key)})
	if err != nil {
		t.Fatalf("list object versions: %v", err)
	}
	n := 0
	for _, v := range out.Versions {
		if aws.ToString(v.Key) == key {
			n++
		}
	}
	return n
}

// putAndNotify PUTs data to an issued upload URL again and delivers the ObjectCreated event
// with sequencer seq and the stored object's ETag.
func (e *env) putAndNotify(t *testing.T, up images.Upload, data []byte, seq string) events.S3Event {
	t.Helper()
	if status := testenv.PutPresigned(t, up.URL, up.Headers, data); status != http.StatusOK {
		t.Fatalf("PUT: got status %d, want 200", status)
	}
	ev := s3Event(t, "ObjectCreated:Put", up.Image.ObjectKey, seq, int64(len(data)))
	ev = withETag(ev, e.headETag(t, up.Image.ObjectKey))
	if err := e.svc.HandleS3Event(context.Background(), ev); err != nil {
		t.Fatalf("HandleS3Event: %v", err)
	}
	return ev
}

func TestObjectCreatedAfterDeleteDeletesObject(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	data := readTestdata(t, "ct_small.png")
	up := e.issue(t, 21, images.UploadRequest{FileName: "del.png"})
	e.putAndNotify(t, up, data, "01")
	if err := e.svc.Delete(ctx, 21, "del.png", e.record(21)); err != nil {
		t.Fatalf("Delete: %v", err)
	}

	// The upload URL is still valid, so the same bytes can be stored again.
	ev := e.putAndNotify(t, up, data, "02")
	if e.objectExists(t, up.Image.ObjectKey) {
		t.Errorf("object stored after the image was deleted still exists")
	}
	if n := e.versionCount(t, up.Image.ObjectKey); n != 0 {
		t.Errorf("object versions after the event: got %d, want 0", n)
	}
	if got := e.image(t, up.Image.ID).State; got != store.ImageDeleted {
		t.Errorf("state: got %q, want %q", got, store.ImageDeleted)
	}
	if n := e.audit.count(audit.UploadRejected, "reason=image_closed"); n != 1 {
		t.Errorf("upload_rejected entries with reason image_closed: got %d, want 1", n)
	}

	// A replay finds no object, so it neither fails nor audits again.
	if err := e.svc.HandleS3Event(ctx, ev); err != nil {
		t.Fatalf("replayed HandleS3Event: %v", err)
	}
	if n := e.audit.count(audit.UploadRejected, "reason=image_closed"); n != 1 {
		t.Errorf("upload_rejected entries after a replay: got %d, want 1", n)
	}
}

func TestObjectCreatedAfterRejectDeletesObject(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	up := e.issue(t, 22, images.UploadRequest{FileName: "rej.png"})
	first := e.putAndNotify(t, up, readTestdata(t, "random_bytes.png"), "01")
	if got := e.image(t, up.Image.ID).State; got != store.ImageRejected {
		t.Fatalf("state after bad bytes: got %q, want %q", got, store.ImageRejected)
	}

	// A valid image sent to the same URL after the rejection is deleted as well.
	e.putAndNotify(t, up, readTestdata(t, "ct_small.png"), "02")
	if e.objectExists(t, up.Image.ObjectKey) {
		t.Errorf("object stored after the image was rejected still exists")
	}
	got := e.image(t, up.Image.ID)
	if got.State != store.ImageRejected {
		t.Errorf("state: got %q, want %q", got.State, store.ImageRejected)
	}
	if got.RejectReason != "magic_mismatch" {
		t.Errorf("reject reason: got %q, want magic_mismatch", got.RejectReason)
	}
	if n := e.audit.count(audit.UploadRejected, "reason=image_closed"); n != 1 {
		t.Errorf("upload_rejected entries with reason image_closed: got %d, want 1", n)
	}

	// A replay of the event that rejected the image changes nothing.
	if err := e.svc.HandleS3Event(ctx, first); err != nil {
		t.Fatalf("replayed HandleS3Event: %v", err)
	}
	if n := e.audit.count(audit.UploadRejected, "reason=image_closed"); n != 1 {
		t.Errorf("upload_rejected entries after a replay: got %d, want 1", n)
	}
	if n := e.audit.count(audit.UploadRejected, "reason=magic_mismatch"); n != 1 {
		t.Errorf("upload_rejected entries with reason magic_mismatch: got %d, want 1", n)
	}
}

func TestObjectCreatedRecordsETag(t *testing.T) {
	e := newEnv(t)
	up := e.issue(t, 23, images.UploadRequest{FileName: "etag.png"})
	e.putAndNotify(t, up, readTestdata(t, "ct_small.png"), "01")
	got := e.image(t, up.Image.ID)
	want := strings.Trim(e.headETag(t, up.Image.ObjectKey), `"`)
	if want == "" {
		t.Fatalf("HeadObject returned no ETag")
	}
	if got.ETag != want {
		t.Errorf("ETag: got %q, want %q", got.ETag, want)
	}
}

func TestObjectCreatedSameETagIsRetry(t *testing.T) {
	e := newEnv(t)
	data := readTestdata(t, "ct_small.png")
	up := e.issue(t, 24, images.UploadRequest{FileName: "same.png"})
	e.putAndNotify(t, up, data, "01")
	before := e.image(t, up.Image.ID)

	e.putAndNotify(t, up, data, "02")
	got := e.image(t, up.Image.ID)
	if got.State != store.ImageAvailable {
		t.Errorf("state: got %q, want %q (reason %q)", got.State, store.ImageAvailable,
			got.RejectReason)
	}
	if got.Sequencer != before.Sequencer {
		t.Errorf("sequencer: got %q, want %q (unchanged by a retry)", got.Sequencer,
			before.Sequencer)
	}
	if !e.objectExists(t, up.Image.ObjectKey) {
		t.Errorf("object of the available image was deleted")
	}
	if n := e.audit.count(audit.UploadRejected, ""); n != 0 {
		t.Errorf("upload_rejected entries: got %d, want 0", n)
	}
	if n := e.audit.count(audit.UploadCompleted, ""); n != 1 {
		t.Errorf("upload_completed entries: got %d, want 1", n)
	}
}

func TestObjectCreatedOverwriteRejectsImage(t *testing.T) {
	for _, sendETag := range []bool{true, false} {
		name := "event with ETag"
		if !sendETag {
			name = "event without ETag"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			data := readTestdata(t, "ct_small.png")
			up := e.issue(t, 25, images.UploadRequest{FileName: "over.png"})
			e.putAndNotify(t, up, data, "01")
			e.assign.set(25, 91, true)
			if _, err := e.svc.Share(ctx, 25, "over.png", 91, 3600, e.record(25)); err != nil {
				t.Fatalf("Share: %v", err)
			}

			// Other bytes that still pass every check of a PNG.
			swapped := append(append([]byte{}, data...), 0)
			if status := testenv.PutPresigned(t, up.URL, up.Headers, swapped); status != http.StatusOK {
				t.Fatalf("second PUT: got status %d, want 200", status)
			}
			ev := s3Event(t, "ObjectCreated:Put", up.Image.ObjectKey, "02",
				int64(len(swapped)))
			if sendETag {
				ev = withETag(ev, e.headETag(t, up.Image.ObjectKey))
			}
			if err := e.svc.HandleS3Event(ctx, ev); err != nil {
				t.Fatalf("HandleS3Event: %v", err)
			}

			got := e.image(t, up.Image.ID)
			if got.State != store.ImageRejected {
				t.Errorf("state: got %q, want %q", got.State, store.ImageRejected)
			}
			if got.RejectReason != "overwritten" {
				t.Errorf("reject reason: got %q, want overwritten", got.RejectReason)
			}
			if e.objectExists(t, up.Image.ObjectKey) {
				t.Errorf("overwritten object still exists")
			}
			if n := e.versionCount(t, up.Image.ObjectKey); n != 0 {
				t.Errorf("object versions: got %d, want 0", n)
			}
			share, err := e.svc.Shares.Get(ctx, up.Image.ID, 91)
			if err != nil {
				t.Fatalf("get share: %v", err)
			}
			if share.EndReason != store.ShareImageRejected {
				t.Errorf("share end reason: got %q, want %q", share.EndReason,
					store.ShareImageRejected)
			}
			if n := e.audit.count(audit.UploadRejected, "reason=overwritten"); n != 1 {
				t.Errorf("upload_rejected entries with reason overwritten: got %d, want 1", n)
			}
		})
	}
}

func TestObjectCreatedRetryFinishesReject(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	data := readTestdata(t, "ct_small.png")
	up := e.issue(t, 26, images.UploadRequest{FileName: "half.png"})
	e.putAndNotify(t, up, data, "01")
	e.assign.set(26, 92, true)
	if _, err := e.svc.Share(ctx, 26, "half.png", 92, 3600, e.record(26)); err != nil {
		t.Fatalf("Share: %v", err)
	}

	// A reject that stopped after marking the record: the share is open, the object stored.
	img := e.image(t, up.Image.ID)
	seq, err := images.NormalizeSequencer("02")
	if err != nil {
		t.Fatalf("NormalizeSequencer: %v", err)
	}
	if err := e.svc.Images.MarkRejected(ctx, img, seq, "overwritten"); err != nil {
		t.Fatalf("MarkRejected: %v", err)
	}
	ev := withETag(s3Event(t, "ObjectCreated:Put", up.Image.ObjectKey, "02", int64(len(data))),
		e.headETag(t, up.Image.ObjectKey))
	if err := e.svc.HandleS3Event(ctx, ev); err != nil {
		t.Fatalf("retried HandleS3Event: %v", err)
	}

	if e.objectExists(t, up.Image.ObjectKey) {
		t.Errorf("object of the rejected image still exists")
	}
	share, err := e.svc.Shares.Get(ctx, up.Image.ID, 92)
	if err != nil {
		t.Fatalf("get share: %v", err)
	}
	if share.EndReason != store.ShareImageRejected {
		t.Errorf("share end reason: got %q, want %q", share.EndReason, store.ShareImageRejected)
	}
}
