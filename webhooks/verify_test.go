package webhooks

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// katRequest is one received request as a Verifier sees it.
type katRequest struct {
	header http.Header
	body   []byte
}

// katValidRequest returns the katID/katUnix/katBody message signed with
// katSecretA, as it arrives over the wire.
func katValidRequest(t testing.TB) katRequest {
	t.Helper()
	return katSignedRequest(t, katSecretA, katID, time.Unix(katUnix, 0), []byte(katBody))
}

func katSignedRequest(t testing.TB, secret, id string, ts time.Time, body []byte) katRequest {
	t.Helper()
	h := http.Header{}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, katMustSigner(t, secret).Sign(id, ts, body))
	return katRequest{header: h, body: body}
}

// katVerifier verifies with secrets at the fixed time katUnix.
func katVerifier(t testing.TB, secrets ...string) *Verifier {
	t.Helper()
	v, err := NewVerifier(secrets, VerifierConfig{Now: func() time.Time { return time.Unix(katUnix, 0) }})
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

func TestVerifierVerify(t *testing.T) {
	resign := func(t *testing.T, r *katRequest, ts time.Time) {
		*r = katSignedRequest(t, katSecretA, katID, ts, r.body)
	}
	setSignature := func(value string) func(*testing.T, *katRequest) {
		return func(_ *testing.T, r *katRequest) { r.header.Set(HeaderSignature, value) }
	}
	setTimestamp := func(value string) func(*testing.T, *katRequest) {
		return func(_ *testing.T, r *katRequest) { r.header.Set(HeaderTimestamp, value) }
	}
	garbage := strings.Repeat("v2,AAAA ", MaxSignatures-1)
	tests := []struct {
		name   string
		change func(*testing.T, *katRequest)
		want   error
	}{
		{"valid", func(*testing.T, *katRequest) {}, nil},
		{"nil body signed empty", func(t *testing.T, r *katRequest) {
			*r = katSignedRequest(t, katSecretA, katID, time.Unix(katUnix, 0), []byte{})
			r.body = nil
		}, nil},

		{"id absent", func(_ *testing.T, r *katRequest) { r.header.Del(HeaderID) }, ErrMissingHeaders},
		{"id empty", func(_ *testing.T, r *katRequest) { r.header.Set(HeaderID, "") }, ErrMissingHeaders},
		{"timestamp absent", func(_ *testing.T, r *katRequest) { r.header.Del(HeaderTimestamp) }, ErrMissingHeaders},
		{"timestamp empty", setTimestamp(""), ErrMissingHeaders},
		{"signature absent", func(_ *testing.T, r *katRequest) { r.header.Del(HeaderSignature) }, ErrMissingHeaders},
		{"signature empty", setSignature(""), ErrMissingHeaders},
		{"missing headers checked before timestamp", func(_ *testing.T, r *katRequest) {
			r.header.Del(HeaderID)
			r.header.Set(HeaderTimestamp, "soon")
		}, ErrMissingHeaders},

		{"timestamp not numeric", setTimestamp("yesterday"), ErrInvalidTimestamp},
		{"timestamp fractional", setTimestamp(strconv.Itoa(katUnix) + ".5"), ErrInvalidTimestamp},
		{"timestamp in milliseconds notation", setTimestamp(strconv.Itoa(katUnix) + "e3"), ErrInvalidTimestamp},
		{"timestamp hexadecimal", setTimestamp("0x" + strconv.FormatInt(katUnix, 16)), ErrInvalidTimestamp},
		{"timestamp leading space", setTimestamp(" " + strconv.Itoa(katUnix)), ErrInvalidTimestamp},
		{"timestamp trailing space", setTimestamp(strconv.Itoa(katUnix) + " "), ErrInvalidTimestamp},
		{"timestamp inner space", setTimestamp("1735 689600"), ErrInvalidTimestamp},
		{"timestamp plus sign", setTimestamp("+" + strconv.Itoa(katUnix)), ErrInvalidTimestamp},
		{"timestamp minus sign", setTimestamp("-" + strconv.Itoa(katUnix)), ErrInvalidTimestamp},
		{"timestamp leading zero", setTimestamp("0" + strconv.Itoa(katUnix)), ErrInvalidTimestamp},
		{"timestamp too many digits", setTimestamp(strings.Repeat("9", 40)), ErrInvalidTimestamp},
		{"invalid timestamp checked before signature", func(_ *testing.T, r *katRequest) {
			r.header.Set(HeaderTimestamp, "x")
			r.header.Set(HeaderSignature, "garbage")
		}, ErrInvalidTimestamp},

		{"old by exactly the tolerance", func(t *testing.T, r *katRequest) {
			resign(t, r, time.Unix(katUnix, 0).Add(-DefaultTolerance))
		}, nil},
		{"new by exactly the tolerance", func(t *testing.T, r *katRequest) {
			resign(t, r, time.Unix(katUnix, 0).Add(DefaultTolerance))
		}, nil},
		{"too old", func(t *testing.T, r *katRequest) {
			resign(t, r, time.Unix(katUnix, 0).Add(-DefaultTolerance-time.Second))
		}, ErrTimestampTooOld},
		{"too new", func(t *testing.T, r *katRequest) {
			resign(t, r, time.Unix(katUnix, 0).Add(DefaultTolerance+time.Second))
		}, ErrTimestampTooNew},
		{"epoch", func(t *testing.T, r *katRequest) { resign(t, r, time.Unix(0, 0)) }, ErrTimestampTooOld},
		{"far future", setTimestamp(strings.Repeat("9", maxTimestampDigits)), ErrTimestampTooNew},
		{"stale timestamp checked before signature", func(t *testing.T, r *katRequest) {
			r.header.Set(HeaderTimestamp, strconv.Itoa(katUnix-3600))
		}, ErrTimestampTooOld},

		{"wrong secret", func(t *testing.T, r *katRequest) {
			*r = katSignedRequest(t, katSecretB, katID, time.Unix(katUnix, 0), r.body)
		}, ErrNoMatchingSignature},
		{"tampered body", func(_ *testing.T, r *katRequest) {
			r.body = bytes.Replace(r.body, []byte("m-42"), []byte("m-43"), 1)
		}, ErrNoMatchingSignature},
		{"body with trailing newline", func(_ *testing.T, r *katRequest) {
			r.body = append(bytes.Clone(r.body), '\n')
		}, ErrNoMatchingSignature},
		{"tampered id", func(_ *testing.T, r *katRequest) { r.header.Set(HeaderID, katID+"x") }, ErrNoMatchingSignature},
		{"tampered timestamp", setTimestamp(strconv.Itoa(katUnix + 1)), ErrNoMatchingSignature},
		{"version v2", setSignature("v2," + strings.TrimPrefix(katSignatureA, v1Prefix)), ErrNoMatchingSignature},
		{"version in upper case", setSignature("V1," + strings.TrimPrefix(katSignatureA, v1Prefix)), ErrNoMatchingSignature},
		{"bare base64", setSignature(strings.TrimPrefix(katSignatureA, v1Prefix)), ErrNoMatchingSignature},
		{"truncated signature", setSignature(katSignatureA[:len(katSignatureA)-1]), ErrNoMatchingSignature},
		{"signature with trailing data", setSignature(katSignatureA + "=="), ErrNoMatchingSignature},
		{"signature of another secret", setSignature(katSignatureB), ErrNoMatchingSignature},
		{"garbage entries", setSignature("garbage v1 v1, v1,!!! ,,, v1,AAAA= \t"), ErrNoMatchingSignature},
		{"comma separated list", setSignature(katSignatureB + "," + katSignatureA), ErrNoMatchingSignature},

		{"valid among garbage", setSignature("garbage v2,AAAA  " + katSignatureA + " v1,"), nil},
		{"valid as last examined entry", setSignature(garbage + katSignatureA), nil},
		{"valid beyond the examined entries", setSignature(garbage + "v1,AAAA " + katSignatureA), ErrNoMatchingSignature},
		{"extra spaces do not count as entries", setSignature(strings.Repeat(" ", 100) + garbage + katSignatureA), nil},
		{"oversized header", setSignature(katSignatureA + strings.Repeat(" ", MaxSignatureHeaderLen)), ErrNoMatchingSignature},
	}
	v := katVerifier(t, katSecretA)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := katValidRequest(t)
			tt.change(t, &r)
			err := v.Verify(r.header, r.body)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifierVerifyValuesMatchesVerify(t *testing.T) {
	v := katVerifier(t, katSecretA)
	ts := strconv.Itoa(katUnix)
	if err := v.VerifyValues(katID, ts, katSignatureA, []byte(katBody)); err != nil {
		t.Errorf("VerifyValues(valid) = %v, want nil", err)
	}
	if err := v.VerifyValues(katID, ts, katSignatureA, []byte(katBody+" ")); !errors.Is(err, ErrNoMatchingSignature) {
		t.Errorf("VerifyValues(tampered) = %v, want ErrNoMatchingSignature", err)
	}
	if err := v.VerifyValues(katID, ts, "", []byte(katBody)); !errors.Is(err, ErrMissingHeaders) {
		t.Errorf("VerifyValues(no signature) = %v, want ErrMissingHeaders", err)
	}
}

func TestVerifierVendorSignatureHeader(t *testing.T) {
	tests := []struct {
		name      string
		standard  []string // nil: header absent
		vendor    []string
		wantValid bool
	}{
		{"vendor header alone", nil, []string{katSignatureA}, true},
		{"vendor header alone, wrong", nil, []string{katSignatureB}, false},
		{"both valid", []string{katSignatureA}, []string{katSignatureA}, true},
		{"standard header wins over a wrong vendor header", []string{katSignatureA}, []string{katSignatureB}, true},
		{"wrong standard header is not rescued by the vendor header", []string{katSignatureB}, []string{katSignatureA}, false},
		{"empty standard header falls back", []string{""}, []string{katSignatureA}, true},
	}
	v := katVerifier(t, katSecretA)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := katValidRequest(t)
			r.header.Del(HeaderSignature)
			for _, s := range tt.standard {
				r.header.Add(HeaderSignature, s)
			}
			for _, s := range tt.vendor {
				r.header.Add(HeaderVendorSignature, s)
			}
			err := v.Verify(r.header, r.body)
			if tt.wantValid && err != nil {
				t.Fatalf("Verify = %v, want nil", err)
			}
			if !tt.wantValid && !errors.Is(err, ErrNoMatchingSignature) {
				t.Fatalf("Verify = %v, want ErrNoMatchingSignature", err)
			}
		})
	}
}

