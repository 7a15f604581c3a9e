package images

import "bytes"

// magicBytesNeeded is how much of an object the type check reads: a DICOM file has a 128-byte
// preamble followed by "DICM".
const magicBytesNeeded = 132

var (
	jpegMagic  = []byte{0xFF, 0xD8, 0xFF}
	pngMagic   = []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}
	dicomMagic = []byte("DICM")
)

// MatchesType reports whether head, the first bytes of an object, starts the way a file of
// contentType must: JPEG with FF D8 FF, PNG with its 8-byte signature, DICOM (Part 10 files)
// with "DICM" at offset 128.
func MatchesType(contentType string, head []byte) bool {
	switch contentType {
	case TypeJPEG:
		return bytes.HasPrefix(head, jpegMagic)
	case TypePNG:
		return bytes.HasPrefix(head, pngMagic)
	case TypeDICOM:
		return len(head) >= magicBytesNeeded && bytes.Equal(head[128:132], dicomMagic)
	}
	return false
}
