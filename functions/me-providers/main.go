// Command me-providers serves GET /api/me/providers: list the caller's care team.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clinicpix/backend/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().MustAPI("me-providers"))
}
