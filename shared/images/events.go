package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithy "github.com/aws/smithy-go"

	"github.com/clinicpix/backend/shared/audit"
	"github.com/clinicpix/backend/shared/auth"
	"github.com/clinicpix/backend/shared/store"
)

// sequencerWidth is the width every stored sequencer is padded to. Amazon S3 documents that
// sequencers of different lengths compare after right-padding the shorter with zeros.
const sequencerWidth = 64

// NormalizeSequencer returns an S3 event sequencer upper-cased and right-padded with zeros to a
// fixed width, so that string order is event order for one key. It fails for a value that is
// empty, not hexadecimal or longer than the width.
func NormalizeSequencer(seq string) (string, error) {
	if seq == "" || len(seq) > sequencerWidth {
		return "", fmt.Errorf("sequencer %q: want 1 to %d hexadecimal digits", seq, sequencerWidth)
	}
	for _, r := range seq {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return "", fmt.Errorf("sequencer %q: want hexadecimal digits", seq)
		}
	}
	return strings.ToUpper(seq) + strings.Repeat("0", sequencerWidth-len(seq)), nil
}

// DecodeEventKey decodes an S3 event's object key, which S3 URL-encodes with '+' for a space.
// It decodes once, so a key whose own name contains "%2B" keeps "%2B".
func DecodeEventKey(key string) (string, error) {
	decoded, err := url.QueryUnescape(key)
	if err != nil {
		return "", fmt.Errorf("decode event key: %w", err)
	}
	return decoded, nil
}

