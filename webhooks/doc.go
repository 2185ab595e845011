// Package webhooks turns domain events into signed webhook requests: the event
// payloads of the wire contract, webhook configuration and its validation,
// Standard Webhooks signing and verification, and the delivery engine.
package webhooks
