package store

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
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
