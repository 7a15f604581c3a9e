// Command files-delete serves DELETE /api/files/delete/{fileName}: delete an image and end its shares.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clinicpix/backend/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().MustAPI("files-delete"))
}
