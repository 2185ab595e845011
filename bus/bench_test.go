package bus_test

import (
	"testing"

	"github.com/hookbus/hookbus/bus"
	"github.com/hookbus/hookbus/bus/bustest"
)

// BenchmarkPublishHandle measures the in-memory path end to end: Publish from
// 8 goroutines to a no-op handler on the default bus, until every event is
// handled.
func BenchmarkPublishHandle(b *testing.B) {
	bustest.BenchmarkPublishHandle(b, func(testing.TB) bus.Config { return bus.Config{} }, 8)
}
