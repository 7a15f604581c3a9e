package store

import (
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ErrNotFound means the item does not exist (or has expired).
var ErrNotFound = errors.New("not found")

// ErrConditionFailed means a conditional write lost: the item changed or already existed.
var ErrConditionFailed = errors.New("condition failed")

func asError[T error](err error, target *T) bool { return errors.As(err, target) }

func wrapf(err error, format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, err)...)
}

// conditionFailed reports whether err is a failed condition on a single-item write.
func conditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// cancellationReasons returns the per-item reason codes of a cancelled transaction, or nil.
func cancellationReasons(err error) []string {
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return nil
	}
	codes := make([]string, len(tce.CancellationReasons))
	for i, r := range tce.CancellationReasons {
		if r.Code != nil {
			codes[i] = *r.Code
		}
	}
	return codes
}
