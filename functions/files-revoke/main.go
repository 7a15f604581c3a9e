// Command files-revoke serves POST /api/files/revoke: end a share.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clinicpix/backend/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().MustAPI("files-revoke"))
}
