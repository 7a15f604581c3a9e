// Command files-provider-shared serves GET /api/files/provider-shared: list the caller's shares.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clinicpix/backend/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().MustAPI("files-provider-shared"))
}
