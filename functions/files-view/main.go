// Command files-view serves GET /api/files/view/{fileName}: issue a presigned view URL.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clinicpix/backend/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().MustAPI("files-view"))
}
