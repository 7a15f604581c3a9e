// Command files-update-tags serves PUT /api/files/update-tags: replace an image's tags.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clinicpix/backend/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().MustAPI("files-update-tags"))
}
