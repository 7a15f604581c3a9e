// Command auth-logout serves POST /api/auth/logout: end the current session.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clinicpix/backend/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().MustAPI("auth-logout"))
}
