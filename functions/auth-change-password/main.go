// Command auth-change-password serves POST /api/auth/change-password: change the caller's password.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clinicpix/backend/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().MustAPI("auth-change-password"))
}
