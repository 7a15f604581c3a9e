package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/clinicpix/backend/shared/audit"
	"github.com/clinicpix/backend/shared/config"
	"github.com/clinicpix/backend/shared/handlers"
	"github.com/clinicpix/backend/shared/images"
	"github.com/clinicpix/backend/shared/store"
)

// newImageService builds the image service and the share store that care-team code uses to end
// shares. Objects must be SSE-KMS encrypted only in AWS: the local S3 stand-in (S3Endpoint set)
// accepts the SSE headers but does not encrypt.
func newImageService(cfg config.Config, clients Clients, deps *handlers.Deps, rec audit.Recorder,
	log *slog.Logger, now func() time.Time) (*images.Service, *store.Shares) {
	shares := &store.Shares{DB: clients.DynamoDB, Table: cfg.Tables.Shares, Now: now}
	svc := &images.Service{
		Images:      &store.Images{DB: clients.DynamoDB, Table: cfg.Tables.Images},
		Shares:      shares,
		Assignments: deps.Assignments,
		Audit:       rec,
		Log:         log,
		Now:         now,
		Settings: images.Settings{
			Bucket: cfg.ImagesBucket, KMSKeyID: cfg.ImagesKMSKeyID,
			MaxUploadBytes: cfg.MaxUploadBytes, RequireSSEKMS: cfg.S3Endpoint == "",
		},
	}
	if clients.S3 != nil {
		svc.S3 = clients.S3
		svc.Presign = images.NewPresigner(clients.S3)
	}
	return svc, shares
}

// S3Events returns the Lambda handler of the images bucket's ObjectCreated and ObjectRemoved
// notifications. Both functions use it, because each record names its own event type.
func (a *App) S3Events() func(ctx context.Context, event events.S3Event) error {
	return a.Deps.Images.HandleS3Event
}
