package handlers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/clinicpix/backend/shared/apperr"
	"github.com/clinicpix/backend/shared/audit"
	"github.com/clinicpix/backend/shared/httpapi"
	"github.com/clinicpix/backend/shared/identity"
	"github.com/clinicpix/backend/shared/images"
	"github.com/clinicpix/backend/shared/store"
)

func fileHandlers(d *Deps) map[string]httpapi.Handler {
	return map[string]httpapi.Handler{
		"files-list":            d.listFiles,
		"files-upload":          d.uploadFile,
		"files-view":            d.viewFile,
		"files-download":        d.downloadFile,
		"files-delete":          d.deleteFile,
		"files-update-tags":     d.updateTags,
		"files-share":           d.shareFile,
		"files-revoke":          d.revokeShare,
		"files-shared":          d.sharedWithMe,
		"files-provider-shared": d.sharedByMe,
	}
}

// recorder returns the images.Recorder of req: it writes entries with the caller and origin.
func (d *Deps) recorder(ctx context.Context, req *httpapi.Request) images.Recorder {
	return func(e audit.Entry) error { return d.record(ctx, req, e) }
}

// Page size limits of GET /api/files.
const (
	defaultFilesPage = 50
	maxFilesPage     = 100
)

type fileJSON struct {
	FileName      string   `json:"fileName"`
	UploadedBy    int64    `json:"uploadedBy"`
	UploaderEmail string   `json:"uploaderEmail"`
	UploadedOn    string   `json:"uploadedOn"`
	Tags          []string `json:"tags"`
	ContentType   string   `json:"fileType"`
	Size          int64    `json:"size"`
	SubjectID     int64    `json:"patientId,omitempty"`
}

func (d *Deps) listFiles(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	uploadedBy, err := req.Query("uploadedBy")
	if err != nil {
		return httpapi.Response{}, err
	}
	if err := requireSelfString(req.Caller, "uploadedBy", uploadedBy); err != nil {
		return httpapi.Response{}, err
	}
	limit, err := req.QueryInt("limit", defaultFilesPage, 1, maxFilesPage)
	if err != nil {
		return httpapi.Response{}, err
	}
	// The signed cursor wraps the store's page position and is bound to the caller, so an edited
	// cursor or one from another provider's listing is a 400.
	scope := store.CursorScope("files-list", strconv.FormatInt(req.Caller.UserID, 10))
	position, err := d.decodeCursor(req, scope)
	if err != nil {
		return httpapi.Response{}, err
	}

	owner, err := d.Users.Get(ctx, req.Caller.UserID)
	if err != nil {
		return httpapi.Response{}, err
	}
	imgs, next, err := d.Images.ListOwned(
		ctx,
		req.Caller.UserID,
		limit,
		position,
		d.recorder(ctx, req),
	)
	if err != nil {
		return httpapi.Response{}, err
	}
	resp, cursor, err := d.pageResponse(scope, next)
	if err != nil {
		return httpapi.Response{}, fmt.Errorf("sign files page cursor: %w", err)
	}

	files := make([]fileJSON, 0, len(imgs))
	for _, img := range imgs {
		files = append(files, fileJSON{FileName: img.FileName, UploadedBy: img.OwnerID,
			UploaderEmail: owner.Email, UploadedOn: timestamp(img.UploadedAt), Tags: img.Tags,
			ContentType: img.ContentType, Size: img.Size, SubjectID: img.SubjectPatientID})
	}
	body := map[string]any{"files": files}
	if cursor != "" {
		body["nextCursor"] = cursor
	}
	resp.Body = body
	return resp, nil
}

type uploadRequest struct {
	FileName   string   `json:"fileName"`
	FileType   string   `json:"fileType"`
	UploadedBy *int64   `json:"uploadedBy"`
	Tags       []string `json:"tags"`
	PatientID  *int64   `json:"patientId"`
	FileSize   *int64   `json:"fileSize"`
}

