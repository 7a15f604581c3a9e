// Command files-download serves GET /api/files/download: issue a presigned download URL.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clinicpix/backend/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().MustAPI("files-download"))
}
