package webhooks_test

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/hookbus/hookbus/webhooks"
)

// The message of the Standard Webhooks specification's test vector.
func ExampleSign() {
	sig, err := webhooks.Sign(
		"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		"msg_p5jXN8AQM9LWM0D4loKWxJek",
		time.Unix(1614265330, 0),
		[]byte(`{"test": 2432232314}`),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(sig)
	// Output:
	// v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
}

// While a secret rotates, the sender signs with both and the header carries
// both signatures, so receivers holding either secret accept the request.
func ExampleSigner() {
	signer, err := webhooks.NewSigner(
		"whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",                     // old
		"whsec_QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl9gYWJjZGVmZ2hpamtsbW5v", // new
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(signer.Sign("evt_01JGXYZ", time.Unix(1735689600, 0), []byte(`{"meetingId":"m-42","status":"meeting_summary_done"}`)))
	// Output:
	// v1,QDVa7Dd1J+ANr00u2CJoIUsEVhSQZQGwkvInFQmokFU= v1,MVrszPjoH6SPFnTj8418LDBPKaPS4Zsakg0LL2l/JOI=
}

// A receiver checks each request before trusting its body. Here the clock is
// fixed so the example is reproducible; a real receiver leaves Now nil.
func ExampleVerifier() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	sent := time.Unix(1614265330, 0)
	body := []byte(`{"test": 2432232314}`)

	signature, err := webhooks.Sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", sent, body)
	if err != nil {
		fmt.Println(err)
		return
	}
	h := http.Header{}
	h.Set(webhooks.HeaderID, "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set(webhooks.HeaderTimestamp, strconv.FormatInt(sent.Unix(), 10))
	h.Set(webhooks.HeaderSignature, signature)

	verifier, err := webhooks.NewVerifier([]string{secret}, webhooks.VerifierConfig{
		Now: func() time.Time { return sent.Add(30 * time.Second) },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("authentic:", verifier.Verify(h, body))
	err = verifier.Verify(h, []byte(`{"test": 0}`))
	fmt.Println("tampered refused:", errors.Is(err, webhooks.ErrNoMatchingSignature))
	// Output:
	// authentic: <nil>
	// tampered refused: true
}
