package handlers

import (
	"testing"
	"time"

	"github.com/clinicpix/backend/shared/apperr"
)

func TestValidateProfile(t *testing.T) {
	now := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	num := func(v float64) *float64 { return &v }
	age := func(v int) *int { return &v }
	cases := []struct {
		name  string
		in    profileRequest
		field string // empty when valid
	}{
		{"empty", profileRequest{}, ""},
		{"full", profileRequest{Name: "Ada", DOB: "1980-04-30", Age: age(46), Weight: num(61.5),
			Height: num(170), Phone: "+14155550100", Address: "1 Main St"}, ""},
		{"dob format", profileRequest{DOB: "04/30/1980"}, "dob"},
		{"dob impossible day", profileRequest{DOB: "1980-02-30"}, "dob"},
		{"dob in future", profileRequest{DOB: "2026-12-05"}, "dob"},
		{"dob too old", profileRequest{DOB: "1850-01-01"}, "dob"},
		{"negative age", profileRequest{Age: age(-1)}, "age"},
		{"age too high", profileRequest{Age: age(151)}, "age"},
		{"zero weight", profileRequest{Weight: num(0)}, "weight"},
		{"weight too high", profileRequest{Weight: num(701)}, "weight"},
		{"height too high", profileRequest{Height: num(301)}, "height"},
		{"phone without plus", profileRequest{Phone: "14155550100"}, "phone"},
		{"phone with dashes", profileRequest{Phone: "+1-415-555-0100"}, "phone"},
		{"phone too long", profileRequest{Phone: "+1234567890123456"}, "phone"},
		{"name too long", profileRequest{Name: string(make([]byte, maxProfileNameChars+1))}, "name"},
		{"control character", profileRequest{Address: "a\x07b"}, "address"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := validateProfile(tc.in, now)
			if tc.field == "" {
				if err != nil {
					t.Errorf("got %v, want no error", err)
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
			if e.Kind != apperr.Invalid {
				t.Errorf("kind = %v, want Invalid", e.Kind)
			}
		})
	}
}

func TestValidateProfileTrims(t *testing.T) {
	p, err := validateProfile(profileRequest{Name: "  Ada  ", Phone: " +14155550100 "}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "Ada" {
		t.Errorf("name = %q, want %q", p.Name, "Ada")
	}
	if p.Phone != "+14155550100" {
		t.Errorf("phone = %q, want %q", p.Phone, "+14155550100")
	}
}
