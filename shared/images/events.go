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
	etag      string
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
		sequencer: seq, size: r.S3.Object.Size, etag: normalizeETag(r.S3.Object.ETag),
		requestID: r.ResponseElements["x-amz-request-id"]}
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

// normalizeETag strips the quotes that HeadObject puts around an ETag and S3 events leave out.
func normalizeETag(etag string) string { return strings.Trim(etag, `"`) }

func closed(img store.Image) bool {
	return img.State == store.ImageRejected || img.State == store.ImageDeleted
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

// objectCreated checks a new object and marks its image available or rejected. An object that
// arrives for a closed (rejected or deleted) image, or replaces the accepted object of an
// available one, is deleted, because the upload URL stays valid for minutes after it was used.
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
	if closed(img) {
		// Checked before stale, because the sequencer of a closed image does not order objects
		// stored after it closed.
		return s.deleteClosedObject(ctx, rec, img)
	}
	if stale(img, rec) {
		s.Log.Info("S3 event skipped: replayed or older than the image's state",
			"imageId", img.ID, "state", string(img.State))
		return nil
	}
	if img.State == store.ImageAvailable {
		return s.recheckAvailable(ctx, rec, img)
	}

	reason, obj, err := s.check(ctx, img)
	if err != nil {
		return err
	}
	switch reason {
	case reasonGone:
		// The object was removed before this event was handled; its ObjectRemoved event
		// settles the record.
		s.Log.Info("S3 event skipped: object no longer exists", "imageId", img.ID)
		return nil
	case reasonChanged:
		// The object was replaced while it was read; the newer object's event checks it.
		s.Log.Info("S3 event skipped: object replaced during the check", "imageId", img.ID)
		return nil
	case "":
	default:
		return s.reject(ctx, rec, img, reason)
	}

	entry := s.eventEntry(rec, audit.UploadCompleted, audit.Success, img,
		"size="+strconv.FormatInt(obj.size, 10))
	if err := s.recordEvent(ctx, rec, entry); err != nil {
		return err
	}
	err = s.Images.MarkAvailable(ctx, img, rec.sequencer, obj.size, obj.etag, s.Now())
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
		return s.deleteObjectIfClosed(ctx, rec)
	}
	if err != nil {
		return err
	}
	if _, err := s.Shares.EndForImage(ctx, img.ID, 0, store.ShareImageRejected); err != nil {
		return err
	}
	return s.deleteObject(ctx, rec.key)
}

// Results of check that are not rejection reasons.
const (
	// reasonGone means the object no longer exists.
	reasonGone = "gone"
	// reasonChanged means the object was replaced between reading its metadata and its bytes.
	reasonChanged = "changed"
)

// checkedObject is the object that check read.
type checkedObject struct {
	size int64
	etag string
}

// check reads the object's metadata and first bytes. It returns the reason to reject it,
// reasonGone or reasonChanged, or "" when it passes, and the size and ETag it read.
func (s *Service) check(ctx context.Context, img store.Image) (string, checkedObject, error) {
	head, err := s.S3.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(s.Settings.Bucket), Key: aws.String(img.ObjectKey),
	})
	if isNotFound(err) {
		return reasonGone, checkedObject{}, nil
	}
	if err != nil {
		return "", checkedObject{}, fmt.Errorf("head object of image %s: %w", img.ID, err)
	}
	obj := checkedObject{
		size: aws.ToInt64(head.ContentLength),
		etag: normalizeETag(aws.ToString(head.ETag)),
	}
	switch {
	case obj.size <= 0:
		return "empty", obj, nil
	case obj.size > s.Settings.MaxUploadBytes:
		return "too_large", obj, nil
	case contentTypeOnly(aws.ToString(head.ContentType)) != img.ContentType:
		return "content_type_mismatch", obj, nil
	}
	if s.Settings.RequireSSEKMS {
		if head.ServerSideEncryption != types.ServerSideEncryptionAwsKms ||
			!sameKMSKey(aws.ToString(head.SSEKMSKeyId), s.Settings.KMSKeyID) {
			return "not_encrypted_with_project_key", obj, nil
		}
	}

	// If-Match makes the bytes read belong to the object whose metadata was checked.
	out, err := s.S3.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.Settings.Bucket), Key: aws.String(img.ObjectKey),
		Range:   aws.String("bytes=0-" + strconv.Itoa(magicBytesNeeded-1)),
		IfMatch: head.ETag,
	})
	if isNotFound(err) {
		return reasonGone, checkedObject{}, nil
	}
	if isPreconditionFailed(err) {
		return reasonChanged, checkedObject{}, nil
	}
	if err != nil {
		return "", checkedObject{}, fmt.Errorf("read first bytes of image %s: %w", img.ID, err)
	}
	defer out.Body.Close()
	head132, err := io.ReadAll(io.LimitReader(out.Body, magicBytesNeeded))
	if err != nil {
		return "", checkedObject{}, fmt.Errorf("read first bytes of image %s: %w", img.ID, err)
	}
	if !MatchesType(img.ContentType, head132) {
		return "magic_mismatch", obj, nil
	}
	return "", obj, nil
}

