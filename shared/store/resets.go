package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Reset is a pending password reset. ID is the hex SHA-256 of the token mailed to the user; the
// token itself is never stored.
type Reset struct {
	ID        string    `dynamodbav:"resetId"`
	UserID    int64     `dynamodbav:"userId"`
	CreatedAt time.Time `dynamodbav:"createdAt"`
	ExpiresAt time.Time `dynamodbav:"validUntil"`
	TTL       int64     `dynamodbav:"expiresAt"`
}

// resetItem keys a reset by its token hash, and on gsi1 by its user ("RESETS#<id>"), so a
// successful reset can end the user's other pending resets. The gsi1 key differs from the
// sessions' "USER#<id>", so DeleteUserSessions never deletes reset items.
type resetItem struct {
	PK     string `dynamodbav:"pk"`
	SK     string `dynamodbav:"sk"`
	GSI1PK string `dynamodbav:"gsi1pk"`
	GSI1SK string `dynamodbav:"gsi1sk"`
	Reset
}

func resetUserKey(userID int64) string { return "RESETS#" + strconv.FormatInt(userID, 10) }

// PutReset stores a new reset token hash with a TTL at its expiry.
func (s *Sessions) PutReset(ctx context.Context, r Reset) error {
	r.TTL = expiry(r.ExpiresAt)
	item := resetItem{
		PK: resetPrefix + r.ID, SK: itemSK,
		GSI1PK: resetUserKey(r.UserID), GSI1SK: resetPrefix + r.ID,
		Reset: r,
	}
	return putNew(ctx, s.DB, s.Table, item, fmt.Sprintf("reset for user %d", r.UserID))
}

// TakeReset deletes the reset with id and returns it, so each token works once even when two
// requests present it at the same moment. It returns ErrNotFound when there is no such reset.
// The caller still compares ExpiresAt with the clock, because TTL deletion lags.
func (s *Sessions) TakeReset(ctx context.Context, id string) (Reset, error) {
	out, err := s.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:           aws.String(s.Table),
		Key:                 stringKey(resetPrefix+id, itemSK),
		ConditionExpression: aws.String("attribute_exists(pk)"),
		ReturnValues:        types.ReturnValueAllOld,
	})
	if conditionFailed(err) {
		return Reset{}, ErrNotFound
	}
	if err != nil {
		return Reset{}, wrapf(err, "take reset")
	}
	var item resetItem
	if err := attributevalue.UnmarshalMap(out.Attributes, &item); err != nil {
		return Reset{}, wrapf(err, "unmarshal reset")
	}
	return item.Reset, nil
}

// DeleteUserResets removes every pending reset of userID and returns how many it removed.
func (s *Sessions) DeleteUserResets(ctx context.Context, userID int64) (int, error) {
	return s.deleteIndexed(ctx, resetUserKey(userID), "", "resets of user "+
		strconv.FormatInt(userID, 10))
}
