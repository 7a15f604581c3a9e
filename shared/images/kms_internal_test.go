package images

import "testing"

func TestSameKMSKey(t *testing.T) {
	const arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	tests := []struct {
		reported, configured string
		want                 bool
	}{
		{arn, arn, true},
		{arn, "1234abcd-12ab-34cd-56ef-1234567890ab", true},
		{arn, "abcd-12ab-34cd-56ef-1234567890ab", false},
		{arn, "alias/clinicpix-images", false},
		{"", "1234abcd-12ab-34cd-56ef-1234567890ab", false},
		{arn, "", false},
	}
	for _, tt := range tests {
		if got := sameKMSKey(tt.reported, tt.configured); got != tt.want {
			t.Errorf(
				"sameKMSKey(%q, %q): got %v, want %v",
				tt.reported,
				tt.configured,
				got,
				tt.want,
			)
		}
	}
}

func TestParseObjectKey(t *testing.T) {
	id := "5f0c6b1e9d8a4c2b8e7f6a5b4c3d2e1f"
	tests := []struct {
		key   string
		owner int64
		ok    bool
	}{
		{"images/34/" + id, 34, true},
		{"images/034/" + id, 0, false},
		{"images/34/" + id + "/x", 0, false},
		{"images/34/../" + id, 0, false},
		{"other/34/" + id, 0, false},
		{"images/34/" + id[:31], 0, false},
		{"images/34/" + id[:31] + "G", 0, false},
	}
	for _, tt := range tests {
		owner, gotID, ok := parseObjectKey(tt.key)
		if ok != tt.ok {
			t.Errorf("parseObjectKey(%q): got ok %v, want %v", tt.key, ok, tt.ok)
			continue
		}
		if ok && (owner != tt.owner || gotID != id) {
			t.Errorf(
				"parseObjectKey(%q): got %d %q, want %d %q",
				tt.key,
				owner,
				gotID,
				tt.owner,
				id,
			)
		}
	}
	if got := ObjectKey(34, id); got != "images/34/"+id {
		t.Errorf("ObjectKey: got %q, want %q", got, "images/34/"+id)
	}
}
