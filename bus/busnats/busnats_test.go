package busnats_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"maps"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hookbus/hookbus/bus"
	"github.com/hookbus/hookbus/bus/busnats"
	"github.com/hookbus/hookbus/bus/bustest"
)

// testURLEnv names the environment variable with the URL of the NATS server
// (with JetStream) the tests use. Each test names its streams with a prefix
// of its own and deletes them at its end, so runs in parallel and repeated
// runs do not meet.
const testURLEnv = "HOOKBUS_TEST_NATS_URL"

// testServer returns the server's URL and a Config with a fresh prefix whose
// streams are deleted at the end of the test, or skips the test when no
// server is configured. AckWait is short, so that a redelivery the tests
// wait for comes quickly.
func testServer(t testing.TB) (string, busnats.Config) {
	t.Helper()
	url := os.Getenv(testURLEnv)
	if url == "" {
		t.Skip(testURLEnv + " not set: skipping NATS tests")
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("%s is set but the server is unreachable: %v", testURLEnv, err)
	}
	js, err := nc.JetStream()
	if err != nil {
		nc.Close()
		t.Fatal(err)
	}
	var b [4]byte
	rand.Read(b[:])
	cfg := busnats.Config{Prefix: "hbt_" + hex.EncodeToString(b[:])}
	t.Cleanup(func() {
		defer nc.Close()
		for name := range js.StreamNames() {
			if strings.HasPrefix(name, cfg.Prefix+"_") {
				if err := js.DeleteStream(name); err != nil {
					t.Errorf("delete stream %s: %v", name, err)
				}
			}
		}
	})
	return url, cfg
}

func newConfig(t testing.TB, url string, cfg busnats.Config) bus.Config {
	t.Helper()
	c, err := busnats.New(url, cfg)
	if err != nil {
		t.Fatalf("busnats.New: %v", err)
	}
	return c
}

func TestConformance(t *testing.T) {
	url, cfg := testServer(t)
	bustest.TestBus(t, func(t *testing.T) bus.Config { return newConfig(t, url, cfg) })
}

type seqEvent struct {
	Seq int `json:"seq"`
}

func (seqEvent) EventName() string { return "busnats.seq" }

// startBus makes a bus on cfg with the handlers register adds, started, and
// closed at the end of the test.
func startBus(t *testing.T, url string, cfg busnats.Config, register func(*bus.Bus) error) *bus.Bus {
	t.Helper()
	b, err := bus.New(newConfig(t, url, cfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if err := register(b); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	return b
}

// counts records how often each seq was handled.
type counts struct {
	mu   sync.Mutex
	seen map[int]int
}

func (c *counts) handler(_ context.Context, e seqEvent) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[int]int{}
	}
	c.seen[e.Seq]++
	return nil
}

