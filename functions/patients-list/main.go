// Command patients-list serves GET /api/patients/{providerId}: list the caller's assigned patients.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clinicpix/backend/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().MustAPI("patients-list"))
}
