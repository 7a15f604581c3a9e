// Command users-activate serves PATCH /api/users/activate/{userId}: activate an account.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clinicpix/backend/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().MustAPI("users-activate"))
}