func (c *counts) waitAll(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c.mu.Lock()
		got := len(c.seen)
		c.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s, %d of %d events handled", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReplicasShareConsumerGroups runs one handler name on two buses and a
// second handler name on one of them: the first group gets every event once
// across both buses, each bus a share, and the second every event.
func TestReplicasShareConsumerGroups(t *testing.T) {
	url, cfg := testServer(t)
	const n = 400
	var first, second, other counts
	a := startBus(t, url, cfg, func(b *bus.Bus) error {
		return errors.Join(bus.Handle(b, "shared", first.handler), bus.Handle(b, "other", other.handler))
	})
	b := startBus(t, url, cfg, func(b *bus.Bus) error { return bus.Handle(b, "shared", second.handler) })
	for seq := range n {
		if err := []*bus.Bus{a, b}[seq%2].Publish(t.Context(), seqEvent{Seq: seq}); err != nil {
			t.Fatal(err)
		}
	}
	other.waitAll(t, n)
	deadline := time.Now().Add(30 * time.Second)
	for {
		first.mu.Lock()
		second.mu.Lock()
		got := len(first.seen) + len(second.seen)
		second.mu.Unlock()
		first.mu.Unlock()
		if got >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Counted before any bus shuts down: a bus that stops hands back what it
	// holds, so the other may handle some of it again (at least once). Until
	// then nothing fails, and nothing may be handled twice.
	snapshot := func(h *counts) map[int]int {
		h.mu.Lock()
		defer h.mu.Unlock()
		return maps.Clone(h.seen)
	}
	firstSeen, secondSeen, otherSeen := snapshot(&first), snapshot(&second), snapshot(&other)
	for _, bs := range []*bus.Bus{a, b} {
		if err := bs.Shutdown(t.Context()); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	}
	if len(firstSeen) == 0 || len(secondSeen) == 0 {
		t.Errorf("shares %d and %d: want both replicas to get some", len(firstSeen), len(secondSeen))
	}
	for seq := range n {
		if got := firstSeen[seq] + secondSeen[seq]; got != 1 || otherSeen[seq] != 1 {
			t.Errorf("event %d handled %d times by the shared group and %d by the other, want once each", seq, got, otherSeen[seq])
		}
	}
}

// TestShutdownHandsBackUndelivered checks that a bus shutting down with
// messages delivered to its subscriber but not taken by its handler leaves
// them to a second bus at once, not after AckWait.
func TestShutdownHandsBackUndelivered(t *testing.T) {
	url, cfg := testServer(t)
	cfg.AckWait = time.Hour
	cfg.Subscribers = 1
	const n = 50
	var got counts
	release := make(chan struct{})
	first := startBus(t, url, cfg, func(b *bus.Bus) error {
		return bus.Handle(b, "slow", func(ctx context.Context, e seqEvent) error {
			<-release
			return got.handler(ctx, e)
		}, bus.WithWorkers(1))
	})
	for seq := range n {
		if err := first.Publish(t.Context(), seqEvent{Seq: seq}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond) // let the server push the backlog to the first bus
	done := make(chan error, 1)
	go func() { done <- first.Shutdown(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	startBus(t, url, cfg, func(b *bus.Bus) error { return bus.Handle(b, "slow", got.handler) })
	got.waitAll(t, n)
}

func TestNewRefusesInvalidConfigs(t *testing.T) {
	valid := busnats.Config{Prefix: "app", AckWait: time.Minute, MaxAckPending: 10, Subscribers: 2, MaxAge: time.Hour, Replicas: 1}
	if err := valid.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	tests := []struct {
		name   string
		change func(*busnats.Config)
	}{
		{"prefix with a dot", func(c *busnats.Config) { c.Prefix = "a.b" }},
		{"prefix too long", func(c *busnats.Config) { c.Prefix = strings.Repeat("a", busnats.MaxPrefixLength+1) }},
		{"negative AckWait", func(c *busnats.Config) { c.AckWait = -time.Second }},
		{"negative MaxAge", func(c *busnats.Config) { c.MaxAge = -time.Second }},
		{"negative MaxAckPending", func(c *busnats.Config) { c.MaxAckPending = -1 }},
		{"negative Subscribers", func(c *busnats.Config) { c.Subscribers = -1 }},
		{"negative Replicas", func(c *busnats.Config) { c.Replicas = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.change(&cfg)
			// Validation comes before dialing: the address is never used.
			if _, err := busnats.New("nats://unused.invalid:4222", cfg); !errors.Is(err, busnats.ErrInvalidConfig) {
				t.Errorf("New = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestNames(t *testing.T) {
	var cfg busnats.Config
	seen := map[string]string{}
	long := strings.Repeat("x", 80)
	for _, topic := range []string{"a_b", "a.b", "a b", "a*b", long, long + "y", "hookbus.dead_letter", "héllo"} {
		name := cfg.StreamName(topic)
		if prev, ok := seen[name]; ok {
			t.Errorf("topics %q and %q share the stream %s", prev, topic, name)
		}
		seen[name] = topic
		if strings.ContainsAny(name, ". *>/\\") || len(name) > 64 {
			t.Errorf("stream name %q for %q is not a valid name", name, topic)
		}
		if sub := cfg.Subject(topic); strings.Count(sub, ".") != 1 || strings.ContainsAny(sub, " *>") {
			t.Errorf("subject %q for %q is not one token after the prefix", sub, topic)
		}
	}
	if got := cfg.StreamName("order_placed"); got != "hookbus_order_placed" {
		t.Errorf("StreamName = %q", got)
	}
}

// With nats.NoCallbacksAfterClientClose among the options, the connection's
// closed callback never comes; Shutdown still ends within its context.
func TestShutdownWithoutClosedCallback(t *testing.T) {
	url, cfg := testServer(t)
	cfg.NATSOptions = []nats.Option{nats.NoCallbacksAfterClientClose()}
	b, err := bus.New(newConfig(t, url, cfg))
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Handle(b, "h", func(context.Context, seqEvent) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- b.Shutdown(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Shutdown = %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Shutdown with a 10s context still blocked after 30s")
	}
}

// A message the NATS marshaler cannot read (a header with two values, from
// another publisher) is dead-lettered, not left unacknowledged: the stream
// would send it again every AckWait, and MaxAckPending of them would stall
// the handler, its valid events never delivered. So is one without any id,
// which consumers could not deduplicate on.
func TestUnreadableMessageIsDeadLettered(t *testing.T) {
	url, cfg := testServer(t)
	cfg.AckWait = time.Second
	cfg.MaxAckPending = 2
	cfg.Subscribers = 1
	var handled, dead atomic.Int64
	b := startBus(t, url, cfg, func(b *bus.Bus) error {
		if err := bus.Handle(b, "h", func(_ context.Context, e seqEvent) error {
			handled.Add(1)
			return nil
		}); err != nil {
			return err
		}
		return bus.HandleDeadLetters(b, "dl", func(context.Context, bus.DeadLetter) error {
			dead.Add(1)
			return nil
		})
	})
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		m := nats.NewMsg(cfg.Subject(seqEvent{}.EventName()))
		m.Data = []byte(`{"seq":1}`)
		m.Header.Add("X-Foreign", "a")
		m.Header.Add("X-Foreign", "b")
		if _, err := js.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	// And one without any id: no Watermill UUID header, no metadata.
	if _, err := js.Publish(cfg.Subject(seqEvent{}.EventName()), []byte(`{"seq":2}`)); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(t.Context(), seqEvent{Seq: 7}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); handled.Load() < 1 || dead.Load() < 3; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("handled %d (want 1), dead-lettered %d (want the 2 unreadable and the one without an id)", handled.Load(), dead.Load())
		}
	}
	time.Sleep(50 * time.Millisecond)
	if n := handled.Load(); n != 1 {
		t.Errorf("handled %d, want only the valid event", n)
	}
	info, err := js.ConsumerInfo(cfg.StreamName(seqEvent{}.EventName()), cfg.DurableName("h"))
	if err != nil {
		t.Fatal(err)
	}
	if info.NumAckPending != 0 || info.NumRedelivered != 0 {
		t.Errorf("%d messages await an acknowledgement, %d were redelivered; want none", info.NumAckPending, info.NumRedelivered)
	}
}
