// Command totp-confirm serves POST /api/auth/totp/confirm: confirm enrollment with a first code and issue recovery codes.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clinicpix/backend/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().MustAPI("totp-confirm"))
}
