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

// Shares reads and writes the shares table: which patient may see which image until when.
// Items: pk "IMAGE#<imageId>", sk "PATIENT#<patientId, padded>", so an image has at most one
// share per patient. gsi1 lists a patient's shares (gsi1pk "PATIENT#<patientId>", gsi1sk
// "<sharedAt sortable>#<imageId>"); gsi2 lists an owner's shares grouped by patient (gsi2pk
// "OWNER#<ownerId>", gsi2sk "PATIENT#<patientId, padded>#<imageId>"). An ended share keeps its
// item with EndReason set, so the owner's list can show it as ended. The table has no TTL.
type Shares struct {
	DB    DynamoDB
	Table string
	Now   func() time.Time
}

// Reasons a share ended, stored in Share.EndReason.
const (
	ShareRevoked         = "revoked"
	ShareImageDeleted    = "image_deleted"
	ShareImageRejected   = "image_rejected"
	ShareAssignmentEnded = "assignment_ended"
)

// Share lets one patient see one image until ValidUntil, unless it has ended.
type Share struct {
	ImageID   string `dynamodbav:"imageId"`
	OwnerID   int64  `dynamodbav:"ownerId"`
	PatientID int64  `dynamodbav:"patientId"`
	// FileName is copied from the image, which never changes it, so lists need no image read.
	FileName string `dynamodbav:"fileName"`
	// TokenHash is the hex SHA-256 of the share token returned to the owner.
	TokenHash  string    `dynamodbav:"tokenHash"`
	SharedAt   time.Time `dynamodbav:"sharedAt"`
	UpdatedAt  time.Time `dynamodbav:"updatedAt"`
	ValidUntil time.Time `dynamodbav:"validUntil"`
	EndedAt    time.Time `dynamodbav:"endedAt,omitempty"`
	EndedBy    int64     `dynamodbav:"endedBy,omitempty"`
	EndReason  string    `dynamodbav:"endReason,omitempty"`
}

// Active reports whether s lets its patient see the image at now: not ended and not expired.
func (s Share) Active(now time.Time) bool {
	return s.EndReason == "" && now.Before(s.ValidUntil)
}

type shareItem struct {
	PK     string `dynamodbav:"pk"`
	SK     string `dynamodbav:"sk"`
	GSI1PK string `dynamodbav:"gsi1pk"`
	GSI1SK string `dynamodbav:"gsi1sk"`
	GSI2PK string `dynamodbav:"gsi2pk"`
	GSI2SK string `dynamodbav:"gsi2sk"`
	Share
}

func shareKey(imageID string, patientID int64) map[string]types.AttributeValue {
	return stringKey(imagePrefix+imageID, "PATIENT#"+paddedID(patientID))
}

// SharePatientKey is the gsi1 partition key of a patient's shares.
func SharePatientKey(patientID int64) string { return fmt.Sprintf("PATIENT#%d", patientID) }

// Put creates or replaces the share of s.ImageID with s.PatientID and returns the share it
// replaced, if any (ok false when there was none).
func (st *Shares) Put(ctx context.Context, s Share) (previous Share, ok bool, err error) {
	item, err := attributevalue.MarshalMap(shareItem{
		PK: imagePrefix + s.ImageID, SK: "PATIENT#" + paddedID(s.PatientID),
		GSI1PK: SharePatientKey(s.PatientID), GSI1SK: SortTime(s.SharedAt) + "#" + s.ImageID,
		GSI2PK: ImageOwnerKey(
			s.OwnerID,
		), GSI2SK: "PATIENT#" + paddedID(s.PatientID) + "#" + s.ImageID,
		Share: s,
	})
	if err != nil {
		return Share{}, false, wrapf(err, "marshal share")
	}
	out, err := st.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(st.Table), Item: item, ReturnValues: types.ReturnValueAllOld,
	})
	if err != nil {
		return Share{}, false, wrapf(err, "put share of image %s", s.ImageID)
	}
	if len(out.Attributes) == 0 {
		return Share{}, false, nil
	}
	var old shareItem
	if err := attributevalue.UnmarshalMap(out.Attributes, &old); err != nil {
		return Share{}, false, wrapf(err, "unmarshal replaced share")
	}
	return old.Share, true, nil
}

// Get reads the share of imageID with patientID, active or ended.
func (st *Shares) Get(ctx context.Context, imageID string, patientID int64) (Share, error) {
	out, err := st.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(st.Table), Key: shareKey(imageID, patientID),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Share{}, wrapf(err, "get share of image %s", imageID)
	}
	if out.Item == nil {
		return Share{}, ErrNotFound
	}
	var item shareItem
	if err := attributevalue.UnmarshalMap(out.Item, &item); err != nil {
		return Share{}, wrapf(err, "unmarshal share")
	}
	return item.Share, nil
}

