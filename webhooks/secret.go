package webhooks

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// SecretPrefix starts every signing secret.
const SecretPrefix = "whsec_"

// Bounds on the random key inside a secret, in bytes.
const (
	MinSecretBytes = 24
	MaxSecretBytes = 64
	// generatedSecretBytes is what GenerateSecret draws: the Standard Webhooks
	// recommendation sits between the bounds.
	generatedSecretBytes = 32
)

// ErrInvalidSecret reports a signing secret that is not "whsec_" followed by
// the standard base64 encoding of MinSecretBytes to MaxSecretBytes bytes.
var ErrInvalidSecret = errors.New("webhooks: invalid signing secret")

// GenerateSecret returns a new signing secret: SecretPrefix followed by the
// base64 encoding of 32 bytes from crypto/rand.
func GenerateSecret() (string, error) {
	key := make([]byte, generatedSecretBytes)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("webhooks: generate secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

// ParseSecret checks secret and returns the key it encodes. The error wraps
// ErrInvalidSecret and never contains the secret itself.
func ParseSecret(secret string) ([]byte, error) {
	encoded, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: missing %q prefix", ErrInvalidSecret, SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return nil, fmt.Errorf("%w: not standard base64", ErrInvalidSecret)
	}
	if len(key) < MinSecretBytes || len(key) > MaxSecretBytes {
		return nil, fmt.Errorf("%w: key is %d bytes, want %d to %d", ErrInvalidSecret, len(key), MinSecretBytes, MaxSecretBytes)
	}
	return key, nil
}
