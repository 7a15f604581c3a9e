package routes

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/clinicpix/backend/shared/identity"
)

var pathParam = regexp.MustCompile(`\{([A-Za-z]+)\}`)

// OpenAPI returns the API's OpenAPI 3 description, built from Table: every route's path, method,
// path parameters, roles and bearer-token requirement, and the shared error shape.
func OpenAPI() *openapi3.T {
	errorSchema := openapi3.NewObjectSchema().
		WithProperty("error", openapi3.NewStringSchema()).
		WithProperty("message", openapi3.NewStringSchema()).
		WithProperty("field", openapi3.NewStringSchema()).
		WithProperty("requestId", openapi3.NewStringSchema()).
		WithRequired([]string{"error", "message"})
	doc := &openapi3.T{
		OpenAPI: "3.0.3",
		Info: &openapi3.Info{
			Title:   "ClinicPix API",
			Version: "1.0.0",
			Description: "Medical image upload and sharing. Identity always comes from the " +
				"bearer token; ids sent in requests must match the caller or the call is a 403.",
		},
		Paths: openapi3.NewPaths(),
		Components: &openapi3.Components{
			SecuritySchemes: openapi3.SecuritySchemes{
				"bearer": &openapi3.SecuritySchemeRef{Value: openapi3.NewSecurityScheme().
					WithType("http").WithScheme("bearer").
					WithDescription("Opaque token returned by POST /api/auth/verify-otp.")},
			},
			Schemas: openapi3.Schemas{
				"Error": openapi3.NewSchemaRef("", errorSchema),
			},
		},
	}
	for _, r := range Table {
		path := BasePath + r.Path
		item := doc.Paths.Value(path)
		if item == nil {
			item = &openapi3.PathItem{}
			doc.Paths.Set(path, item)
		}
		item.SetOperation(r.Method, operation(r, errorSchema))
	}
	return doc
}

func operation(r Route, errorSchema *openapi3.Schema) *openapi3.Operation {
	op := openapi3.NewOperation()
	op.OperationID = r.Function
	op.Summary = r.Summary
	op.Tags = []string{strings.Split(strings.Trim(r.Path, "/"), "/")[0]}
	for _, m := range pathParam.FindAllStringSubmatch(r.Path, -1) {
		op.AddParameter(openapi3.NewPathParameter(m[1]).WithSchema(openapi3.NewStringSchema()))
	}
	if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch ||
		(r.Method == http.MethodDelete && strings.HasSuffix(r.Path, "unassign")) {
		op.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().
			WithJSONSchema(openapi3.NewObjectSchema())}
	}
	status := http.StatusOK
	if r.Function == "auth-signup" {
		status = http.StatusCreated
	}
	op.AddResponse(status, openapi3.NewResponse().WithDescription("Success").
		WithJSONSchema(openapi3.NewSchema()))
	errorRef := &openapi3.SchemaRef{Ref: "#/components/schemas/Error", Value: errorSchema}
	errorResponse := func(text string) *openapi3.Response {
		return openapi3.NewResponse().WithDescription(text).
			WithContent(openapi3.NewContentWithJSONSchemaRef(errorRef))
	}
	op.AddResponse(http.StatusBadRequest, errorResponse("Invalid input; field names the culprit"))
	op.AddResponse(http.StatusInternalServerError, errorResponse("Failed; the body carries the request id"))
	op.AddResponse(http.StatusServiceUnavailable, errorResponse("The audit write failed, so nothing was done"))
	if r.Public {
		op.Security = openapi3.NewSecurityRequirements()
		return op
	}
	op.Security = openapi3.NewSecurityRequirements().With(openapi3.NewSecurityRequirement().
		Authenticate("bearer"))
	op.AddResponse(http.StatusUnauthorized, errorResponse("No valid bearer token"))
	op.AddResponse(http.StatusForbidden, errorResponse("Role or resource not allowed"))
	roles := make([]string, len(r.Roles))
	for i, role := range r.Roles {
		roles[i] = string(role)
	}
	op.Extensions = map[string]any{"x-clinicpix-roles": roles}
	return op
}

// rolesOf is the inverse of the x-clinicpix-roles extension, for tests.
func rolesOf(op *openapi3.Operation) []identity.Role {
	raw, _ := op.Extensions["x-clinicpix-roles"].([]string)
	out := make([]identity.Role, len(raw))
	for i, r := range raw {
		out[i] = identity.Role(r)
	}
	return out
}
