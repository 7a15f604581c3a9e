package images

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/clinicpix/backend/shared/apperr"
	"github.com/clinicpix/backend/shared/audit"
	"github.com/clinicpix/backend/shared/store"
)

// UploadRequest is a provider's request for an upload URL, as the handler decoded it.
type UploadRequest struct {
	FileName string
	FileType string
	Tags     []string
	// PatientID is the subject of the image, or 0 to take it from the first share.
	PatientID int64
	// Size is the size the client declared, or 0 when it declared none.
	Size int64
}

// Upload is an issued upload URL.
type Upload struct {
	Image   store.Image
	URL     string
	Headers map[string]string
	Expires time.Time
}

// NewUpload validates r, stores a pending image of ownerID and issues its presigned PUT. The URL
// signs Content-Type and SSE-KMS under the project's key, so the PUT must send Headers exactly.
func (s *Service) NewUpload(
	ctx context.Context,
	ownerID int64,
	r UploadRequest,
	rec Recorder,
) (Upload, error) {
	name, err := CleanFileName("fileName", r.FileName)
	if err != nil {
		return Upload{}, err
	}
	contentType, err := ContentTypeOf(r.FileType, name)
	if err != nil {
		return Upload{}, err
	}
	tags, err := CleanTags("tags", r.Tags)
	if err != nil {
		return Upload{}, err
	}
	if r.Size < 0 {
		return Upload{}, apperr.InvalidField("fileSize", "must not be negative")
	}
	if r.Size > s.Settings.MaxUploadBytes {
		return Upload{}, &apperr.Error{Kind: apperr.TooLarge, Field: "fileSize",
			Message: "must be at most " +
				strconv.FormatInt(s.Settings.MaxUploadBytes, 10) + " bytes"}
	}
	if r.PatientID < 0 {
		return Upload{}, apperr.InvalidField("patientId", "must be a positive whole number")
	}
	if r.PatientID > 0 {
		if err := s.requireAssigned(ctx, ownerID, r.PatientID); err != nil {
			return Upload{}, err
		}
	}

	now := s.Now()
	id := newImageID()
	img := store.Image{
		ID: id, OwnerID: ownerID, FileName: name, ContentType: contentType, Tags: tags,
		ObjectKey: ObjectKey(ownerID, id), SubjectPatientID: r.PatientID,
		CreatedAt: now.UTC(), ExpiresAtTTL: now.Add(PendingLifetime).Unix(),
	}
	err = s.Images.CreatePending(ctx, img, now)
	if errors.Is(err, store.ErrConditionFailed) {
		return Upload{}, apperr.New(apperr.Conflict,
			"you already have an image with this file name; delete it or choose another name").
			WithCode("file_exists")
	}
	if err != nil {
		return Upload{}, err
	}

	presigned, err := s.Presign.PresignPutObject(ctx, &s3.PutObjectInput{
		Bucket:               aws.String(s.Settings.Bucket),
		Key:                  aws.String(img.ObjectKey),
		ContentType:          aws.String(contentType),
		ServerSideEncryption: types.ServerSideEncryptionAwsKms,
		SSEKMSKeyId:          aws.String(s.Settings.KMSKeyID),
	}, s3.WithPresignExpires(UploadURLLifetime))
	if err != nil {
		return Upload{}, fmt.Errorf("presign upload of image %s: %w", id, err)
	}
	err = rec(audit.Entry{Action: audit.UploadURLIssued, Outcome: audit.Success,
		TargetID: ImageTarget(id), SubjectPatientID: r.PatientID,
		Details: "contentType=" + contentType})
	if err != nil {
		return Upload{}, err
	}
	return Upload{Image: img, URL: presigned.URL, Headers: headerValues(presigned.SignedHeader),
		Expires: now.Add(UploadURLLifetime)}, nil
}