// TestVerifierRotation covers both halves of a rotation: the sender signs
// with old and new while receivers still know only one, and a receiver that
// knows both accepts a sender still on either.
func TestVerifierRotation(t *testing.T) {
	const other = "whsec_cGVyaGFwcyBhIHRoaXJkIHNlY3JldCBvZiAzMiBieXRlcw=="
	ts := time.Unix(katUnix, 0)
	tests := []struct {
		name      string
		signWith  []string
		verifyBy  []string
		wantValid bool
	}{
		{"both signatures, receiver knows old", []string{katSecretA, katSecretB}, []string{katSecretA}, true},
		{"both signatures, receiver knows new", []string{katSecretA, katSecretB}, []string{katSecretB}, true},
		{"old signature, receiver knows both", []string{katSecretA}, []string{katSecretB, katSecretA}, true},
		{"new signature, receiver knows both", []string{katSecretB}, []string{katSecretB, katSecretA}, true},
		{"both signatures, receiver knows neither", []string{katSecretA, katSecretB}, []string{other}, false},
		{"old signature, receiver moved on", []string{katSecretA}, []string{katSecretB, other}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig := katMustSigner(t, tt.signWith...).Sign(katID, ts, []byte(katBody))
			err := katVerifier(t, tt.verifyBy...).VerifyValues(katID, strconv.Itoa(katUnix), sig, []byte(katBody))
			if tt.wantValid && err != nil {
				t.Fatalf("Verify = %v, want nil", err)
			}
			if !tt.wantValid && !errors.Is(err, ErrNoMatchingSignature) {
				t.Fatalf("Verify = %v, want ErrNoMatchingSignature", err)
			}
		})
	}
}

