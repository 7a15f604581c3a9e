// Command auth-reset-password serves POST /api/auth/reset-password: set a new password with a reset token.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clinicpix/backend/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().MustAPI("auth-reset-password"))
}
