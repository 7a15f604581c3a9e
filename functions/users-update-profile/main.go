// Command users-update-profile serves PUT /api/users/{userId}/profile: update the caller's profile.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clinicpix/backend/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().MustAPI("users-update-profile"))
}