// OwnerImage returns the owner's available image named fileName. A pending image is a 409.
func (s *Service) OwnerImage(
	ctx context.Context,
	ownerID int64,
	fileName string,
) (store.Image, error) {
	name, err := CleanFileName("fileName", fileName)
	if err != nil {
		return store.Image{}, err
	}
	img, err := s.ownedImage(ctx, ownerID, name)
	if err != nil {
		return store.Image{}, err
	}
	if img.State != store.ImageAvailable {
		return store.Image{}, apperr.New(apperr.Conflict, "the upload of this image has not completed").
			WithCode("not_available")
	}
	return img, nil
}

// SharedImage returns ownerID's image named fileName and its share with patientID, after
// checking that the share exists, has not ended or expired, the patient is still assigned to
// the owner and the image is available. Every failure is the same 403.
func (s *Service) SharedImage(
	ctx context.Context,
	patientID, ownerID int64,
	fileName string,
) (store.Image, store.Share, error) {
	name, err := CleanFileName("fileName", fileName)
	if err != nil {
		return store.Image{}, store.Share{}, err
	}
	now := s.Now()
	img, err := s.Images.ByName(ctx, ownerID, name, now)
	if errors.Is(err, store.ErrNotFound) {
		return store.Image{}, store.Share{}, errNotShared
	}
	if err != nil {
		return store.Image{}, store.Share{}, fmt.Errorf(
			"read image by name for owner %d: %w",
			ownerID,
			err,
		)
	}
	if img.State != store.ImageAvailable || img.SubjectPatientID != patientID {
		return store.Image{}, store.Share{}, errNotShared
	}

	share, err := s.Shares.Get(ctx, img.ID, patientID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Image{}, store.Share{}, errNotShared
	}
	if err != nil {
		return store.Image{}, store.Share{}, err
	}
	if !share.Active(now) {
		return store.Image{}, store.Share{}, errNotShared
	}

	assigned, err := s.Assignments.IsActive(ctx, ownerID, patientID)
	if err != nil {
		return store.Image{}, store.Share{}, fmt.Errorf(
			"check assignment of patient %d to provider %d: %w",
			patientID,
			ownerID,
			err,
		)
	}
	if !assigned {
		return store.Image{}, store.Share{}, errNotShared
	}
	return img, share, nil
}

// ViewURL issues a presigned GET of img that works until the earlier of now plus
// ViewURLLifetime and until (the share's expiry; zero for the owner). With download set, the
// response is an attachment with a safe file name. The URL signs only the host header. The
// entry is recorded before the URL is returned.
func (s *Service) ViewURL(ctx context.Context, img store.Image, until time.Time, download bool,
	rec Recorder, e audit.Entry) (string, error) {
	now := s.Now()
	lifetime := ViewURLLifetime
	if !until.IsZero() && until.Sub(now) < lifetime {
		lifetime = until.Sub(now).Truncate(time.Second)
	}
	if lifetime < time.Second {
		return "", errNotShared
	}
	in := &s3.GetObjectInput{
		Bucket:              aws.String(s.Settings.Bucket),
		Key:                 aws.String(img.ObjectKey),
		ResponseContentType: aws.String(img.ContentType),
	}
	if download {
		in.ResponseContentDisposition = aws.String(mime.FormatMediaType("attachment",
			map[string]string{"filename": DownloadName(img.FileName)}))
	}
	presigned, err := s.Presign.PresignGetObject(ctx, in, s3.WithPresignExpires(lifetime))
	if err != nil {
		return "", fmt.Errorf("presign view of image %s: %w", img.ID, err)
	}
	e.Outcome = audit.Success
	e.TargetID = ImageTarget(img.ID)
	if e.SubjectPatientID == 0 {
		e.SubjectPatientID = img.SubjectPatientID
	}
	if err := rec(e); err != nil {
		return "", err
	}
	return presigned.URL, nil
}

// SetTags replaces the tags of the owner's image named fileName.
func (s *Service) SetTags(
	ctx context.Context,
	ownerID int64,
	fileName string,
	tags []string,
	rec Recorder,
) error {
	name, err := CleanFileName("fileName", fileName)
	if err != nil {
		return err
	}
	cleaned, err := CleanTags("tags", tags)
	if err != nil {
		return err
	}
	img, err := s.ownedImage(ctx, ownerID, name)
	if err != nil {
		return err
	}
	err = rec(audit.Entry{Action: audit.ImageTagsChanged, Outcome: audit.Success,
		TargetID: ImageTarget(img.ID), SubjectPatientID: img.SubjectPatientID,
		Details: "count=" + strconv.Itoa(len(cleaned))})
	if err != nil {
		return err
	}
	err = s.Images.SetTags(ctx, img, cleaned)
	if errors.Is(err, store.ErrConditionFailed) {
		return errImageNotFound
	}
	return err
}

