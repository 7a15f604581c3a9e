package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/clinicpix/backend/shared/apperr"
)

// DecodeJSON decodes the request body into v strictly: the body must be one JSON object, every
// member must be a field of v, no member may appear twice, and each must have the right type.
// Each failure is a 400 naming the field.
func (r *Request) DecodeJSON(v any) error {
	return DecodeStrict(r.Body, v)
}

// DecodeStrict is DecodeJSON on raw bytes.
func DecodeStrict(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return apperr.InvalidField("body", "is empty; expected a JSON object")
	}
	// encoding/json would replace invalid bytes with U+FFFD, so two different byte strings
	// could decode to the same password.
	if !utf8.Valid(body) {
		return apperr.InvalidField("body", "is not valid UTF-8")
	}
	if err := checkDuplicateKeys(body); err != nil {
		return err
	}
	if err := checkExactNames(body, v); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return apperr.InvalidField("body", "has data after the JSON object")
	}
	return nil
}

func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "body"
		}
		return apperr.InvalidField(field, "must be of type "+jsonTypeName(typeErr.Type.Kind().String()))
	case errors.As(err, &syntaxErr):
		return apperr.InvalidField("body", fmt.Sprintf("is not valid JSON (at byte %d)", syntaxErr.Offset))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return apperr.InvalidField("body", "is not valid JSON (it ends early)")
	}
	// encoding/json reports unknown fields only as text: `json: unknown field "x"`.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return apperr.InvalidField(strings.Trim(name, `"`), "is not a known field")
	}
	return apperr.InvalidField("body", "is not valid JSON")
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "map", "struct":
		return "object"
	default:
		return "number"
	}
}

// checkExactNames rejects top-level members whose names match a field of v only when case is
// ignored, such as "EMAIL" for "email": encoding/json accepts them, the contract does not.
func checkExactNames(body []byte, v any) error {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	names := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" {
			name = t.Field(i).Name
		}
		names[name] = true
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil {
		return nil // not an object: Decode reports it with the field's type
	}
	for key := range members {
		if !names[key] {
			return apperr.InvalidField(key, "is not a known field (names are case-sensitive)")
		}
	}
	return nil
}

// checkDuplicateKeys walks the JSON tokens and rejects an object that names a member twice.
// encoding/json would silently keep the last one, so {"email":"a","email":"b"} could pass one
// value to validation and another to storage.
func checkDuplicateKeys(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct {
		object bool
		keys   map[string]bool
		path   string
		expect bool // next string token in an object is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return jsonError(err)
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.expect {
			if key, ok := tok.(string); ok {
				name := key
				if top.path != "" {
					name = top.path + "." + key
				}
				// encoding/json matches member names case-insensitively, so "email" and
				// "Email" would fill the same field.
				folded := strings.ToLower(key)
				if top.keys[folded] {
					return apperr.InvalidField(name, "appears more than once")
				}
				top.keys[folded] = true
				top.expect = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, keys: map[string]bool{}, expect: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].expect = true
		}
	}
}
