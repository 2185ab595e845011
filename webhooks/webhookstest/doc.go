// Package webhookstest provides test helpers for applications that embed
// hookbus, in the spirit of net/http/httptest.
//
// TestStore is a conformance suite for implementations of webhooks.Store: a
// host that keeps webhooks in its own database runs it from a test to check
// its store behaves as the interface documents. NewWebhook returns a valid
// webhook configuration signed with the fixed Secret, for tests that need one
// without caring about its details.
package webhookstest
