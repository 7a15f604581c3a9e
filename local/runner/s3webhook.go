package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// maxWebhookBytes bounds one webhook body. versitygw sends one small record per POST.
const maxWebhookBytes = 1 << 20

// s3EventTimeout bounds how long one event's handling may take, as a Lambda timeout would.
const s3EventTimeout = 30 * time.Second

// handleS3Webhook receives versitygw's bucket notifications, turns each into the event Amazon
// S3 would deliver, and runs the same S3 event handler as the deployed functions. versitygw
// ignores the response status and never retries, so failures are only logged.
func (r *Runner) handleS3Webhook(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, maxWebhookBytes+1))
	if err != nil || len(body) > maxWebhookBytes {
		r.log.Error("S3 webhook body unreadable or too large")
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	event, ok, err := s3EventFromVersityGW(body)
	if err != nil {
		r.log.Error("S3 webhook body is not a versitygw event", "error", err.Error())
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if !ok {
		// versitygw's start-up test event has no records.
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.App == nil {
		r.log.Error("S3 event dropped: the API is still starting")
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(req.Context()), s3EventTimeout)
	defer cancel()
	if err := r.App.S3Events()(ctx, event); err != nil {
		r.log.Error("S3 event handler failed", "error", err.Error())
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// s3EventFromVersityGW converts a versitygw v1.8.0 webhook body into the events.S3Event that
// Amazon S3 would deliver for the same change, decoded the way the Lambda runtime decodes it.
// It reports false for a body without records, such as versitygw's start-up test event.
// local/emulator/README.md lists the differences this undoes:
//   - the event name loses versitygw's "s3:" prefix;
//   - the raw key is URL-encoded as S3 encodes it: each path segment query-escaped, so a space
//     becomes '+', with '/' kept;
//   - the eTag loses its quotes, the bucket ARN names only the bucket, a removed object has no
//     size, and the empty glacierEventData (which aws-lambda-go cannot decode) is dropped;
//   - the sequencer, a hexadecimal counter, is left-padded to 16 digits, so that it orders like
//     S3's fixed-width sequencers under S3's compare rule.
func s3EventFromVersityGW(body []byte) (events.S3Event, bool, error) {
	var raw struct {
		Records []map[string]any `json:"Records"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return events.S3Event{}, false, fmt.Errorf("decode webhook body: %w", err)
	}
	if len(raw.Records) == 0 {
		return events.S3Event{}, false, nil
	}
	for i, rec := range raw.Records {
		if err := convertVersityRecord(rec); err != nil {
			return events.S3Event{}, false, fmt.Errorf("record %d: %w", i, err)
		}
	}
	converted, err := json.Marshal(raw)
	if err != nil {
		return events.S3Event{}, false, fmt.Errorf("encode converted event: %w", err)
	}
	var event events.S3Event
	if err := json.Unmarshal(converted, &event); err != nil {
		return events.S3Event{}, false, fmt.Errorf("decode converted event: %w", err)
	}
	return event, true, nil
}

func convertVersityRecord(rec map[string]any) error {
	name, _ := rec["eventName"].(string)
	name = strings.TrimPrefix(name, "s3:")
	rec["eventName"] = name
	delete(rec, "glacierEventData")

	s3Part, ok := rec["s3"].(map[string]any)
	if !ok {
		return fmt.Errorf("no s3 object")
	}
	bucket, ok := s3Part["bucket"].(map[string]any)
	if !ok {
		return fmt.Errorf("no s3.bucket object")
	}
	bucketName, _ := bucket["name"].(string)
	bucket["arn"] = "arn:aws:s3:::" + bucketName

	object, ok := s3Part["object"].(map[string]any)
	if !ok {
		return fmt.Errorf("no s3.object object")
	}
	key, ok := object["key"].(string)
	if !ok || key == "" {
		return fmt.Errorf("no s3.object.key")
	}
	object["key"] = encodeS3EventKey(key)
	if etag, ok := object["eTag"].(string); ok {
		object["eTag"] = strings.Trim(etag, `"`)
	} else {
		delete(object, "eTag")
	}
	if object["versionId"] == nil {
		delete(object, "versionId")
	}
	if strings.HasPrefix(name, "ObjectRemoved:") {
		delete(object, "size")
	}
	if seq, ok := object["sequencer"].(string); ok && len(seq) < 16 {
		object["sequencer"] = strings.Repeat("0", 16-len(seq)) + seq
	}
	return nil
}

// encodeS3EventKey URL-encodes a raw object key the way S3 event notifications do.
func encodeS3EventKey(key string) string {
	segments := strings.Split(key, "/")
	for i, s := range segments {
		segments[i] = url.QueryEscape(s)
	}
	return strings.Join(segments, "/")
}
