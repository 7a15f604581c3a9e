package runner

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/clinicpix/backend/shared/apperr"
	"github.com/clinicpix/backend/shared/httpapi"
	"github.com/clinicpix/backend/shared/routes"
)

// maxRequestBytes caps what the runner reads of a request body, as API Gateway caps payloads at
// 10 MB; the handlers apply their own smaller limit.
const maxRequestBytes = 10 << 20

func (r *Runner) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_local/mailbox", r.handleMailbox)
	mux.HandleFunc("POST /_local/s3-events", r.handleS3Webhook)
	mux.HandleFunc(routes.BasePath+"/", r.handleAPI)
	mux.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		r.writeError(w, req, apperr.New(apperr.NotFound, "no such route"), "")
	})
	return mux
}

func (r *Runner) handleMailbox(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	msgs := r.Mailbox.Messages()
	if msgs == nil {
		_, _ = w.Write([]byte("[]"))
		return
	}
	_ = json.NewEncoder(w).Encode(msgs)
}

// handleAPI plays API Gateway: it matches the route, responds to preflights, runs the authorizer
// for protected routes, and calls the route's Lambda handler with the proxy event.
func (r *Runner) handleAPI(w http.ResponseWriter, req *http.Request) {
	if r.App == nil {
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	cors := r.App.Adapter.CORS
	origin := req.Header.Get("Origin")
	event, err := r.proxyEvent(req)
	if err != nil {
		r.writeError(w, req, err, event.RequestContext.RequestID)
		return
	}
	path := req.URL.EscapedPath()
	if req.Method == http.MethodOptions {
		if len(routes.MethodsOf(path)) == 0 {
			r.writeError(w, req, apperr.New(apperr.NotFound, "no such route"), "")
			return
		}
		writeProxy(w, cors.Preflight(origin))
		return
	}

	route, params, ok := routes.Match(req.Method, path)
	if !ok {
		if methods := routes.MethodsOf(path); len(methods) > 0 {
			w.Header().Set("Allow", strings.Join(append(methods, http.MethodOptions), ", "))
			r.writeError(w, req, apperr.Newf(apperr.MethodNotAllowed,
				"this path accepts only %s", strings.Join(methods, ", ")),
				event.RequestContext.RequestID)
			return
		}
		r.writeError(w, req, apperr.New(apperr.NotFound, "no such route"),
			event.RequestContext.RequestID)
		return
	}
	event.Resource = routes.BasePath + route.Path
	event.RequestContext.ResourcePath = event.Resource
	event.PathParameters = params

	if !route.Public {
		authorized, err := r.authorize(req, event)
		if err != nil {
			// In AWS, API Gateway itself sends the 401 for a failed authorizer; its gateway
			// response must be set up with this JSON body and the CORS headers.
			r.writeError(w, req, apperr.New(apperr.Unauthorized, "sign in first"),
				event.RequestContext.RequestID)
			return
		}
		event.RequestContext.Authorizer = authorized
	}

	h, err := r.handler(route.Function)
	if err != nil {
		r.writeError(w, req, err, event.RequestContext.RequestID)
		return
	}
	resp, err := h(req.Context(), event)
	if err != nil {
		r.writeError(w, req, err, event.RequestContext.RequestID)
		return
	}
	writeProxy(w, resp)
}

// writeError writes the JSON error body API Gateway or a handler would send, and logs the
// failures the runner itself produces, since no handler logged them. The log names the method
// and status, never the path, which can carry a file name.
func (r *Runner) writeError(w http.ResponseWriter, req *http.Request, err error, requestID string) {
	resp := r.App.Adapter.CORS.Error(err, req.Header.Get("Origin"), requestID)
	level := slog.LevelInfo
	if resp.StatusCode >= 500 {
		level = slog.LevelError
	}
	r.log.Log(req.Context(), level, "runner response", "requestId", requestID,
		"method", req.Method, "status", resp.StatusCode, "error", err.Error())
	writeProxy(w, resp)
}

func (r *Runner) handler(function string) (httpapi.LambdaHandler, error) {
	if h, ok := r.handlers.Load(function); ok {
		return h.(httpapi.LambdaHandler), nil
	}
	h, err := r.App.API(function)
	if err != nil {
		return nil, err
	}
	r.handlers.Store(function, h)
	return h, nil
}

func (r *Runner) authorize(req *http.Request, e events.APIGatewayProxyRequest) (map[string]any, error) {
	authReq := events.APIGatewayCustomAuthorizerRequestTypeRequest{
		Type:                            "REQUEST",
		MethodArn:                       "arn:aws:execute-api:us-east-1:000000000000:local/local/" + req.Method + e.Resource,
		Resource:                        e.Resource,
		Path:                            e.Path,
		HTTPMethod:                      e.HTTPMethod,
		Headers:                         e.Headers,
		MultiValueHeaders:               e.MultiValueHeaders,
		QueryStringParameters:           e.QueryStringParameters,
		MultiValueQueryStringParameters: e.MultiValueQueryStringParameters,
		PathParameters:                  e.PathParameters,
		RequestContext: events.APIGatewayCustomAuthorizerRequestTypeRequestContext{
			Path: e.Path, Stage: "local", RequestID: e.RequestContext.RequestID,
			ResourcePath: e.Resource, HTTPMethod: e.HTTPMethod,
			Identity: events.APIGatewayCustomAuthorizerRequestTypeRequestIdentity{
				SourceIP: e.RequestContext.Identity.SourceIP,
			},
		},
	}
	resp, err := r.App.Authorizer()(req.Context(), authReq)
	if err != nil {
		return nil, err
	}
	return resp.Context, nil
}

// proxyEvent builds the REST API proxy event API Gateway would send for req.
func (r *Runner) proxyEvent(req *http.Request) (events.APIGatewayProxyRequest, error) {
	e := events.APIGatewayProxyRequest{
		HTTPMethod:        req.Method,
		Path:              req.URL.EscapedPath(),
		Headers:           map[string]string{},
		MultiValueHeaders: map[string][]string{},
		RequestContext: events.APIGatewayProxyRequestContext{
			RequestID:        newRequestID(),
			Stage:            "local",
			HTTPMethod:       req.Method,
			Path:             req.URL.EscapedPath(),
			RequestTimeEpoch: time.Now().UnixMilli(),
			Identity: events.APIGatewayRequestIdentity{
				SourceIP: sourceIP(req.RemoteAddr), UserAgent: req.UserAgent(),
			},
		},
	}
	for name, values := range req.Header {
		e.Headers[name] = values[0]
		e.MultiValueHeaders[name] = values
	}
	query := req.URL.Query()
	if len(query) > 0 {
		e.QueryStringParameters = map[string]string{}
		e.MultiValueQueryStringParameters = map[string][]string{}
		for name, values := range query {
			e.QueryStringParameters[name] = values[len(values)-1]
			e.MultiValueQueryStringParameters[name] = values
		}
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, maxRequestBytes+1))
	if err != nil {
		return e, apperr.InvalidField("body", "could not be read")
	}
	if len(body) > maxRequestBytes {
		return e, &apperr.Error{Kind: apperr.TooLarge, Message: "request body is larger than 10 MB"}
	}
	// API Gateway passes text bodies as they are and binary ones base64-encoded.
	if utf8.Valid(body) {
		e.Body = string(body)
	} else {
		e.Body = base64.StdEncoding.EncodeToString(body)
		e.IsBase64Encoded = true
	}
	return e, nil
}

func writeProxy(w http.ResponseWriter, resp events.APIGatewayProxyResponse) {
	for name, value := range resp.Headers {
		w.Header().Set(name, value)
	}
	for name, values := range resp.MultiValueHeaders {
		for _, v := range values {
			w.Header().Add(name, v)
		}
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		if decoded, err := base64.StdEncoding.DecodeString(resp.Body); err == nil {
			body = decoded
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
}

func sourceIP(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	return strings.Trim(host, "[]")
}

func newRequestID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	s := hex.EncodeToString(b)
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}
