// Package images is the image service: it issues presigned upload and view URLs, checks objects
// that arrive in S3, and applies the share rules. Handlers call it after reading the request;
// it returns apperr errors for the caller and wraps everything else.
package images

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/clinicpix/backend/shared/apperr"
	"github.com/clinicpix/backend/shared/audit"
	"github.com/clinicpix/backend/shared/store"
)

// ObjectStore is the part of the S3 client the service calls.
type ObjectStore interface {
	HeadObject(
		ctx context.Context,
		in *s3.HeadObjectInput,
		opts ...func(*s3.Options),
	) (*s3.HeadObjectOutput, error)
	GetObject(
		ctx context.Context,
		in *s3.GetObjectInput,
		opts ...func(*s3.Options),
	) (*s3.GetObjectOutput, error)
	DeleteObject(
		ctx context.Context,
		in *s3.DeleteObjectInput,
		opts ...func(*s3.Options),
	) (*s3.DeleteObjectOutput, error)
	ListObjectVersions(
		ctx context.Context,
		in *s3.ListObjectVersionsInput,
		opts ...func(*s3.Options),
	) (*s3.ListObjectVersionsOutput, error)
}

var _ ObjectStore = (*s3.Client)(nil)

// Presigner is the part of s3.PresignClient the service calls.
type Presigner interface {
	PresignPutObject(
		ctx context.Context,
		in *s3.PutObjectInput,
		opts ...func(*s3.PresignOptions),
	) (*v4.PresignedHTTPRequest, error)
	PresignGetObject(
		ctx context.Context,
		in *s3.GetObjectInput,
		opts ...func(*s3.PresignOptions),
	) (*v4.PresignedHTTPRequest, error)
}

var _ Presigner = (*s3.PresignClient)(nil)

// AssignmentChecker reports whether a patient is currently assigned to a provider.
type AssignmentChecker interface {
	IsActive(ctx context.Context, providerID, patientID int64) (bool, error)
}

// NewPresigner returns the presign client for s3Client. Checksum calculation is limited to
// operations that require it, so that a presigned GET signs only the host header and works as
// a plain link or <img> source.
func NewPresigner(s3Client *s3.Client) *s3.PresignClient {
	return s3.NewPresignClient(s3Client, s3.WithPresignClientFromClientOptions(func(o *s3.Options) {
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}))
}

// Settings are the service's fixed parameters, taken from config.
type Settings struct {
	Bucket         string
	KMSKeyID       string
	MaxUploadBytes int64
	// RequireSSEKMS makes the ObjectCreated check reject objects that are not encrypted under
	// KMSKeyID. It is true in AWS and false with versitygw, which ignores the SSE headers.
	RequireSSEKMS bool
}

// Lifetimes of issued URLs and records.
const (
	// UploadURLLifetime is how long a presigned PUT works.
	UploadURLLifetime = 5 * time.Minute
	// ViewURLLifetime is the longest a presigned GET works; a share's expiry can shorten it.
	ViewURLLifetime = 5 * time.Minute
	// PendingLifetime is how long a pending record waits for its object. It is longer than the
	// URL's lifetime because S3 can deliver the ObjectCreated event late.
	PendingLifetime = time.Hour
	// MinShareSeconds and MaxShareSeconds bound a share's expiresIn.
	MinShareSeconds = 60
	MaxShareSeconds = 365 * 24 * 60 * 60
)

// Service implements image uploads, checks, views and shares.
type Service struct {
	Images      *store.Images
	Shares      *store.Shares
	Assignments AssignmentChecker
	S3          ObjectStore
	Presign     Presigner
	Audit       audit.Recorder
	Log         *slog.Logger
	Now         func() time.Time
	Settings    Settings
}

// keyPrefix starts every object key the service issues: "images/<ownerId>/<imageId>".
const keyPrefix = "images/"

var keyPattern = regexp.MustCompile(`^images/([1-9][0-9]{0,18})/([0-9a-f]{32})$`)

// ObjectKey returns the S3 key of an owner's image. It is built only from ids the server chose.
func ObjectKey(ownerID int64, imageID string) string {
	return keyPrefix + strconv.FormatInt(ownerID, 10) + "/" + imageID
}

// parseObjectKey splits a decoded key into owner and image id, or reports false when the key is
// not one the service issues.
func parseObjectKey(key string) (int64, string, bool) {
	m := keyPattern.FindStringSubmatch(key)
	if m == nil {
		return 0, "", false
	}
	owner, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, "", false
	}
	return owner, m[2], true
}

func newImageID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// ImageTarget is the audit TargetID of an image.
func ImageTarget(imageID string) string { return "image:" + imageID }

// Errors the service returns to callers.
var (
	errImageNotFound = apperr.New(apperr.NotFound, "no image with that file name").
				WithCode("not_found")
	// errNotShared covers every reason a patient may not see an image, so a patient cannot
	// learn whether an image exists.
	errNotShared = apperr.New(apperr.Forbidden, "this image is not shared with you").
			WithCode("forbidden")
	errNotAssigned = apperr.New(apperr.Forbidden, "that patient is not assigned to you").
			WithCode("not_assigned")
)

// ownedImage reads the owner's image that currently has fileName.
func (s *Service) ownedImage(
	ctx context.Context,
	ownerID int64,
	fileName string,
) (store.Image, error) {
	img, err := s.Images.ByName(ctx, ownerID, fileName, s.Now())
	if errors.Is(err, store.ErrNotFound) {
		return store.Image{}, errImageNotFound
	}
	if err != nil {
		return store.Image{}, fmt.Errorf("read image by name for owner %d: %w", ownerID, err)
	}
	return img, nil
}

// requireAssigned fails with a 403 unless patientID is assigned to providerID now.
func (s *Service) requireAssigned(ctx context.Context, providerID, patientID int64) error {
	ok, err := s.Assignments.IsActive(ctx, providerID, patientID)
	if err != nil {
		return fmt.Errorf(
			"check assignment of patient %d to provider %d: %w",
			patientID,
			providerID,
			err,
		)
	}
	if !ok {
		return errNotAssigned
	}
	return nil
}

// Recorder writes the audit entry of an API call, with the caller and the request's origin
// filled in. When the entry could not be written, it returns an error that is a 503 for the
// caller, and the service then neither returns a URL nor changes anything.
type Recorder func(e audit.Entry) error

// headerValues flattens signed headers for the client, leaving out Host, which the browser
// sets itself.
func headerValues(h map[string][]string) map[string]string {
	out := map[string]string{}
	for name, values := range h {
		if strings.EqualFold(name, "host") || len(values) == 0 {
			continue
		}
		out[name] = values[0]
	}
	return out
}
