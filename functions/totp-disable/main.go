// Command totp-disable serves POST /api/auth/totp/disable: remove the authenticator app.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clinicpix/backend/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().MustAPI("totp-disable"))
}
