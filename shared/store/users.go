package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/clinicpix/backend/shared/identity"
)

// ErrEmailTaken means another account already has the normalized email.
var ErrEmailTaken = &emailTakenError{}

type emailTakenError struct{}

func (*emailTakenError) Error() string { return "email already registered" }

// Consent records the user's agreement to the privacy policy at signup.
type Consent struct {
	PolicyVersion string    `dynamodbav:"policyVersion"`
	GivenAt       time.Time `dynamodbav:"givenAt"`
	SourceIP      string    `dynamodbav:"sourceIp"`
}

// Profile holds the health and contact fields a user keeps about themself. It is PHI.
type Profile struct {
	Name    string   `dynamodbav:"name,omitempty"`
	DOB     string   `dynamodbav:"dob,omitempty"`
	State   string   `dynamodbav:"state,omitempty"`
	Country string   `dynamodbav:"country,omitempty"`
	Age     *int     `dynamodbav:"age,omitempty"`
	Weight  *float64 `dynamodbav:"weight,omitempty"`
	Height  *float64 `dynamodbav:"height,omitempty"`
	Address string   `dynamodbav:"address,omitempty"`
	Phone   string   `dynamodbav:"phone,omitempty"`
}

// User is an account.
type User struct {
	ID           int64         `dynamodbav:"id"`
	Username     string        `dynamodbav:"username"`
	Email        string        `dynamodbav:"email"`
	EmailKey     string        `dynamodbav:"emailKey"`
	Role         identity.Role `dynamodbav:"role"`
	Active       bool          `dynamodbav:"active"`
	PasswordHash string        `dynamodbav:"passwordHash"`
	CreatedAt    time.Time     `dynamodbav:"createdAt"`
	Consent      Consent       `dynamodbav:"consent"`
	Profile      Profile       `dynamodbav:"profile"`

	// Lockout state. The times are Unix seconds in DynamoDB, so condition expressions can
	// compare them as numbers.
	FailedLogins    int       `dynamodbav:"failedLogins"`
	FailWindowStart time.Time `dynamodbav:"failWindowStart,unixtime"`
	LockedUntil     time.Time `dynamodbav:"lockedUntil,unixtime"`

	// ResetHold is set when an admin changes the account's email. Password resets are refused
	// until the user next signs in with password and second factor, so an admin cannot move an
	// account to an address they read and reset their way in.
	ResetHold bool `dynamodbav:"resetHold,omitempty"`

	// TOTPSecret is the authenticator secret, encrypted; TOTPEnabled turns it on for login.
	TOTPSecret    []byte   `dynamodbav:"totpSecret,omitempty"`
	TOTPEnabled   bool     `dynamodbav:"totpEnabled"`
	TOTPLastStep  int64    `dynamodbav:"totpLastStep"`
	RecoveryCodes []string `dynamodbav:"recoveryCodes,omitempty"`
}

// Users reads and writes the users table.
type Users struct {
	DB    DynamoDB
	Table string
}

type userItem struct {
	PK     string `dynamodbav:"pk"`
	SK     string `dynamodbav:"sk"`
	GSI1PK string `dynamodbav:"gsi1pk"`
	GSI1SK string `dynamodbav:"gsi1sk"`
	GSI2PK string `dynamodbav:"gsi2pk"`
	GSI2SK string `dynamodbav:"gsi2sk"`
	User
}

const (
	userSK      = "USER"
	emailSK     = "EMAIL"
	counterPK   = "COUNTER"
	counterSK   = "users"
	allUsersPK  = "USERS"
	rolePrefix  = "ROLE#"
	emailPrefix = "EMAIL#"
)

func newUserItem(u User) userItem {
	listKey := SortTime(u.CreatedAt) + "#" + paddedID(u.ID)
	return userItem{
		PK: userKey(u.ID), SK: userSK,
		GSI1PK: rolePrefix + string(u.Role), GSI1SK: listKey,
		GSI2PK: allUsersPK, GSI2SK: listKey,
		User: u,
	}
}

// NextID returns a new user id from an atomic counter. Ids start at 1 and are never reused.
func (s *Users) NextID(ctx context.Context) (int64, error) {
	out, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.Table),
		Key:                      stringKey(counterPK, counterSK),
		UpdateExpression:         aws.String("ADD #v :one"),
		ExpressionAttributeNames: map[string]string{"#v": "value"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":one": &types.AttributeValueMemberN{Value: "1"},
		},
		ReturnValues: types.ReturnValueUpdatedNew,
	})
	if err != nil {
		return 0, wrapf(err, "increment user id counter")
	}
	n, ok := out.Attributes["value"].(*types.AttributeValueMemberN)
	if !ok {
		return 0, wrapf(ErrNotFound, "user id counter has no value")
	}
	return strconv.ParseInt(n.Value, 10, 64)
}

