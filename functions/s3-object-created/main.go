// Command s3-object-created checks each object uploaded to the images bucket and marks its
// image available or rejected.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clinicpix/backend/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().S3Events())
}
