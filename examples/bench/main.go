package main

import (
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
)

// run parses args, runs the chosen mode against a receiver process and
// prints the report to stdout, ending with the summary line.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	be, err := newBackend(opts.backend)
	if err != nil {
		return err
	}
	event, err := newPayload(opts.payload)
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

	b := &bench{opts: opts, backend: be, rcv: rcv, event: event, out: stdout}
	if opts.tracing {
		tp := newDiscardingTracerProvider()
		defer func() { _ = tp.Shutdown(context.WithoutCancel(ctx)) }()
		b.tp = tp
	}
	fmt.Fprintf(stdout, "hookbus bench: %s, GOMAXPROCS=%d, backend=%s, tracing=%t, payload=%d bytes, receiver %s (pid %d)\n",
		runtime.Version(), runtime.GOMAXPROCS(0), be.name(), opts.tracing, len(event.body), rcv.base, rcv.pid())

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
	conc := fs.String("concurrency", "1,16,64", "comma-separated concurrencies (requests or deliveries in flight)")
	fs.IntVar(&o.payload, "payload", 1024, "JSON body size in bytes")
	fs.BoolVar(&o.tracing, "tracing", false, "install an OpenTelemetry SDK tracer provider (always sample, batch, discarding exporter)")
	fs.IntVar(&o.backlog, "backlog", 0, "backlog mode: park this many events behind a stalled receiver")
	fs.BoolVar(&o.isolation, "isolation", false, "isolation mode: a healthy webhook next to one whose receiver hangs")
	fs.StringVar(&o.backend, "backend", "memory", "bus transport: memory")
	fs.IntVar(&o.workers, "workers", webhooks.DefaultWorkers, "backlog mode: delivery workers")
	overflow := fs.String("overflow", "wait", "backlog mode: what Publish does at the pending limit, wait or fail")
	fs.DurationVar(&o.hangTimeout, "hang-timeout", 250*time.Millisecond, "isolation mode: attempt timeout; the hanging receiver answers after it")
	fs.IntVar(&o.queue, "queue", 0, "isolation mode: per-webhook queue size (0: the service's default)")
	fs.StringVar(&o.only, "only", "", "throughput mode: run only this variant, baseline or hookbus (for profiles)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this (client) process to the file")
	fs.StringVar(&o.memProfile, "memprofile", "", "write an allocation profile of this (client) process to the file")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected arguments %q", fs.Args())
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
	if o.only != "" && o.only != variantBaseline && o.only != variantHookbus {
		errs = append(errs, fmt.Errorf("-only %q: want baseline or hookbus", o.only))
	}
	if o.warmup == 0 {
		o.warmup = min(max(o.duration/4, 50*time.Millisecond), 500*time.Millisecond)
	}
	return o, errors.Join(errs...)
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
