// Command bench measures what hookbus adds on top of the HTTP request it
// exists to send, on this machine, in one run.
//
// Usage:
//
//	go run ./examples/bench [-duration 2s] [-rounds 3] [-concurrency 1,16,64] [-payload 1024] [-tracing]
//	go run ./examples/bench -backend postgres|nats [-store memory|postgres] [-db URL] [-nats URL] [-db-conns N]
//	go run ./examples/bench -backlog 100000 [-workers 32] [-overflow wait|fail]
//	go run ./examples/bench -isolation [-hang-timeout 250ms] [-queue N]
//
// The receiver is a separate process (this binary, re-executed) listening on
// loopback that reads each request body and answers 204 No Content, so the
// client's allocation counts and profiles are the client's alone. Every mode
// ends with one line of space-separated key=value pairs, the last line of
// standard output, so that runs can be compared by a script.
//
// # Throughput (the default mode)
//
// Round after round, and at each concurrency C of -concurrency, the variants
// run one after the other (in alternating order, so that drift of the machine
// hits both alike), each warmed up and then measured over -duration:
//
//   - baseline: C goroutines POSTing the same JSON body with a plain
//     net/http client (no Client.Timeout) through a keep-alive transport
//     tuned like the one hookbus's sender uses with SenderConfig.HTTP2 (the
//     same idle-connection limit, dial and idle timeouts, HTTP/2 setting);
//   - hookbus: C goroutines publishing the event with Service.Publish on the
//     bus of -backend, delivered to one allow-listed webhook of the receiver by
//     a service whose worker count and per-webhook concurrency are C. The
//     load is a closed loop: a publisher takes one of C tokens before each
//     Publish and every recorded outcome gives one back, so exactly as many
//     deliveries are in flight as baseline requests, and nothing queues up
//     behind them. Outcomes are seen through the service's delivery log
//     (by default the in-memory one), wrapped to count each outcome as it is
//     recorded. Only deliveries that ended with a 2xx count;
//   - h1 (in memory only): the baseline's loop over hookbus's own HTTP/1.1
//     transport, the one its sender uses, instead of net/http's. Its ratio
//     to the baseline is what the transport alone gains, and hookbus's ratio
//     to it what the library costs on top of its own transport.
//
// The loop is closed rather than open (publishing as fast as possible and
// counting completions per second) because an open loop measures a full
// queue: latency then says how long the queue is, and per-event costs hide
// behind batching. What the closed loop adds is one channel send per
// delivery and, when a publisher was waiting, its wake-up. The event is a
// commercial_signal_detected whose description pads its JSON to -payload
// bytes, the same bytes the baseline sends; it carries its own EventTime
// (the moment Publish is called), which the bus hands on to the delivery
// record's OccurredAt, so the latency is read from the record itself.
//
// For each concurrency the program reports the baseline's requests per
// second, hookbus's deliveries per second, their ratio (the median of the
// rounds' ratios, with the lowest and highest; in memory only, see
// Backends), the p50 and p99 latency from the Publish call to the recorded
// outcome (and the baseline's request latency), and the allocations, their
// bytes and the CPU time per delivery: the client process's
// runtime.MemStats.Mallocs and TotalAlloc and its user and system time
// (getrusage) over the measured window, divided by the completed deliveries
// (requests for the baseline). The CPU time moves less with the machine's
// load than the rates do, and the allocations not at all: the garbage
// collector's share of the CPU time follows the bytes.
//
// With -tracing, the bus and the service get an OpenTelemetry SDK tracer
// provider that samples everything and batches spans to an exporter that
// discards them; a third variant then POSTs through otelhttp's transport with
// that provider, for reference. The baseline stays uninstrumented.
//
// # Backends
//
// -backend chooses the bus transport; every mode but the backlog runs on
// each:
//
//   - memory (the default): the in-memory bus, the zero bus.Config's in-process
//     transport, where the webhooks dispatcher runs inside Publish;
//   - postgres: Watermill's PostgreSQL Pub/Sub through bus/buspg, with its
//     defaults (poll interval, batch size, acknowledgement deadline), on the
//     database of -db (default $HOOKBUS_TEST_POSTGRES_URL, else
//     postgres://postgres@127.0.0.1:5432/test?sslmode=disable). The run
//     creates a schema of its own with a random name, gives every measured
//     service tables of its own in it, and drops it at exit. The pool keeps
//     all its connections idle between bursts (sql.DB.SetMaxIdleConns), so
//     that reconnections are not measured; -db-conns sizes it;
//   - nats: NATS JetStream through bus/busnats, on the server of -nats
//     (default $HOOKBUS_TEST_NATS_URL, else nats://127.0.0.1:4222), with one
//     subscription per bus worker. Every measured service gets streams of
//     its own, under a prefix made of the run's random id and the service's
//     number, deleted with their consumers once it has shut down; streams a
//     killed run leaves behind keep messages for an hour at most.
//
// The measured path is the whole one: Publish writes the event to the
// broker, the service's handler reads it back, delivers it to the receiver
// and records the outcome, and only then is the event acknowledged. The
// closed loop is the same, so C events are in flight; -concurrency defaults
// to 16,64 on a broker, where one event in flight says little. The webhook
// store and the delivery log stay in memory (the service's defaults), so
// that the figure measures the bus backend and HTTP; -store postgres keeps
// them in PostgreSQL instead (webhooks/postgres, tables made by
// postgres.Migrate in the run's schema), for the figure of a fully durable
// service, where every attempt and outcome is written too. The baseline is
// the same raw HTTP loop: on a broker it is printed for reference, and the
// summary has no ratio, since a broker's round trips are the cost of
// durability rather than overhead on the request. The allocation counts are
// those of the measuring process alone, without the broker's.
//
// # Backlog
//
// -backlog N (in-memory bus only) parks N events behind a receiver that
// stalls every request:
// the webhook's workers hold a stalled request each (up to its concurrency
// limit) and its queue (webhooks.Config.QueueSize) holds the rest: on the
// in-process bus the dispatcher runs inside Publish, so the queue is the
// limit, and the service is exactly full after N events. The program reports the peak goroutine
// count of the process, the live heap per pending event beyond its payload
// (after a garbage collection), and what one more Publish did at the limit:
// "blocked" until its 200 ms deadline (-overflow wait, bus.OverflowWait) or
// "error" (-overflow fail, bus.ErrFull); the event a blocked Publish gave up
// on is on record as undelivered. It then releases the receiver,
// waits until every event is delivered and shuts the service down.
//
// # Isolation
//
// -isolation measures one healthy webhook at the largest -concurrency C,
// alone and then next to a webhook of the same event type whose receiver
// hangs every request past the attempt timeout (-hang-timeout; retries wait
// a quarter of it, then up to all of it). Both runs use the same service
// configuration: 2C workers, C per webhook (so the hanging webhook can hold
// C workers and leave C to the healthy one), webhooks never disabled, and
// per-webhook queues of -queue deliveries, by default the service's default.
// The program reports the healthy webhook's p50 and p99 in both runs and the
// ratio of its p99 with the hanging neighbour to its p99 alone (the median of
// the rounds' ratios). A window in which no healthy delivery completed
// (counted in stalled_rounds) reports the window's length as its p50 and
// p99: every delivery in flight waited at least that long.
//
// Every event goes to both webhooks, so the hanging webhook's queue grows at
// the healthy webhook's rate. Once it is full, the dispatcher waits for room
// in it before it hands the next event to any webhook, and the healthy
// webhook slows down to the hanging one's pace; a -queue large enough for a
// whole run (more than the event rate times warm-up plus -duration) measures
// the sharing of the worker pool alone.
//
// # Summary keys
//
// Throughput: deliveries_per_s (the highest of the hookbus_dps_cC: the median
// over rounds at the concurrency that delivered most), ratio_cC,
// ratio_min_cC, ratio_max_cC (in memory only), baseline_rps_cC,
// hookbus_dps_cC, p50_ms_cC, p99_ms_cC, baseline_p50_ms_cC,
// baseline_p99_ms_cC, allocs_cC, baseline_allocs_cC, bytes_cC,
// baseline_bytes_cC, cpu_us_cC, baseline_cpu_us_cC (client CPU per
// delivery and per request), h1_rps_cC, h1_cpu_us_cC, h1_ratio_cC and
// hookbus_over_h1_cC (the h1 variant; ratios in memory only) for each
// concurrency C,
// allocs_per_delivery (the highest of the allocs_cC), baseline_allocs, failed,
// and with -tracing also otelhttp_ratio_cC and otelhttp_rps_cC. Backlog:
// backlog, workers, per_webhook, goroutines_base, goroutines_peak,
// goroutines_at_rest, heap_per_pending_bytes, heap_per_pending_total_bytes,
// overflow, publish_at_limit ("blocked" or "error"), publish_at_limit_ms,
// fill_s, drained, failed, drain_s. Isolation: concurrency, hang_timeout,
// queue, healthy_p50_alone_ms, healthy_p99_alone_ms,
// healthy_p50_with_hang_ms, healthy_p99_with_hang_ms, healthy_p99_ratio,
// healthy_dps_alone, healthy_dps_with_hang, stalled_rounds, failed. Every
// mode also prints mode, backend, store, tracing and payload.
//
// -only baseline|hookbus|h1 runs one variant of the throughput mode (ratios are
// then left out), which with -cpuprofile and -memprofile gives the profile of
// that variant alone.
package main
