// Command users-get-profile serves GET /api/users/{userId}: read the caller's profile.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clinicpix/backend/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().MustAPI("users-get-profile"))
}
