// Command auth-request-reset serves POST /api/auth/request-password-reset: mail a password reset link.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clinicpix/backend/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().MustAPI("auth-request-reset"))
}
