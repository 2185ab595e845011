package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Signing fixtures. The expected signatures are literals computed outside Go:
// the first is the Standard Webhooks specification's published vector, the
// others come from `openssl dgst -sha256 -mac HMAC -macopt hexkey:<key>`.
const (
	katSpecSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	katSpecID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	katSpecUnix      = 1614265330
	katSpecBody      = `{"test": 2432232314}`
	katSpecSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

	// katSecretA encodes the 32 bytes 0x00..0x1f, katSecretB the 48 bytes
	// 0x40..0x6f.
	katSecretA    = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	katSecretB    = "whsec_QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl9gYWJjZGVmZ2hpamtsbW5v"
	katID         = "evt_01JGXYZ"
	katUnix       = 1735689600 // 2025-01-01T00:00:00Z
	katBody       = `{"meetingId":"m-42","status":"meeting_summary_done"}`
	katSignatureA = "v1,QDVa7Dd1J+ANr00u2CJoIUsEVhSQZQGwkvInFQmokFU="
	katSignatureB = "v1,MVrszPjoH6SPFnTj8418LDBPKaPS4Zsakg0LL2l/JOI="
	katEmptyBodyA = "v1,jz96anOHivSGSc439fGbo7x6hygNx7yywFK0fNJg+YE="
)

func TestSignKnownAnswers(t *testing.T) {
	tests := []struct {
		name   string
		secret string
		id     string
		unix   int64
		body   string
		want   string
	}{
		{"spec vector", katSpecSecret, katSpecID, katSpecUnix, katSpecBody, katSpecSignature},
		{"32-byte key", katSecretA, katID, katUnix, katBody, katSignatureA},
		{"48-byte key", katSecretB, katID, katUnix, katBody, katSignatureB},
		{"empty body", katSecretA, katID, katUnix, "", katEmptyBodyA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := time.Unix(tt.unix, 0)
			s, err := NewSigner(tt.secret)
			if err != nil {
				t.Fatalf("NewSigner: %v", err)
			}
			if got := s.Sign(tt.id, ts, []byte(tt.body)); got != tt.want {
				t.Errorf("Signer.Sign = %q, want %q", got, tt.want)
			}
			if got := string(s.AppendSign(nil, tt.id, ts, []byte(tt.body))); got != tt.want {
				t.Errorf("Signer.AppendSign = %q, want %q", got, tt.want)
			}
			got, err := Sign(tt.secret, tt.id, ts, []byte(tt.body))
			if err != nil || got != tt.want {
				t.Errorf("Sign = %q, %v; want %q, nil", got, err, tt.want)
			}
		})
	}
}

func TestSignTruncatesToSeconds(t *testing.T) {
	s := katMustSigner(t, katSpecSecret)
	ts := time.Unix(katSpecUnix, 999_999_999).In(time.FixedZone("UTC+5", 5*3600))
	if got := s.Sign(katSpecID, ts, []byte(katSpecBody)); got != katSpecSignature {
		t.Errorf("Sign with sub-second time in another zone = %q, want %q", got, katSpecSignature)
	}
}

func TestSignerSeveralSecretsInOrder(t *testing.T) {
	ts := time.Unix(katUnix, 0)
	body := []byte(katBody)
	tests := []struct {
		name    string
		secrets []string
		want    string
	}{
		{"old then new", []string{katSecretA, katSecretB}, katSignatureA + " " + katSignatureB},
		{"new then old", []string{katSecretB, katSecretA}, katSignatureB + " " + katSignatureA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := katMustSigner(t, tt.secrets...)
			got := s.Sign(katID, ts, body)
			if got != tt.want {
				t.Fatalf("Sign = %q, want %q", got, tt.want)
			}
			if len(got) != s.signatureLen() {
				t.Errorf("len(Sign) = %d, signatureLen = %d", len(got), s.signatureLen())
			}
			for i, secret := range tt.secrets {
				v, err := NewVerifier([]string{secret}, VerifierConfig{Now: func() time.Time { return ts }})
				if err != nil {
					t.Fatalf("NewVerifier: %v", err)
				}
				if err := v.VerifyValues(katID, strconv.Itoa(katUnix), got, body); err != nil {
					t.Errorf("secret %d does not verify the combined header: %v", i, err)
				}
			}
		})
	}
}

func TestSignerAppendSignAppends(t *testing.T) {
	s := katMustSigner(t, katSecretA, katSecretB)
	ts := time.Unix(katUnix, 0)
	dst := []byte("webhook-signature: ")
	got := s.AppendSign(dst, katID, ts, []byte(katBody))
	want := "webhook-signature: " + katSignatureA + " " + katSignatureB
	if string(got) != want {
		t.Errorf("AppendSign = %q, want %q", got, want)
	}
}