// Delete deletes the owner's image named fileName: it ends every share, deletes every version of
// the object and marks the record deleted, which frees the name.
func (s *Service) Delete(ctx context.Context, ownerID int64, fileName string, rec Recorder) error {
	name, err := CleanFileName("fileName", fileName)
	if err != nil {
		return err
	}
	img, err := s.ownedImage(ctx, ownerID, name)
	if err != nil {
		return err
	}
	err = rec(audit.Entry{Action: audit.ImageDeleted, Outcome: audit.Success,
		TargetID: ImageTarget(img.ID), SubjectPatientID: img.SubjectPatientID})
	if err != nil {
		return err
	}
	if _, err := s.Shares.EndForImage(ctx, img.ID, ownerID, store.ShareImageDeleted); err != nil {
		return err
	}
	if err := s.deleteObject(ctx, img.ObjectKey); err != nil {
		return err
	}
	err = s.Images.MarkDeleted(ctx, img, "", s.Now())
	if errors.Is(err, store.ErrConditionFailed) {
		// The ObjectRemoved event of this deletion got there first.
		return nil
	}
	return err
}

// deleteObject deletes every version and delete marker of key, or the object itself when the
// bucket lists no versions.
func (s *Service) deleteObject(ctx context.Context, key string) error {
	in := &s3.ListObjectVersionsInput{
		Bucket: aws.String(s.Settings.Bucket),
		Prefix: aws.String(key),
	}
	deleted := 0
	for {
		out, err := s.S3.ListObjectVersions(ctx, in)
		if err != nil {
			return fmt.Errorf("list versions of object %s: %w", key, err)
		}
		var versions []*string
		for _, v := range out.Versions {
			if aws.ToString(v.Key) == key {
				versions = append(versions, v.VersionId)
			}
		}
		for _, m := range out.DeleteMarkers {
			if aws.ToString(m.Key) == key {
				versions = append(versions, m.VersionId)
			}
		}
		for _, v := range versions {
			del := &s3.DeleteObjectInput{
				Bucket: aws.String(s.Settings.Bucket),
				Key:    aws.String(key),
			}
			if id := aws.ToString(v); id != "" && id != "null" {
				del.VersionId = v
			}
			if _, err := s.S3.DeleteObject(ctx, del); err != nil {
				return fmt.Errorf("delete object %s version %s: %w", key, aws.ToString(v), err)
			}
			deleted++
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		in.KeyMarker, in.VersionIdMarker = out.NextKeyMarker, out.NextVersionIdMarker
	}
	if deleted == 0 {
		_, err := s.S3.DeleteObject(ctx, &s3.DeleteObjectInput{
			Bucket: aws.String(s.Settings.Bucket), Key: aws.String(key),
		})
		if err != nil {
			return fmt.Errorf("delete object %s: %w", key, err)
		}
	}
	return nil
}

// ListOwned returns one page of the owner's available images, newest first.
func (s *Service) ListOwned(
	ctx context.Context,
	ownerID int64,
	limit int,
	cursor string,
	rec Recorder,
) ([]store.Image, string, error) {
	imgs, next, err := s.Images.ListAvailable(ctx, ownerID, limit, cursor)
	if errors.Is(err, store.ErrBadCursor) {
		return nil, "", apperr.InvalidField("cursor", "is not a cursor this list returned; "+
			"start again without it")
	}
	if err != nil {
		return nil, "", err
	}
	err = rec(audit.Entry{Action: audit.ImagesListed, Outcome: audit.Success,
		Details: "count=" + strconv.Itoa(len(imgs))})
	if err != nil {
		return nil, "", err
	}
	return imgs, next, nil
}
