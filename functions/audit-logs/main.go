// Command audit-logs serves GET /api/audit-logs: read audit entries, newest first.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clinicpix/backend/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().MustAPI("audit-logs"))
}
