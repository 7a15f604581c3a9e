package images_test

import (
	"strings"
	"testing"

	"github.com/clinicpix/backend/shared/images"
)

func TestMatchesType(t *testing.T) {
	tests := []struct {
		file, contentType string
		want              bool
	}{
		{"CT_small.dcm", images.TypeDICOM, true},
		{"MR_small.dcm", images.TypeDICOM, true},
		{"ct_small.png", images.TypePNG, true},
		{"ct_small.jpg", images.TypeJPEG, true},
		{"ct_small.png", images.TypeJPEG, false},
		{"ct_small.jpg", images.TypeDICOM, false},
		{"not_an_image.jpg", images.TypeJPEG, false},
		{"random_bytes.png", images.TypePNG, false},
		{"random_bytes.png", images.TypeDICOM, false},
		{"ct_small.png", "image/gif", false},
	}
	for _, tt := range tests {
		head := readTestdata(t, tt.file)
		if len(head) > 132 {
			head = head[:132]
		}
		if got := images.MatchesType(tt.contentType, head); got != tt.want {
			t.Errorf("MatchesType(%s, %s): got %v, want %v", tt.contentType, tt.file, got, tt.want)
		}
	}
	if images.MatchesType(images.TypeDICOM, []byte("DICM")) {
		t.Errorf("MatchesType(DICOM, 4 bytes): got true, want false")
	}
}

func TestCleanFileName(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"chest.png", "chest.png", true},
		{"  chest\x00\x1b[31m.png\t", "chest[31m.png", true},
		{"a\u200bb.png", "ab.png", true},
		{"../../other/evil.png", "../../other/evil.png", true},
		{"\x00\x01", "", false},
		{"\xff.png", "", false},
		{strings.Repeat("é", 128), "", false},
	}
	for _, tt := range tests {
		got, err := images.CleanFileName("fileName", tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("CleanFileName(%q): got error %v, want ok %v", tt.in, err, tt.ok)
			continue
		}
		if got != tt.want {
			t.Errorf("CleanFileName(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestContentTypeOf(t *testing.T) {
	tests := []struct {
		fileType, name, want string
	}{
		{"image/png", "a.png", images.TypePNG},
		{"IMAGE/JPEG; charset=x", "a", images.TypeJPEG},
		{"image/jpg", "a", images.TypeJPEG},
		{"", "scan.DCM", images.TypeDICOM},
		{"application/octet-stream", "scan.dcm", images.TypeDICOM},
		{"", "photo.jpeg", images.TypeJPEG},
		{"image/gif", "a.gif", ""},
		{"", "notes.txt", ""},
		{"text/html", "a.png", ""},
	}
	for _, tt := range tests {
		got, err := images.ContentTypeOf(tt.fileType, tt.name)
		if tt.want == "" {
			if err == nil {
				t.Errorf("ContentTypeOf(%q, %q): got %q, want an error", tt.fileType, tt.name, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf(
				"ContentTypeOf(%q, %q): got %q, %v, want %q",
				tt.fileType,
				tt.name,
				got,
				err,
				tt.want,
			)
		}
	}
}

func TestDownloadName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"chest.png", "chest.png"},
		{"../../other/evil.png", "evil.png"},
		{`..\..\evil.png`, "evil.png"},
		{"scan 1 é\".dcm", "scan_1___.dcm"},
		{"..", "image"},
		{"dir/", "image"},
		{"...hidden", "hidden"},
		{strings.Repeat("a", 150) + ".png", strings.Repeat("a", 96) + ".png"},
	}
	for _, tt := range tests {
		if got := images.DownloadName(tt.in); got != tt.want {
			t.Errorf("DownloadName(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}