// recheckAvailable handles a newer ObjectCreated event for an available image, which means a
// second PUT to its upload URL. An object with the accepted ETag is a retry of the same upload
// and changes nothing. Any other object replaced the checked bytes, so the image is rejected as
// overwritten, which also ends its shares and deletes every version of the object.
// NOTE: with SSE-KMS, S3 ETags are not MD5 digests of the bytes, so a retried PUT of identical
// bytes may get a new ETag and is then rejected as an overwrite as well.
func (s *Service) recheckAvailable(ctx context.Context, rec eventRecord, img store.Image) error {
	// An image accepted before ETags were recorded has nothing to compare, so it is rejected.
	if img.ETag != "" && (rec.etag == "" || rec.etag == img.ETag) {
		current, err := s.currentETag(ctx, img.ObjectKey)
		if err != nil {
			return fmt.Errorf("recheck image %s: %w", img.ID, err)
		}
		// A missing object is settled by its ObjectRemoved event.
		if current == "" || current == img.ETag {
			s.Log.Info("S3 event skipped: object is the one already accepted", "imageId", img.ID)
			return nil
		}
	}
	return s.reject(ctx, rec, img, "overwritten")
}

// currentETag returns the ETag of the current version of key, or "" when there is none.
func (s *Service) currentETag(ctx context.Context, key string) (string, error) {
	head, err := s.S3.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(s.Settings.Bucket), Key: aws.String(key),
	})
	if isNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("head object: %w", err)
	}
	return normalizeETag(aws.ToString(head.ETag)), nil
}

// deleteClosedObject deletes every version of an object stored for a rejected or deleted image
// and audits it as an upload rejected with reason image_closed. It also ends any share still
// open, which a retry after a failed reject needs. When nothing is stored, as on a replay of
// the event that closed the image, it changes nothing else.
func (s *Service) deleteClosedObject(ctx context.Context, rec eventRecord, img store.Image) error {
	shareReason := store.ShareImageRejected
	if img.State == store.ImageDeleted {
		shareReason = store.ShareImageDeleted
	}
	if _, err := s.Shares.EndForImage(ctx, img.ID, 0, shareReason); err != nil {
		return fmt.Errorf("end shares of closed image %s: %w", img.ID, err)
	}
	stored, err := s.objectStored(ctx, rec.key)
	if err != nil {
		return fmt.Errorf("check object of closed image %s: %w", img.ID, err)
	}
	if !stored {
		s.Log.Info("S3 event skipped: image is closed and has no object", "imageId", img.ID,
			"state", string(img.State))
		return nil
	}
	entry := s.eventEntry(rec, audit.UploadRejected, audit.Denied, img, "reason=image_closed")
	if err := s.recordEvent(ctx, rec, entry); err != nil {
		return err
	}
	return s.deleteObject(ctx, rec.key)
}

// deleteObjectIfClosed deletes every version of rec's object when its image is now rejected or
// deleted. reject calls it after losing a race, so that an object stored just before the image
// closed does not outlive it.
func (s *Service) deleteObjectIfClosed(ctx context.Context, rec eventRecord) error {
	img, found, err := s.current(ctx, rec)
	if err != nil || !found || !closed(img) {
		return err
	}
	return s.deleteObject(ctx, rec.key)
}

// objectStored reports whether key has a current object or any noncurrent version. Delete
// markers alone do not count, because they contain no bytes.
func (s *Service) objectStored(ctx context.Context, key string) (bool, error) {
	current, err := s.currentETag(ctx, key)
	if err != nil || current != "" {
		return current != "", err
	}
	in := &s3.ListObjectVersionsInput{
		Bucket: aws.String(s.Settings.Bucket),
		Prefix: aws.String(key),
	}
	for {
		out, err := s.S3.ListObjectVersions(ctx, in)
		if err != nil {
			return false, fmt.Errorf("list versions of object %s: %w", key, err)
		}
		for _, v := range out.Versions {
			if aws.ToString(v.Key) == key {
				return true, nil
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return false, nil
		}
		in.KeyMarker, in.VersionIdMarker = out.NextKeyMarker, out.NextVersionIdMarker
	}
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

func isPreconditionFailed(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == "PreconditionFailed"
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
