package runner

import "net/http"

// handleS3Webhook receives versitygw's bucket notifications.
// NOTE: placeholder until S3 event handling lands; it accepts and drops every event.
func (r *Runner) handleS3Webhook(w http.ResponseWriter, req *http.Request) {
	w.WriteHeader(http.StatusNoContent)
}
