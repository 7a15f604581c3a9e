package runner

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/clinicpix/backend/shared/images"
)

func TestS3EventFromVersityGWCapturedBodies(t *testing.T) {
	const rawKey = "7/img-abc/a b+c%d é.png"
	tests := []struct {
		file      string
		eventName string
		size      int64
		eTag      string
		sequencer string
	}{
		{"versitygw-put-event.json", "ObjectCreated:Put", 9, "19dc14098be5d5493e0ab32641a974e5",
			"0000000000000001"},
		{"versitygw-delete-event.json", "ObjectRemoved:Delete", 0, "", "0000000000000002"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("..", "emulator", "testdata", tt.file))
			if err != nil {
				t.Fatalf("read captured event: %v", err)
			}
			event, ok, err := s3EventFromVersityGW(body)
			if err != nil {
				t.Fatalf("convert: %v", err)
			}
			if !ok {
				t.Fatalf("convert: got no records, want one")
			}
			if len(event.Records) != 1 {
				t.Fatalf("records: got %d, want 1", len(event.Records))
			}
			r := event.Records[0]
			if r.EventName != tt.eventName {
				t.Errorf("eventName: got %q, want %q", r.EventName, tt.eventName)
			}
			if want := "7/img-abc/a+b%2Bc%25d+%C3%A9.png"; r.S3.Object.Key != want {
				t.Errorf("key: got %q, want %q", r.S3.Object.Key, want)
			}
			if r.S3.Object.URLDecodedKey != rawKey {
				t.Errorf("URL-decoded key: got %q, want %q", r.S3.Object.URLDecodedKey, rawKey)
			}
			decoded, err := images.DecodeEventKey(r.S3.Object.Key)
			if err != nil {
				t.Fatalf("DecodeEventKey: %v", err)
			}
			if decoded != rawKey {
				t.Errorf("DecodeEventKey: got %q, want %q", decoded, rawKey)
			}
			if r.S3.Object.Size != tt.size {
				t.Errorf("size: got %d, want %d", r.S3.Object.Size, tt.size)
			}
			if r.S3.Object.ETag != tt.eTag {
				t.Errorf("eTag: got %q, want %q", r.S3.Object.ETag, tt.eTag)
			}
			if r.S3.Object.Sequencer != tt.sequencer {
				t.Errorf("sequencer: got %q, want %q", r.S3.Object.Sequencer, tt.sequencer)
			}
			if r.S3.Bucket.Arn != "arn:aws:s3:::uploads" {
				t.Errorf("bucket ARN: got %q, want %q", r.S3.Bucket.Arn, "arn:aws:s3:::uploads")
			}
		})
	}
}

func TestS3EventFromVersityGWTestEvent(t *testing.T) {
	body := []byte(
		`{"Bucket":"Test-Bucket","Event":"s3:TestEvent","Service":"S3","Time":"2026-12-04T16:12:26Z"}`,
	)
	_, ok, err := s3EventFromVersityGW(body)
	if err != nil {
		t.Fatalf("convert test event: %v", err)
	}
	if ok {
		t.Errorf("test event: got records, want none")
	}
	if _, _, err := s3EventFromVersityGW([]byte("not json")); err == nil {
		t.Errorf("invalid body: got no error, want one")
	}
}

func TestEncodeS3EventKey(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"images/7/abc", "images/7/abc"},
		{"a b.png", "a+b.png"},
		{"a+b.png", "a%2Bb.png"},
		{"100%.png", "100%25.png"},
		{"dir/é ü.dcm", "dir/%C3%A9+%C3%BC.dcm"},
	}
	for _, tt := range tests {
		got := encodeS3EventKey(tt.raw)
		if got != tt.want {
			t.Errorf("encodeS3EventKey(%q): got %q, want %q", tt.raw, got, tt.want)
		}
		back, err := images.DecodeEventKey(got)
		if err != nil {
			t.Fatalf("DecodeEventKey(%q): %v", got, err)
		}
		if back != tt.raw {
			t.Errorf("round trip of %q: got %q", tt.raw, back)
		}
	}
}
