package auth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// LocalCipher encrypts with AES-256-GCM under a key from configuration. Only the local runner
// and tests use it.
type LocalCipher struct {
	aead cipher.AEAD
}

// NewLocalCipher returns a LocalCipher for a 32-byte key.
func NewLocalCipher(key []byte) (*LocalCipher, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("local TOTP key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &LocalCipher{aead: aead}, nil
}

// Encrypt seals plaintext with a random nonce, which it prepends.
func (c *LocalCipher) Encrypt(_ context.Context, plaintext []byte) ([]byte, error) {
	nonce := make([]byte, c.aead.NonceSize())
	mustRead(nonce)
	return c.aead.Seal(nonce, nonce, plaintext, nil), nil
}

// Decrypt opens what Encrypt sealed.
func (c *LocalCipher) Decrypt(_ context.Context, ciphertext []byte) ([]byte, error) {
	n := c.aead.NonceSize()
	if len(ciphertext) < n {
		return nil, errors.New("ciphertext too short")
	}
	return c.aead.Open(nil, ciphertext[:n], ciphertext[n:], nil)
}

// KMSClient is the part of the KMS client KMSCipher uses.
type KMSClient interface {
	Encrypt(ctx context.Context, in *kms.EncryptInput, opts ...func(*kms.Options)) (*kms.EncryptOutput, error)
	Decrypt(ctx context.Context, in *kms.DecryptInput, opts ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

var _ KMSClient = (*kms.Client)(nil)

// KMSCipher encrypts TOTP secrets directly with a KMS key (secrets are far below KMS's
// 4 KB plaintext limit). The encryption context binds each ciphertext to its purpose.
type KMSCipher struct {
	Client KMSClient
	KeyID  string
}

var kmsContext = map[string]string{"purpose": "clinicpix-totp-secret"}

// Encrypt encrypts plaintext under the key.
func (c *KMSCipher) Encrypt(ctx context.Context, plaintext []byte) ([]byte, error) {
	out, err := c.Client.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(c.KeyID),
		Plaintext: plaintext, EncryptionContext: kmsContext})
	if err != nil {
		return nil, fmt.Errorf("kms encrypt: %w", err)
	}
	return out.CiphertextBlob, nil
}

// Decrypt decrypts a ciphertext made by Encrypt.
func (c *KMSCipher) Decrypt(ctx context.Context, ciphertext []byte) ([]byte, error) {
	out, err := c.Client.Decrypt(ctx, &kms.DecryptInput{KeyId: aws.String(c.KeyID),
		CiphertextBlob: ciphertext, EncryptionContext: kmsContext})
	if err != nil {
		return nil, fmt.Errorf("kms decrypt: %w", err)
	}
	return out.Plaintext, nil
}