func (d *Deps) uploadFile(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	var in uploadRequest
	if err := req.DecodeJSON(&in); err != nil {
		return httpapi.Response{}, err
	}
	if in.UploadedBy != nil {
		if err := requireSelf(req.Caller, "uploadedBy", *in.UploadedBy); err != nil {
			return httpapi.Response{}, err
		}
	}
	r := images.UploadRequest{FileName: in.FileName, FileType: in.FileType, Tags: in.Tags}
	if in.PatientID != nil {
		if *in.PatientID <= 0 {
			return httpapi.Response{}, apperr.InvalidField(
				"patientId",
				"must be a positive whole number",
			)
		}
		r.PatientID = *in.PatientID
	}
	if in.FileSize != nil {
		r.Size = *in.FileSize
	}
	up, err := d.Images.NewUpload(ctx, req.Caller.UserID, r, d.recorder(ctx, req))
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.OK(map[string]any{
		"uploadUrl": up.URL, "uploadHeaders": up.Headers, "fileName": up.Image.FileName,
		"expiresAt": timestamp(up.Expires),
	}), nil
}

// imageForCaller resolves the image a view or download names. A provider may name only its own
// images, so uploadedBy, when given, must be the caller. A patient must name the owner in
// uploadedBy and gets the image only through an active share. until is the share's expiry,
// zero for the owner.
func (d *Deps) imageForCaller(ctx context.Context, req *httpapi.Request, fileName string) (
	img store.Image, until time.Time, err error) {
	uploadedBy, err := req.Query("uploadedBy")
	if err != nil {
		return store.Image{}, time.Time{}, err
	}
	switch req.Caller.Role {
	case identity.Provider:
		if err := requireSelfString(req.Caller, "uploadedBy", uploadedBy); err != nil {
			return store.Image{}, time.Time{}, err
		}
		img, err := d.Images.OwnerImage(ctx, req.Caller.UserID, fileName)
		return img, time.Time{}, err
	case identity.Patient:
		if strings.TrimSpace(uploadedBy) == "" {
			return store.Image{}, time.Time{}, apperr.InvalidField("uploadedBy",
				"is required: the id of the provider who shared the image")
		}
		ownerID, err := httpapi.ParseUserID("uploadedBy", uploadedBy)
		if err != nil {
			return store.Image{}, time.Time{}, err
		}
		img, share, err := d.Images.SharedImage(ctx, req.Caller.UserID, ownerID, fileName)
		return img, share.ValidUntil, err
	}
	return store.Image{}, time.Time{}, apperr.New(apperr.Forbidden, "your role may not see images")
}

func (d *Deps) viewFile(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	img, until, err := d.imageForCaller(ctx, req, req.PathParam("fileName"))
	if err != nil {
		return httpapi.Response{}, err
	}
	url, err := d.Images.ViewURL(ctx, img, until, false, d.recorder(ctx, req),
		audit.Entry{Action: audit.ImageViewed})
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.OK(map[string]any{"viewUrl": url}), nil
}

func (d *Deps) downloadFile(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	fileName, err := req.RequiredQuery("fileName")
	if err != nil {
		return httpapi.Response{}, err
	}
	img, until, err := d.imageForCaller(ctx, req, fileName)
	if err != nil {
		return httpapi.Response{}, err
	}
	url, err := d.Images.ViewURL(ctx, img, until, true, d.recorder(ctx, req),
		audit.Entry{Action: audit.ImageDownloaded})
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.OK(map[string]any{"downloadUrl": url}), nil
}

func (d *Deps) deleteFile(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	uploadedBy, err := req.Query("uploadedBy")
	if err != nil {
		return httpapi.Response{}, err
	}
	if err := requireSelfString(req.Caller, "uploadedBy", uploadedBy); err != nil {
		return httpapi.Response{}, err
	}
	err = d.Images.Delete(ctx, req.Caller.UserID, req.PathParam("fileName"), d.recorder(ctx, req))
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.OK(httpapi.Message("Image deleted, and every share of it ended.")), nil
}

