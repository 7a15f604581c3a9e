package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/clinicpix/backend/shared/apperr"
	"github.com/clinicpix/backend/shared/audit"
	"github.com/clinicpix/backend/shared/identity"
	"github.com/clinicpix/backend/shared/routes"
)

// Handler serves one route. It returns a Response or an error for the status table.
type Handler func(ctx context.Context, req *Request) (Response, error)

// LambdaHandler is the signature lambda.Start accepts for REST API proxy integrations.
type LambdaHandler func(ctx context.Context, e events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error)

// SessionChecker confirms that the session the authorizer accepted is still live. API Gateway
// may cache an authorizer's result, so without this a logged-out or deactivated user could keep
// calling until the cache expired.
type SessionChecker interface {
	CheckSession(ctx context.Context, sessionID string) (identity.Caller, error)
}

// Adapter holds what every route's adapter shares.
type Adapter struct {
	CORS         CORS
	MaxBodyBytes int
	Sessions     SessionChecker
	Log          *slog.Logger
	Now          func() time.Time
	// Audit records every 403 and 404 on a route that needs a token, so refused attempts to
	// reach PHI leave a trace even where the handler wrote none.
	Audit audit.Recorder
}

// Wrap turns h into the Lambda handler for route.
func (a *Adapter) Wrap(route routes.Route, h Handler) LambdaHandler {
	return func(ctx context.Context, e events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		start := a.Now()
		origin := Header(e.Headers, e.MultiValueHeaders, "Origin")
		requestID := e.RequestContext.RequestID
		if lc, ok := lambdacontext.FromContext(ctx); ok && requestID == "" {
			requestID = lc.AwsRequestID
		}
		if IsPreflight(e) {
			return a.CORS.Preflight(origin), nil
		}

		req, err := a.prepare(ctx, route, e)
		var resp events.APIGatewayProxyResponse
		if err == nil {
			var out Response
			out, err = h(ctx, req)
			if err == nil {
				resp = a.CORS.JSON(out.Status, origin, out.Body)
				for name, value := range out.Headers {
					resp.Headers[name] = value
				}
			}
		}
		if err != nil {
			resp = a.CORS.Error(err, origin, requestID)
		}

		a.auditRefusal(ctx, route, req, resp.StatusCode, requestID)
		a.logRequest(ctx, route, req, resp.StatusCode, start, requestID, err)
		return resp, nil
	}
}

func (a *Adapter) prepare(ctx context.Context, route routes.Route, e events.APIGatewayProxyRequest) (*Request, error) {
	req := &Request{Event: e, Route: route}
	if !route.Public {
		caller, err := identity.FromAuthorizer(e.RequestContext.Authorizer)
		if err != nil {
			return req, apperr.New(apperr.Unauthorized, "sign in first").WithCode("unauthorized")
		}
		live, err := a.Sessions.CheckSession(ctx, caller.SessionID)
		if err != nil {
			return req, err
		}
		if live.UserID != caller.UserID || live.Role != caller.Role {
			return req, apperr.New(apperr.Unauthorized, "your session has ended; sign in again")
		}
		req.Caller = live
		if !route.Allows(live.Role) {
			return req, apperr.New(apperr.Forbidden, "your role may not call this route")
		}
	}
	body, err := decodeBody(e, a.MaxBodyBytes)
	if err != nil {
		return req, err
	}
	req.Body = body
	return req, nil
}

// auditRefusal records a 403 or 404 sent to a signed-in caller. The response is already a
// refusal, so a failed audit write is logged and does not change it.
func (a *Adapter) auditRefusal(ctx context.Context, route routes.Route, req *Request, status int,
	requestID string) {
	if a.Audit == nil || route.Public || req == nil || req.Caller.UserID == 0 {
		return
	}
	if status != http.StatusForbidden && status != http.StatusNotFound {
		return
	}
	outcome := audit.Denied
	if status == http.StatusNotFound {
		outcome = audit.NotFoundOutcome
	}
	entry := audit.Origin{SourceIP: req.SourceIP(), UserAgent: req.UserAgent(), RequestID: requestID}.
		Apply(audit.Entry{ActorID: req.Caller.UserID, ActorRole: req.Caller.Role,
			Action: audit.AccessRefused, Outcome: outcome,
			Details: fmt.Sprintf("route=%s status=%d", route.Function, status)})
	if err := a.Audit.Record(ctx, entry); err != nil {
		a.Log.ErrorContext(ctx, "audit of a refused request failed", "requestId", requestID,
			"userId", req.Caller.UserID, "error", err.Error())
	}
}

// logRequest writes the one line per request: route, status, latency and caller id. It never
// logs bodies, query strings, headers or paths, which can carry PHI or secrets.
func (a *Adapter) logRequest(ctx context.Context, route routes.Route, req *Request, status int,
	start time.Time, requestID string, err error) {
	attrs := []any{
		slog.String("requestId", requestID),
		slog.String("route", route.Method+" "+routes.BasePath+route.Path),
		slog.Int("status", status),
		slog.Int64("latencyMs", a.Now().Sub(start).Milliseconds()),
	}
	if req != nil && req.Caller.UserID != 0 {
		attrs = append(attrs, slog.Int64("userId", req.Caller.UserID))
	}
	level := slog.LevelInfo
	if err != nil && status >= 500 {
		level = slog.LevelError
		attrs = append(attrs, slog.String("error", fmt.Sprint(err)))
	}
	a.Log.Log(ctx, level, "request", attrs...)
}
