package runner

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/clinicpix/backend/shared/config"
)

// createBucket creates the images bucket if needed and sets its CORS rules: the web client's
// origins may PUT (with the signed content-type and SSE headers) and GET.
func createBucket(ctx context.Context, client *s3.Client, cfg config.Config) error {
	_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(cfg.ImagesBucket)})
	var owned *types.BucketAlreadyOwnedByYou
	var exists *types.BucketAlreadyExists
	if err != nil && !errors.As(err, &owned) && !errors.As(err, &exists) {
		return fmt.Errorf("create bucket %s: %w", cfg.ImagesBucket, err)
	}
	_, err = client.PutBucketCors(ctx, &s3.PutBucketCorsInput{
		Bucket: aws.String(cfg.ImagesBucket),
		CORSConfiguration: &types.CORSConfiguration{CORSRules: []types.CORSRule{{
			AllowedOrigins: cfg.AllowedOrigins,
			AllowedMethods: []string{"PUT", "GET"},
			AllowedHeaders: []string{"content-type", "x-amz-server-side-encryption",
				"x-amz-server-side-encryption-aws-kms-key-id"},
			ExposeHeaders: []string{"ETag"},
			MaxAgeSeconds: aws.Int32(600),
		}}},
	})
	if err != nil {
		return fmt.Errorf("set CORS on bucket %s: %w", cfg.ImagesBucket, err)
	}
	return nil
}
