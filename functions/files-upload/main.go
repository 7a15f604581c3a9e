// Command files-upload serves POST /api/files/upload: issue a presigned upload URL.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clinicpix/backend/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().MustAPI("files-upload"))
}
