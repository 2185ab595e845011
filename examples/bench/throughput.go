package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"

	"github.com/hookbus/hookbus/bus"
	"github.com/hookbus/hookbus/internal/h1"
	"github.com/hookbus/hookbus/webhooks"
)

// variant is one way of sending the payload: start runs it at concurrency c,
// counting its completions in t, until the stop it returns is called.
type variant struct {
	name  string
	start func(ctx context.Context, c int, t *tally) (stop func(context.Context) error, err error)
}

// throughput runs the default mode: every variant at every concurrency,
// round after round, then the report.
func (b *bench) throughput(ctx context.Context) (summary, error) {
	variants := []variant{b.baseline(false), b.hookbus()}
	if b.backend.name() == backendMemory {
		variants = append(variants, b.h1())
	}
	if b.tp != nil {
		variants = append(variants, b.baseline(true))
	}
	if b.opts.only != "" {
		variants = slices.DeleteFunc(variants, func(v variant) bool { return v.name != b.opts.only })
	}
	results := make(map[string]map[int][]sample)
	for _, v := range variants {
		results[v.name] = make(map[int][]sample)
	}
	fmt.Fprintf(b.out, "throughput: %d round(s) of %v per variant (after %v of warm-up), concurrency %s\n",
		b.opts.rounds, b.opts.duration, b.opts.warmup, joinInts(b.opts.concurrency, ","))
	for r := range b.opts.rounds {
		for _, c := range b.opts.concurrency {
			order := slices.Clone(variants)
			if r%2 == 1 {
				slices.Reverse(order)
			}
			got := make(map[string]sample)
			for _, v := range order {
				s, err := b.measure(ctx, v, c)
				if err != nil {
					return summary{}, err
				}
				results[v.name][c] = append(results[v.name][c], s)
				got[v.name] = s
			}
			var line []string
			for _, v := range variants {
				s := got[v.name]
				line = append(line, fmt.Sprintf("%s %.0f/s p99 %.2fms %.1f allocs %.0f B %.1fµs", v.name, s.rate, ms(s.p99), s.allocs, s.bytes, us(s.cpu)))
			}
			if base, ok := got[variantBaseline]; ok && base.rate > 0 && b.backend.name() == backendMemory {
				if hb, ok := got[variantHookbus]; ok {
					line = append(line, fmt.Sprintf("ratio %.3f", hb.rate/base.rate))
				}
			}
			fmt.Fprintf(b.out, "round %d/%d c=%d: %s\n", r+1, b.opts.rounds, c, strings.Join(line, " | "))
		}
	}
	return b.throughputReport(results), nil
}

