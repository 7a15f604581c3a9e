package app

import (
	"context"
	"errors"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/clinicpix/backend/shared/apperr"
	"github.com/clinicpix/backend/shared/httpapi"
)

// ErrUnauthorized is the error text API Gateway turns into a 401 for a Lambda authorizer.
var ErrUnauthorized = errors.New("Unauthorized")

// AuthorizerHandler is the REQUEST authorizer's Lambda signature.
type AuthorizerHandler func(ctx context.Context, e events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error)

// Authorizer returns the REQUEST authorizer. It validates the bearer token and passes the user id,
// role and session id in the context. The policy allows every method and path of the stage,
// because API Gateway caches it by token and reuses it for the caller's other routes; the route
// and resource checks happen in the handlers.
func (a *App) Authorizer() AuthorizerHandler {
	return func(ctx context.Context, e events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
		token, ok := BearerToken(httpapi.Header(e.Headers, e.MultiValueHeaders, "Authorization"))
		if !ok {
			return events.APIGatewayCustomAuthorizerResponse{}, ErrUnauthorized
		}
		caller, err := a.Deps.Auth.Authenticate(ctx, token)
		if apperr.KindOf(err) == apperr.Unauthorized {
			return events.APIGatewayCustomAuthorizerResponse{}, ErrUnauthorized
		}
		if err != nil {
			a.Log.ErrorContext(ctx, "authorizer failed", "requestId", e.RequestContext.RequestID,
				"error", err.Error())
			return events.APIGatewayCustomAuthorizerResponse{}, err
		}
		return events.APIGatewayCustomAuthorizerResponse{
			PrincipalID: "user:" + caller.AuthorizerContext()["userId"].(string),
			PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{
				Version: "2012-10-17",
				Statement: []events.IAMPolicyStatement{{
					Action:   []string{"execute-api:Invoke"},
					Effect:   "Allow",
					Resource: []string{StageWildcard(e.MethodArn)},
				}},
			},
			Context: caller.AuthorizerContext(),
		}, nil
	}
}

// BearerToken extracts the token from an Authorization header value.
func BearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// StageWildcard turns a method ARN such as
// arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/api/files into
// arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/*/*.
func StageWildcard(methodArn string) string {
	parts := strings.SplitN(methodArn, "/", 3)
	if len(parts) < 2 {
		return methodArn
	}
	return parts[0] + "/" + parts[1] + "/*/*"
}
