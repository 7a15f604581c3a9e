package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ImageState is the stage an image record has reached.
type ImageState string

// Image states. Pending records carry a TTL; rejected and deleted are final.
const (
	// ImagePending means an upload URL was issued and no accepted object has arrived yet.
	ImagePending ImageState = "pending"
	// ImageAvailable means the object arrived and passed the checks.
	ImageAvailable ImageState = "available"
	// ImageRejected means the object failed a check and was deleted.
	ImageRejected ImageState = "rejected"
	// ImageDeleted means the owner deleted the image or its object was removed.
	ImageDeleted ImageState = "deleted"
)

// ErrSuperseded means an image's file name now belongs to a newer upload of the same owner.
var ErrSuperseded = fmt.Errorf("file name claimed by a newer upload")

// Images reads and writes the images table. It holds two kinds of item:
//
//   - the image record: pk "IMAGE#<imageId>", sk "IMAGE". While the image is available it also
//     has gsi1pk "OWNER#<ownerId>" and gsi1sk "<uploadedAt sortable>#<imageId>", so gsi1 is a
//     sparse index of each owner's available images, newest last.
//   - the name claim: pk "NAME#<ownerId>#<fileName>", sk "NAME", containing the imageId that
//     owns that file name. The claim of a pending image has a TTL, and a new upload of the same
//     name may take it over. The claim of an available image has no TTL. Rejecting or deleting
//     the image removes its claim, which frees the name.
//
// Pending items carry expiresAt for DynamoDB TTL, and every read treats an expired pending
// record or claim as missing, because TTL deletion can lag by days.
type Images struct {
	DB    DynamoDB
	Table string
}

// Image is one image record.
type Image struct {
	ID          string     `dynamodbav:"imageId"`
	OwnerID     int64      `dynamodbav:"ownerId"`
	FileName    string     `dynamodbav:"fileName"`
	ContentType string     `dynamodbav:"contentType"`
	Tags        []string   `dynamodbav:"tags"`
	ObjectKey   string     `dynamodbav:"objectKey"`
	State       ImageState `dynamodbav:"state"`
	// SubjectPatientID is the one patient the image is about; 0 until set at upload or by the
	// first share.
	SubjectPatientID int64     `dynamodbav:"subjectPatientId,omitempty"`
	CreatedAt        time.Time `dynamodbav:"createdAt"`
	UploadedAt       time.Time `dynamodbav:"uploadedAt,omitempty"`
	DeletedAt        time.Time `dynamodbav:"deletedAt,omitempty"`
	Size             int64     `dynamodbav:"size,omitempty"`
	// Sequencer is the newest S3 event sequencer applied, right-padded to a fixed width so that
	// string order is event order.
	Sequencer    string `dynamodbav:"sequencer,omitempty"`
	RejectReason string `dynamodbav:"rejectReason,omitempty"`
	// ETag is the entity tag of the object that passed the checks, without quotes; set when the
	// image becomes available. A later object with another ETag replaced the accepted bytes.
	ETag string `dynamodbav:"etag,omitempty"`
	// ExpiresAtTTL is the Unix time after which a pending record is void; 0 once it leaves
	// pending.
	ExpiresAtTTL int64 `dynamodbav:"expiresAt,omitempty"`
}

const (
	imagePrefix = "IMAGE#"
	imageSK     = "IMAGE"
	namePrefix  = "NAME#"
	nameSK      = "NAME"
	ownerPrefix = "OWNER#"
)

type imageItem struct {
	PK string `dynamodbav:"pk"`
	SK string `dynamodbav:"sk"`
	Image
}

type nameClaim struct {
	PK           string `dynamodbav:"pk"`
	SK           string `dynamodbav:"sk"`
	ImageID      string `dynamodbav:"imageId"`
	OwnerID      int64  `dynamodbav:"ownerId"`
	ExpiresAtTTL int64  `dynamodbav:"expiresAt,omitempty"`
}

func imageKey(id string) map[string]types.AttributeValue {
	return stringKey(imagePrefix+id, imageSK)
}

func nameKey(ownerID int64, fileName string) map[string]types.AttributeValue {
	return stringKey(fmt.Sprintf("%s%d#%s", namePrefix, ownerID, fileName), nameSK)
}

// ImageOwnerKey is the gsi1 partition key of an owner's available images.
func ImageOwnerKey(ownerID int64) string { return fmt.Sprintf("%s%d", ownerPrefix, ownerID) }

func expired(ttl int64, now time.Time) bool { return ttl != 0 && ttl <= now.Unix() }

