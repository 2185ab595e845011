// Package id makes the unique ids hookbus gives events, deliveries and
// webhooks: UUIDv7 (RFC 9562), time-ordered, optionally behind a short
// prefix such as "dlv_".
package id
