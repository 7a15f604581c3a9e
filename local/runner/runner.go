// Package runner serves the whole API on this machine: it starts DynamoDB Local and versitygw,
// creates the tables, seeds the first admin, and turns each HTTP request into the API Gateway
// event that AWS would send, running the same authorizer and handler code as the Lambdas.
package runner

// Runner is a running local API.
type Runner struct{}
