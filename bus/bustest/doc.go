// Package bustest helps test code built on package bus, the way httptest
// helps with net/http.
//
// TestBus is a conformance suite: any transport configuration (the zero
// Config's in-process transport, a GoChannel, a PostgreSQL or NATS Pub/Sub)
// that passes it gives the bus's
// guarantees: fan-out, typed round trips, at-least-once handling under failures
// and panics, dead letters, draining shutdown, trace propagation, backpressure
// (in memory) and no goroutine left behind.
//
// Recorder collects what a handler receives and lets a test wait for it.
package bustest