// End ends the share of imageID with patientID for reason. It fails with ErrNotFound when there
// is no such share and with ErrConditionFailed when it has already ended.
func (st *Shares) End(
	ctx context.Context,
	imageID string,
	patientID, by int64,
	reason string,
) error {
	values, err := attributevalue.MarshalMap(map[string]any{
		":at": st.Now().UTC(), ":by": by, ":reason": reason,
	})
	if err != nil {
		return wrapf(err, "marshal share end")
	}
	_, err = st.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(st.Table), Key: shareKey(imageID, patientID),
		UpdateExpression: aws.String(
			"SET endedAt = :at, endedBy = :by, endReason = :reason",
		),
		ConditionExpression: aws.String(
			"attribute_exists(pk) AND attribute_not_exists(endReason)",
		),
		ExpressionAttributeValues: values,
	})
	if conditionFailed(err) {
		if _, getErr := st.Get(ctx, imageID, patientID); getErr == ErrNotFound {
			return ErrNotFound
		}
		return ErrConditionFailed
	}
	if err != nil {
		return wrapf(err, "end share of image %s", imageID)
	}
	return nil
}

// EndForImage ends every share of imageID that has not ended yet and returns how many it ended.
func (st *Shares) EndForImage(
	ctx context.Context,
	imageID string,
	by int64,
	reason string,
) (int, error) {
	shares, err := st.query(ctx, &dynamodb.QueryInput{
		TableName:              aws.String(st.Table),
		KeyConditionExpression: aws.String("pk = :image"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":image": &types.AttributeValueMemberS{Value: imagePrefix + imageID},
		},
		ConsistentRead: aws.Bool(true),
	}, 0)
	if err != nil {
		return 0, wrapf(err, "query shares of image %s", imageID)
	}
	return st.endAll(ctx, shares, by, reason)
}

// EndSharesForPatient ends every share from providerID's images to patientID that has not ended
// yet and returns how many it ended. Care-team code calls it when an assignment ends.
//
// NOTE: it reads gsi2, which DynamoDB updates asynchronously, so a share written a moment
// earlier can be missed. Views stay safe because every URL is issued only after checking in the
// same request that the assignment is still active.
func (st *Shares) EndSharesForPatient(
	ctx context.Context,
	providerID, patientID, endedBy int64,
) (int, error) {
	shares, err := st.query(ctx, &dynamodb.QueryInput{
		TableName:              aws.String(st.Table),
		IndexName:              aws.String(IndexGSI2),
		KeyConditionExpression: aws.String("gsi2pk = :owner AND begins_with(gsi2sk, :patient)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":owner":   &types.AttributeValueMemberS{Value: ImageOwnerKey(providerID)},
			":patient": &types.AttributeValueMemberS{Value: "PATIENT#" + paddedID(patientID) + "#"},
		},
	}, 0)
	if err != nil {
		return 0, wrapf(err, "query shares from provider %d to patient %d", providerID, patientID)
	}
	return st.endAll(ctx, shares, endedBy, ShareAssignmentEnded)
}

func (st *Shares) endAll(
	ctx context.Context,
	shares []Share,
	by int64,
	reason string,
) (int, error) {
	ended := 0
	for _, s := range shares {
		if s.EndReason != "" {
			continue
		}
		err := st.End(ctx, s.ImageID, s.PatientID, by, reason)
		if err == ErrConditionFailed || err == ErrNotFound {
			continue
		}
		if err != nil {
			return ended, err
		}
		ended++
	}
	return ended, nil
}

// ForPatient returns every share with patientID, newest first, ended ones included.
func (st *Shares) ForPatient(ctx context.Context, patientID int64) ([]Share, error) {
	shares, err := st.query(ctx, &dynamodb.QueryInput{
		TableName:              aws.String(st.Table),
		IndexName:              aws.String(IndexGSI1),
		KeyConditionExpression: aws.String("gsi1pk = :patient"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":patient": &types.AttributeValueMemberS{Value: SharePatientKey(patientID)},
		},
		ScanIndexForward: aws.Bool(false),
	}, maxListedShares)
	if err != nil {
		return nil, wrapf(err, "query shares with patient %d", patientID)
	}
	return shares, nil
}

// ForOwner returns every share of ownerID's images, grouped by patient, ended ones included.
func (st *Shares) ForOwner(ctx context.Context, ownerID int64) ([]Share, error) {
	shares, err := st.query(ctx, &dynamodb.QueryInput{
		TableName:              aws.String(st.Table),
		IndexName:              aws.String(IndexGSI2),
		KeyConditionExpression: aws.String("gsi2pk = :owner"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":owner": &types.AttributeValueMemberS{Value: ImageOwnerKey(ownerID)},
		},
	}, maxListedShares)
	if err != nil {
		return nil, wrapf(err, "query shares of owner %d", ownerID)
	}
	return shares, nil
}

// maxListedShares bounds how many shares ForPatient and ForOwner read, so that one list
// request's cost stays bounded. The End methods read every share.
const maxListedShares = 5000

// query runs in page by page and returns the shares it finds, stopping after limit of them
// when limit is positive.
func (st *Shares) query(ctx context.Context, in *dynamodb.QueryInput, limit int) ([]Share, error) {
	var shares []Share
	for {
		out, err := st.DB.Query(ctx, in)
		if err != nil {
			return nil, err
		}
		for _, it := range out.Items {
			var item shareItem
			if err := attributevalue.UnmarshalMap(it, &item); err != nil {
				return nil, wrapf(err, "unmarshal share")
			}
			shares = append(shares, item.Share)
		}
		if out.LastEvaluatedKey == nil || (limit > 0 && len(shares) >= limit) {
			return shares, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}
