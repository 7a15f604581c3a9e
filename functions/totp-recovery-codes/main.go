// Command totp-recovery-codes serves POST /api/auth/recovery-codes: replace the recovery codes.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clinicpix/backend/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().MustAPI("totp-recovery-codes"))
}
