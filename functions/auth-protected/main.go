// Command auth-protected serves POST /api/auth/protected: return the signed-in user.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clinicpix/backend/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().MustAPI("auth-protected"))
}