// Create writes u and its email uniqueness item in one transaction. u.ID must come from NextID.
// It returns ErrEmailTaken when the normalized email is already registered.
func (s *Users) Create(ctx context.Context, u User) error {
	item, err := attributevalue.MarshalMap(newUserItem(u))
	if err != nil {
		return wrapf(err, "marshal user %d", u.ID)
	}
	email := map[string]types.AttributeValue{
		AttrPK:   &types.AttributeValueMemberS{Value: emailPrefix + u.EmailKey},
		AttrSK:   &types.AttributeValueMemberS{Value: emailSK},
		"userId": &types.AttributeValueMemberN{Value: strconv.FormatInt(u.ID, 10)},
	}
	notExists := aws.String("attribute_not_exists(pk)")
	_, err = s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems: []types.TransactWriteItem{
			{Put: &types.Put{TableName: aws.String(s.Table), Item: item, ConditionExpression: notExists}},
			{Put: &types.Put{TableName: aws.String(s.Table), Item: email, ConditionExpression: notExists}},
		},
	})
	if reasons := cancellationReasons(err); len(reasons) == 2 && reasons[1] == "ConditionalCheckFailed" {
		return ErrEmailTaken
	}
	if err != nil {
		return wrapf(err, "create user %d", u.ID)
	}
	return nil
}

// Get reads a user by id.
func (s *Users) Get(ctx context.Context, id int64) (User, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.Table),
		Key:            stringKey(userKey(id), userSK),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return User{}, wrapf(err, "get user %d", id)
	}
	if out.Item == nil {
		return User{}, ErrNotFound
	}
	var item userItem
	if err := attributevalue.UnmarshalMap(out.Item, &item); err != nil {
		return User{}, wrapf(err, "unmarshal user %d", id)
	}
	return item.User, nil
}

// IDByEmail returns the id of the account whose normalized email is key.
func (s *Users) IDByEmail(ctx context.Context, key string) (int64, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.Table),
		Key:            stringKey(emailPrefix+key, emailSK),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return 0, wrapf(err, "get email item")
	}
	n, ok := out.Item["userId"].(*types.AttributeValueMemberN)
	if !ok {
		return 0, ErrNotFound
	}
	return strconv.ParseInt(n.Value, 10, 64)
}

// ByEmail reads the account whose normalized email is key.
func (s *Users) ByEmail(ctx context.Context, key string) (User, error) {
	id, err := s.IDByEmail(ctx, key)
	if err != nil {
		return User{}, err
	}
	return s.Get(ctx, id)
}

// RecordLoginFailure counts a wrong password. Failures older than window start a new count.
// When the count reaches max, the account is locked until now+lockFor and locked is true.
func (s *Users) RecordLoginFailure(ctx context.Context, u User, now time.Time, window time.Duration,
	max int, lockFor time.Duration) (locked bool, err error) {
	count := u.FailedLogins + 1
	start := u.FailWindowStart
	if now.Sub(start) > window {
		count, start = 1, now
	}
	var lockedUntil time.Time
	if count >= max {
		lockedUntil = now.Add(lockFor)
		count, start = 0, time.Time{}
	}
	values, err := attributevalue.MarshalMap(map[string]any{
		":count": count, ":start": start.Unix(), ":locked": lockedUntil.Unix(), ":prev": u.FailedLogins,
	})
	if err != nil {
		return false, err
	}
	_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       stringKey(userKey(u.ID), userSK),
		UpdateExpression:          aws.String("SET failedLogins = :count, failWindowStart = :start, lockedUntil = :locked"),
		ConditionExpression:       aws.String("failedLogins = :prev"),
		ExpressionAttributeValues: values,
	})
	if conditionFailed(err) {
		// Another attempt counted at the same moment: read again and count this one on top.
		fresh, getErr := s.Get(ctx, u.ID)
		if getErr != nil {
			return false, getErr
		}
		if fresh.LockedUntil.After(now) {
			return false, nil
		}
		return s.RecordLoginFailure(ctx, fresh, now, window, max, lockFor)
	}
	if err != nil {
		return false, wrapf(err, "record login failure for user %d", u.ID)
	}
	return !lockedUntil.IsZero(), nil
}

// ClearLoginFailures resets the failure count after a correct password.
func (s *Users) ClearLoginFailures(ctx context.Context, id int64) error {
	values, err := attributevalue.MarshalMap(map[string]any{":zero": 0, ":none": time.Time{}.Unix()})
	if err != nil {
		return err
	}
	_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       stringKey(userKey(id), userSK),
		UpdateExpression:          aws.String("SET failedLogins = :zero, failWindowStart = :none"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: values,
	})
	if err != nil {
		return wrapf(err, "clear login failures for user %d", id)
	}
	return nil
}

