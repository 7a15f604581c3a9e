package images

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/clinicpix/backend/shared/apperr"
	"github.com/clinicpix/backend/shared/audit"
	"github.com/clinicpix/backend/shared/store"
)

// ShareResult is a created or renewed share and its token, which is returned once and stored
// only as a hash.
type ShareResult struct {
	Share   store.Share
	Token   string
	Updated bool
}

var errOtherSubject = apperr.New(apperr.Conflict,
	"this image is about another patient and can be shared only with that patient").
	WithCode("other_subject")

// Share shares the owner's available image named fileName with patientID for expiresIn seconds.
// The patient must be assigned to the owner now and must be the image's subject. An image
// without a subject takes this patient as its subject. Sharing again renews the expiry and
// reopens an ended share.
func (s *Service) Share(ctx context.Context, ownerID int64, fileName string, patientID int64,
	expiresIn int64, rec Recorder) (ShareResult, error) {
	if patientID <= 0 {
		return ShareResult{}, apperr.InvalidField("sharedWith", "must be a positive whole number")
	}
	if expiresIn < MinShareSeconds || expiresIn > MaxShareSeconds {
		return ShareResult{}, apperr.InvalidField("expiresIn",
			"must be a whole number of seconds from 60 to 31536000 (365 days)")
	}
	img, err := s.OwnerImage(ctx, ownerID, fileName)
	if err != nil {
		return ShareResult{}, err
	}
	if err := s.requireAssigned(ctx, ownerID, patientID); err != nil {
		return ShareResult{}, err
	}
	if img.SubjectPatientID != 0 && img.SubjectPatientID != patientID {
		return ShareResult{}, errOtherSubject
	}
	previous, err := s.Shares.Get(ctx, img.ID, patientID)
	existed := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return ShareResult{}, err
	}

	now := s.Now().UTC()
	token, hash := newShareToken()
	share := store.Share{
		ImageID: img.ID, OwnerID: ownerID, PatientID: patientID, FileName: img.FileName,
		TokenHash: hash, SharedAt: now, UpdatedAt: now,
		ValidUntil: now.Add(time.Duration(expiresIn) * time.Second),
	}
	updated := existed && previous.Active(now)
	if updated {
		share.SharedAt = previous.SharedAt
	}
	action := audit.ShareCreated
	if updated {
		action = audit.ShareUpdated
	}
	err = rec(audit.Entry{Action: action, Outcome: audit.Success, TargetID: ImageTarget(img.ID),
		SubjectPatientID: patientID, Details: "expiresIn=" + strconv.FormatInt(expiresIn, 10)})
	if err != nil {
		return ShareResult{}, err
	}

	if img.SubjectPatientID == 0 {
		err := s.Images.SetSubject(ctx, img.ID, patientID)
		if errors.Is(err, store.ErrConditionFailed) {
			return ShareResult{}, errOtherSubject
		}
		if err != nil {
			return ShareResult{}, err
		}
	}
	if _, _, err := s.Shares.Put(ctx, share); err != nil {
		return ShareResult{}, err
	}
	// An unassignment between the check above and the write would miss this share, so check
	// again and end it if the assignment is gone.
	assigned, err := s.Assignments.IsActive(ctx, ownerID, patientID)
	if err != nil {
		return ShareResult{}, fmt.Errorf("recheck assignment of patient %d to provider %d: %w",
			patientID, ownerID, err)
	}
	if !assigned {
		err := s.Shares.End(ctx, img.ID, patientID, ownerID, store.ShareAssignmentEnded)
		if err != nil && !errors.Is(err, store.ErrConditionFailed) {
			return ShareResult{}, err
		}
		return ShareResult{}, errNotAssigned
	}
	return ShareResult{Share: share, Token: token, Updated: updated}, nil
}

func newShareToken() (token, hash string) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(token))
	return token, hex.EncodeToString(sum[:])
}

// Revoke ends the share of the owner's image named fileName with patientID at once.
func (s *Service) Revoke(
	ctx context.Context,
	ownerID int64,
	fileName string,
	patientID int64,
	rec Recorder,
) error {
	if patientID <= 0 {
		return apperr.InvalidField("sharedWith", "must be a positive whole number")
	}
	name, err := CleanFileName("fileName", fileName)
	if err != nil {
		return err
	}
	img, err := s.ownedImage(ctx, ownerID, name)
	if err != nil {
		return err
	}

	errNoShare := apperr.New(apperr.NotFound, "this image has no active share with that patient").
		WithCode("not_found")
	share, err := s.Shares.Get(ctx, img.ID, patientID)
	if errors.Is(err, store.ErrNotFound) {
		return errNoShare
	}
	if err != nil {
		return err
	}
	if share.EndReason != "" {
		return errNoShare
	}

	err = rec(audit.Entry{Action: audit.ShareRevoked, Outcome: audit.Success,
		TargetID: ImageTarget(img.ID), SubjectPatientID: patientID})
	if err != nil {
		return err
	}
	err = s.Shares.End(ctx, img.ID, patientID, ownerID, store.ShareRevoked)
	if errors.Is(err, store.ErrConditionFailed) || errors.Is(err, store.ErrNotFound) {
		return errNoShare
	}
	return err
}

// SharedItem is one image shared with a patient, for the patient's list.
type SharedItem struct {
	Share store.Share
	Image store.Image
}

// SharedWith returns the images shared with patientID that the patient may see now: the share
// has not ended or expired, the image is available and its owner still has the patient
// assigned.
func (s *Service) SharedWith(
	ctx context.Context,
	patientID int64,
	rec Recorder,
) ([]SharedItem, error) {
	shares, err := s.Shares.ForPatient(ctx, patientID)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	assigned := map[int64]bool{}
	items := []SharedItem{}
	for _, sh := range shares {
		if !sh.Active(now) {
			continue
		}
		ok, seen := assigned[sh.OwnerID]
		if !seen {
			ok, err = s.Assignments.IsActive(ctx, sh.OwnerID, patientID)
			if err != nil {
				return nil, fmt.Errorf("check assignment of patient %d to provider %d: %w",
					patientID, sh.OwnerID, err)
			}
			assigned[sh.OwnerID] = ok
		}
		if !ok {
			continue
		}
		img, err := s.Images.Get(ctx, sh.ImageID, now)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if img.State != store.ImageAvailable || img.SubjectPatientID != patientID {
			continue
		}
		items = append(items, SharedItem{Share: sh, Image: img})
	}
	err = rec(audit.Entry{Action: audit.SharesListed, Outcome: audit.Success,
		SubjectPatientID: patientID, Details: "count=" + strconv.Itoa(len(items))})
	if err != nil {
		return nil, err
	}
	return items, nil
}

// SharedBy returns every share of ownerID's images, ended and expired ones included, so the
// owner can see which shares still work.
func (s *Service) SharedBy(
	ctx context.Context,
	ownerID int64,
	rec Recorder,
) ([]store.Share, error) {
	shares, err := s.Shares.ForOwner(ctx, ownerID)
	if err != nil {
		return nil, err
	}
	err = rec(audit.Entry{Action: audit.SharesListed, Outcome: audit.Success,
		Details: "count=" + strconv.Itoa(len(shares))})
	if err != nil {
		return nil, err
	}
	return shares, nil
}