type tagsRequest struct {
	FileName   string   `json:"fileName"`
	UploadedBy *int64   `json:"uploadedBy"`
	Tags       []string `json:"tags"`
}

func (d *Deps) updateTags(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	var in tagsRequest
	if err := req.DecodeJSON(&in); err != nil {
		return httpapi.Response{}, err
	}
	if in.UploadedBy != nil {
		if err := requireSelf(req.Caller, "uploadedBy", *in.UploadedBy); err != nil {
			return httpapi.Response{}, err
		}
	}
	if in.Tags == nil {
		return httpapi.Response{}, apperr.InvalidField(
			"tags",
			"is required; send [] to remove all tags",
		)
	}
	err := d.Images.SetTags(ctx, req.Caller.UserID, in.FileName, in.Tags, d.recorder(ctx, req))
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.OK(httpapi.Message("Tags updated.")), nil
}

// defaultShareSeconds is the share lifetime when the request gives no expiresIn; the web client
// always sends this value.
const defaultShareSeconds = 86400

type shareRequest struct {
	FileName   string `json:"fileName"`
	UploadedBy *int64 `json:"uploadedBy"`
	SharedWith *int64 `json:"sharedWith"`
	ExpiresIn  *int64 `json:"expiresIn"`
}

func (in shareRequest) check(caller identity.Caller) (int64, error) {
	if in.UploadedBy != nil {
		if err := requireSelf(caller, "uploadedBy", *in.UploadedBy); err != nil {
			return 0, err
		}
	}
	if in.SharedWith == nil || *in.SharedWith <= 0 {
		return 0, apperr.InvalidField("sharedWith", "must be the patient's user id")
	}
	return *in.SharedWith, nil
}

func (d *Deps) shareFile(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	var in shareRequest
	if err := req.DecodeJSON(&in); err != nil {
		return httpapi.Response{}, err
	}
	patientID, err := in.check(req.Caller)
	if err != nil {
		return httpapi.Response{}, err
	}
	expiresIn := int64(defaultShareSeconds)
	if in.ExpiresIn != nil {
		expiresIn = *in.ExpiresIn
	}
	res, err := d.Images.Share(ctx, req.Caller.UserID, in.FileName, patientID, expiresIn,
		d.recorder(ctx, req))
	if err != nil {
		return httpapi.Response{}, err
	}
	msg := "Image shared."
	if res.Updated {
		msg = "Share renewed with the new expiry."
	}
	return httpapi.OK(map[string]any{"message": msg, "sharedToken": res.Token,
		"expiresAt": timestamp(res.Share.ValidUntil)}), nil
}

type revokeRequest struct {
	FileName   string `json:"fileName"`
	UploadedBy *int64 `json:"uploadedBy"`
	SharedWith *int64 `json:"sharedWith"`
}

func (d *Deps) revokeShare(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	var in revokeRequest
	if err := req.DecodeJSON(&in); err != nil {
		return httpapi.Response{}, err
	}
	patientID, err := shareRequest{
		UploadedBy: in.UploadedBy,
		SharedWith: in.SharedWith,
	}.check(
		req.Caller,
	)
	if err != nil {
		return httpapi.Response{}, err
	}
	err = d.Images.Revoke(ctx, req.Caller.UserID, in.FileName, patientID, d.recorder(ctx, req))
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.OK(httpapi.Message("Share revoked.")), nil
}

type sharedWithMeJSON struct {
	FileName      string `json:"file_name"`
	SharedBy      int64  `json:"shared_by"`
	SharedByEmail string `json:"shared_by_email"`
	SharedOn      string `json:"shared_on"`
	ExpiresAt     string `json:"expires_at"`
	// Tags is one comma-separated string, as the web client expects here.
	Tags       string `json:"tags"`
	UploadedBy int64  `json:"uploaded_by"`
}

