package busnats

import (
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"
)

// provisioner creates the streams and consumers of one Config, through the
// publisher's connection (which the bus closes last).
type provisioner struct {
	cfg     Config // with defaults
	js      nats.JetStreamContext
	streams sync.Map // topic -> struct{}: the stream is known to exist
}

// ensureStream creates topic's stream unless it exists. An existing stream is
// left as it is.
func (p *provisioner) ensureStream(topic string) error {
	if _, ok := p.streams.Load(topic); ok {
		return nil
	}
	sc := p.cfg.streamConfig(topic)
	_, err := p.js.StreamInfo(sc.Name)
	if errors.Is(err, nats.ErrStreamNotFound) {
		_, err = p.js.AddStream(&sc)
		if errors.Is(err, nats.ErrStreamNameAlreadyInUse) {
			// Created meanwhile by another process, possibly with other settings.
			_, err = p.js.StreamInfo(sc.Name)
		}
	}
	if err != nil {
		return fmt.Errorf("busnats: stream %s for topic %s: %w", sc.Name, topic, err)
	}
	p.streams.Store(topic, struct{}{})
	return nil
}

// forgetStream makes the next ensureStream of topic look again, after a
// publish failed because the stream may have been deleted.
func (p *provisioner) forgetStream(topic string) { p.streams.Delete(topic) }

// ensureConsumer creates the durable consumer of a handler of topic, or
// brings the AckWait and MaxAckPending of an existing one to the Config's.
// Subscriptions then bind to it, so that closing them never deletes it.
func (p *provisioner) ensureConsumer(handlerName, topic string) (stream, durable string, err error) {
	stream = p.cfg.StreamName(topic)
	want := p.cfg.consumerConfig(handlerName, topic)
	durable = want.Durable
	info, err := p.js.ConsumerInfo(stream, durable)
	if errors.Is(err, nats.ErrConsumerNotFound) {
		info, err = p.js.AddConsumer(stream, &want)
		if err != nil {
			// Created meanwhile by another process?
			var lookErr error
			if info, lookErr = p.js.ConsumerInfo(stream, durable); lookErr == nil {
				err = nil
			}
		}
	}
	if err != nil {
		return "", "", fmt.Errorf("busnats: consumer %s on stream %s: %w", durable, stream, err)
	}
	got := info.Config
	if got.DeliverSubject == "" || got.DeliverGroup != durable {
		return "", "", fmt.Errorf("%w: consumer %s on stream %s delivers to subject %q, group %q; want a push consumer with group %q",
			ErrConsumerMismatch, durable, stream, got.DeliverSubject, got.DeliverGroup, durable)
	}
	if got.AckWait != want.AckWait || got.MaxAckPending != want.MaxAckPending {
		got.AckWait, got.MaxAckPending = want.AckWait, want.MaxAckPending
		if _, err := p.js.UpdateConsumer(stream, &got); err != nil {
			return "", "", fmt.Errorf("busnats: update consumer %s on stream %s: %w", durable, stream, err)
		}
	}
	return stream, durable, nil
}
