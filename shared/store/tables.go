// Package store reads and writes ClinicPix's DynamoDB tables. Every request-path access is a
// GetItem, Query or conditional write; nothing scans. TABLES.md beside this file lists each
// table's keys, indexes and access patterns.
package store

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/clinicpix/backend/shared/config"
)

// DynamoDB is the part of the DynamoDB client the stores call.
type DynamoDB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

var _ DynamoDB = (*dynamodb.Client)(nil)

// Attribute names shared by every table. Each table has a string partition key "pk" and sort key
// "sk"; global secondary indexes use "gsi1pk"/"gsi1sk" and "gsi2pk"/"gsi2sk".
const (
	AttrPK     = "pk"
	AttrSK     = "sk"
	AttrGSI1PK = "gsi1pk"
	AttrGSI1SK = "gsi1sk"
	AttrGSI2PK = "gsi2pk"
	AttrGSI2SK = "gsi2sk"
	// AttrTTL holds a Unix time in seconds after which DynamoDB may delete the item. Deletion can
	// lag by days, so readers also compare it with the clock.
	AttrTTL = "expiresAt"

	IndexGSI1 = "gsi1"
	IndexGSI2 = "gsi2"
)

// TableSpec declares one table's keys, indexes and TTL once, for CreateTable in the local runner
// and for the CDK app.
type TableSpec struct {
	// Logical is the short name used in config and the CDK app ("users", "sessions", ...).
	Logical string
	Name    string
	Indexes []string // a subset of IndexGSI1, IndexGSI2
	TTL     bool
}

// Specs returns every table's spec with names from cfg.
func Specs(t config.Tables) []TableSpec {
	return []TableSpec{
		{Logical: "users", Name: t.Users, Indexes: []string{IndexGSI1, IndexGSI2}},
		{Logical: "sessions", Name: t.Sessions, Indexes: []string{IndexGSI1}, TTL: true},
		{Logical: "audit", Name: t.Audit, Indexes: []string{IndexGSI1, IndexGSI2}},
		{Logical: "assignments", Name: t.Assignments, Indexes: []string{IndexGSI1}},
		{Logical: "images", Name: t.Images, Indexes: []string{IndexGSI1}, TTL: true},
		{Logical: "shares", Name: t.Shares, Indexes: []string{IndexGSI1, IndexGSI2}, TTL: false},
	}
}

// CreateTableInput returns the CreateTable request for s, billed on demand.
func (s TableSpec) CreateTableInput() *dynamodb.CreateTableInput {
	attr := func(name string) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(name), AttributeType: types.ScalarAttributeTypeS}
	}
	key := func(pk, sk string) []types.KeySchemaElement {
		return []types.KeySchemaElement{
			{AttributeName: aws.String(pk), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(sk), KeyType: types.KeyTypeRange},
		}
	}
	in := &dynamodb.CreateTableInput{
		TableName:            aws.String(s.Name),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{attr(AttrPK), attr(AttrSK)},
		KeySchema:            key(AttrPK, AttrSK),
	}
	for _, idx := range s.Indexes {
		pk, sk := AttrGSI1PK, AttrGSI1SK
		if idx == IndexGSI2 {
			pk, sk = AttrGSI2PK, AttrGSI2SK
		}
		in.AttributeDefinitions = append(in.AttributeDefinitions, attr(pk), attr(sk))
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{
			IndexName:  aws.String(idx),
			KeySchema:  key(pk, sk),
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		})
	}
	return in
}

// TableAdmin is the part of the DynamoDB client that creates tables.
type TableAdmin interface {
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	UpdateTimeToLive(ctx context.Context, in *dynamodb.UpdateTimeToLiveInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

// CreateTables creates every table that does not exist yet and turns on TTL where the spec sets it.
// Only the local runner and tests call it; in AWS the CDK app owns the tables.
func CreateTables(ctx context.Context, db TableAdmin, t config.Tables) error {
	for _, s := range Specs(t) {
		_, err := db.CreateTable(ctx, s.CreateTableInput())
		var inUse *types.ResourceInUseException
		if err != nil && !asError(err, &inUse) {
			return wrapf(err, "create table %s", s.Name)
		}
		if s.TTL {
			_, err := db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
				TableName: aws.String(s.Name),
				TimeToLiveSpecification: &types.TimeToLiveSpecification{
					AttributeName: aws.String(AttrTTL), Enabled: aws.Bool(true),
				},
			})
			if err != nil && inUse == nil {
				return wrapf(err, "enable TTL on %s", s.Name)
			}
		}
	}
	return nil
}
