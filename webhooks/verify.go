package webhooks

import (
	"crypto/hmac"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultTolerance is the clock skew a Verifier accepts, either way, between a
// request's HeaderTimestamp and its own clock when VerifierConfig.Tolerance is
// zero. It is the Standard Webhooks recommendation.
const DefaultTolerance = 5 * time.Minute

// Limits on the signature header a Verifier examines. They bound the work one
// request can cause whatever its sender puts in the header: a rotated secret
// needs two or three signatures, and each takes v1SignatureLen bytes.
const (
	// MaxSignatureHeaderLen is the longest signature header, in bytes, a
	// Verifier examines; a longer one is refused with ErrNoMatchingSignature.
	MaxSignatureHeaderLen = 4 << 10
	// MaxSignatures is how many space-separated entries of the signature
	// header a Verifier examines; later entries are ignored, whatever their
	// version.
	MaxSignatures = 16
)

// Errors a Verifier reports. They are wrapped with detail; match them with
// errors.Is.
var (
	// ErrMissingHeaders reports a request without a non-empty HeaderID,
	// HeaderTimestamp, or signature (HeaderSignature or, failing that,
	// HeaderVendorSignature).
	ErrMissingHeaders = errors.New("webhooks: missing signature headers")
	// ErrInvalidTimestamp reports a HeaderTimestamp that is not Unix seconds
	// written as a base-10 integer without sign, spaces or leading zeros.
	ErrInvalidTimestamp = errors.New("webhooks: invalid timestamp header")
	// ErrTimestampTooOld reports a timestamp further in the past than the
	// tolerance: a late or replayed request.
	ErrTimestampTooOld = errors.New("webhooks: timestamp too old")
	// ErrTimestampTooNew reports a timestamp further in the future than the
	// tolerance.
	ErrTimestampTooNew = errors.New("webhooks: timestamp too new")
	// ErrNoMatchingSignature reports that no examined "v1," entry of the
	// signature header matches the message for any of the Verifier's secrets.
	// Entries of other versions or malformed entries are ignored rather than
	// reported, and a header over MaxSignatureHeaderLen is refused with it too.
	ErrNoMatchingSignature = errors.New("webhooks: no matching signature")
	// ErrInvalidTolerance reports a negative VerifierConfig.Tolerance.
	ErrInvalidTolerance = errors.New("webhooks: negative tolerance")
)

// VerifierConfig tunes a Verifier. The zero value is ready to use.
type VerifierConfig struct {
	// Tolerance is the largest difference, either way, between a request's
	// timestamp and Now that is accepted. Zero means DefaultTolerance;
	// negative is an error.
	Tolerance time.Duration
	// Now returns the current time. Nil means time.Now; tests inject a clock.
	Now func() time.Time
}

// Verifier checks that a request was signed with one of its secrets, as
// Signer signs, and that its timestamp is within the tolerance of now. It
// accepts a request whose signature header holds, among its first
// MaxSignatures entries, a "v1," signature made with any of its secrets, so a
// receiver configured with both the old and the new secret keeps working while
// the sender rotates. Signatures are compared in constant time.
//
// A Verifier is safe for concurrent use by multiple goroutines. The zero
// Verifier holds no secret and refuses every request; use NewVerifier.
type Verifier struct {
	keys      []*signingKey
	tolerance time.Duration
	now       func() time.Time
}

// NewVerifier returns a Verifier accepting signatures made with any of secrets.
// At least one secret is required and every secret must pass ParseSecret;
// such errors wrap ErrInvalidSecret and never contain the secret. A negative
// cfg.Tolerance is reported with ErrInvalidTolerance. All problems are
// reported together.
func NewVerifier(secrets []string, cfg VerifierConfig) (*Verifier, error) {
	keys, keysErr := parseSigningKeys(secrets)
	var tolErr error
	if cfg.Tolerance < 0 {
		tolErr = fmt.Errorf("%w: %v", ErrInvalidTolerance, cfg.Tolerance)
	}
	if err := errors.Join(keysErr, tolErr); err != nil {
		return nil, err
	}
	return &Verifier{keys: keys, tolerance: cfg.Tolerance, now: cfg.Now}, nil
}

// Verify checks the request made of the headers h, as net/http provides them,
// and body, which must be the exact bytes received. It reads HeaderID,
// HeaderTimestamp and the signature from HeaderSignature or, when that is
// absent or empty, from HeaderVendorSignature. It returns nil when the request
// is authentic and fresh, otherwise an error wrapping one of
// ErrMissingHeaders, ErrInvalidTimestamp, ErrTimestampTooOld,
// ErrTimestampTooNew or ErrNoMatchingSignature, checked in that order.
func (v *Verifier) Verify(h http.Header, body []byte) error {
	signatures := h.Get(HeaderSignature)
	if signatures == "" {
		signatures = h.Get(HeaderVendorSignature)
	}
	return v.VerifyValues(h.Get(HeaderID), h.Get(HeaderTimestamp), signatures, body)
}

// VerifyValues is Verify for raw header values: id from HeaderID, timestamp
// from HeaderTimestamp and signatures from HeaderSignature.
func (v *Verifier) VerifyValues(id, timestamp, signatures string, body []byte) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: %s is empty", ErrMissingHeaders, HeaderID)
	case timestamp == "":
		return fmt.Errorf("%w: %s is empty", ErrMissingHeaders, HeaderTimestamp)
	case signatures == "":
		return fmt.Errorf("%w: %s is empty", ErrMissingHeaders, HeaderSignature)
	}
	unix, err := parseTimestamp(timestamp)
	if err != nil {
		return err
	}
	if err := v.checkTimestamp(unix); err != nil {
		return err
	}
	if len(signatures) > MaxSignatureHeaderLen {
		return fmt.Errorf("%w: signature header is %d bytes, over %d", ErrNoMatchingSignature, len(signatures), MaxSignatureHeaderLen)
	}
	for _, k := range v.keys {
		var buf [v1SignatureLen]byte
		if containsSignature(signatures, k.appendSignature(buf[:0], id, unix, body)) {
			return nil
		}
	}
	return ErrNoMatchingSignature
}

