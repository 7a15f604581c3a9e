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

	"github.com/clinicpix/backend/shared/identity"
)

// Sessions reads and writes the sessions table: bearer-token sessions, second-factor challenges
// and password reset tokens. Every item has a TTL.
type Sessions struct {
	DB    DynamoDB
	Table string
}

// Session is a signed-in bearer token. ID is the hex SHA-256 of the token.
type Session struct {
	ID           string        `dynamodbav:"sessionId"`
	UserID       int64         `dynamodbav:"userId"`
	Role         identity.Role `dynamodbav:"role"`
	CreatedAt    time.Time     `dynamodbav:"createdAt"`
	LastSeen     time.Time     `dynamodbav:"lastSeen"`
	AbsoluteEnd  time.Time     `dynamodbav:"absoluteEnd"`
	ExpiresAtTTL int64         `dynamodbav:"expiresAt"`
}

// Challenge is a pending second-factor check for one login attempt.
type Challenge struct {
	UserID    int64     `dynamodbav:"userId"`
	AttemptID string    `dynamodbav:"attemptId"`
	Method    string    `dynamodbav:"method"` // "email" or "totp"
	CodeHash  string    `dynamodbav:"codeHash,omitempty"`
	Tries     int       `dynamodbav:"tries"`
	CreatedAt time.Time `dynamodbav:"createdAt"`
	ExpiresAt time.Time `dynamodbav:"validUntil"`
	TTL       int64     `dynamodbav:"expiresAt"`
}

const (
	sessionPrefix   = "SESSION#"
	challengePrefix = "CHALLENGE#"
	resetPrefix     = "RESET#"
	itemSK          = "ITEM"
)

type sessionItem struct {
	PK     string `dynamodbav:"pk"`
	SK     string `dynamodbav:"sk"`
	GSI1PK string `dynamodbav:"gsi1pk"`
	GSI1SK string `dynamodbav:"gsi1sk"`
	Session
}

// CreateSession stores a new session.
func (s *Sessions) CreateSession(ctx context.Context, sess Session) error {
	item := sessionItem{
		PK: sessionPrefix + sess.ID, SK: itemSK,
		GSI1PK: userKey(sess.UserID), GSI1SK: sessionPrefix + sess.ID,
		Session: sess,
	}
	return putNew(ctx, s.DB, s.Table, item, fmt.Sprintf("session for user %d", sess.UserID))
}

// GetSession reads a session by id. Expired items that TTL has not removed yet are returned; the
// caller compares the times.
func (s *Sessions) GetSession(ctx context.Context, id string) (Session, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.Table),
		Key:            stringKey(sessionPrefix+id, itemSK),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Session{}, wrapf(err, "get session")
	}
	if out.Item == nil {
		return Session{}, ErrNotFound
	}
	var item sessionItem
	if err := attributevalue.UnmarshalMap(out.Item, &item); err != nil {
		return Session{}, wrapf(err, "unmarshal session")
	}
	return item.Session, nil
}

// TouchSession moves a session's idle deadline forward. It fails with ErrNotFound when the
// session was deleted meanwhile, so a logout is never undone by a concurrent request.
func (s *Sessions) TouchSession(ctx context.Context, id string, seen time.Time, ttl time.Time) error {
	values, err := attributevalue.MarshalMap(map[string]any{":seen": seen, ":ttl": expiry(ttl)})
	if err != nil {
		return err
	}
	_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       stringKey(sessionPrefix+id, itemSK),
		UpdateExpression:          aws.String("SET lastSeen = :seen, expiresAt = :ttl"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: values,
	})
	if conditionFailed(err) {
		return ErrNotFound
	}
	if err != nil {
		return wrapf(err, "touch session")
	}
	return nil
}

// DeleteSession ends one session. Deleting a missing session is not an error.
func (s *Sessions) DeleteSession(ctx context.Context, id string) error {
	_, err := s.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.Table),
		Key:       stringKey(sessionPrefix+id, itemSK),
	})
	if err != nil {
		return wrapf(err, "delete session")
	}
	return nil
}

// DeleteUserSessions ends every session of a user except keep (which may be empty). It returns
// how many it ended.
func (s *Sessions) DeleteUserSessions(ctx context.Context, userID int64, keep string) (int, error) {
	return s.deleteIndexed(ctx, userKey(userID), sessionPrefix+keep, "sessions of user "+
		strconv.FormatInt(userID, 10))
}

