// Package webhooks turns domain events into signed webhook requests and helps
// receivers check them.
//
// # Sending
//
// A Service is the engine. New registers its dispatcher on a bus.Bus; every
// event of the three event types (MeetingStatusChanged,
// MeetingNoteStatusChanged, CommercialSignalDetected) published on the bus
// becomes one delivery per webhook of that type. Deliveries wait in a bounded
// queue per webhook and run on a shared pool of workers that serves webhooks
// round-robin, with a limit per webhook, so one slow receiver cannot hold back
// the others. Each delivery is a POST of the event's JSON, signed the
// Standard Webhooks way (HeaderID, HeaderTimestamp, HeaderSignature, repeated
// as HeaderVendorSignature), sent by a Sender through go-retryablehttp with a
// fresh timestamp and signature on every attempt. On the bus's in-process
// transport (the zero bus.Config) the dispatcher runs inside Publish, so a
// webhook's full queue is what Publish waits on (or, with bus.OverflowFail,
// refuses the event for); a failing webhook's overflow is recorded as
// undelivered instead.
//
// Every delivery ends on record in the DeliveryLog with an Outcome:
// delivered, dead-lettered (retries exhausted, 410 Gone, or a failure not
// retried), refused (never sendable: over the payload limit, an http URL the
// sender does not allow, a webhook that cannot be prepared, such as one whose
// stored secret is unusable), skipped (the webhook is disabled or deleted) or
// undelivered (shutdown came first). Dead-lettered, skipped and undelivered
// deliveries can be redelivered with the same webhook-id. A receiver
// answering 410 Gone, or a run of Config.DisableAfter dead letters, disables
// its webhook; hooks report dead letters and disabled webhooks.
//
// Host applications with their own domain events register a translation
// with Translate instead of publishing webhook events themselves.
//
// The Sender refuses, after DNS resolution, loopback, private, link-local,
// CGNAT, multicast and cloud-metadata addresses unless they are allow-listed
// (SenderConfig.AllowAddresses, AllowHosts), never follows redirects and sends
// only https unless plain http is allowed. It speaks HTTP/1.1 over keep-alive
// connections that the sending goroutine writes and reads itself, without
// the two goroutines per connection of net/http's Transport (and without
// their hand-offs on every request); SenderConfig.HTTP2 sends through
// net/http's Transport instead, which negotiates HTTP/2 where the receiver
// offers it. Kept connections that the receiver closed while they sat idle
// are found out before they are used.
//
// # Configuration
//
// A Webhook is what a customer configures: name, URL, event type, custom
// headers and description, plus the signing secret: "whsec_" and base64 of
// 24 to 64 random bytes, 32 when the Service generates it. Webhook.Validate reports
// every problem at once, each matching a sentinel with errors.Is. A Store keeps
// webhooks; MemoryStore is the in-process one, and package webhooks/postgres
// has a PostgreSQL one.
//
// # Receiving
//
// NewReceiver is an http.Handler that verifies a request (several secrets,
// for rotation), decodes its typed event and calls the matching callback,
// answering 2xx only when the callback succeeded. VerifyRequests is the
// verification alone, as middleware; Verifier and Signer are the primitives.
//
// # Telemetry
//
// Spans go through the OpenTelemetry API: the bus's publish and dispatch
// spans, a "deliver <webhook name>" span per delivery and an HTTP client span
// per attempt, whose traceparent the receiver gets. Metrics count deliveries
// by outcome, attempts by status class, attempt durations, queue depth, dead
// letters and disabled webhooks; the HTTP client metrics of the semantic
// conventions (http.client.request.duration and .body.size) are recorded as
// otelhttp records them. Both use the global providers unless Config
// names others; with no SDK installed they cost next to nothing. Logs go to
// Config.Logger, quiet by default, and never contain secrets or header values.
package webhooks
