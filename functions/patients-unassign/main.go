// Command patients-unassign serves DELETE /api/patients/unassign: end an assignment.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clinicpix/backend/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().MustAPI("patients-unassign"))
}
