package busnats_test

import (
	"fmt"
	"testing"

	"github.com/hookbus/hookbus/bus"
	"github.com/hookbus/hookbus/bus/bustest"
)

// BenchmarkPublishHandle measures events per second from Publish to a no-op
// handler through NATS JetStream, with 4 or 16 publishing goroutines. Run it
// with a small count, for example -benchtime 5000x.
func BenchmarkPublishHandle(b *testing.B) {
	for _, publishers := range []int{4, 16} {
		b.Run(fmt.Sprintf("publishers=%d", publishers), func(b *testing.B) {
			bustest.BenchmarkPublishHandle(b, func(t testing.TB) bus.Config {
				url, cfg := testServer(t)
				return newConfig(t, url, cfg)
			}, publishers)
		})
	}
}