// HandleS3Event applies each record of an S3 event notification: ObjectCreated records are
// checked and accept or reject the upload, ObjectRemoved records mark the image deleted. S3
// delivers events at least once and in any order, so each record is applied only when its
// sequencer is newer than the last one applied to the image. Records this service cannot use
// (another bucket, a key it did not issue) are logged and skipped. An error makes Lambda retry
// the whole event, which is safe for the same reason.
func (s *Service) HandleS3Event(ctx context.Context, event events.S3Event) error {
	var errs []error
	for _, r := range event.Records {
		if err := s.handleRecord(ctx, r); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// eventRecord is one record after decoding and validation.
type eventRecord struct {
	created   bool
	key       string
	ownerID   int64
	imageID   string
	sequencer string
	size      int64
	requestID string
}

func (s *Service) handleRecord(ctx context.Context, r events.S3EventRecord) error {
	name := strings.TrimPrefix(r.EventName, "s3:")
	var created bool
	switch {
	case strings.HasPrefix(name, "ObjectCreated:"):
		created = true
	case strings.HasPrefix(name, "ObjectRemoved:"):
	default:
		s.Log.Info("S3 event skipped: not an object created or removed event", "event", name)
		return nil
	}

	if r.S3.Bucket.Name != s.Settings.Bucket {
		s.Log.Warn("S3 event skipped: bucket is not the images bucket", "event", name)
		return nil
	}
	key, err := DecodeEventKey(r.S3.Object.Key)
	if err != nil {
		s.Log.Warn("S3 event skipped: key is not URL-encoded", "event", name)
		return nil
	}
	ownerID, imageID, ok := parseObjectKey(key)
	if !ok {
		// The key is not logged: a key that the service did not issue may contain anything.
		s.Log.Warn("S3 event skipped: key is not an image key", "event", name)
		return nil
	}

	seq, err := NormalizeSequencer(r.S3.Object.Sequencer)
	if err != nil {
		s.Log.Warn("S3 event skipped: invalid sequencer", "event", name, "imageId", imageID,
			"error", err.Error())
		return nil
	}

	rec := eventRecord{created: created, key: key, ownerID: ownerID, imageID: imageID,
		sequencer: seq, size: r.S3.Object.Size, requestID: r.ResponseElements["x-amz-request-id"]}
	if created {
		return s.objectCreated(ctx, rec)
	}
	return s.objectRemoved(ctx, rec)
}

// current reads the image of rec and reports whether rec is newer than what the record already
// reflects. An image that is missing or owned by someone else is reported as missing.
func (s *Service) current(ctx context.Context, rec eventRecord) (store.Image, bool, error) {
	img, err := s.Images.Get(ctx, rec.imageID, s.Now())
	if errors.Is(err, store.ErrNotFound) {
		return store.Image{}, false, nil
	}
	if err != nil {
		return store.Image{}, false, err
	}
	if img.OwnerID != rec.ownerID || img.ObjectKey != rec.key {
		return store.Image{}, false, nil
	}
	return img, true, nil
}

func stale(img store.Image, rec eventRecord) bool {
	live := img.State == store.ImagePending || img.State == store.ImageAvailable
	return !live || (img.Sequencer != "" && img.Sequencer >= rec.sequencer)
}

func (s *Service) eventEntry(rec eventRecord, action audit.Action, outcome audit.Outcome,
	img store.Image, details string) audit.Entry {
	return audit.Entry{ActorID: rec.ownerID, Action: action, Outcome: outcome,
		TargetID: ImageTarget(
			rec.imageID,
		), SubjectPatientID: img.SubjectPatientID, Details: details}
}

func (s *Service) recordEvent(ctx context.Context, rec eventRecord, e audit.Entry) error {
	return auth.Record(ctx, s.Audit, audit.Origin{RequestID: rec.requestID}, e)
}

// objectCreated checks a new object and marks its image available or rejected.
func (s *Service) objectCreated(ctx context.Context, rec eventRecord) error {
	img, found, err := s.current(ctx, rec)
	if err != nil {
		return err
	}
	if !found {
		// No live upload owns this key (its pending record expired, or it never existed), so
		// nothing will ever show the object.
		entry := s.eventEntry(
			rec,
			audit.UploadRejected,
			audit.Denied,
			store.Image{},
			"reason=no_upload",
		)
		if err := s.recordEvent(ctx, rec, entry); err != nil {
			return err
		}
		return s.deleteObject(ctx, rec.key)
	}
	if stale(img, rec) {
		s.Log.Info("S3 event skipped: replayed or older than the image's state",
			"imageId", img.ID, "state", string(img.State))
		return nil
	}

	reason, size, err := s.check(ctx, img)
	if err != nil {
		return err
	}
	if reason == "gone" {
		// The object was removed before this event was handled; its ObjectRemoved event
		// settles the record.
		s.Log.Info("S3 event skipped: object no longer exists", "imageId", img.ID)
		return nil
	}
	if reason != "" {
		return s.reject(ctx, rec, img, reason)
	}

	entry := s.eventEntry(rec, audit.UploadCompleted, audit.Success, img,
		"size="+strconv.FormatInt(size, 10))
	if err := s.recordEvent(ctx, rec, entry); err != nil {
		return err
	}
	err = s.Images.MarkAvailable(ctx, img, rec.sequencer, size, s.Now())
	switch {
	case errors.Is(err, store.ErrConditionFailed):
		s.Log.Info("S3 event lost a race with a newer event", "imageId", img.ID)
		return nil
	case errors.Is(err, store.ErrSuperseded):
		return s.reject(ctx, rec, img, "superseded")
	}
	return err
}

// reject records the rejection, marks the image rejected, ends its shares and deletes the
// object.
func (s *Service) reject(
	ctx context.Context,
	rec eventRecord,
	img store.Image,
	reason string,
) error {
	entry := s.eventEntry(rec, audit.UploadRejected, audit.Denied, img, "reason="+reason)
	if err := s.recordEvent(ctx, rec, entry); err != nil {
		return err
	}
	err := s.Images.MarkRejected(ctx, img, rec.sequencer, reason)
	if errors.Is(err, store.ErrConditionFailed) {
		s.Log.Info("S3 event lost a race with a newer event", "imageId", img.ID)
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := s.Shares.EndForImage(ctx, img.ID, 0, store.ShareImageRejected); err != nil {
		return err
	}
	return s.deleteObject(ctx, rec.key)
}

// check reads the object's metadata and first bytes. It returns the reason to reject it, "gone"
// when it no longer exists, or "" when it passes, and its size.
func (s *Service) check(ctx context.Context, img store.Image) (string, int64, error) {
	head, err := s.S3.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(s.Settings.Bucket), Key: aws.String(img.ObjectKey),
	})
	if isNotFound(err) {
		return "gone", 0, nil
	}
	if err != nil {
		return "", 0, fmt.Errorf("head object of image %s: %w", img.ID, err)
	}
	size := aws.ToInt64(head.ContentLength)
	switch {
	case size <= 0:
		return "empty", size, nil
	case size > s.Settings.MaxUploadBytes:
		return "too_large", size, nil
	case contentTypeOnly(aws.ToString(head.ContentType)) != img.ContentType:
		return "content_type_mismatch", size, nil
	}
	if s.Settings.RequireSSEKMS {
		if head.ServerSideEncryption != types.ServerSideEncryptionAwsKms ||
			!sameKMSKey(aws.ToString(head.SSEKMSKeyId), s.Settings.KMSKeyID) {
			return "not_encrypted_with_project_key", size, nil
		}
	}

	out, err := s.S3.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.Settings.Bucket), Key: aws.String(img.ObjectKey),
		Range: aws.String("bytes=0-" + strconv.Itoa(magicBytesNeeded-1)),
	})
	if isNotFound(err) {
		return "gone", 0, nil
	}
	if err != nil {
		return "", 0, fmt.Errorf("read first bytes of image %s: %w", img.ID, err)
	}
	defer out.Body.Close()
	head132, err := io.ReadAll(io.LimitReader(out.Body, magicBytesNeeded))
	if err != nil {
		return "", 0, fmt.Errorf("read first bytes of image %s: %w", img.ID, err)
	}
	if !MatchesType(img.ContentType, head132) {
		return "magic_mismatch", size, nil
	}
	return "", size, nil
}

