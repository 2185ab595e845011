package busnats

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
)

// subscriber is one handler's Watermill JetStream subscriber, with its own
// connection per subscription. Around Watermill's it adds three things:
//
//   - it creates the stream and the durable consumer first and binds to
//     them, so that closing never deletes the consumer (a consumer created
//     by a subscription is deleted when it unsubscribes);
//   - it sets manual acknowledgement, so that a message Watermill discards
//     while closing is not acknowledged on its behalf;
//   - when its context ends or it closes, it hands back (nacks) the
//     messages already delivered to this process but not yet taken by the
//     bus, so the server redelivers them at once rather than after AckWait.
type subscriber struct {
	url         string
	handlerName string
	p           *provisioner

	mu     sync.Mutex
	closed bool
	subs   []*subscription
}

var _ message.Subscriber = (*subscriber)(nil)

// subscription is one Subscribe call.
type subscription struct {
	inner      *wmnats.Subscriber
	conn       *nats.Conn
	connClosed <-chan struct{}
	cancel     context.CancelFunc // ends Watermill's subscription
	stop       chan struct{}      // closed by Close
	done       chan struct{}      // closed once forward has returned
}

// nakDelay is how long the server waits before it redelivers a nacked
// message. A subscriber closing nacks the messages it will not hand to the
// bus, then unsubscribes: redelivered at once, such a message could go back
// to the leaving subscriber after it has stopped reading, and wait there for
// AckWait. Redelivered a little later, it goes to a subscriber that stays.
const nakDelay = time.Second

// closeTimeout bounds Watermill's wait for its subscription goroutines at
// Close; they have ended by then.
const closeTimeout = 5 * time.Second

func newSubscriber(url, handlerName string, p *provisioner) *subscriber {
	return &subscriber{url: url, handlerName: handlerName, p: p}
}

// Subscribe creates topic's stream and the handler's consumer if needed and
// subscribes Config.Subscribers times to the consumer's queue group.
func (s *subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	cfg := s.p.cfg
	if err := s.p.ensureStream(topic); err != nil {
		return nil, err
	}
	stream, durable, err := s.p.ensureConsumer(s.handlerName, topic)
	if err != nil {
		return nil, err
	}
	conn, connClosed, err := cfg.connect(s.url, "hookbus subscriber "+s.handlerName)
	if err != nil {
		return nil, fmt.Errorf("busnats: connect: %w", err)
	}
	inner, err := wmnats.NewSubscriberWithNatsConn(conn, wmnats.SubscriberSubscriptionConfig{
		Unmarshaler:       unmarshaler{},
		SubscribersCount:  cfg.Subscribers,
		AckWaitTimeout:    cfg.AckWait,
		CloseTimeout:      closeTimeout,
		SubjectCalculator: wmnats.DefaultSubjectCalculator,
		QueueGroupPrefix:  durable, // the queue group, see DefaultSubjectCalculator
		NakDelay:          wmnats.NewStaticDelay(nakDelay),
		JetStream: wmnats.JetStreamConfig{
			AckAsync:          !cfg.AckSync,
			SubscribeOptions:  []nats.SubOpt{nats.Bind(stream, durable), nats.ManualAck()},
			DurableCalculator: func(string, string) string { return durable },
		},
	}, closingLogger{cfg.watermillLogger()})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("busnats: new subscriber: %w", err)
	}
	innerCtx, cancel := context.WithCancel(context.Background())
	in, err := inner.Subscribe(innerCtx, cfg.Subject(topic))
	if err != nil {
		cancel()
		conn.Close()
		return nil, fmt.Errorf("busnats: subscribe %s to %s: %w", s.handlerName, topic, err)
	}
	x := &subscription{
		inner:      inner,
		conn:       conn,
		connClosed: connClosed,
		cancel:     cancel,
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	s.subs = append(s.subs, x)
	out := make(chan *message.Message)
	go x.forward(ctx, in, out)
	return out, nil
}

// Close hands back the messages not yet taken, closes the connections and
// waits for the subscriptions' goroutines. It is safe to call more than once.
func (s *subscriber) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	subs := s.subs
	s.mu.Unlock()

	for _, x := range subs {
		close(x.stop)
	}
	var errs []error
	for _, x := range subs {
		<-x.done
		// Watermill drains the connection again, which is closed by now.
		if err := x.inner.Close(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			errs = append(errs, fmt.Errorf("busnats: close subscriber %s: %w", s.handlerName, err))
		}
	}
	return errors.Join(errs...)
}

// forward passes the messages of Watermill's subscription in to the bus on
// out until ctx ends or Close is called. Then it drains the connection:
// the server stops delivering, and the messages delivered to this process
// but not taken by the bus go through in once more, to be nacked, which makes
// the server redeliver them at once to the handler's other subscribers.
// Messages the bus holds are acknowledged or nacked by the bus.
func (x *subscription) forward(ctx context.Context, in <-chan *message.Message, out chan<- *message.Message) {
	defer close(x.done)
	for handing := true; handing; {
		select {
		case m, ok := <-in:
			if !ok {
				close(out)
				return
			}
			select {
			case out <- m:
			case <-ctx.Done():
				m.Nack()
				handing = false
			case <-x.stop:
				m.Nack()
				handing = false
			}
		case <-ctx.Done():
			handing = false
		case <-x.stop:
			handing = false
		}
	}
	close(out)

	_ = x.conn.Drain() // when already closing or closed, the connection closes anyway
	connClosed := x.connClosed
	// The connection's closed callback is not called when the options
	// include nats.NoCallbacksAfterClientClose: its state tells then.
	poll := time.NewTicker(closedPollInterval)
	defer poll.Stop()
	polling := poll.C
	for {
		select {
		case m, ok := <-in:
			if !ok {
				return
			}
			m.Nack()
		case <-connClosed:
			// Drained (or given up after nats.DrainTimeout): end Watermill's
			// subscription, whose goroutines close in.
			x.cancel()
			connClosed, polling = nil, nil
		case <-polling:
			if x.conn.IsClosed() {
				x.cancel()
				connClosed, polling = nil, nil
			}
		}
	}
}

// closedPollInterval is how often a draining subscription looks whether
// its connection has closed.
const closedPollInterval = 20 * time.Millisecond

// closingLogger is Watermill's logger with one error turned into a debug
// message: unsubscribing fails once the connection is drained and closed,
// which is how the subscriber closes.
type closingLogger struct{ watermill.LoggerAdapter }

func (l closingLogger) Error(msg string, err error, fields watermill.LogFields) {
	if errors.Is(err, nats.ErrConnectionClosed) {
		l.LoggerAdapter.Debug(msg, fields.Add(watermill.LogFields{"error": err}))
		return
	}
	l.LoggerAdapter.Error(msg, err, fields)
}

func (l closingLogger) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return closingLogger{l.LoggerAdapter.With(fields)}
}