func TestVerifierTolerance(t *testing.T) {
	now := time.Unix(katUnix, 0)
	tests := []struct {
		name      string
		tolerance time.Duration
		skew      time.Duration // timestamp minus now
		want      error
	}{
		{"default accepts 5m old", 0, -5 * time.Minute, nil},
		{"default refuses 5m1s old", 0, -5*time.Minute - time.Second, ErrTimestampTooOld},
		{"default refuses 5m1s new", 0, 5*time.Minute + time.Second, ErrTimestampTooNew},
		{"custom accepts 30s old", 30 * time.Second, -30 * time.Second, nil},
		{"custom refuses 31s old", 30 * time.Second, -31 * time.Second, ErrTimestampTooOld},
		{"custom refuses 31s new", 30 * time.Second, 31 * time.Second, ErrTimestampTooNew},
		{"wide accepts a day old", 48 * time.Hour, -24 * time.Hour, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier([]string{katSecretA}, VerifierConfig{Tolerance: tt.tolerance, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatalf("NewVerifier: %v", err)
			}
			r := katSignedRequest(t, katSecretA, katID, now.Add(tt.skew), []byte(katBody))
			err = v.Verify(r.header, r.body)
			if tt.want == nil && err != nil {
				t.Fatalf("Verify = %v, want nil", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifierDefaultClock(t *testing.T) {
	v, err := NewVerifier([]string{katSecretA}, VerifierConfig{})
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	fresh := katSignedRequest(t, katSecretA, katID, time.Now(), []byte(katBody))
	if err := v.Verify(fresh.header, fresh.body); err != nil {
		t.Errorf("Verify(now) = %v, want nil", err)
	}
	kat := katValidRequest(t) // signed at a fixed time long past
	if err := v.Verify(kat.header, kat.body); !errors.Is(err, ErrTimestampTooOld) {
		t.Errorf("Verify(2025-01-01) = %v, want ErrTimestampTooOld", err)
	}
}

func TestNewVerifierRefusesInvalidConfig(t *testing.T) {
	valid := func() ([]string, VerifierConfig) {
		return []string{katSecretA, katSecretB}, VerifierConfig{Tolerance: time.Minute}
	}
	tests := []struct {
		name   string
		change func(*[]string, *VerifierConfig)
		want   []error
	}{
		{"valid", func(*[]string, *VerifierConfig) {}, nil},
		{"no secrets", func(s *[]string, _ *VerifierConfig) { *s = nil }, []error{ErrInvalidSecret}},
		{"invalid secret", func(s *[]string, _ *VerifierConfig) { (*s)[1] = "whsec_short" }, []error{ErrInvalidSecret}},
		{"negative tolerance", func(_ *[]string, c *VerifierConfig) { c.Tolerance = -time.Second }, []error{ErrInvalidTolerance}},
		{"both problems", func(s *[]string, c *VerifierConfig) {
			*s = []string{"secret"}
			c.Tolerance = -time.Second
		}, []error{ErrInvalidSecret, ErrInvalidTolerance}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secrets, cfg := valid()
			tt.change(&secrets, &cfg)
			v, err := NewVerifier(secrets, cfg)
			if len(tt.want) == 0 {
				if err != nil || v == nil {
					t.Fatalf("NewVerifier = %v, %v; want a Verifier", v, err)
				}
				return
			}
			if v != nil {
				t.Errorf("NewVerifier returned a Verifier with an error")
			}
			for _, want := range tt.want {
				if !errors.Is(err, want) {
					t.Errorf("NewVerifier error = %v, want %v", err, want)
				}
			}
		})
	}
}

func TestZeroVerifierRefuses(t *testing.T) {
	var v Verifier
	r := katSignedRequest(t, katSecretA, katID, time.Now(), []byte(katBody))
	if err := v.Verify(r.header, r.body); !errors.Is(err, ErrNoMatchingSignature) {
		t.Errorf("zero Verifier Verify = %v, want ErrNoMatchingSignature", err)
	}
}

func TestVerifierConcurrentUse(t *testing.T) {
	v := katVerifier(t, katSecretB, katSecretA)
	good := katValidRequest(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			for range 100 {
				body := good.body
				if i%2 == 1 {
					body = []byte(katBody + "x")
				}
				err := v.Verify(good.header, body)
				if (i%2 == 0) != (err == nil) {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Verify gave the wrong answer: %v", err)
	}
}

// FuzzVerify checks that a Verifier never panics and accepts only the exact
// message that was signed: any change to id, timestamp or body is refused,
// whatever signature header comes with it.
func FuzzVerify(f *testing.F) {
	ts := strconv.Itoa(katUnix)
	f.Add(katID, ts, []byte(katBody), katSignatureA)
	f.Add(katID, ts, []byte(katBody), katSignatureA+" "+katSignatureB)
	f.Add(katID, ts, []byte(katBody), "v1,garbage "+katSignatureA)
	f.Add(katID+"x", ts, []byte(katBody), katSignatureA)
	f.Add(katID, "0"+ts, []byte(katBody), katSignatureA)
	f.Add(katID, "+"+ts, []byte(katBody), katSignatureA)
	f.Add(katID, strconv.Itoa(katUnix+1), []byte(katBody), katSignatureA)
	f.Add(katID, ts, []byte(katBody+" "), katSignatureA)
	f.Add("", "", []byte(nil), "")
	f.Add(katID+"."+ts, "", []byte(katBody), katSignatureA)
	f.Add("evt_01JGXYZ.1735689600.{", "1735689600", []byte(katBody), "v1,"+strings.Repeat("A", 43)+"=")
	f.Add(katID, ts, []byte(katBody), strings.Repeat(" ", MaxSignatureHeaderLen)+katSignatureA)

	v := katVerifier(f, katSecretA)
	f.Fuzz(func(t *testing.T, id, timestamp string, body []byte, signatures string) {
		err := v.VerifyValues(id, timestamp, signatures, body)
		if err != nil {
			return
		}
		if id != katID || timestamp != ts || string(body) != katBody {
			t.Fatalf("accepted id %q, timestamp %q, body %q with signatures %q; only %q, %q, %q was signed",
				id, timestamp, body, signatures, katID, ts, katBody)
		}
	})
}
