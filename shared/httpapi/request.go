// Package httpapi adapts API Gateway REST proxy events to handlers: it decodes and validates
// requests, checks the caller's role against the route table, and writes JSON responses with
// CORS headers and one error-to-status table.
package httpapi

import (
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/clinicpix/backend/shared/apperr"
	"github.com/clinicpix/backend/shared/identity"
	"github.com/clinicpix/backend/shared/routes"
)

// Request is one API call after decoding: the raw event, the matched route and the caller.
type Request struct {
	Event  events.APIGatewayProxyRequest
	Route  routes.Route
	Caller identity.Caller // zero for public routes
	Body   []byte
}

// Header returns the first value of a header, matched case-insensitively as HTTP requires.
func (r *Request) Header(name string) string {
	return Header(r.Event.Headers, r.Event.MultiValueHeaders, name)
}

// Header looks a header up case-insensitively in API Gateway's two header maps.
func Header(single map[string]string, multi map[string][]string, name string) string {
	for k, v := range single {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	for k, v := range multi {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// SourceIP is the caller's address as API Gateway saw it.
func (r *Request) SourceIP() string { return r.Event.RequestContext.Identity.SourceIP }

// UserAgent is the caller's User-Agent header.
func (r *Request) UserAgent() string { return r.Header("User-Agent") }

// RequestID is API Gateway's id for this request.
func (r *Request) RequestID() string { return r.Event.RequestContext.RequestID }

// Query returns a query parameter. A parameter sent more than once is a 400, because picking one
// of two ids silently is how one user's data ends up shown to another.
func (r *Request) Query(name string) (string, error) {
	if values, ok := r.Event.MultiValueQueryStringParameters[name]; ok {
		if len(values) > 1 {
			return "", apperr.InvalidField(name, "must be given once")
		}
		if len(values) == 1 {
			return values[0], nil
		}
	}
	return r.Event.QueryStringParameters[name], nil
}

// RequiredQuery is Query for a parameter that must be present and non-empty.
func (r *Request) RequiredQuery(name string) (string, error) {
	v, err := r.Query(name)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(v) == "" {
		return "", apperr.InvalidField(name, "is required")
	}
	return v, nil
}

// QueryInt reads an optional integer query parameter within [lo, hi]; def when absent.
func (r *Request) QueryInt(name string, def, lo, hi int) (int, error) {
	v, err := r.Query(name)
	if err != nil || v == "" {
		return def, err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, apperr.InvalidField(name, "must be a whole number from "+
			strconv.Itoa(lo)+" to "+strconv.Itoa(hi))
	}
	return n, nil
}

// PathParam returns a path parameter as API Gateway decoded it.
func (r *Request) PathParam(name string) string { return r.Event.PathParameters[name] }

// decodeBody turns the event body into bytes, honouring IsBase64Encoded and the size limit.
func decodeBody(e events.APIGatewayProxyRequest, limit int) ([]byte, error) {
	var body []byte
	if e.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(e.Body)
		if err != nil {
			return nil, apperr.InvalidField("body", "is not valid base64")
		}
		body = b
	} else {
		body = []byte(e.Body)
	}
	if len(body) > limit {
		return nil, &apperr.Error{Kind: apperr.TooLarge, Code: "payload_too_large",
			Message: "request body is larger than " + strconv.Itoa(limit) + " bytes"}
	}
	return body, nil
}

// ParseUserID reads a positive integer user id from a path or query value.
func ParseUserID(field, v string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n <= 0 {
		return 0, apperr.InvalidField(field, "must be a positive whole number")
	}
	return n, nil
}
