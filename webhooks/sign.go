package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Signer computes the value of the HeaderSignature header: for every secret,
// "v1," followed by the standard base64 encoding of
// HMAC-SHA256(key, id + "." + unixSeconds + "." + body), where key is the
// secret decoded by ParseSecret. Several signatures are separated by one space,
// which is how a receiver keeps accepting requests while a secret rotates.
//
// A Signer is built once per webhook and reused for every attempt: it keeps
// keyed HMAC states between calls, so signing allocates nothing beyond the
// returned string. It is safe for concurrent use by multiple goroutines. The
// zero Signer holds no secret and signs every message with the empty string;
// use NewSigner.
type Signer struct {
	keys []*signingKey
}

// NewSigner returns a Signer for the given secrets, whose signatures appear in
// the order given. At least one secret is required and every secret must pass
// ParseSecret; otherwise the error wraps ErrInvalidSecret and names the
// secret's position, never its text.
func NewSigner(secrets ...string) (*Signer, error) {
	keys, err := parseSigningKeys(secrets)
	if err != nil {
		return nil, err
	}
	return &Signer{keys: keys}, nil
}

// Sign returns the HeaderSignature value for the message made of id,
// timestamp (truncated to Unix seconds) and body: "v1,<sig1> v1,<sig2> ...",
// one signature per secret in the order the secrets were given to NewSigner.
func (s *Signer) Sign(id string, timestamp time.Time, body []byte) string {
	var b strings.Builder
	b.Grow(s.signatureLen())
	unix := timestamp.Unix()
	for i, k := range s.keys {
		if i > 0 {
			b.WriteByte(signatureSeparator)
		}
		var buf [v1SignatureLen]byte
		b.Write(k.appendSignature(buf[:0], id, unix, body))
	}
	return b.String()
}

// AppendSign appends the value Sign would return to dst and returns the
// extended slice. It allocates only when dst lacks the capacity, so a caller
// reusing its buffer signs without allocating.
func (s *Signer) AppendSign(dst []byte, id string, timestamp time.Time, body []byte) []byte {
	dst = slices.Grow(dst, s.signatureLen())
	unix := timestamp.Unix()
	for i, k := range s.keys {
		if i > 0 {
			dst = append(dst, signatureSeparator)
		}
		dst = k.appendSignature(dst, id, unix, body)
	}
	return dst
}

// Sign returns the HeaderSignature value of one message for one secret. It
// parses the secret and builds the HMAC state on every call: code that signs
// repeatedly with the same secret should keep a Signer instead. The error
// wraps ErrInvalidSecret.
func Sign(secret, id string, timestamp time.Time, body []byte) (string, error) {
	s, err := NewSigner(secret)
	if err != nil {
		return "", err
	}
	return s.Sign(id, timestamp, body), nil
}

const (
	// v1Prefix starts every signature of the scheme this package implements.
	v1Prefix = "v1,"
	// signatureSeparator separates the signatures of a rotated secret.
	signatureSeparator = ' '
	// v1SignatureLen is the length of "v1," plus a base64 HMAC-SHA256.
	v1SignatureLen = len(v1Prefix) + (sha256.Size+2)/3*4
	// macScratchLen sizes the per-state buffer that carries the signed
	// prefix (id, dots and timestamp digits) and the raw MAC. Longer ids are
	// written through it in chunks, so the buffer never grows.
	macScratchLen = 128
	// maxTimestampSuffixLen is "." plus the digits of any int64 plus ".".
	maxTimestampSuffixLen = 1 + 20 + 1
)

// signatureLen is the length of the value Sign returns.
func (s *Signer) signatureLen() int {
	if len(s.keys) == 0 {
		return 0
	}
	return len(s.keys)*(v1SignatureLen+1) - 1
}

// parseSigningKeys validates secrets and builds one signingKey for each.
func parseSigningKeys(secrets []string) ([]*signingKey, error) {
	if len(secrets) == 0 {
		return nil, fmt.Errorf("%w: no secret given", ErrInvalidSecret)
	}
	keys := make([]*signingKey, len(secrets))
	for i, secret := range secrets {
		key, err := ParseSecret(secret)
		if err != nil {
			return nil, fmt.Errorf("webhooks: secret %d: %w", i, err)
		}
		keys[i] = newSigningKey(key)
	}
	return keys, nil
}

// signingKey is one decoded secret with a pool of HMAC states keyed with it.
// Keying an HMAC costs two SHA-256 block computations and a few allocations;
// the pool pays that once per concurrent signer instead of once per message.
type signingKey struct {
	states sync.Pool // of *macState
}

// macState is a keyed HMAC-SHA256 with the scratch buffer it is fed through.
type macState struct {
	mac     hash.Hash
	scratch []byte
}

func newSigningKey(key []byte) *signingKey {
	k := &signingKey{}
	k.states.New = func() any {
		return &macState{
			mac:     hmac.New(sha256.New, key),
			scratch: make([]byte, 0, macScratchLen),
		}
	}
	return k
}

// appendSignature appends "v1," and the base64 HMAC of id.unix.body to dst.
func (k *signingKey) appendSignature(dst []byte, id string, unix int64, body []byte) []byte {
	st := k.states.Get().(*macState)
	dst = append(dst, v1Prefix...)
	dst = base64.StdEncoding.AppendEncode(dst, st.sum(id, unix, body))
	k.states.Put(st)
	return dst
}

// sum returns HMAC(key, id + "." + unix + "." + body) in st.scratch, valid
// until st is used again. It writes straight into the HMAC, so the message is
// never assembled in memory and nothing is allocated.
func (st *macState) sum(id string, unix int64, body []byte) []byte {
	// hmac's Reset restores the keyed state it saved on first use.
	st.mac.Reset()
	buf := st.scratch[:0]
	if len(id) <= cap(buf)-maxTimestampSuffixLen {
		buf = append(buf, id...)
	} else {
		for rest := id; len(rest) > 0; {
			n := copy(buf[:cap(buf)], rest)
			st.mac.Write(buf[:n])
			rest = rest[n:]
		}
	}
	buf = append(buf, '.')
	buf = strconv.AppendInt(buf, unix, 10)
	buf = append(buf, '.')
	st.mac.Write(buf)
	st.mac.Write(body)
	return st.mac.Sum(buf[:0])
}
