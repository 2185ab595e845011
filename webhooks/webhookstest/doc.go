// Package webhookstest provides test helpers for applications that embed
// hookbus, in the spirit of net/http/httptest.
//
// Recorder is a recording webhook receiver on the loopback interface: it
// verifies the signature of every request it gets, decodes its event,
// answers as a test scripts it (failures, Retry-After, redirects, delays,
// dropped or hanging connections), and lets the test wait for deliveries:
//
//	rec := webhookstest.NewRecorder(t) // closed at the end of the test
//	// create webhookstest.NewWebhook(eventType, rec.URL()) and publish events
//	got := rec.WaitFor(t, 3) // waits for three requests answered 2xx
//
// TestStore is a conformance suite for implementations of webhooks.Store: a
// host that keeps webhooks in its own database runs it from a test to check
// its store behaves as the interface documents. NewWebhook returns a valid
// webhook configuration signed with the fixed Secret, for tests that need one
// without caring about its details.
package webhookstest
