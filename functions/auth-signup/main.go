// Command auth-signup serves POST /api/auth/signup: create a patient or provider account.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clinicpix/backend/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().MustAPI("auth-signup"))
}
