// Command s3-object-removed marks an image deleted when its object leaves the images bucket.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clinicpix/backend/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().S3Events())
}
