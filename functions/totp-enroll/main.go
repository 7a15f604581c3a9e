// Command totp-enroll serves POST /api/auth/totp/enroll: start authenticator app enrollment.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clinicpix/backend/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().MustAPI("totp-enroll"))
}
