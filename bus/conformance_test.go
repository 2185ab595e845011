package bus_test

import (
	"context"

	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"github.com/hookbus/hookbus/bus"
	"github.com/hookbus/hookbus/bus/bustest"
)

func TestConformanceDefault(t *testing.T) {
	bustest.TestBus(t, func(t *testing.T) bus.Config { return bus.Config{} })
}

func TestConformanceUserGoChannel(t *testing.T) {
	bustest.TestBus(t, func(t *testing.T) bus.Config {
		gc := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 8}, nil)
		return bus.Config{Publisher: gc, Subscriber: gc}
	})
}

// TestConformanceBroker runs the suite on a stand-in broker: a persistent
// GoChannel behind a type the bus does not recognise, so the bus treats it as
// a broker (acknowledges after handling, publishes without handlers). Like a
// broker it keeps what is published and outlives each bus; unlike one it
// replays every message to each new subscription.
func TestConformanceBroker(t *testing.T) {
	shared := gochannel.NewGoChannel(gochannel.Config{Persistent: true}, nil)
	t.Cleanup(func() { _ = shared.Close() })
	bustest.TestBus(t, func(t *testing.T) bus.Config {
		b := stubBroker{shared}
		return bus.Config{Publisher: b, Subscriber: b}
	})
}

// TestConformanceBrokerNewSubscriber runs the suite on the stand-in broker
// with one subscriber per handler, the way brokers with consumer groups are
// configured.
func TestConformanceBrokerNewSubscriber(t *testing.T) {
	shared := gochannel.NewGoChannel(gochannel.Config{Persistent: true}, nil)
	t.Cleanup(func() { _ = shared.Close() })
	bustest.TestBus(t, func(t *testing.T) bus.Config {
		return bus.Config{
			Publisher:     stubBroker{shared},
			NewSubscriber: func(string) (message.Subscriber, error) { return stubBroker{shared}, nil },
		}
	})
}

// stubBroker shares a GoChannel between buses; closing it leaves the GoChannel open.
type stubBroker struct{ gc *gochannel.GoChannel }

func (s stubBroker) Publish(topic string, msgs ...*message.Message) error {
	return s.gc.Publish(topic, msgs...)
}

func (s stubBroker) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	return s.gc.Subscribe(ctx, topic)
}

func (s stubBroker) Close() error { return nil }
