package handlers

import (
	"strings"
	"testing"

	"github.com/clinicpix/backend/shared/apperr"
	"github.com/clinicpix/backend/shared/httpapi"
)

func TestFactorCodeChecksBody(t *testing.T) {
	cases := []struct {
		name, body, want string
		field            string
	}{
		{"six digits", `{"code":"123456"}`, "123456", ""},
		{"trimmed", `{"code":" 123456 "}`, "123456", ""},
		{"recovery code", `{"code":"ABCD-EFGH-IJKL-MNOP"}`, "ABCD-EFGH-IJKL-MNOP", ""},
		{"empty", `{"code":""}`, "", "code"},
		{"too long", `{"code":"` + strings.Repeat("1", maxCodeChars+1) + `"}`, "", "code"},
		{"number", `{"code":123456}`, "", "code"},
		{"unknown field", `{"code":"123456","otp":"1"}`, "", "otp"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := factorCode(&httpapi.Request{Body: []byte(tc.body)})
			if tc.field == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				if got != tc.want {
					t.Errorf("code = %q, want %q", got, tc.want)
				}
				return
			}
			e, ok := err.(*apperr.Error)
			if !ok {
				t.Fatalf("got %v, want an invalid-field error", err)
			}
			if e.Field != tc.field {
				t.Errorf("field = %q, want %q", e.Field, tc.field)
			}
		})
	}
}
