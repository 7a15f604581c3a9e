// Command auth-admin-reset serves POST /api/auth/admin-reset-password: mail a password reset link to another user.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clinicpix/backend/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().MustAPI("auth-admin-reset"))
}