// TestSignIDLengths crosses the length where the id no longer fits the
// scratch buffer and is written in chunks, comparing with a plain HMAC.
func TestSignIDLengths(t *testing.T) {
	s := katMustSigner(t, katSecretA)
	key, err := ParseSecret(katSecretA)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Unix(katUnix, 0)
	body := []byte(katBody)
	limit := macScratchLen - maxTimestampSuffixLen
	for _, n := range []int{0, 1, limit - 1, limit, limit + 1, macScratchLen - 1, macScratchLen, macScratchLen + 1, 3*macScratchLen + 7, 5000} {
		id := strings.Repeat("i", n)
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id + "." + strconv.Itoa(katUnix) + "." + katBody))
		want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
		if got := s.Sign(id, ts, body); got != want {
			t.Errorf("id of %d bytes: Sign = %q, want %q", n, got, want)
		}
	}
}

func TestNewSignerRefusesInvalidSecrets(t *testing.T) {
	tests := []struct {
		name    string
		secrets []string
	}{
		{"none", nil},
		{"empty", []string{""}},
		{"missing prefix", []string{strings.TrimPrefix(katSecretA, SecretPrefix)}},
		{"not base64", []string{SecretPrefix + "not*base64*at*all*not*base64*at*all*"}},
		{"key too short", []string{SecretPrefix + base64.StdEncoding.EncodeToString(make([]byte, MinSecretBytes-1))}},
		{"key too long", []string{SecretPrefix + base64.StdEncoding.EncodeToString(make([]byte, MaxSecretBytes+1))}},
		{"second invalid", []string{katSecretA, katSecretB[:len(katSecretB)-1]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSigner(tt.secrets...)
			if !errors.Is(err, ErrInvalidSecret) {
				t.Fatalf("NewSigner error = %v, want ErrInvalidSecret", err)
			}
			if s != nil {
				t.Errorf("NewSigner returned a Signer with an error")
			}
			for _, secret := range tt.secrets {
				if encoded := strings.TrimPrefix(secret, SecretPrefix); len(encoded) > 8 && strings.Contains(err.Error(), encoded) {
					t.Errorf("error %q leaks the secret", err)
				}
			}
			if len(tt.secrets) == 1 {
				if _, err := Sign(tt.secrets[0], katID, time.Unix(katUnix, 0), nil); !errors.Is(err, ErrInvalidSecret) {
					t.Errorf("Sign error = %v, want ErrInvalidSecret", err)
				}
			}
		})
	}
}

func TestZeroSignerSignsEmpty(t *testing.T) {
	var s Signer
	if got := s.Sign(katID, time.Unix(katUnix, 0), []byte(katBody)); got != "" {
		t.Errorf("zero Signer Sign = %q, want empty", got)
	}
	if got := s.AppendSign([]byte("x"), katID, time.Unix(katUnix, 0), []byte(katBody)); string(got) != "x" {
		t.Errorf("zero Signer AppendSign = %q, want dst unchanged", got)
	}
}

func TestSignerConcurrentUse(t *testing.T) {
	s := katMustSigner(t, katSecretA, katSecretB)
	ts := time.Unix(katUnix, 0)
	want := katSignatureA + " " + katSignatureB
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for range 8 {
		wg.Go(func() {
			var buf []byte
			for range 200 {
				buf = s.AppendSign(buf[:0], katID, ts, []byte(katBody))
				if string(buf) != want {
					errs <- string(buf)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for got := range errs {
		t.Errorf("concurrent AppendSign = %q, want %q", got, want)
	}
}

// TestSignAllocations pins the hot path: AppendSign into a buffer with room
// allocates nothing and Sign only its result. The race detector makes
// sync.Pool drop a random share of its items, so under -race only the HMAC
// computation itself is pinned.
func TestSignAllocations(t *testing.T) {
	s := katMustSigner(t, katSecretA, katSecretB)
	ts := time.Unix(katUnix, 0)
	body := make([]byte, 1024)
	id := strings.Repeat("i", 2*macScratchLen) // exercises the chunked path too

	st := s.keys[0].states.New().(*macState)
	if got := testing.AllocsPerRun(100, func() { st.sum(id, katUnix, body) }); got != 0 {
		t.Errorf("HMAC computation allocates %v times, want 0", got)
	}
	if katRaceDetector() {
		t.Log("race detector on: sync.Pool drops items, whole-call allocations not pinned")
		return
	}
	buf := make([]byte, 0, 256)
	if got := testing.AllocsPerRun(100, func() { buf = s.AppendSign(buf[:0], id, ts, body) }); got != 0 {
		t.Errorf("AppendSign allocates %v times, want 0", got)
	}
	if got := testing.AllocsPerRun(100, func() { _ = s.Sign(id, ts, body) }); got > 1 {
		t.Errorf("Sign allocates %v times, want at most 1", got)
	}
}

func BenchmarkSign(b *testing.B) {
	s, err := NewSigner(katSecretA)
	if err != nil {
		b.Fatal(err)
	}
	ts := time.Unix(katUnix, 0)
	body := make([]byte, 1024)
	b.Run("Sign", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			_ = s.Sign(katID, ts, body)
		}
	})
	b.Run("AppendSign", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		buf := make([]byte, 0, 64)
		for b.Loop() {
			buf = s.AppendSign(buf[:0], katID, ts, body)
		}
	})
}

func katMustSigner(t testing.TB, secrets ...string) *Signer {
	t.Helper()
	s, err := NewSigner(secrets...)
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	return s
}

// raceEnabled reports whether the test binary was built with -race.
func katRaceDetector() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}
