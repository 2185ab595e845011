package webhooks

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The reference Standard Webhooks library checks timestamps against
// time.Now, so these tests sign at the current time.

func TestInteropReferenceVerifiesOurSignature(t *testing.T) {
	now := time.Now()
	body := []byte(katBody)
	for _, secret := range []string{katSpecSecret, katSecretA, katSecretB} {
		sig := katMustSigner(t, secret).Sign(katID, now, body)
		ref := katReferenceWebhook(t, secret)
		if err := ref.Verify(body, katInteropHeader(katID, now, sig)); err != nil {
			t.Errorf("reference Verify of our signature %q: %v", sig, err)
		}
		if err := ref.Verify([]byte(katBody+" "), katInteropHeader(katID, now, sig)); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
			t.Errorf("reference Verify of a tampered body = %v, want its ErrNoMatchingSignature", err)
		}
	}
}

func TestInteropWeVerifyReferenceSignature(t *testing.T) {
	now := time.Now()
	body := []byte(katBody)
	for _, secret := range []string{katSpecSecret, katSecretA, katSecretB} {
		sig, err := katReferenceWebhook(t, secret).Sign(katID, now, body)
		if err != nil {
			t.Fatalf("reference Sign: %v", err)
		}
		v, err := NewVerifier([]string{secret}, VerifierConfig{})
		if err != nil {
			t.Fatalf("NewVerifier: %v", err)
		}
		if err := v.Verify(katInteropHeader(katID, now, sig), body); err != nil {
			t.Errorf("Verify of the reference signature %q: %v", sig, err)
		}
	}
}

func TestInteropRotatedHeaderVerifiesWithReference(t *testing.T) {
	now := time.Now()
	body := []byte(katBody)
	secrets := []string{katSecretA, katSecretB}
	h := katInteropHeader(katID, now, katMustSigner(t, secrets...).Sign(katID, now, body))
	for i, secret := range secrets {
		if err := katReferenceWebhook(t, secret).Verify(body, h); err != nil {
			t.Errorf("reference Verify with secret %d of our rotated header %q: %v", i, h.Get(HeaderSignature), err)
		}
	}
	if err := katReferenceWebhook(t, katSpecSecret).Verify(body, h); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
		t.Errorf("reference Verify with an unrelated secret = %v, want its ErrNoMatchingSignature", err)
	}
}

// TestInteropSameSignatures compares both implementations on random
// messages, ids longer than the signing scratch buffer included.
func TestInteropSameSignatures(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	secret := katSecretB
	ours := katMustSigner(t, secret)
	ref := katReferenceWebhook(t, secret)
	for i := range 200 {
		id := katRandomString(rng, rng.IntN(3*macScratchLen))
		body := []byte(katRandomString(rng, rng.IntN(4096)))
		ts := time.Unix(rng.Int64N(1<<40), 0)
		want, err := ref.Sign(id, ts, body)
		if err != nil {
			t.Fatalf("reference Sign: %v", err)
		}
		if got := ours.Sign(id, ts, body); got != want {
			t.Fatalf("message %d: Sign = %q, reference = %q", i, got, want)
		}
	}
}

func katReferenceWebhook(t *testing.T, secret string) *standardwebhooks.Webhook {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatalf("reference NewWebhook: %v", err)
	}
	return wh
}

func katInteropHeader(id string, ts time.Time, signature string) http.Header {
	h := http.Header{}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, signature)
	return h
}

func katRandomString(rng *rand.Rand, n int) string {
	var b strings.Builder
	b.Grow(n)
	for range n {
		b.WriteByte(byte(rng.IntN(256)))
	}
	return b.String()
}
