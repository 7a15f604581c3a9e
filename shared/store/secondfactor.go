package store

import (
	"context"
	"crypto/subtle"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// SetPendingTOTP stores an encrypted TOTP secret that is not used for login until EnableTOTP.
// It returns ErrConditionFailed when TOTP is already enabled, so an enrolled secret is never
// replaced without disabling it first.
func (s *Users) SetPendingTOTP(ctx context.Context, id int64, secret []byte) error {
	return s.updateSecondFactor(ctx, id, "SET totpSecret = :secret",
		"attribute_exists(pk) AND totpEnabled = :false",
		map[string]any{":secret": secret, ":false": false})
}

// EnableTOTP turns the pending secret on for login and stores the recovery code hashes. It
// returns ErrConditionFailed when there is no pending secret or TOTP is already enabled.
func (s *Users) EnableTOTP(ctx context.Context, id int64, codeHashes []string) error {
	return s.updateSecondFactor(ctx, id, "SET totpEnabled = :true, recoveryCodes = :codes",
		"attribute_exists(totpSecret) AND totpEnabled = :false",
		map[string]any{":true": true, ":false": false, ":codes": codeHashes})
}

// DisableTOTP turns TOTP off and removes the secret and the recovery codes. It returns
// ErrConditionFailed when TOTP is not enabled.
func (s *Users) DisableTOTP(ctx context.Context, id int64) error {
	return s.updateSecondFactor(ctx, id, "SET totpEnabled = :false REMOVE totpSecret, recoveryCodes",
		"totpEnabled = :true", map[string]any{":true": true, ":false": false})
}

// SetRecoveryCodes replaces the recovery code hashes of an account with TOTP enabled. It returns
// ErrConditionFailed when TOTP is not enabled.
func (s *Users) SetRecoveryCodes(ctx context.Context, id int64, codeHashes []string) error {
	return s.updateSecondFactor(ctx, id, "SET recoveryCodes = :codes", "totpEnabled = :true",
		map[string]any{":true": true, ":codes": codeHashes})
}

func (s *Users) updateSecondFactor(ctx context.Context, id int64, update, cond string,
	values map[string]any) error {
	av, err := attributevalue.MarshalMap(values)
	if err != nil {
		return wrapf(err, "marshal second factor update of user %d", id)
	}
	_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       stringKey(userKey(id), userSK),
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeValues: av,
	})
	if conditionFailed(err) {
		return ErrConditionFailed
	}
	if err != nil {
		return wrapf(err, "update second factor of user %d", id)
	}
	return nil
}

// maxRecoveryCodeRaces bounds the retries of UseRecoveryCode when other codes of the same user
// are used at the same moment and shift the list under it.
const maxRecoveryCodeRaces = 5

// UseRecoveryCode removes the recovery code whose hash is codeHash and returns how many codes
// remain. The removal is conditional on that list position still holding the hash, so two
// requests presenting the same code cannot both succeed. It returns ErrNotFound when the user
// has no such code (never issued, or used already) or TOTP is not enabled.
func (s *Users) UseRecoveryCode(ctx context.Context, id int64, codeHash string) (int, error) {
	for range maxRecoveryCodeRaces {
		u, err := s.Get(ctx, id)
		if err != nil {
			return 0, err
		}
		if !u.TOTPEnabled {
			return 0, ErrNotFound
		}
		index := -1
		for i, h := range u.RecoveryCodes {
			if subtle.ConstantTimeCompare([]byte(h), []byte(codeHash)) == 1 {
				index = i
			}
		}
		if index < 0 {
			return 0, ErrNotFound
		}
		slot := "recoveryCodes[" + strconv.Itoa(index) + "]"
		_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:           aws.String(s.Table),
			Key:                 stringKey(userKey(id), userSK),
			UpdateExpression:    aws.String("REMOVE " + slot),
			ConditionExpression: aws.String(slot + " = :hash AND totpEnabled = :true"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":hash": &types.AttributeValueMemberS{Value: codeHash},
				":true": &types.AttributeValueMemberBOOL{Value: true},
			},
		})
		if conditionFailed(err) {
			continue // The list changed meanwhile: read it again.
		}
		if err != nil {
			return 0, wrapf(err, "use recovery code of user %d", id)
		}
		return len(u.RecoveryCodes) - 1, nil
	}
	return 0, wrapf(ErrConditionFailed, "use recovery code of user %d: list kept changing", id)
}