// ErrLocked means the account is locked out after too many wrong passwords.
var ErrLocked = errors.New("account locked")

// ChargeLoginAttempt counts a password attempt before the password is checked, so that parallel
// guesses cannot all be checked before the first failure is recorded. It returns the attempt's
// number within the current failure window (a window older than window starts again at 1), or
// ErrLocked while the account is locked. A correct password resets the count with
// ClearLoginFailures.
func (s *Users) ChargeLoginAttempt(ctx context.Context, id int64, now time.Time, window time.Duration) (int, error) {
	notLocked := "(attribute_not_exists(lockedUntil) OR lockedUntil <= :now)"
	values := map[string]types.AttributeValue{
		":now":    numberValue(now.Unix()),
		":cutoff": numberValue(now.Add(-window).Unix()),
		":one":    numberValue(1),
	}
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(s.Table),
		Key:              stringKey(userKey(id), userSK),
		UpdateExpression: aws.String("SET failedLogins = :one, failWindowStart = :now"),
		ConditionExpression: aws.String("attribute_exists(pk) AND " + notLocked +
			" AND (attribute_not_exists(failWindowStart) OR failWindowStart <= :cutoff)"),
		ExpressionAttributeValues: values,
	})
	if err == nil {
		return 1, nil
	}
	if !conditionFailed(err) {
		return 0, wrapf(err, "start login window of user %d", id)
	}
	delete(values, ":cutoff")
	out, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       stringKey(userKey(id), userSK),
		UpdateExpression:          aws.String("ADD failedLogins :one"),
		ConditionExpression:       aws.String("attribute_exists(pk) AND " + notLocked),
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueUpdatedNew,
	})
	if conditionFailed(err) {
		return 0, ErrLocked
	}
	if err != nil {
		return 0, wrapf(err, "count login attempt of user %d", id)
	}
	n, _ := out.Attributes["failedLogins"].(*types.AttributeValueMemberN)
	if n == nil {
		return 0, fmt.Errorf("count login attempt of user %d: no count returned", id)
	}
	return strconv.Atoi(n.Value)
}

// Lock locks the account until the given time and starts a new failure count.
func (s *Users) Lock(ctx context.Context, id int64, until time.Time) error {
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.Table),
		Key:                 stringKey(userKey(id), userSK),
		UpdateExpression:    aws.String("SET lockedUntil = :until, failedLogins = :zero"),
		ConditionExpression: aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":until": numberValue(until.Unix()), ":zero": numberValue(0),
		},
	})
	if err != nil {
		return wrapf(err, "lock user %d", id)
	}
	return nil
}

// Unlock ends a lockout and clears the failure count, after a password reset.
func (s *Users) Unlock(ctx context.Context, id int64) error {
	return s.Lock(ctx, id, time.Unix(0, 0))
}

func numberValue(n int64) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// UseTOTPStep records that the TOTP code of time step step was accepted. It fails with
// ErrConditionFailed when that step or a later one was already used, which stops a replay.
func (s *Users) UseTOTPStep(ctx context.Context, id, step int64) error {
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.Table),
		Key:                 stringKey(userKey(id), userSK),
		UpdateExpression:    aws.String("SET totpLastStep = :step"),
		ConditionExpression: aws.String("attribute_exists(pk) AND totpLastStep < :step"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":step": &types.AttributeValueMemberN{Value: strconv.FormatInt(step, 10)},
		},
	})
	if conditionFailed(err) {
		return ErrConditionFailed
	}
	if err != nil {
		return wrapf(err, "record TOTP step for user %d", id)
	}
	return nil
}

// Update sets attributes of an existing user record; values maps attribute names to values.
// It returns ErrNotFound when the record does not exist.
func (s *Users) Update(ctx context.Context, id int64, values map[string]any) error {
	if len(values) == 0 {
		return nil
	}
	expr := "SET "
	names := map[string]string{}
	vals := map[string]any{}
	i := 0
	for name, v := range values {
		if i > 0 {
			expr += ", "
		}
		n, p := "#a"+strconv.Itoa(i), ":v"+strconv.Itoa(i)
		expr += n + " = " + p
		names[n] = name
		vals[p] = v
		i++
	}
	av, err := attributevalue.MarshalMap(vals)
	if err != nil {
		return wrapf(err, "marshal update of user %d", id)
	}
	_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       stringKey(userKey(id), userSK),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: av,
	})
	if conditionFailed(err) {
		return ErrNotFound
	}
	if err != nil {
		return wrapf(err, "update user %d", id)
	}
	return nil
}

func stringKey(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		AttrPK: &types.AttributeValueMemberS{Value: pk},
		AttrSK: &types.AttributeValueMemberS{Value: sk},
	}
}