// throughputReport prints the per-concurrency table and returns the summary.
func (b *bench) throughputReport(results map[string]map[int][]sample) summary {
	var sum summary
	sum.add("mode", "throughput")
	sum.add("backend", b.backend.name())
	sum.add("store", b.storage.kind)
	sum.add("tracing", b.opts.tracing)
	sum.add("payload", len(b.event.body))
	sum.add("duration", b.opts.duration)
	sum.add("rounds", b.opts.rounds)
	sum.add("concurrency", joinInts(b.opts.concurrency, ","))
	if hook := results[variantHookbus]; len(hook) > 0 {
		// The headline figure: the median over rounds at the concurrency
		// that delivered most.
		var best float64
		for _, c := range b.opts.concurrency {
			best = max(best, median(collect(hook[c], rateOf)))
		}
		sum.add("deliveries_per_s", best)
	}

	base, hook, traced, own := results[variantBaseline], results[variantHookbus], results[variantOtelhttp], results[variantH1]
	// On a broker, the bus's round trips through the broker are the cost of
	// durability, not overhead on the request: the baseline is printed for
	// reference, and no ratio goes into the summary.
	inMemory := b.backend.name() == backendMemory
	var details summary
	var allocsWorst, baseAllocsWorst float64
	var failed int64
	fmt.Fprintln(b.out, "results (medians over rounds):")
	for _, c := range b.opts.concurrency {
		cs := strconv.Itoa(c)
		fmt.Fprintf(b.out, "  c=%d\n", c)
		for _, name := range []string{variantBaseline, variantHookbus, variantH1, variantOtelhttp} {
			ss := results[name][c]
			if len(ss) == 0 {
				continue
			}
			unit, per := "requests", "request"
			if name == variantHookbus {
				unit, per = "deliveries", "delivery"
			}
			rate, p50, p99 := median(collect(ss, rateOf)), median(collect(ss, p50Of)), median(collect(ss, p99Of))
			allocs, bytes, cpu := median(collect(ss, allocsOf)), median(collect(ss, bytesOf)), median(collect(ss, cpuOf))
			fmt.Fprintf(b.out, "    %-9s %9.0f %s/s  p50 %7.3f ms  p99 %7.3f ms  %6.1f allocs (%5.0f B) and %5.1f µs of client CPU per %s\n",
				name, rate, unit, p50, p99, allocs, bytes, cpu, per)
			for _, s := range ss {
				failed += s.failed
			}
			switch name {
			case variantBaseline:
				details.add("baseline_rps_c"+cs, rate)
				details.add("baseline_p50_ms_c"+cs, p50)
				details.add("baseline_p99_ms_c"+cs, p99)
				details.add("baseline_allocs_c"+cs, allocs)
				details.add("baseline_bytes_c"+cs, bytes)
				details.add("baseline_cpu_us_c"+cs, cpu)
				baseAllocsWorst = max(baseAllocsWorst, allocs)
			case variantHookbus:
				details.add("hookbus_dps_c"+cs, rate)
				details.add("p50_ms_c"+cs, p50)
				details.add("p99_ms_c"+cs, p99)
				details.add("allocs_c"+cs, allocs)
				details.add("bytes_c"+cs, bytes)
				details.add("cpu_us_c"+cs, cpu)
				allocsWorst = max(allocsWorst, allocs)
			case variantOtelhttp:
				details.add("otelhttp_rps_c"+cs, rate)
			case variantH1:
				details.add("h1_rps_c"+cs, rate)
				details.add("h1_cpu_us_c"+cs, cpu)
			}
		}
		if ratios := roundRatios(hook[c], base[c]); len(ratios) > 0 && !inMemory {
			fmt.Fprintf(b.out, "    hookbus/baseline %.3f (for reference: on %s every event goes through the broker)\n", median(ratios), b.backend.name())
		} else if len(ratios) > 0 {
			r := median(ratios)
			fmt.Fprintf(b.out, "    ratio     %.3f (min %.3f, max %.3f)\n", r, slices.Min(ratios), slices.Max(ratios))
			sum.add("ratio_c"+cs, r)
			sum.add("ratio_min_c"+cs, slices.Min(ratios))
			sum.add("ratio_max_c"+cs, slices.Max(ratios))
		}
		if ratios := roundRatios(own[c], base[c]); len(ratios) > 0 {
			r := median(ratios)
			fmt.Fprintf(b.out, "    h1        ratio %.3f (min %.3f, max %.3f): hookbus's transport alone\n", r, slices.Min(ratios), slices.Max(ratios))
			sum.add("h1_ratio_c"+cs, r)
			if over := roundRatios(hook[c], own[c]); len(over) > 0 {
				fmt.Fprintf(b.out, "    hookbus/h1 %.3f: the library on top of its own transport\n", median(over))
				sum.add("hookbus_over_h1_c"+cs, median(over))
			}
		}
		if ratios := roundRatios(traced[c], base[c]); len(ratios) > 0 {
			r := median(ratios)
			fmt.Fprintf(b.out, "    otelhttp  ratio %.3f (min %.3f, max %.3f)\n", r, slices.Min(ratios), slices.Max(ratios))
			sum.add("otelhttp_ratio_c"+cs, r)
		}
	}
	if len(hook) > 0 {
		sum.add("allocs_per_delivery", allocsWorst)
	}
	if len(base) > 0 {
		sum.add("baseline_allocs", baseAllocsWorst)
	}
	sum.pairs = append(sum.pairs, details.pairs...)
	sum.add("failed", failed)
	if failed > 0 {
		fmt.Fprintf(b.out, "warning: %d requests or deliveries failed; only 2xx completions are counted\n", failed)
	}
	return sum
}

// roundRatios returns num's rate over den's, round by round.
func roundRatios(num, den []sample) []float64 {
	var rs []float64
	for i := range min(len(num), len(den)) {
		if den[i].rate > 0 {
			rs = append(rs, num[i].rate/den[i].rate)
		}
	}
	return rs
}

func rateOf(s sample) float64   { return s.rate }
func p50Of(s sample) float64    { return ms(s.p50) }
func p99Of(s sample) float64    { return ms(s.p99) }
func allocsOf(s sample) float64 { return s.allocs }
func bytesOf(s sample) float64  { return s.bytes }
func cpuOf(s sample) float64    { return us(s.cpu) }

// us returns d in microseconds.
func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// measure runs v at concurrency c: a warm-up, one measured window, stop.
func (b *bench) measure(ctx context.Context, v variant, c int) (sample, error) {
	t := new(tally)
	stop, err := v.start(ctx, c, t)
	if err != nil {
		return sample{}, fmt.Errorf("%s c=%d: %w", v.name, c, err)
	}
	s, err := func() (sample, error) {
		if err := sleep(ctx, b.opts.warmup); err != nil {
			return sample{}, err
		}
		return t.window(ctx, b.opts.duration)
	}()
	err = errors.Join(err, stop(ctx))
	if err != nil {
		return sample{}, fmt.Errorf("%s c=%d: %w", v.name, c, err)
	}
	return s, nil
}

