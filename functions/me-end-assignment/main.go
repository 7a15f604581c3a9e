// Command me-end-assignment serves DELETE /api/me/providers/{providerId}: end a provider's access to the caller.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clinicpix/backend/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().MustAPI("me-end-assignment"))
}
