package store

import (
	"context"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/clinicpix/backend/shared/identity"
)

// UserPage is one page of accounts, newest first. Next is the list sort key to pass as Before
// for the following page, or empty when there are no more accounts.
type UserPage struct {
	Users []User
	Next  string
}

// UserFilter keeps or drops an account while a page is filled.
type UserFilter func(User) bool

// List returns up to limit accounts created before the list position before (empty for the
// newest), newest first. With a role it reads gsi1 ("ROLE#<role>"), otherwise gsi2 ("USERS").
// keep, when not nil, drops accounts from the page without ending it early.
func (s *Users) List(ctx context.Context, role identity.Role, before string, limit int,
	keep UserFilter) (UserPage, error) {
	index, pkAttr, skAttr, key := IndexGSI2, AttrGSI2PK, AttrGSI2SK, allUsersPK
	if role != "" {
		index, pkAttr, skAttr, key = IndexGSI1, AttrGSI1PK, AttrGSI1SK, rolePrefix+string(role)
	}
	cond := "#pk = :pk"
	names := map[string]string{"#pk": pkAttr}
	values := map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: key}}
	if before != "" {
		cond += " AND #sk < :before"
		names["#sk"] = skAttr
		values[":before"] = &types.AttributeValueMemberS{Value: before}
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.Table),
		IndexName:                 aws.String(index),
		KeyConditionExpression:    aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ScanIndexForward:          aws.Bool(false),
	}
	var page UserPage
	for {
		in.Limit = aws.Int32(int32(limit))
		out, err := s.DB.Query(ctx, in)
		if err != nil {
			return UserPage{}, wrapf(err, "query accounts of %s", key)
		}
		for _, it := range out.Items {
			var item userItem
			if err := attributevalue.UnmarshalMap(it, &item); err != nil {
				return UserPage{}, wrapf(err, "unmarshal account")
			}
			if keep != nil && !keep(item.User) {
				continue
			}
			page.Users = append(page.Users, item.User)
			if len(page.Users) == limit {
				page.Next = item.GSI2SK
				return page, nil
			}
		}
		if out.LastEvaluatedKey == nil {
			return page, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// ChangeEmail moves u to a new address in one transaction: the user record, the old uniqueness
// item and the new one. A move to another address also sets ResetHold. It returns ErrEmailTaken
// when another account has newKey, and ErrConditionFailed when u's email changed meanwhile.
func (s *Users) ChangeEmail(ctx context.Context, u User, email, newKey string) error {
	if newKey == u.EmailKey {
		return s.Update(ctx, u.ID, map[string]any{"email": email})
	}
	values, err := attributevalue.MarshalMap(map[string]any{
		":email": email, ":key": newKey, ":old": u.EmailKey, ":hold": true,
	})
	if err != nil {
		return wrapf(err, "marshal email change of user %d", u.ID)
	}
	newItem := map[string]types.AttributeValue{
		AttrPK:   &types.AttributeValueMemberS{Value: emailPrefix + newKey},
		AttrSK:   &types.AttributeValueMemberS{Value: emailSK},
		"userId": &types.AttributeValueMemberN{Value: strconv.FormatInt(u.ID, 10)},
	}
	table := aws.String(s.Table)
	_, err = s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems: []types.TransactWriteItem{
			{Update: &types.Update{TableName: table, Key: stringKey(userKey(u.ID), userSK),
				UpdateExpression:          aws.String("SET email = :email, emailKey = :key, resetHold = :hold"),
				ConditionExpression:       aws.String("emailKey = :old"),
				ExpressionAttributeValues: values}},
			{Put: &types.Put{TableName: table, Item: newItem,
				ConditionExpression: aws.String("attribute_not_exists(pk)")}},
			{Delete: &types.Delete{TableName: table, Key: stringKey(emailPrefix+u.EmailKey, emailSK)}},
		},
	})
	reasons := cancellationReasons(err)
	if len(reasons) == 3 && reasons[1] == "ConditionalCheckFailed" {
		return ErrEmailTaken
	}
	if len(reasons) == 3 && reasons[0] == "ConditionalCheckFailed" {
		return ErrConditionFailed
	}
	if err != nil {
		return wrapf(err, "change email of user %d", u.ID)
	}
	return nil
}

// SetRole changes an account's role and its role-index key together, provided the role is
// still from, so two concurrent changes cannot both apply. It returns ErrConditionFailed when
// the role changed meanwhile.
func (s *Users) SetRole(ctx context.Context, id int64, from, to identity.Role) error {
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.Table),
		Key:                      stringKey(userKey(id), userSK),
		UpdateExpression:         aws.String("SET #role = :to, gsi1pk = :index"),
		ConditionExpression:      aws.String("#role = :from"),
		ExpressionAttributeNames: map[string]string{"#role": "role"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":to":    &types.AttributeValueMemberS{Value: string(to)},
			":from":  &types.AttributeValueMemberS{Value: string(from)},
			":index": &types.AttributeValueMemberS{Value: rolePrefix + string(to)},
		},
	})
	if conditionFailed(err) {
		return ErrConditionFailed
	}
	if err != nil {
		return wrapf(err, "set role of user %d", id)
	}
	return nil
}