func (d *Deps) sharedWithMe(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	sharedWith, err := req.Query("sharedWith")
	if err != nil {
		return httpapi.Response{}, err
	}
	if err := requireSelfString(req.Caller, "sharedWith", sharedWith); err != nil {
		return httpapi.Response{}, err
	}
	items, err := d.Images.SharedWith(ctx, req.Caller.UserID, d.recorder(ctx, req))
	if err != nil {
		return httpapi.Response{}, err
	}
	emails := userDirectory{d: d}
	out := make([]sharedWithMeJSON, 0, len(items))
	for _, it := range items {
		owner, err := emails.get(ctx, it.Share.OwnerID)
		if err != nil {
			return httpapi.Response{}, err
		}
		out = append(out, sharedWithMeJSON{FileName: it.Image.FileName, SharedBy: it.Share.OwnerID,
			SharedByEmail: owner.Email, SharedOn: timestamp(it.Share.SharedAt),
			ExpiresAt: timestamp(it.Share.ValidUntil), Tags: strings.Join(it.Image.Tags, ","),
			UploadedBy: it.Image.OwnerID})
	}
	return httpapi.OK(map[string]any{"sharedFiles": out}), nil
}

type sharedByMeJSON struct {
	FileName        string `json:"file_name"`
	SharedWith      int64  `json:"shared_with"`
	SharedWithName  string `json:"shared_with_name"`
	SharedWithEmail string `json:"shared_with_email"`
	UploadedBy      int64  `json:"uploaded_by"`
	SharedByEmail   string `json:"shared_by_email"`
	SharedOn        string `json:"shared_on"`
	ExpiresAt       string `json:"expires_at"`
	// Status is "active", "expired", or the reason the share ended: "revoked",
	// "image_deleted", "image_rejected" or "assignment_ended".
	Status  string `json:"status"`
	EndedAt string `json:"ended_at,omitempty"`
}

func (d *Deps) sharedByMe(ctx context.Context, req *httpapi.Request) (httpapi.Response, error) {
	uploadedBy, err := req.Query("uploadedBy")
	if err != nil {
		return httpapi.Response{}, err
	}
	if err := requireSelfString(req.Caller, "uploadedBy", uploadedBy); err != nil {
		return httpapi.Response{}, err
	}
	shares, err := d.Images.SharedBy(ctx, req.Caller.UserID, d.recorder(ctx, req))
	if err != nil {
		return httpapi.Response{}, err
	}

	users := userDirectory{d: d}
	me, err := users.get(ctx, req.Caller.UserID)
	if err != nil {
		return httpapi.Response{}, err
	}

	now := d.Now()
	out := make([]sharedByMeJSON, 0, len(shares))
	for _, sh := range shares {
		patient, err := users.get(ctx, sh.PatientID)
		if err != nil {
			return httpapi.Response{}, err
		}
		item := sharedByMeJSON{FileName: sh.FileName, SharedWith: sh.PatientID,
			SharedWithName: patient.Username, SharedWithEmail: patient.Email,
			UploadedBy: sh.OwnerID, SharedByEmail: me.Email, SharedOn: timestamp(sh.SharedAt),
			ExpiresAt: timestamp(sh.ValidUntil), Status: "active"}
		switch {
		case sh.EndReason != "":
			item.Status, item.EndedAt = sh.EndReason, timestamp(sh.EndedAt)
		case !sh.Active(now):
			item.Status = "expired"
		}
		out = append(out, item)
	}
	return httpapi.OK(map[string]any{"sharedFiles": out}), nil
}

// userDirectory reads users once per request. A user that no longer exists reads as empty.
type userDirectory struct {
	d     *Deps
	cache map[int64]store.User
}

func (u *userDirectory) get(ctx context.Context, id int64) (store.User, error) {
	if user, ok := u.cache[id]; ok {
		return user, nil
	}
	user, err := u.d.Users.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		user, err = store.User{ID: id}, nil
	}
	if err != nil {
		return store.User{}, err
	}
	if u.cache == nil {
		u.cache = map[int64]store.User{}
	}
	u.cache[id] = user
	return user, nil
}