// CreatePending stores a new pending image and claims its file name for the owner. It fails with
// ErrConditionFailed when that name belongs to one of the owner's available images.
// img.ExpiresAtTTL must be set, because it also bounds the claim.
func (s *Images) CreatePending(ctx context.Context, img Image, now time.Time) error {
	img.State = ImagePending
	if img.Tags == nil {
		img.Tags = []string{}
	}
	item, err := attributevalue.MarshalMap(
		imageItem{PK: imagePrefix + img.ID, SK: imageSK, Image: img},
	)
	if err != nil {
		return wrapf(err, "marshal image")
	}
	claimKey := nameKey(img.OwnerID, img.FileName)
	claim, err := attributevalue.MarshalMap(nameClaim{
		ImageID: img.ID, OwnerID: img.OwnerID, ExpiresAtTTL: img.ExpiresAtTTL,
	})
	if err != nil {
		return wrapf(err, "marshal name claim")
	}
	for k, v := range claimKey {
		claim[k] = v
	}
	_, err = s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems: []types.TransactWriteItem{
			{Put: &types.Put{
				TableName: aws.String(s.Table), Item: claim,
				// A pending claim (one with a TTL) may be taken over: its upload never finished
				// or is being retried.
				ConditionExpression: aws.String(
					"attribute_not_exists(pk) OR attribute_exists(expiresAt)",
				),
			}},
			{Put: &types.Put{
				TableName: aws.String(s.Table), Item: item,
				ConditionExpression: aws.String("attribute_not_exists(pk)"),
			}},
		},
	})
	if reasons := cancellationReasons(err); reasons != nil {
		if reasons[0] == "ConditionalCheckFailed" {
			return ErrConditionFailed
		}
	}
	if err != nil {
		return wrapf(err, "create pending image %s of owner %d", img.ID, img.OwnerID)
	}
	return nil
}

// Get reads an image record by id. A pending record past its TTL is ErrNotFound.
func (s *Images) Get(ctx context.Context, id string, now time.Time) (Image, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.Table), Key: imageKey(id), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Image{}, wrapf(err, "get image %s", id)
	}
	if out.Item == nil {
		return Image{}, ErrNotFound
	}
	var item imageItem
	if err := attributevalue.UnmarshalMap(out.Item, &item); err != nil {
		return Image{}, wrapf(err, "unmarshal image %s", id)
	}
	if item.State == ImagePending && expired(item.ExpiresAtTTL, now) {
		return Image{}, ErrNotFound
	}
	return item.Image, nil
}

// ByName reads the image that currently holds fileName for ownerID. Rejected and deleted images
// no longer hold a name, so they are ErrNotFound here.
func (s *Images) ByName(
	ctx context.Context,
	ownerID int64,
	fileName string,
	now time.Time,
) (Image, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(
			s.Table,
		), Key: nameKey(ownerID, fileName), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Image{}, wrapf(err, "get name claim of owner %d", ownerID)
	}
	if out.Item == nil {
		return Image{}, ErrNotFound
	}
	var claim nameClaim
	if err := attributevalue.UnmarshalMap(out.Item, &claim); err != nil {
		return Image{}, wrapf(err, "unmarshal name claim")
	}
	if expired(claim.ExpiresAtTTL, now) || claim.OwnerID != ownerID {
		return Image{}, ErrNotFound
	}
	img, err := s.Get(ctx, claim.ImageID, now)
	if err != nil {
		return Image{}, err
	}
	if img.OwnerID != ownerID || img.FileName != fileName {
		return Image{}, ErrNotFound
	}
	return img, nil
}

// imageCursor is the decoded form of ListAvailable's page cursor.
type imageCursor struct {
	PK     string `json:"pk" dynamodbav:"pk"`
	SK     string `json:"sk" dynamodbav:"sk"`
	GSI1PK string `json:"gsi1pk" dynamodbav:"gsi1pk"`
	GSI1SK string `json:"gsi1sk" dynamodbav:"gsi1sk"`
}

