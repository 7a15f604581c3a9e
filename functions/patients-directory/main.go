// Command patients-directory serves GET /api/patients/all-patient-emails/{providerId}: list active patients not yet assigned to the caller.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clinicpix/backend/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().MustAPI("patients-directory"))
}
