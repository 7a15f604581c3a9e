package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/clinicpix/backend/shared/apperr"
)

// Response is a handler's successful result: a status and a JSON body.
type Response struct {
	Status int
	Body   any
	// Headers are extra response headers, such as a list route's next-page cursor.
	Headers map[string]string
}

// OK is a 200 with a JSON body.
func OK(body any) Response { return Response{Status: http.StatusOK, Body: body} }

// Created is a 201 with a JSON body.
func Created(body any) Response { return Response{Status: http.StatusCreated, Body: body} }

// Message is the common {"message": ...} body.
func Message(text string) map[string]string { return map[string]string{"message": text} }

// ErrorBody is the JSON body of every non-2xx response.
type ErrorBody struct {
	Error     string `json:"error"`
	Message   string `json:"message"`
	Field     string `json:"field,omitempty"`
	RequestID string `json:"requestId,omitempty"`
}

type statusEntry struct {
	status int
	code   string
}

// statusTable is the one place error kinds become HTTP statuses.
var statusTable = map[apperr.Kind]statusEntry{
	apperr.Invalid:          {http.StatusBadRequest, "invalid_request"},
	apperr.Unauthorized:     {http.StatusUnauthorized, "unauthorized"},
	apperr.Forbidden:        {http.StatusForbidden, "forbidden"},
	apperr.NotFound:         {http.StatusNotFound, "not_found"},
	apperr.MethodNotAllowed: {http.StatusMethodNotAllowed, "method_not_allowed"},
	apperr.Conflict:         {http.StatusConflict, "conflict"},
	apperr.Locked:           {http.StatusLocked, "locked"},
	apperr.TooLarge:         {http.StatusRequestEntityTooLarge, "payload_too_large"},
	apperr.TooManyRequests:  {http.StatusTooManyRequests, "too_many_requests"},
	apperr.Unavailable:      {http.StatusServiceUnavailable, "service_unavailable"},
}

// ErrorResponse maps err to a status and body. Only *apperr.Error messages reach the caller;
// anything else is a 500 that states only that the request failed and gives the request id.
func ErrorResponse(err error, requestID string) (int, ErrorBody) {
	var e *apperr.Error
	if errors.As(err, &e) {
		if entry, ok := statusTable[e.Kind]; ok {
			code := e.Code
			if code == "" {
				code = entry.code
			}
			msg := e.Message
			if e.Field != "" {
				msg = e.Field + " " + msg
			}
			body := ErrorBody{Error: code, Message: msg, Field: e.Field}
			if entry.status >= 500 {
				body.RequestID = requestID
			}
			return entry.status, body
		}
	}
	return http.StatusInternalServerError, ErrorBody{
		Error:     "internal_error",
		Message:   "The request failed. Try again later, quoting request id " + requestID + ".",
		RequestID: requestID,
	}
}

// CORS decides the CORS headers for a response to a browser origin.
type CORS struct {
	AllowedOrigins []string
}

// allowedHeaders are the request headers the web client sends.
const allowedHeaders = "Authorization,Content-Type"

// Headers returns the CORS headers for a request from origin; empty when origin is not allowed.
func (c CORS) Headers(origin string) map[string]string {
	h := map[string]string{"Vary": "Origin"}
	if origin != "" && slices.Contains(c.AllowedOrigins, origin) {
		h["Access-Control-Allow-Origin"] = origin
		h["Access-Control-Allow-Headers"] = allowedHeaders
		h["Access-Control-Allow-Methods"] = "GET,POST,PUT,PATCH,DELETE,OPTIONS"
		h["Access-Control-Max-Age"] = "600"
	}
	return h
}

// Preflight builds the response to a CORS preflight (OPTIONS) request, which never needs a
// token.
func (c CORS) Preflight(origin string) events.APIGatewayProxyResponse {
	return events.APIGatewayProxyResponse{StatusCode: http.StatusNoContent, Headers: c.Headers(origin)}
}

// JSON builds a proxy response with a JSON body and the CORS headers for origin.
func (c CORS) JSON(status int, origin string, body any) events.APIGatewayProxyResponse {
	headers := c.Headers(origin)
	headers["Content-Type"] = "application/json; charset=utf-8"
	headers["Cache-Control"] = "no-store"
	headers["X-Content-Type-Options"] = "nosniff"
	headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
	b, err := json.Marshal(body)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"internal_error","message":"The response could not be encoded."}`)
	}
	return events.APIGatewayProxyResponse{StatusCode: status, Headers: headers, Body: string(b)}
}

// Error builds the proxy response for err.
func (c CORS) Error(err error, origin, requestID string) events.APIGatewayProxyResponse {
	status, body := ErrorResponse(err, requestID)
	return c.JSON(status, origin, body)
}

// IsPreflight reports whether e is a CORS preflight.
func IsPreflight(e events.APIGatewayProxyRequest) bool {
	return strings.EqualFold(e.HTTPMethod, http.MethodOptions)
}
