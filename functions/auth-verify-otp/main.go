// Command auth-verify-otp serves POST /api/auth/verify-otp: check the second factor and issue a bearer token.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clinicpix/backend/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().MustAPI("auth-verify-otp"))
}