// deleteIndexed deletes every item whose gsi1pk is key, except the one whose pk is keepPK, and
// returns how many it deleted. what names the items in errors.
func (s *Sessions) deleteIndexed(ctx context.Context, key, keepPK, what string) (int, error) {
	deleted := 0
	var start map[string]types.AttributeValue
	for {
		out, err := s.DB.Query(ctx, &dynamodb.QueryInput{
			TableName:              aws.String(s.Table),
			IndexName:              aws.String(IndexGSI1),
			KeyConditionExpression: aws.String("gsi1pk = :key"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":key": &types.AttributeValueMemberS{Value: key},
			},
			ProjectionExpression: aws.String("pk, sk"),
			ExclusiveStartKey:    start,
		})
		if err != nil {
			return deleted, wrapf(err, "query %s", what)
		}
		for _, it := range out.Items {
			var k struct {
				PK string `dynamodbav:"pk"`
				SK string `dynamodbav:"sk"`
			}
			if err := attributevalue.UnmarshalMap(it, &k); err != nil {
				return deleted, wrapf(err, "unmarshal key of %s", what)
			}
			if k.PK == keepPK {
				continue
			}
			_, err := s.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{
				TableName: aws.String(s.Table),
				Key:       stringKey(k.PK, k.SK),
			})
			if err != nil {
				return deleted, wrapf(err, "delete one of %s", what)
			}
			deleted++
		}
		if out.LastEvaluatedKey == nil {
			return deleted, nil
		}
		start = out.LastEvaluatedKey
	}
}

type challengeItem struct {
	PK string `dynamodbav:"pk"`
	SK string `dynamodbav:"sk"`
	Challenge
}

func challengeKey(userID int64) map[string]types.AttributeValue {
	return stringKey(challengePrefix+strconv.FormatInt(userID, 10), itemSK)
}

// PutChallenge stores c, replacing any earlier challenge of the same user: only the newest login
// attempt's code is valid.
func (s *Sessions) PutChallenge(ctx context.Context, c Challenge) error {
	c.TTL = expiry(c.ExpiresAt)
	item, err := attributevalue.MarshalMap(challengeItem{
		PK: challengePrefix + strconv.FormatInt(c.UserID, 10), SK: itemSK, Challenge: c,
	})
	if err != nil {
		return wrapf(err, "marshal challenge")
	}
	_, err = s.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.Table), Item: item})
	if err != nil {
		return wrapf(err, "put challenge for user %d", c.UserID)
	}
	return nil
}

// GetChallenge reads the user's current challenge.
func (s *Sessions) GetChallenge(ctx context.Context, userID int64) (Challenge, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.Table),
		Key:            challengeKey(userID),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Challenge{}, wrapf(err, "get challenge for user %d", userID)
	}
	if out.Item == nil {
		return Challenge{}, ErrNotFound
	}
	var item challengeItem
	if err := attributevalue.UnmarshalMap(out.Item, &item); err != nil {
		return Challenge{}, wrapf(err, "unmarshal challenge")
	}
	return item.Challenge, nil
}

// CountChallengeTry adds one try to the challenge of attempt attemptID, provided it has had
// fewer than maxTries. It returns ErrConditionFailed when the tries are used up or the challenge
// was replaced or removed meanwhile.
func (s *Sessions) CountChallengeTry(ctx context.Context, userID int64, attemptID string, maxTries int) (int, error) {
	out, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.Table),
		Key:                 challengeKey(userID),
		UpdateExpression:    aws.String("ADD tries :one"),
		ConditionExpression: aws.String("attemptId = :attempt AND tries < :max"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":one":     &types.AttributeValueMemberN{Value: "1"},
			":attempt": &types.AttributeValueMemberS{Value: attemptID},
			":max":     &types.AttributeValueMemberN{Value: strconv.Itoa(maxTries)},
		},
		ReturnValues: types.ReturnValueUpdatedNew,
	})
	if conditionFailed(err) {
		return 0, ErrConditionFailed
	}
	if err != nil {
		return 0, wrapf(err, "count challenge try for user %d", userID)
	}
	var tries int
	if n, ok := out.Attributes["tries"].(*types.AttributeValueMemberN); ok {
		tries, _ = strconv.Atoi(n.Value)
	}
	return tries, nil
}

// DeleteChallenge removes the challenge of attempt attemptID. It returns ErrConditionFailed when
// that challenge is already gone, so a code can be consumed only once.
func (s *Sessions) DeleteChallenge(ctx context.Context, userID int64, attemptID string) error {
	_, err := s.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:           aws.String(s.Table),
		Key:                 challengeKey(userID),
		ConditionExpression: aws.String("attemptId = :attempt"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":attempt": &types.AttributeValueMemberS{Value: attemptID},
		},
	})
	if conditionFailed(err) {
		return ErrConditionFailed
	}
	if err != nil {
		return wrapf(err, "delete challenge for user %d", userID)
	}
	return nil
}
