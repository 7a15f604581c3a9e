// Command authorizer is the API's Lambda REQUEST authorizer: it validates the bearer token and
// passes the caller's id and role to the route functions.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clinicpix/backend/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().Authorizer())
}