func contentTypeOnly(v string) string {
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	return strings.ToLower(strings.TrimSpace(v))
}

// sameKMSKey compares a key id S3 reports, which is a key ARN, with the configured key, which
// may be an ARN or a bare key id.
// NOTE: a configured alias ("alias/...") never matches, because S3 reports the key ARN and
// resolving an alias needs a KMS call. Configure the key ARN or id where RequireSSEKMS is on.
func sameKMSKey(reported, configured string) bool {
	if reported == "" || configured == "" {
		return false
	}
	return reported == configured || strings.HasSuffix(reported, ":key/"+configured)
}

func isNotFound(err error) bool {
	if err == nil {
		return false
	}
	var nf *types.NotFound
	var nsk *types.NoSuchKey
	if errors.As(err, &nf) || errors.As(err, &nsk) {
		return true
	}
	var api smithy.APIError
	return errors.As(err, &api) && (api.ErrorCode() == "NotFound" || api.ErrorCode() == "NoSuchKey")
}

// objectRemoved marks the image deleted unless it already is, or the event is older than the
// image's state.
func (s *Service) objectRemoved(ctx context.Context, rec eventRecord) error {
	img, found, err := s.current(ctx, rec)
	if err != nil || !found {
		return err
	}
	if stale(img, rec) {
		s.Log.Info("S3 event skipped: replayed or older than the image's state",
			"imageId", img.ID, "state", string(img.State))
		return nil
	}
	entry := s.eventEntry(rec, audit.ObjectRemoved, audit.Success, img, "")
	if err := s.recordEvent(ctx, rec, entry); err != nil {
		return err
	}
	err = s.Images.MarkDeleted(ctx, img, rec.sequencer, s.Now())
	if errors.Is(err, store.ErrConditionFailed) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = s.Shares.EndForImage(ctx, img.ID, 0, store.ShareImageDeleted)
	return err
}
