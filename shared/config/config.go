// Package config reads the service's settings from environment variables once, at start-up.
// A missing or invalid value stops start-up with an error naming the variable.
package config

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Tables holds the DynamoDB table names.
type Tables struct {
	Users       string
	Sessions    string
	Audit       string
	Assignments string
	Images      string
	Shares      string
}

// Config is every setting the functions and the local runner read.
type Config struct {
	Region string
	// DynamoDBEndpoint and S3Endpoint are set only for the local stand-ins.
	DynamoDBEndpoint string
	S3Endpoint       string
	Tables           Tables

	ImagesBucket string
	// ImagesKMSKeyID is the KMS key that every image object must be encrypted under.
	ImagesKMSKeyID string
	MaxUploadBytes int64

	// AllowedOrigins are the browser origins that get CORS headers.
	AllowedOrigins []string
	MaxBodyBytes   int

	// MailMode is "ses" in AWS or "local" in the local runner.
	MailMode string
	MailFrom string
	// PublicURL is the web client's address, used in reset links.
	PublicURL string

	PolicyVersion      string
	BcryptCost         int
	LoginMaxFailures   int
	LoginFailureWindow time.Duration
	LockoutDuration    time.Duration
	SessionIdleTimeout time.Duration
	SessionMaxLifetime time.Duration

	// TOTPKeyMode is "kms" (TOTPKMSKeyID encrypts TOTP secrets) or "local" (TOTPLocalKey, a
	// base64 AES-256 key, does).
	TOTPKeyMode  string
	TOTPKMSKeyID string
	TOTPLocalKey []byte

	// CursorKey signs the opaque page cursors of list routes (HMAC-SHA256), so a client cannot
	// forge one. It is 32 bytes in standard base64.
	CursorKey []byte
}

// Lookup is os.LookupEnv's signature, so tests can pass a map.
type Lookup func(name string) (string, bool)

// Load reads Config through lookup.
func Load(lookup Lookup) (Config, error) {
	r := reader{lookup: lookup}
	c := Config{
		Region:           r.str("AWS_REGION", "us-east-1"),
		DynamoDBEndpoint: r.optionalURL("CLINICPIX_DYNAMODB_ENDPOINT"),
		S3Endpoint:       r.optionalURL("CLINICPIX_S3_ENDPOINT"),
		Tables: Tables{
			Users:       r.required("CLINICPIX_USERS_TABLE"),
			Sessions:    r.required("CLINICPIX_SESSIONS_TABLE"),
			Audit:       r.required("CLINICPIX_AUDIT_TABLE"),
			Assignments: r.required("CLINICPIX_ASSIGNMENTS_TABLE"),
			Images:      r.required("CLINICPIX_IMAGES_TABLE"),
			Shares:      r.required("CLINICPIX_SHARES_TABLE"),
		},
		ImagesBucket:       r.required("CLINICPIX_IMAGES_BUCKET"),
		ImagesKMSKeyID:     r.required("CLINICPIX_IMAGES_KMS_KEY_ID"),
		MaxUploadBytes:     int64(r.intRange("CLINICPIX_MAX_UPLOAD_BYTES", 50_000_000, 1, 5<<30)),
		AllowedOrigins:     r.origins("CLINICPIX_ALLOWED_ORIGINS", "http://localhost:4200"),
		MaxBodyBytes:       r.intRange("CLINICPIX_MAX_BODY_BYTES", 64<<10, 1<<10, 6<<20),
		MailMode:           r.oneOf("CLINICPIX_MAIL_MODE", "ses", "ses", "local"),
		MailFrom:           r.required("CLINICPIX_MAIL_FROM"),
		PublicURL:          r.str("CLINICPIX_PUBLIC_URL", "http://localhost:4200"),
		PolicyVersion:      r.str("CLINICPIX_POLICY_VERSION", "2026-01"),
		BcryptCost:         r.intRange("CLINICPIX_BCRYPT_COST", 12, 12, 16),
		LoginMaxFailures:   r.intRange("CLINICPIX_LOGIN_MAX_FAILURES", 5, 1, 100),
		LoginFailureWindow: r.duration("CLINICPIX_LOGIN_FAILURE_WINDOW", 15*time.Minute),
		LockoutDuration:    r.duration("CLINICPIX_LOCKOUT_DURATION", 15*time.Minute),
		SessionIdleTimeout: r.duration("CLINICPIX_SESSION_IDLE_TIMEOUT", 30*time.Minute),
		SessionMaxLifetime: r.duration("CLINICPIX_SESSION_MAX_LIFETIME", 12*time.Hour),
		TOTPKeyMode:        r.oneOf("CLINICPIX_TOTP_KEY_MODE", "kms", "kms", "local"),
		CursorKey:          r.key("CLINICPIX_CURSOR_KEY"),
	}
	switch c.TOTPKeyMode {
	case "kms":
		c.TOTPKMSKeyID = r.required("CLINICPIX_TOTP_KMS_KEY_ID")
	case "local":
		c.TOTPLocalKey = r.key("CLINICPIX_TOTP_LOCAL_KEY")
	}
	if r.err != nil {
		return Config{}, r.err
	}
	return c, nil
}

// reader keeps the first error so Load can read every variable in one expression.
type reader struct {
	lookup Lookup
	err    error
}

func (r *reader) fail(name, format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("config: %s: %s", name, fmt.Sprintf(format, args...))
	}
}

func (r *reader) str(name, def string) string {
	if v, ok := r.lookup(name); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return def
}

func (r *reader) required(name string) string {
	v := r.str(name, "")
	if v == "" {
		r.fail(name, "missing; set it to a non-empty value")
	}
	return v
}

func (r *reader) optionalURL(name string) string {
	v := r.str(name, "")
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.fail(name, "invalid URL %q; expected http(s)://host:port", v)
	}
	return v
}

func (r *reader) intRange(name string, def, lo, hi int) int {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.fail(name, "invalid value %q; expected a whole number from %d to %d", v, lo, hi)
	}
	return n
}

func (r *reader) duration(name string, def time.Duration) time.Duration {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		r.fail(name, "invalid duration %q; expected a positive Go duration such as 15m", v)
	}
	return d
}

func (r *reader) oneOf(name, def string, allowed ...string) string {
	v := r.str(name, def)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	r.fail(name, "invalid value %q; expected one of %s", v, strings.Join(allowed, ", "))
	return v
}

func (r *reader) origins(name, def string) []string {
	var out []string
	for _, o := range strings.Split(r.str(name, def), ",") {
		o = strings.TrimSpace(o)
		u, err := url.Parse(o)
		if err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" {
			r.fail(name, "invalid origin %q; expected scheme://host[:port] with no path", o)
			continue
		}
		out = append(out, o)
	}
	return out
}

func (r *reader) key(name string) []byte {
	v := r.required(name)
	if v == "" {
		return nil
	}
	k, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(k) != 32 {
		r.fail(name, "invalid key; expected 32 bytes in standard base64")
	}
	return k
}
