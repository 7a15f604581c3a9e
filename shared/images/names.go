package images

import (
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/clinicpix/backend/shared/apperr"
)

// Limits on the display metadata of an image.
const (
	MaxFileNameBytes = 255
	MaxTags          = 20
	MaxTagRunes      = 50
)

// Content types an image may have.
const (
	TypeJPEG  = "image/jpeg"
	TypePNG   = "image/png"
	TypeDICOM = "application/dicom"
)

// CleanFileName returns name with control and format characters removed and surrounding spaces
// trimmed. The result is display metadata only: it never becomes part of an object key, so path
// separators and ".." in it are harmless and kept. field names the request field for errors.
func CleanFileName(field, name string) (string, error) {
	if !utf8.ValidString(name) {
		return "", apperr.InvalidField(field, "must be valid UTF-8 text")
	}
	cleaned := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, name)
	cleaned = strings.TrimSpace(cleaned)
	if cleaned == "" {
		return "", apperr.InvalidField(field, "is required")
	}
	if len(cleaned) > MaxFileNameBytes {
		return "", apperr.InvalidField(field, "must be at most 255 bytes long")
	}
	return cleaned, nil
}

// ContentTypeOf validates the declared type of an upload. An empty fileType is inferred from the
// file name's extension, because browsers report no type for DICOM files.
func ContentTypeOf(fileType, fileName string) (string, error) {
	t := strings.ToLower(strings.TrimSpace(fileType))
	if i := strings.IndexByte(t, ';'); i >= 0 {
		t = strings.TrimSpace(t[:i])
	}
	if t == "" || t == "application/octet-stream" {
		switch strings.ToLower(path.Ext(fileName)) {
		case ".jpg", ".jpeg":
			t = TypeJPEG
		case ".png":
			t = TypePNG
		case ".dcm", ".dicom":
			t = TypeDICOM
		}
	}
	switch t {
	case TypeJPEG, TypePNG, TypeDICOM:
		return t, nil
	case "image/jpg", "image/pjpeg":
		return TypeJPEG, nil
	}
	return "", apperr.InvalidField("fileType", "must be image/jpeg, image/png or application/dicom")
}

// CleanTags trims each tag, drops empty ones and duplicates, and checks the count and length
// limits. It never returns nil, so an image always stores a list.
func CleanTags(field string, tags []string) ([]string, error) {
	out := []string{}
	seen := map[string]bool{}
	for _, tag := range tags {
		if !utf8.ValidString(tag) {
			return nil, apperr.InvalidField(field, "must be valid UTF-8 text")
		}
		tag = strings.TrimSpace(tag)
		if tag == "" || seen[tag] {
			continue
		}
		if strings.IndexFunc(tag, unicode.IsControl) >= 0 {
			return nil, apperr.InvalidField(field, "must not contain control characters")
		}
		if strings.Contains(tag, ",") {
			return nil, apperr.InvalidField(field, "must not contain commas")
		}
		if utf8.RuneCountInString(tag) > MaxTagRunes {
			return nil, apperr.InvalidField(field, "must each be at most 50 characters long")
		}
		seen[tag] = true
		out = append(out, tag)
	}
	if len(out) > MaxTags {
		return nil, apperr.InvalidField(field, "must hold at most 20 tags")
	}
	return out, nil
}

// DownloadName returns a file name that is safe in a Content-Disposition header and on any file
// system: the last path element of name, with every character other than ASCII letters, digits,
// '.', '-' and '_' replaced by '_', leading dots removed, and at most 100 bytes long.
func DownloadName(name string) string {
	name = strings.ReplaceAll(name, "\\", "/")
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	var b strings.Builder
	for _, r := range name {
		switch {
		case r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) ||
			r == '.' || r == '-' || r == '_'):
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	safe := strings.TrimLeft(b.String(), ".")
	if len(safe) > 100 {
		safe = safe[len(safe)-100:]
	}
	if safe == "" {
		safe = "image"
	}
	return safe
}
