// Package routes is the single list of the API's routes. The local runner, the CDK app, the
// OpenAPI description and the authorization tests all read Table; nothing else lists routes.
package routes

import (
	"net/url"
	"strings"

	"github.com/clinicpix/backend/shared/identity"
)

// BasePath is the prefix every route is served under, in API Gateway and locally.
const BasePath = "/api"

// Route is one method and path and the Lambda function that serves it.
type Route struct {
	Method string
	// Path is in API Gateway resource form below BasePath, e.g. "/files/view/{fileName}".
	Path string
	// Function names the Lambda function and its folder under functions/.
	Function string
	// Public routes need no bearer token. All others need one, and Roles must list the
	// caller's role.
	Public  bool
	Roles   []identity.Role
	Summary string
}

// Allows reports whether a caller with role may call r. Public routes allow everyone.
func (r Route) Allows(role identity.Role) bool {
	if r.Public {
		return true
	}
	for _, allowed := range r.Roles {
		if allowed == role {
			return true
		}
	}
	return false
}

var (
	anyone     []identity.Role
	everyRole  = []identity.Role{identity.Patient, identity.Provider, identity.Admin}
	patient    = []identity.Role{identity.Patient}
	provider   = []identity.Role{identity.Provider}
	admin      = []identity.Role{identity.Admin}
	careTeam   = []identity.Role{identity.Provider, identity.Admin}
	imageUsers = []identity.Role{identity.Patient, identity.Provider}
	healthUser = []identity.Role{identity.Patient, identity.Provider}
)

// Table lists every route. Role lists are the first gate; handlers then check the resource
// (ownership, assignment, share) themselves.
var Table = []Route{
	// Sign-in.
	{Method: "POST", Path: "/auth/signup", Function: "auth-signup", Public: true, Roles: anyone,
		Summary: "Create a patient or provider account"},
	{Method: "POST", Path: "/auth/login", Function: "auth-login", Public: true, Roles: anyone,
		Summary: "Check a password and start the second factor"},
	{Method: "POST", Path: "/auth/verify-otp", Function: "auth-verify-otp", Public: true,
		Roles: anyone, Summary: "Check the second factor and issue a bearer token"},
	{Method: "POST", Path: "/auth/protected", Function: "auth-protected", Roles: everyRole,
		Summary: "Return the signed-in user"},
	{Method: "POST", Path: "/auth/logout", Function: "auth-logout", Roles: everyRole,
		Summary: "End the current session"},
	{Method: "POST", Path: "/auth/request-password-reset", Function: "auth-request-reset",
		Public: true, Roles: anyone, Summary: "Mail a password reset link"},
	{Method: "POST", Path: "/auth/reset-password", Function: "auth-reset-password", Public: true,
		Roles: anyone, Summary: "Set a new password with a reset token"},
	{Method: "POST", Path: "/auth/admin-reset-password", Function: "auth-admin-reset",
		Roles: admin, Summary: "Mail a password reset link to another user"},
	{Method: "POST", Path: "/auth/change-password", Function: "auth-change-password",
		Roles: everyRole, Summary: "Change the caller's password"},

	// Second factor enrollment.
	{Method: "POST", Path: "/auth/totp/enroll", Function: "totp-enroll", Roles: everyRole,
		Summary: "Start authenticator app enrollment"},
	{Method: "POST", Path: "/auth/totp/confirm", Function: "totp-confirm", Roles: everyRole,
		Summary: "Confirm enrollment with a first code and issue recovery codes"},
	{Method: "POST", Path: "/auth/totp/disable", Function: "totp-disable", Roles: everyRole,
		Summary: "Remove the authenticator app"},
	{Method: "POST", Path: "/auth/recovery-codes", Function: "totp-recovery-codes",
		Roles: everyRole, Summary: "Replace the recovery codes"},

	// Images.
	{Method: "GET", Path: "/files", Function: "files-list", Roles: provider,
		Summary: "List the caller's images"},
	{Method: "POST", Path: "/files/upload", Function: "files-upload", Roles: provider,
		Summary: "Issue a presigned upload URL"},
	{Method: "GET", Path: "/files/view/{fileName}", Function: "files-view", Roles: imageUsers,
		Summary: "Issue a presigned view URL"},
	{Method: "GET", Path: "/files/download", Function: "files-download", Roles: imageUsers,
		Summary: "Issue a presigned download URL"},
	{Method: "DELETE", Path: "/files/delete/{fileName}", Function: "files-delete",
		Roles: provider, Summary: "Delete an image and end its shares"},
	{Method: "PUT", Path: "/files/update-tags", Function: "files-update-tags", Roles: provider,
		Summary: "Replace an image's tags"},
	{Method: "POST", Path: "/files/share", Function: "files-share", Roles: provider,
		Summary: "Share an image with an assigned patient"},
	{Method: "POST", Path: "/files/revoke", Function: "files-revoke", Roles: provider,
		Summary: "End a share"},
	{Method: "GET", Path: "/files/shared", Function: "files-shared", Roles: patient,
		Summary: "List images shared with the caller"},
	{Method: "GET", Path: "/files/provider-shared", Function: "files-provider-shared",
		Roles: provider, Summary: "List the caller's shares"},

	// Care team.
	{Method: "GET", Path: "/user-id", Function: "patients-user-id", Roles: provider,
		Summary: "Look up an assigned patient's id by email"},
	{Method: "POST", Path: "/patients/assign", Function: "patients-assign", Roles: careTeam,
		Summary: "Assign a patient to a provider"},
	{Method: "DELETE", Path: "/patients/unassign", Function: "patients-unassign", Roles: careTeam,
		Summary: "End an assignment"},
	{Method: "GET", Path: "/patients/all-patient-emails/{providerId}",
		Function: "patients-directory", Roles: provider,
		Summary: "List active patients not yet assigned to the caller"},
	{Method: "GET", Path: "/patients/{providerId}", Function: "patients-list", Roles: provider,
		Summary: "List the caller's assigned patients"},
	{Method: "GET", Path: "/me/providers", Function: "me-providers", Roles: patient,
		Summary: "List the caller's care team"},
	{Method: "DELETE", Path: "/me/providers/{providerId}", Function: "me-end-assignment",
		Roles: patient, Summary: "End a provider's access to the caller"},

	// Accounts.
	{Method: "GET", Path: "/users/all", Function: "users-list", Roles: admin,
		Summary: "List accounts"},
	{Method: "GET", Path: "/users/{userId}", Function: "users-get-profile", Roles: healthUser,
		Summary: "Read the caller's profile"},
	{Method: "PUT", Path: "/users/{userId}/profile", Function: "users-update-profile",
		Roles: healthUser, Summary: "Update the caller's profile"},
	{Method: "PUT", Path: "/users/{userId}", Function: "users-update", Roles: admin,
		Summary: "Change an account's username, email or role"},
	{Method: "PATCH", Path: "/users/activate/{userId}", Function: "users-activate",
		Roles: admin, Summary: "Activate an account"},
	{Method: "PATCH", Path: "/users/deactivate/{userId}", Function: "users-deactivate",
		Roles: admin, Summary: "Deactivate an account and end its sessions"},

	// Audit log.
	{Method: "GET", Path: "/audit-logs", Function: "audit-logs", Roles: admin,
		Summary: "Read audit entries, newest first"},
}

