package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/clinicpix/backend/shared/audit"
)

// ErrBadCursor means a page cursor was not issued by this service for the same query: it was
// altered, truncated, signed with another key, or taken from a query with other filters.
var ErrBadCursor = errors.New("invalid page cursor")

// Cursors signs and checks the opaque page cursors of list routes. A cursor carries the scope it
// was issued for (a digest of the route and its filters) and the position after the last item
// returned. An HMAC-SHA256 tag covers both, so a client can neither forge a position nor reuse a
// cursor with different filters.
type Cursors struct {
	Key []byte
}

type cursorPayload struct {
	Scope    string `json:"s"`
	Position string `json:"p"`
}

// CursorScope returns the scope string of a query: a SHA-256 digest of its parts, so the cursor
// does not reveal the filters it is bound to.
func CursorScope(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// Encode returns the cursor for position within scope.
func (c Cursors) Encode(scope, position string) (string, error) {
	if len(c.Key) == 0 {
		return "", errors.New("cursor key is not configured")
	}
	payload, err := json.Marshal(cursorPayload{Scope: scope, Position: position})
	if err != nil {
		return "", fmt.Errorf("encode cursor: %w", err)
	}
	mac := hmac.New(sha256.New, c.Key)
	mac.Write(payload)
	return base64.RawURLEncoding.EncodeToString(payload) + "." +
		base64.RawURLEncoding.EncodeToString(mac.Sum(nil)), nil
}

// Decode checks cursor's tag and scope and returns its position. Any mismatch is ErrBadCursor.
func (c Cursors) Decode(scope, cursor string) (string, error) {
	if len(c.Key) == 0 {
		return "", errors.New("cursor key is not configured")
	}
	encPayload, encTag, ok := strings.Cut(cursor, ".")
	if !ok {
		return "", ErrBadCursor
	}
	payload, err := base64.RawURLEncoding.DecodeString(encPayload)
	if err != nil {
		return "", ErrBadCursor
	}
	tag, err := base64.RawURLEncoding.DecodeString(encTag)
	if err != nil {
		return "", ErrBadCursor
	}
	mac := hmac.New(sha256.New, c.Key)
	mac.Write(payload)
	if !hmac.Equal(tag, mac.Sum(nil)) {
		return "", ErrBadCursor
	}
	var p cursorPayload
	if err := json.Unmarshal(payload, &p); err != nil {
		return "", ErrBadCursor
	}
	if !hmac.Equal([]byte(p.Scope), []byte(scope)) || p.Position == "" {
		return "", ErrBadCursor
	}
	return p.Position, nil
}

// AuditQuery selects audit entries. Zero values mean no filter.
type AuditQuery struct {
	ActorID int64
	Action  audit.Action
	// From and To bound the entry time, both inclusive.
	From time.Time
	To   time.Time
	// Before is the sort key of the last entry of the previous page; only older entries are
	// returned.
	Before string
	Limit  int
}

// AuditPage is one page of entries, newest first. Next is the sort key to pass as Before for the
// following page, or empty when there are no more entries.
type AuditPage struct {
	Entries []audit.Entry
	Next    string
}

// DefaultAuditLookback bounds how far back an unfiltered read walks month partitions when the
// query has no From, at one Query per month.
// NOTE: six years is an assumed retention period. Older entries need an explicit From.
const DefaultAuditLookback = 6 * 366 * 24 * time.Hour

// Query returns one page of entries matching q, newest first. An actor or action filter is a
// Query on gsi1 or gsi2; with both, the actor index is read and the action is a filter on it.
// Without either, month partitions are read from To backwards. Nothing scans the table.
func (l *AuditLog) Query(ctx context.Context, q AuditQuery) (AuditPage, error) {
	if q.Limit <= 0 {
		return AuditPage{}, fmt.Errorf("query audit log: limit %d must be positive", q.Limit)
	}
	to := q.To
	if to.IsZero() {
		to = l.Now()
	}
	upper := SortTime(to) + "#~" // '~' sorts after every id character, so To is inclusive.
	if q.Before != "" && q.Before < upper {
		upper = q.Before
	}
	lower := ""
	if !q.From.IsZero() {
		lower = SortTime(q.From)
	}

	switch {
	case q.ActorID != 0:
		return l.queryPartition(ctx, aws.String(IndexGSI1), AttrGSI1PK, AttrGSI1SK,
			AuditActorKey(q.ActorID), q.Action, upper, lower, q.Limit)
	case q.Action != "":
		return l.queryPartition(ctx, aws.String(IndexGSI2), AttrGSI2PK, AttrGSI2SK,
			AuditActionKey(q.Action), "", upper, lower, q.Limit)
	}

	from := q.From
	if from.IsZero() {
		from = to.Add(-DefaultAuditLookback)
	}
	var page AuditPage
	month := monthStart(sortKeyTime(upper, to))
	for !month.Before(monthStart(from)) {
		part, err := l.queryPartition(ctx, nil, AttrPK, AttrSK, AuditMonthKey(month), "", upper,
			lower, q.Limit-len(page.Entries))
		if err != nil {
			return AuditPage{}, err
		}
		page.Entries = append(page.Entries, part.Entries...)
		if len(page.Entries) == q.Limit {
			page.Next = part.Next
			if page.Next == "" {
				// This month is exhausted; older months may still hold entries.
				page.Next = SortTime(month)
			}
			return page, nil
		}
		month = month.AddDate(0, -1, 0)
	}
	return page, nil
}

// queryPartition reads up to limit entries of one partition with sort keys below upper and at or
// above lower, newest first. Next is set when the page is full, even if nothing older remains.
func (l *AuditLog) queryPartition(ctx context.Context, index *string, pkAttr, skAttr, key string,
	action audit.Action, upper, lower string, limit int) (AuditPage, error) {
	in := &dynamodb.QueryInput{
		TableName:                aws.String(l.Table),
		IndexName:                index,
		KeyConditionExpression:   aws.String("#pk = :pk AND #sk < :upper"),
		ExpressionAttributeNames: map[string]string{"#pk": pkAttr, "#sk": skAttr},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk":    &types.AttributeValueMemberS{Value: key},
			":upper": &types.AttributeValueMemberS{Value: upper},
		},
		ScanIndexForward: aws.Bool(false),
	}
	if action != "" {
		// NOTE: with both filters the cost grows with the actor's entries, not the matches.
		in.FilterExpression = aws.String("#action = :action")
		in.ExpressionAttributeNames["#action"] = "action"
		in.ExpressionAttributeValues[":action"] = &types.AttributeValueMemberS{Value: string(action)}
	}
	var page AuditPage
	for {
		in.Limit = aws.Int32(int32(limit - len(page.Entries)))
		out, err := l.DB.Query(ctx, in)
		if err != nil {
			return AuditPage{}, wrapf(err, "query audit partition %s", key)
		}
		for _, it := range out.Items {
			var item auditItem
			if err := attributevalue.UnmarshalMap(it, &item); err != nil {
				return AuditPage{}, wrapf(err, "unmarshal audit entry")
			}
			if item.SK < lower {
				return page, nil
			}
			page.Entries = append(page.Entries, item.Entry)
			if len(page.Entries) == limit {
				page.Next = item.SK
				return page, nil
			}
		}
		if out.LastEvaluatedKey == nil {
			return page, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// monthStart returns the first instant of t's UTC month.
func monthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// sortKeyTime reads the time at the start of an audit sort key, or returns def when it has none.
func sortKeyTime(sk string, def time.Time) time.Time {
	stamp, _, _ := strings.Cut(sk, "#")
	t, err := time.Parse("2006-01-02T15:04:05.000000000Z", stamp)
	if err != nil {
		return def
	}
	return t
}