// ListAvailable returns up to limit of the owner's available images, newest first, and the
// cursor of the next page ("" on the last page). cursor is "" for the first page; a cursor that
// does not decode to a position in this owner's partition is ErrBadCursor. These cursors are
// not signed, so a route must wrap them with Cursors before handing them to a client.
func (s *Images) ListAvailable(
	ctx context.Context,
	ownerID int64,
	limit int,
	cursor string,
) ([]Image, string, error) {
	in := &dynamodb.QueryInput{
		TableName:              aws.String(s.Table),
		IndexName:              aws.String(IndexGSI1),
		KeyConditionExpression: aws.String("gsi1pk = :owner"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":owner": &types.AttributeValueMemberS{Value: ImageOwnerKey(ownerID)},
		},
		ScanIndexForward: aws.Bool(false),
		Limit:            aws.Int32(int32(limit)),
	}
	if cursor != "" {
		start, err := decodeImageCursor(cursor, ImageOwnerKey(ownerID))
		if err != nil {
			return nil, "", err
		}
		in.ExclusiveStartKey = start
	}
	out, err := s.DB.Query(ctx, in)
	if err != nil {
		return nil, "", wrapf(err, "query images of owner %d", ownerID)
	}
	images := make([]Image, 0, len(out.Items))
	for _, it := range out.Items {
		var item imageItem
		if err := attributevalue.UnmarshalMap(it, &item); err != nil {
			return nil, "", wrapf(err, "unmarshal image")
		}
		images = append(images, item.Image)
	}
	next := ""
	if out.LastEvaluatedKey != nil {
		var c imageCursor
		if err := attributevalue.UnmarshalMap(out.LastEvaluatedKey, &c); err != nil {
			return nil, "", wrapf(err, "unmarshal page key")
		}
		b, err := json.Marshal(c)
		if err != nil {
			return nil, "", wrapf(err, "encode page cursor")
		}
		next = base64.RawURLEncoding.EncodeToString(b)
	}
	return images, next, nil
}

func decodeImageCursor(cursor, ownerKey string) (map[string]types.AttributeValue, error) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return nil, ErrBadCursor
	}
	var c imageCursor
	if err := json.Unmarshal(b, &c); err != nil || c.GSI1PK != ownerKey || c.PK == "" ||
		c.SK == "" || c.GSI1SK == "" {
		return nil, ErrBadCursor
	}
	start, err := attributevalue.MarshalMap(c)
	if err != nil {
		return nil, wrapf(err, "marshal page key")
	}
	return start, nil
}

// liveAndOlder is the condition that an image is pending or available and its event sequencer,
// if any, is older than :seq.
const liveAndOlder = "attribute_exists(pk) AND #state IN (:pending, :available) AND " +
	"(attribute_not_exists(sequencer) OR sequencer < :seq)"

// MarkAvailable records that the object of image id, with entity tag etag, arrived under event
// sequencer seq and passed the checks. It fails with ErrConditionFailed when the image is
// rejected, deleted or missing or an event at least as new was applied already, and with
// ErrSuperseded when a newer upload took the file name.
func (s *Images) MarkAvailable(
	ctx context.Context,
	img Image,
	seq string,
	size int64,
	etag string,
	now time.Time,
) error {
	values, err := attributevalue.MarshalMap(map[string]any{
		":pending": ImagePending, ":available": ImageAvailable, ":seq": seq, ":size": size,
		":etag": etag, ":at": now.UTC(), ":owner": ImageOwnerKey(img.OwnerID),
		":sort": SortTime(now) + "#" + img.ID,
	})
	if err != nil {
		return wrapf(err, "marshal image update")
	}
	claimValues, err := attributevalue.MarshalMap(map[string]any{":id": img.ID})
	if err != nil {
		return wrapf(err, "marshal claim update")
	}
	_, err = s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems: []types.TransactWriteItem{
			{Update: &types.Update{
				TableName: aws.String(s.Table), Key: imageKey(img.ID),
				UpdateExpression: aws.String(
					"SET #state = :available, sequencer = :seq, #size = :size, etag = :etag, " +
						"uploadedAt = :at, gsi1pk = :owner, gsi1sk = :sort REMOVE expiresAt, rejectReason",
				),
				ConditionExpression:       aws.String(liveAndOlder),
				ExpressionAttributeNames:  map[string]string{"#state": "state", "#size": "size"},
				ExpressionAttributeValues: values,
			}},
			{Update: &types.Update{
				TableName: aws.String(s.Table), Key: nameKey(img.OwnerID, img.FileName),
				UpdateExpression:          aws.String("REMOVE expiresAt"),
				ConditionExpression:       aws.String("imageId = :id"),
				ExpressionAttributeValues: claimValues,
			}},
		},
	})
	if reasons := cancellationReasons(err); reasons != nil {
		if reasons[0] == "ConditionalCheckFailed" {
			return ErrConditionFailed
		}
		if reasons[1] == "ConditionalCheckFailed" {
			return ErrSuperseded
		}
	}
	if err != nil {
		return wrapf(err, "mark image %s available", img.ID)
	}
	return nil
}

