package busnats

import (
	"fmt"
	"sync/atomic"

	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
)

// publisher is Watermill's JetStream publisher on the subjects of the
// Config, creating each topic's stream before the first message. Messages
// carry their UUID (the event id) as the JetStream message id, so the stream
// drops a second publish of an event within its duplicate window (two
// minutes by default), such as a retry after a lost acknowledgement.
type publisher struct {
	inner  *wmnats.Publisher
	p      *provisioner
	closed atomic.Bool
}

var _ message.Publisher = (*publisher)(nil)

func newPublisher(conn *nats.Conn, p *provisioner) (*publisher, error) {
	inner, err := wmnats.NewPublisherWithNatsConn(conn, wmnats.PublisherPublishConfig{
		Marshaler:         marshaler,
		SubjectCalculator: wmnats.DefaultSubjectCalculator,
		JetStream:         wmnats.JetStreamConfig{TrackMsgId: true},
	}, p.cfg.watermillLogger())
	if err != nil {
		return nil, fmt.Errorf("busnats: new publisher: %w", err)
	}
	return &publisher{inner: inner, p: p}, nil
}

// Publish publishes msgs on topic's subject, one after the other, each
// acknowledged by the stream before the next.
func (p *publisher) Publish(topic string, msgs ...*message.Message) error {
	if p.closed.Load() {
		return ErrClosed
	}
	if err := p.p.ensureStream(topic); err != nil {
		return err
	}
	if err := p.inner.Publish(p.p.cfg.Subject(topic), msgs...); err != nil {
		p.p.forgetStream(topic)
		return fmt.Errorf("busnats: publish to %s: %w", topic, err)
	}
	return nil
}

// Close closes the connection, which also served to create streams and
// consumers.
func (p *publisher) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	return p.inner.Close()
}