// Match finds the route for method and a request path that starts with BasePath. It returns the
// decoded path parameters. Literal segments win over parameters, so "/users/all" is never read as
// "/users/{userId}".
func Match(method, path string) (Route, map[string]string, bool) {
	rest, ok := strings.CutPrefix(path, BasePath)
	if !ok {
		return Route{}, nil, false
	}
	segments := strings.Split(strings.Trim(rest, "/"), "/")
	var best Route
	var bestParams map[string]string
	bestScore := -1
	for _, r := range Table {
		if r.Method != method {
			continue
		}
		params, score, ok := matchSegments(strings.Split(strings.Trim(r.Path, "/"), "/"), segments)
		if ok && score > bestScore {
			best, bestParams, bestScore = r, params, score
		}
	}
	return best, bestParams, bestScore >= 0
}

// MethodsOf returns the methods some route serves at this path, so callers can tell 405 (a
// known path) from 404.
func MethodsOf(path string) []string {
	var methods []string
	for _, method := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		if _, _, ok := Match(method, path); ok {
			methods = append(methods, method)
		}
	}
	return methods
}

func matchSegments(pattern, segments []string) (map[string]string, int, bool) {
	if len(pattern) != len(segments) {
		return nil, 0, false
	}
	params := map[string]string{}
	score := 0
	for i, p := range pattern {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			value, err := url.PathUnescape(segments[i])
			if err != nil || value == "" {
				return nil, 0, false
			}
			params[p[1:len(p)-1]] = value
			continue
		}
		if p != segments[i] {
			return nil, 0, false
		}
		score++
	}
	return params, score, true
}

// ByFunction returns the route served by the named function.
func ByFunction(name string) (Route, bool) {
	for _, r := range Table {
		if r.Function == name {
			return r, true
		}
	}
	return Route{}, false
}
