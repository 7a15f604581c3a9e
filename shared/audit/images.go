package audit

// Actions recorded by the image and share routes and by the S3 event handlers. TargetID is
// "image:<imageId>" for all of them; share actions also set SubjectPatientID.
const (
	UploadURLIssued  Action = "upload_url_issued"
	UploadCompleted  Action = "upload_completed"
	UploadRejected   Action = "upload_rejected"
	ImagesListed     Action = "images_listed"
	ImageViewed      Action = "image_viewed"
	ImageDownloaded  Action = "image_downloaded"
	ImageDeleted     Action = "image_deleted"
	ImageTagsChanged Action = "image_tags_changed"
	ObjectRemoved    Action = "object_removed"
	ShareCreated     Action = "share_created"
	ShareUpdated     Action = "share_updated"
	ShareRevoked     Action = "share_revoked"
	SharesEnded      Action = "shares_ended"
	SharesListed     Action = "shares_listed"
)
