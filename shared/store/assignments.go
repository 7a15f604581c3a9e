package store

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Assignments reads and writes the assignments table: which provider may see which patient.
// Items: pk "PROVIDER#<providerId>", sk "PATIENT#<patientId, zero-padded>"; gsi1 is the same pair
// the other way round (gsi1pk "PATIENT#<patientId>", gsi1sk "PROVIDER#<providerId, padded>").
// An ended assignment keeps its item with Active false, so its history stays readable.
type Assignments struct {
	DB    DynamoDB
	Table string
}

// Assignment is one provider-patient link.
type Assignment struct {
	ProviderID int64     `dynamodbav:"providerId"`
	PatientID  int64     `dynamodbav:"patientId"`
	Active     bool      `dynamodbav:"active"`
	Note       string    `dynamodbav:"note,omitempty"`
	CreatedAt  time.Time `dynamodbav:"createdAt"`
	CreatedBy  int64     `dynamodbav:"createdBy"`
	EndedAt    time.Time `dynamodbav:"endedAt,omitempty"`
	EndedBy    int64     `dynamodbav:"endedBy,omitempty"`
	EndNote    string    `dynamodbav:"endNote,omitempty"`
}

// AssignmentProviderKey and AssignmentPatientKey build the key strings described on Assignments.
func AssignmentProviderKey(providerID int64) string { return fmt.Sprintf("PROVIDER#%d", providerID) }
func AssignmentPatientKey(patientID int64) string   { return fmt.Sprintf("PATIENT#%d", patientID) }

func assignmentKey(providerID, patientID int64) map[string]any {
	return map[string]any{AttrPK: AssignmentProviderKey(providerID), AttrSK: "PATIENT#" + paddedID(patientID)}
}

// Get reads the assignment of patientID to providerID, active or ended.
func (s *Assignments) Get(ctx context.Context, providerID, patientID int64) (Assignment, error) {
	key, err := attributevalue.MarshalMap(assignmentKey(providerID, patientID))
	if err != nil {
		return Assignment{}, err
	}
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.Table), Key: key, ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Assignment{}, wrapf(err, "get assignment of patient %d to provider %d", patientID, providerID)
	}
	if out.Item == nil {
		return Assignment{}, ErrNotFound
	}
	var a Assignment
	if err := attributevalue.UnmarshalMap(out.Item, &a); err != nil {
		return Assignment{}, wrapf(err, "unmarshal assignment")
	}
	return a, nil
}

// IsActive reports whether patientID is currently assigned to providerID. Image and share checks
// call it in the same request that issues a URL.
func (s *Assignments) IsActive(ctx context.Context, providerID, patientID int64) (bool, error) {
	a, err := s.Get(ctx, providerID, patientID)
	if err == ErrNotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return a.Active, nil
}

// assignmentItem is the stored form of an Assignment with its keys.
type assignmentItem struct {
	PK     string `dynamodbav:"pk"`
	SK     string `dynamodbav:"sk"`
	GSI1PK string `dynamodbav:"gsi1pk"`
	GSI1SK string `dynamodbav:"gsi1sk"`
	Assignment
}

// Assign makes patientID an active patient of providerID, recording who did it and an optional
// note. It is idempotent: when the assignment is already active, nothing is written and created
// is false. An ended assignment is replaced by the new one, so only the latest is kept on the
// item; the audit log keeps the earlier ones.
func (s *Assignments) Assign(ctx context.Context, providerID, patientID, by int64, note string,
	now time.Time) (created bool, err error) {
	item, err := attributevalue.MarshalMap(assignmentItem{
		PK: AssignmentProviderKey(providerID), SK: "PATIENT#" + paddedID(patientID),
		GSI1PK: AssignmentPatientKey(patientID), GSI1SK: "PROVIDER#" + paddedID(providerID),
		Assignment: Assignment{ProviderID: providerID, PatientID: patientID, Active: true,
			Note: note, CreatedAt: now.UTC(), CreatedBy: by},
	})
	if err != nil {
		return false, wrapf(err, "marshal assignment")
	}
	_, err = s.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(s.Table),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(pk) OR active = :false"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":false": &types.AttributeValueMemberBOOL{Value: false},
		},
	})
	if conditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, wrapf(err, "assign patient %d to provider %d", patientID, providerID)
	}
	return true, nil
}

// End marks the assignment of patientID to providerID as ended. It returns ErrNotFound when the
// assignment never existed and ErrConditionFailed when it exists but has already ended, so a
// retried request can tell the two apart.
func (s *Assignments) End(ctx context.Context, providerID, patientID, by int64, note string,
	now time.Time) error {
	key, err := attributevalue.MarshalMap(assignmentKey(providerID, patientID))
	if err != nil {
		return wrapf(err, "marshal assignment key")
	}
	values, err := attributevalue.MarshalMap(map[string]any{
		":true": true, ":false": false, ":at": now.UTC(), ":by": by, ":note": note,
	})
	if err != nil {
		return wrapf(err, "marshal assignment end")
	}
	_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       key,
		UpdateExpression:          aws.String("SET active = :false, endedAt = :at, endedBy = :by, endNote = :note"),
		ConditionExpression:       aws.String("active = :true"),
		ExpressionAttributeValues: values,
	})
	if conditionFailed(err) {
		if _, getErr := s.Get(ctx, providerID, patientID); getErr != nil {
			return getErr
		}
		return ErrConditionFailed
	}
	if err != nil {
		return wrapf(err, "end assignment of patient %d to provider %d", patientID, providerID)
	}
	return nil
}

// ListByProvider returns the active assignments of providerID, ordered by patient id.
func (s *Assignments) ListByProvider(ctx context.Context, providerID int64) ([]Assignment, error) {
	return s.listActive(ctx, nil, AttrPK, AssignmentProviderKey(providerID))
}

// ListByPatient returns the active assignments of patientID (the patient's care team), ordered
// by provider id.
func (s *Assignments) ListByPatient(ctx context.Context, patientID int64) ([]Assignment, error) {
	return s.listActive(ctx, aws.String(IndexGSI1), AttrGSI1PK, AssignmentPatientKey(patientID))
}

// listActive queries one partition of the table or of an index and keeps the active items.
func (s *Assignments) listActive(ctx context.Context, index *string, keyAttr, key string) ([]Assignment, error) {
	var out []Assignment
	var start map[string]types.AttributeValue
	for {
		page, err := s.DB.Query(ctx, &dynamodb.QueryInput{
			TableName:                aws.String(s.Table),
			IndexName:                index,
			KeyConditionExpression:   aws.String("#k = :key"),
			FilterExpression:         aws.String("active = :true"),
			ExpressionAttributeNames: map[string]string{"#k": keyAttr},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":key":  &types.AttributeValueMemberS{Value: key},
				":true": &types.AttributeValueMemberBOOL{Value: true},
			},
			ExclusiveStartKey: start,
		})
		if err != nil {
			return nil, wrapf(err, "query assignments of %s", key)
		}
		for _, it := range page.Items {
			var a Assignment
			if err := attributevalue.UnmarshalMap(it, &a); err != nil {
				return nil, wrapf(err, "unmarshal assignment")
			}
			out = append(out, a)
		}
		if page.LastEvaluatedKey == nil {
			return out, nil
		}
		start = page.LastEvaluatedKey
	}
}
