// Command users-update serves PUT /api/users/{userId}: change an account's username, email or role.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clinicpix/backend/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().MustAPI("users-update"))
}
