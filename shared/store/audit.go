package store

import (
	"context"
	"fmt"
	"time"

	"github.com/clinicpix/backend/shared/audit"
)

// AuditLog appends to the audit table. Items are partitioned by month ("M#2026-12") with a sort
// key of time and id, so newest-first reads are Queries walking months backwards; gsi1 is keyed
// by actor and gsi2 by action for the filtered reads.
type AuditLog struct {
	DB    DynamoDB
	Table string
	Now   func() time.Time
}

var _ audit.Recorder = (*AuditLog)(nil)

type auditItem struct {
	PK     string `dynamodbav:"pk"`
	SK     string `dynamodbav:"sk"`
	GSI1PK string `dynamodbav:"gsi1pk"`
	GSI1SK string `dynamodbav:"gsi1sk"`
	GSI2PK string `dynamodbav:"gsi2pk"`
	GSI2SK string `dynamodbav:"gsi2sk"`
	audit.Entry
}

// AuditMonthKey is the partition key of the month containing t.
func AuditMonthKey(t time.Time) string { return "M#" + t.UTC().Format("2006-01") }

// AuditActorKey and AuditActionKey are the index partition keys for the filtered reads.
func AuditActorKey(id int64) string        { return fmt.Sprintf("ACTOR#%d", id) }
func AuditActionKey(a audit.Action) string { return "ACTION#" + string(a) }

// Record appends e, filling in its id and time when they are empty. The write is conditional on
// the key being new, so an entry can never overwrite another.
func (l *AuditLog) Record(ctx context.Context, e audit.Entry) error {
	if e.ID == "" {
		e.ID = audit.NewID()
	}
	if e.Time.IsZero() {
		e.Time = l.Now()
	}
	e.Time = e.Time.UTC()
	sk := SortTime(e.Time) + "#" + e.ID
	item := auditItem{
		PK: AuditMonthKey(e.Time), SK: sk,
		GSI1PK: AuditActorKey(e.ActorID), GSI1SK: sk,
		GSI2PK: AuditActionKey(e.Action), GSI2SK: sk,
		Entry: e,
	}
	return putNew(ctx, l.DB, l.Table, item, fmt.Sprintf("audit entry %s (%s)", e.ID, e.Action))
}
