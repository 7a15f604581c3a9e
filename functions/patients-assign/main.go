// Command patients-assign serves POST /api/patients/assign: assign a patient to a provider.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clinicpix/backend/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().MustAPI("patients-assign"))
}