// MarkRejected records that the object of image id failed a check, under event sequencer seq.
// It frees the file name. It fails with ErrConditionFailed like MarkAvailable.
func (s *Images) MarkRejected(ctx context.Context, img Image, seq, reason string) error {
	values, err := attributevalue.MarshalMap(map[string]any{
		":pending": ImagePending, ":available": ImageAvailable, ":rejected": ImageRejected,
		":seq": seq, ":reason": reason,
	})
	if err != nil {
		return wrapf(err, "marshal image update")
	}
	_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.Table), Key: imageKey(img.ID),
		UpdateExpression: aws.String("SET #state = :rejected, sequencer = :seq, " +
			"rejectReason = :reason REMOVE gsi1pk, gsi1sk, expiresAt"),
		ConditionExpression:       aws.String(liveAndOlder),
		ExpressionAttributeNames:  map[string]string{"#state": "state"},
		ExpressionAttributeValues: values,
	})
	if conditionFailed(err) {
		return ErrConditionFailed
	}
	if err != nil {
		return wrapf(err, "mark image %s rejected", img.ID)
	}
	return s.releaseName(ctx, img)
}

// MarkDeleted records that image id was deleted, by its owner (seq "") or by an ObjectRemoved
// event with sequencer seq. It frees the file name. It fails with ErrConditionFailed when the
// image is missing, already rejected or deleted, or a newer event was applied.
func (s *Images) MarkDeleted(ctx context.Context, img Image, seq string, now time.Time) error {
	values := map[string]any{
		":pending": ImagePending, ":available": ImageAvailable, ":deleted": ImageDeleted,
		":at": now.UTC(),
	}
	update := "SET #state = :deleted, deletedAt = :at"
	condition := "attribute_exists(pk) AND #state IN (:pending, :available)"
	if seq != "" {
		values[":seq"] = seq
		update += ", sequencer = :seq"
		condition = liveAndOlder
	}
	av, err := attributevalue.MarshalMap(values)
	if err != nil {
		return wrapf(err, "marshal image update")
	}
	_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.Table), Key: imageKey(img.ID),
		UpdateExpression:          aws.String(update + " REMOVE gsi1pk, gsi1sk, expiresAt"),
		ConditionExpression:       aws.String(condition),
		ExpressionAttributeNames:  map[string]string{"#state": "state"},
		ExpressionAttributeValues: av,
	})
	if conditionFailed(err) {
		return ErrConditionFailed
	}
	if err != nil {
		return wrapf(err, "mark image %s deleted", img.ID)
	}
	return s.releaseName(ctx, img)
}

// releaseName deletes img's name claim unless a newer upload has taken it over.
func (s *Images) releaseName(ctx context.Context, img Image) error {
	values, err := attributevalue.MarshalMap(map[string]any{":id": img.ID})
	if err != nil {
		return wrapf(err, "marshal claim condition")
	}
	_, err = s.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.Table), Key: nameKey(img.OwnerID, img.FileName),
		ConditionExpression:       aws.String("imageId = :id"),
		ExpressionAttributeValues: values,
	})
	if err != nil && !conditionFailed(err) {
		return wrapf(err, "release name claim of image %s", img.ID)
	}
	return nil
}

// SetTags replaces the tags of an owner's pending or available image.
func (s *Images) SetTags(ctx context.Context, img Image, tags []string) error {
	values, err := attributevalue.MarshalMap(map[string]any{
		":tags": tags, ":owner": img.OwnerID,
		":pending": ImagePending, ":available": ImageAvailable,
	})
	if err != nil {
		return wrapf(err, "marshal tags")
	}
	_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.Table), Key: imageKey(img.ID),
		UpdateExpression: aws.String("SET tags = :tags"),
		ConditionExpression: aws.String(
			"attribute_exists(pk) AND ownerId = :owner AND #state IN (:pending, :available)"),
		ExpressionAttributeNames:  map[string]string{"#state": "state"},
		ExpressionAttributeValues: values,
	})
	if conditionFailed(err) {
		return ErrConditionFailed
	}
	if err != nil {
		return wrapf(err, "set tags of image %s", img.ID)
	}
	return nil
}

// SetSubject makes patientID the subject of image id unless the image already has another
// subject, in which case it fails with ErrConditionFailed. Setting the same subject again
// succeeds.
func (s *Images) SetSubject(ctx context.Context, id string, patientID int64) error {
	values, err := attributevalue.MarshalMap(map[string]any{":p": patientID})
	if err != nil {
		return wrapf(err, "marshal subject")
	}
	_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.Table), Key: imageKey(id),
		UpdateExpression: aws.String("SET subjectPatientId = :p"),
		ConditionExpression: aws.String(
			"attribute_exists(pk) AND (attribute_not_exists(subjectPatientId) OR subjectPatientId = :p)",
		),
		ExpressionAttributeValues: values,
	})
	if conditionFailed(err) {
		return ErrConditionFailed
	}
	if err != nil {
		return wrapf(err, "set subject of image %s", id)
	}
	return nil
}
