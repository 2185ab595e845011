package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/hookbus/hookbus/bus"
	"github.com/hookbus/hookbus/webhooks"
)

func main() {
	if os.Getenv(receiverEnv) != "" {
		os.Exit(receiverMain(os.Stdin, os.Stdout, os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case err != nil:
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options are the parsed flags.
type options struct {
	duration    time.Duration
	warmup      time.Duration
	rounds      int
	concurrency []int
	payload     int
	tracing     bool
	backlog     int
	isolation   bool
	backend     string
	store       string
	dbURL       string
	natsURL     string
	dbConns     int
	workers     int
	overflow    bus.Overflow
	hangTimeout time.Duration
	queue       int
	only        string
	cpuProfile  string
	memProfile  string
}

// Variant names, as -only takes them.
const (
	variantBaseline = "baseline"
	variantHookbus  = "hookbus"
	variantOtelhttp = "otelhttp"
	variantH1       = "h1"
)

// Environment variables giving the default addresses of the brokers, the
// ones the project's tests use.
const (
	postgresURLEnv = "HOOKBUS_TEST_POSTGRES_URL"
	natsURLEnv     = "HOOKBUS_TEST_NATS_URL"
)

// Addresses used when neither the flag nor the environment gives one.
const (
	defaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	defaultNATSURL     = "nats://127.0.0.1:4222"
)

// maxDerivedConns caps the database pool sized from the flags: PostgreSQL
// allows 100 connections unless configured otherwise, and other clients
// need some. -db-conns sets any size.
const maxDerivedConns = 80

// run parses args, runs the chosen mode against a receiver process and
// prints the report to stdout, ending with the summary line. Whatever the
// run created in PostgreSQL or NATS is removed before it returns.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	opts, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	event, err := newPayload(opts.payload)
	if err != nil {
		return err
	}
	var db *database
	if opts.backend == backendPostgres || opts.store == storePostgres {
		if db, err = openDatabase(ctx, opts.dbURL, opts.poolSize()); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, db.close(ctx)) }()
	}
	be, err := newBackend(ctx, opts, db)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, be.close(ctx)) }()
	st, err := newStorage(opts.store, db)
	if err != nil {
		return err
	}
	if opts.cpuProfile != "" {
		f, err := os.Create(opts.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	rcv, err := startReceiver(ctx, stderr)
	if err != nil {
		return err
	}
	defer rcv.close()

	b := &bench{opts: opts, backend: be, storage: st, rcv: rcv, event: event, out: stdout}
	if opts.tracing {
		tp := newDiscardingTracerProvider()
		defer func() { _ = tp.Shutdown(context.WithoutCancel(ctx)) }()
		b.tp = tp
	}
	fmt.Fprintf(stdout, "hookbus bench: %s, GOMAXPROCS=%d, backend=%s, store=%s, tracing=%t, payload=%d bytes, receiver %s (pid %d)\n",
		runtime.Version(), runtime.GOMAXPROCS(0), be.name(), st.kind, opts.tracing, len(event.body), rcv.base, rcv.pid())
	fmt.Fprintf(stdout, "bus: %s\n", be.describe())
	fmt.Fprintf(stdout, "store: %s\n", st.describe())

	var sum summary
	switch {
	case opts.backlog > 0:
		sum, err = b.backlog(ctx)
	case opts.isolation:
		sum, err = b.isolation(ctx)
	default:
		sum, err = b.throughput(ctx)
	}
	if err != nil {
		return err
	}
	if opts.memProfile != "" {
		if err := writeHeapProfile(opts.memProfile); err != nil {
			return err
		}
	}
	fmt.Fprintln(stdout, sum.String())
	return nil
}

// bench holds what every mode shares.
type bench struct {
	opts    options
	backend backend
	storage *storage
	rcv     *receiver
	event   payload
	tp      trace.TracerProvider // nil unless -tracing
	out     io.Writer
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.DurationVar(&o.duration, "duration", 2*time.Second, "measured window of each variant, per concurrency and round")
	fs.DurationVar(&o.warmup, "warmup", 0, "unmeasured run before each window (0: a quarter of -duration, between 50ms and 500ms)")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds; variants are interleaved within each round")
	conc := fs.String("concurrency", "", "comma-separated concurrencies (requests or deliveries in flight; default 1,16,64 in memory, 16,64 on a broker)")
	fs.IntVar(&o.payload, "payload", 1024, "JSON body size in bytes")
	fs.BoolVar(&o.tracing, "tracing", false, "install an OpenTelemetry SDK tracer provider (always sample, batch, discarding exporter)")
	fs.IntVar(&o.backlog, "backlog", 0, "backlog mode: park this many events behind a stalled receiver")
	fs.BoolVar(&o.isolation, "isolation", false, "isolation mode: a healthy webhook next to one whose receiver hangs")
	fs.StringVar(&o.backend, "backend", backendMemory, "bus transport: memory, postgres (bus/buspg) or nats (bus/busnats)")
	fs.StringVar(&o.store, "store", storeMemory, "webhook store and delivery log: memory or postgres (webhooks/postgres)")
	fs.StringVar(&o.dbURL, "db", "", "PostgreSQL URL for -backend postgres and -store postgres (default $"+postgresURLEnv+", else "+defaultPostgresURL+")")
	fs.StringVar(&o.natsURL, "nats", "", "NATS URL for -backend nats (default $"+natsURLEnv+", else "+defaultNATSURL+")")
	fs.IntVar(&o.dbConns, "db-conns", 0, fmt.Sprintf("database pool size (0: the largest concurrency plus 8, plus the delivery workers with -store postgres, at most %d)", maxDerivedConns))
	fs.IntVar(&o.workers, "workers", webhooks.DefaultWorkers, "backlog mode: delivery workers")
	overflow := fs.String("overflow", "wait", "backlog mode: what Publish does at the pending limit, wait or fail")
	fs.DurationVar(&o.hangTimeout, "hang-timeout", 250*time.Millisecond, "isolation mode: attempt timeout; the hanging receiver answers after it")
	fs.IntVar(&o.queue, "queue", 0, "isolation mode: per-webhook queue size (0: the service's default)")
	fs.StringVar(&o.only, "only", "", "throughput mode: run only this variant, baseline, hookbus or h1 (for profiles)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this (client) process to the file")
	fs.StringVar(&o.memProfile, "memprofile", "", "write an allocation profile of this (client) process to the file")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.dbURL = cmp.Or(o.dbURL, os.Getenv(postgresURLEnv), defaultPostgresURL)
	o.natsURL = cmp.Or(o.natsURL, os.Getenv(natsURLEnv), defaultNATSURL)
	if *conc == "" {
		*conc = "1,16,64"
		if o.backend != backendMemory {
			*conc = "16,64"
		}
	}
	var err error
	if o.concurrency, err = parseConcurrency(*conc); err != nil {
		return options{}, err
	}
	switch *overflow {
	case "wait":
		o.overflow = bus.OverflowWait
	case "fail":
		o.overflow = bus.OverflowFail
	default:
		return options{}, fmt.Errorf("-overflow %q: want wait or fail", *overflow)
	}
	var errs []error
	switch o.backend {
	case backendMemory, backendPostgres, backendNATS:
	default:
		errs = append(errs, fmt.Errorf("-backend %q: want %s, %s or %s", o.backend, backendMemory, backendPostgres, backendNATS))
	}
	switch o.store {
	case storeMemory, storePostgres:
	default:
		errs = append(errs, fmt.Errorf("-store %q: want %s or %s", o.store, storeMemory, storePostgres))
	}
	if o.backlog > 0 && o.backend != backendMemory {
		errs = append(errs, fmt.Errorf("-backlog with -backend %s: the mode fills the in-memory bus up to its pending limit, which a broker does not have (the backlog waits in the broker)", o.backend))
	}
	if o.dbConns < 0 {
		errs = append(errs, fmt.Errorf("-db-conns %d: must not be negative", o.dbConns))
	}
	if o.duration <= 0 {
		errs = append(errs, fmt.Errorf("-duration %v: must be positive", o.duration))
	}
	if o.warmup < 0 {
		errs = append(errs, fmt.Errorf("-warmup %v: must not be negative", o.warmup))
	}
	if o.rounds < 1 {
		errs = append(errs, fmt.Errorf("-rounds %d: need at least 1", o.rounds))
	}
	if o.backlog < 0 {
		errs = append(errs, fmt.Errorf("-backlog %d: must not be negative", o.backlog))
	}
	if o.backlog > 0 && o.isolation {
		errs = append(errs, errors.New("-backlog and -isolation are separate modes"))
	}
	if o.workers < 1 {
		errs = append(errs, fmt.Errorf("-workers %d: need at least 1", o.workers))
	}
	if o.hangTimeout <= 0 {
		errs = append(errs, fmt.Errorf("-hang-timeout %v: must be positive", o.hangTimeout))
	}
	if o.queue < 0 {
		errs = append(errs, fmt.Errorf("-queue %d: must not be negative", o.queue))
	}
	if o.only != "" && o.only != variantBaseline && o.only != variantHookbus && o.only != variantH1 {
		errs = append(errs, fmt.Errorf("-only %q: want baseline, hookbus or h1", o.only))
	}
	if o.warmup == 0 {
		o.warmup = min(max(o.duration/4, 50*time.Millisecond), 500*time.Millisecond)
	}
	return o, errors.Join(errs...)
}

// poolSize is the size of the database pool: -db-conns, or enough for the
// publishers, one reading connection per bus handler, and with -store
// postgres the delivery workers recording attempts and outcomes.
func (o options) poolSize() int {
	if o.dbConns > 0 {
		return o.dbConns
	}
	c := slices.Max(o.concurrency)
	n := c + 8
	if o.store == storePostgres {
		switch {
		case o.backlog > 0:
			n += o.workers
		case o.isolation:
			n += 2 * c
		default:
			n += c
		}
	}
	return min(n, maxDerivedConns)
}

func parseConcurrency(s string) ([]int, error) {
	var cs []int
	for f := range strings.SplitSeq(s, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c < 1 {
			return nil, fmt.Errorf("-concurrency %q: %q is not a positive integer", s, f)
		}
		if !slices.Contains(cs, c) {
			cs = append(cs, c)
		}
	}
	return cs, nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
