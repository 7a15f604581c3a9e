package store

import (
	"fmt"
	"time"
)

// SortTime formats t so that string order is time order: UTC, fixed width, nanoseconds.
func SortTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000000Z")
}

// userKey is the users-table partition key of a user record.
func userKey(id int64) string { return fmt.Sprintf("USER#%d", id) }

// paddedID formats an id so that string order is numeric order.
func paddedID(id int64) string { return fmt.Sprintf("%019d", id) }

func expiry(t time.Time) int64 { return t.Unix() }