// baseline is c goroutines POSTing the body in a loop with plain net/http
// over a transport tuned like hookbus's; traced wraps the transport in
// otelhttp with the run's tracer provider.
func (b *bench) baseline(traced bool) variant {
	name := variantBaseline
	if traced {
		name = variantOtelhttp
	}
	return variant{name: name, start: func(ctx context.Context, c int, t *tally) (func(context.Context) error, error) {
		transport := senderLikeTransport(c)
		var rt http.RoundTripper = transport
		if traced {
			rt = otelhttp.NewTransport(transport,
				otelhttp.WithTracerProvider(b.tp),
				otelhttp.WithPropagators(propagation.TraceContext{}))
		}
		return b.postLoop(ctx, c, t, rt, transport.CloseIdleConnections), nil
	}}
}

// postLoop starts c goroutines POSTing the body through rt in a loop, with a
// plain client: no Client.Timeout, which would add a deadline context and
// timer to every request (about 9 allocations), and a goroutine per request
// with a wrapped transport such as otelhttp's. The function it returns stops
// them, then calls closeIdle.
func (b *bench) postLoop(ctx context.Context, c int, t *tally, rt http.RoundTripper, closeIdle func()) func(context.Context) error {
	client := &http.Client{
		Transport:     rt,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	url := b.rcv.base + pathOK
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range c {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				ok := post(ctx, client, url, b.event.body)
				t.observe(time.Since(start), ok)
			}
		})
	}
	return func(context.Context) error {
		close(stop)
		wg.Wait()
		closeIdle()
		return nil
	}
}

// h1 is the baseline's loop over hookbus's own HTTP/1.1 transport (the
// sender's default) instead of net/http's: it shows how much of hookbus's
// figure is its transport, and what the library costs on top of it.
func (b *bench) h1() variant {
	return variant{name: variantH1, start: func(ctx context.Context, c int, t *tally) (func(context.Context) error, error) {
		transport := h1.New(h1.Config{
			Timeout:             webhooks.DefaultTimeout,
			MaxIdleConnsPerHost: max(webhooks.DefaultMaxIdleConnsPerHost, c),
			IdleConnTimeout:     90 * time.Second,
		})
		return b.postLoop(ctx, c, t, transport, transport.CloseIdleConnections), nil
	}}
}

// senderLikeTransport is a keep-alive transport tuned like the net/http one
// of hookbus's sender (webhooks.NewSender with SenderConfig.HTTP2), without
// its address checks.
func senderLikeTransport(c int) *http.Transport {
	dialer := &net.Dialer{Timeout: webhooks.DefaultTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   max(webhooks.DefaultMaxIdleConnsPerHost, c),
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   webhooks.DefaultTimeout,
		ExpectContinueTimeout: time.Second,
	}
}

// post sends one request and reports whether it got a 2xx.
func post(ctx context.Context, client *http.Client, url string, body []byte) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 300
}

// hookbus publishes on the in-memory bus with Service.Publish and counts the
// deliveries to one webhook, in a closed loop of c events in flight, with c
// delivery workers all allowed on that webhook.
func (b *bench) hookbus() variant {
	return variant{name: variantHookbus, start: func(ctx context.Context, c int, t *tally) (func(context.Context) error, error) {
		loop := newClosedLoop(c)
		eng, err := b.startEngine(ctx, engineSpec{
			bus: bus.Config{Workers: c, MaxPending: max(bus.DefaultMaxPending, 4*c)},
			service: webhooks.Config{
				Workers:                  c,
				MaxConcurrencyPerWebhook: c,
				QueueSize:                max(webhooks.DefaultQueueSize, 4*c),
				Sender:                   loopbackSender(c),
			},
			webhooks: []webhooks.Webhook{{
				Name:      "bench receiver",
				URL:       b.rcv.base + pathOK,
				EventType: webhooks.CommercialSignalDetectedEvent,
			}},
		}, func(d webhooks.DeliveryRecord) {
			t.observe(time.Since(d.OccurredAt), delivered(d))
			loop.release()
		})
		if err != nil {
			return nil, err
		}
		loop.run(ctx, func(ctx context.Context) error {
			return eng.svc.Publish(ctx, b.event.at(time.Now()))
		})
		return func(ctx context.Context) error {
			return errors.Join(loop.halt(ctx, 10*time.Second), eng.shutdown(ctx, 10*time.Second))
		}, nil
	}}
}

func joinInts(xs []int, sep string) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, sep)
}
