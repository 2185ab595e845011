package bus_test

import (
	"testing"

	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"github.com/hookbus/hookbus/bus"
	"github.com/hookbus/hookbus/bus/bustest"
)

// BenchmarkPublishHandle measures the in-memory path end to end: Publish from
// 8 goroutines to a no-op handler, until every event is handled, on the
// default bus (in process) and, for comparison in the same run, on a
// Watermill GoChannel configured as the bus documents.
func BenchmarkPublishHandle(b *testing.B) {
	b.Run("in-process", func(b *testing.B) {
		bustest.BenchmarkPublishHandle(b, func(testing.TB) bus.Config { return bus.Config{} }, 8)
	})
	b.Run("gochannel", func(b *testing.B) {
		bustest.BenchmarkPublishHandle(b, func(testing.TB) bus.Config {
			gc := gochannel.NewGoChannel(gochannel.Config{BlockPublishUntilSubscriberAck: true, PreserveContext: true}, nil)
			return bus.Config{Publisher: gc, Subscriber: gc}
		}, 8)
	})
}
