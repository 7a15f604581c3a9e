// Command patients-user-id serves GET /api/user-id: look up an assigned patient's id by email.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clinicpix/backend/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().MustAPI("patients-user-id"))
}