// maxTimestampDigits keeps parsed timestamps far from int64 overflow.
const maxTimestampDigits = 18

// parseTimestamp accepts only the canonical decimal form of non-negative Unix
// seconds, the form Signer signs, so that exactly one header value maps to
// each signed message.
func parseTimestamp(s string) (int64, error) {
	if len(s) > maxTimestampDigits {
		return 0, fmt.Errorf("%w: more than %d digits", ErrInvalidTimestamp, maxTimestampDigits)
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, fmt.Errorf("%w: leading zero", ErrInvalidTimestamp)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%w: not a base-10 integer", ErrInvalidTimestamp)
		}
	}
	unix, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrInvalidTimestamp, err)
	}
	return unix, nil
}

// checkTimestamp compares unix with the Verifier's clock. A skew of exactly
// the tolerance is accepted.
func (v *Verifier) checkTimestamp(unix int64) error {
	now := time.Now
	if v.now != nil {
		now = v.now
	}
	tolerance := v.tolerance
	if tolerance == 0 {
		tolerance = DefaultTolerance
	}
	// Sub saturates instead of overflowing, so absurd timestamps compare
	// correctly too.
	skew := now().Sub(time.Unix(unix, 0))
	switch {
	case skew > tolerance:
		return fmt.Errorf("%w: %v behind, tolerance %v", ErrTimestampTooOld, skew, tolerance)
	case skew < -tolerance:
		return fmt.Errorf("%w: %v ahead, tolerance %v", ErrTimestampTooNew, -skew, tolerance)
	}
	return nil
}

// containsSignature reports whether one of the first MaxSignatures
// space-separated entries of header equals want, a "v1," signature. Entries of
// another version or shape simply do not match. Every examined entry is
// compared in constant time with hmac.Equal.
func containsSignature(header string, want []byte) bool {
	found := false
	rest := header
	for n := 0; n < MaxSignatures && rest != ""; {
		var entry string
		entry, rest, _ = strings.Cut(rest, string(signatureSeparator))
		if entry == "" {
			continue
		}
		n++
		if hmac.Equal([]byte(entry), want) {
			found = true
		}
	}
	return found
}
