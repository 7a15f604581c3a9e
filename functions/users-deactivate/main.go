// Command users-deactivate serves PATCH /api/users/deactivate/{userId}: deactivate an account and end its sessions.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clinicpix/backend/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().MustAPI("users-deactivate"))
}
