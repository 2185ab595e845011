package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/hookbus/hookbus/webhooks"
)

// TestMain lets the test binary serve as the receiver process, which run
// starts by re-executing its own binary.
func TestMain(m *testing.M) {
	if os.Getenv(receiverEnv) != "" {
		os.Exit(receiverMain(os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestRun runs the program briefly in every mode and checks its summary line.
func TestRun(t *testing.T) {
	brief := []string{"-duration", "200ms", "-rounds", "1", "-concurrency", "1,4"}
	positive := func(v string) bool {
		f, err := strconv.ParseFloat(v, 64)
		return err == nil && f > 0
	}
	nonNegative := func(v string) bool {
		f, err := strconv.ParseFloat(v, 64)
		return err == nil && f >= 0
	}
	is := func(want string) func(string) bool { return func(v string) bool { return v == want } }
	// Broker runs need a server: the case names the variable giving its
	// address, and is skipped when it is not set.
	pgURL, natsURL := os.Getenv(postgresURLEnv), os.Getenv(natsURLEnv)
	// A second at least: the PostgreSQL subscriber polls every 250ms, and a
	// loaded machine must still complete deliveries inside the window.
	onBroker := []string{"-duration", "1s", "-rounds", "1", "-concurrency", "16"}
	cases := []struct {
		name string
		env  string // required environment variable, if any
		args []string
		want map[string]func(string) bool
	}{
		{
			name: "throughput",
			args: brief,
			want: map[string]func(string) bool{
				"mode": is("throughput"), "ratio_c1": positive, "ratio_c4": positive, "h1_ratio_c4": positive,
				"allocs_per_delivery": positive, "baseline_allocs": positive, "bytes_c4": positive, "baseline_bytes_c4": positive,
				"hookbus_dps_c4": positive, "p99_ms_c4": positive, "failed": is("0"),
			},
		},
		{
			name: "tracing",
			args: append(slices.Clone(brief), "-tracing"),
			want: map[string]func(string) bool{
				"mode": is("throughput"), "tracing": is("true"), "ratio_c1": positive, "ratio_c4": positive,
				"otelhttp_ratio_c4": positive, "allocs_per_delivery": positive, "failed": is("0"),
			},
		},
		{
			name: "backlog blocks",
			args: []string{"-backlog", "2000", "-workers", "4"},
			want: map[string]func(string) bool{
				"mode": is("backlog"), "workers": is("4"), "goroutines_peak": positive,
				"heap_per_pending_bytes": func(v string) bool { _, err := strconv.ParseFloat(v, 64); return err == nil },
				"publish_at_limit":       is("blocked"), "drained": is("2000"), "failed": is("0"),
			},
		},
		{
			name: "backlog fails",
			args: []string{"-backlog", "2000", "-workers", "4", "-overflow", "fail"},
			want: map[string]func(string) bool{
				"mode": is("backlog"), "publish_at_limit": is("error"), "drained": is("2000"),
			},
		},
		{
			name: "isolation of the worker pool",
			args: append(slices.Clone(brief), "-isolation", "-hang-timeout", "100ms", "-queue", "100000"),
			want: map[string]func(string) bool{
				"mode": is("isolation"), "concurrency": is("4"), "queue": is("100000"),
				"healthy_p99_alone_ms": positive, "healthy_p99_with_hang_ms": positive,
				"healthy_p99_ratio": positive, "healthy_dps_with_hang": positive, "failed": nonNegative,
			},
		},
		{
			// The hanging webhook's queue may fill during the run, and then
			// hold the healthy one back: only the keys are certain.
			name: "isolation with the default queue",
			args: append(slices.Clone(brief), "-isolation", "-hang-timeout", "100ms"),
			want: map[string]func(string) bool{
				"mode": is("isolation"), "queue": is(strconv.Itoa(webhooks.DefaultQueueSize)),
				"healthy_p99_alone_ms": positive, "healthy_p99_with_hang_ms": nonNegative,
				"healthy_p99_ratio": nonNegative, "healthy_dps_with_hang": nonNegative,
			},
		},
		{
			name: "postgres backend",
			env:  postgresURLEnv,
			args: append(slices.Clone(onBroker), "-backend", "postgres", "-db", pgURL),
			want: map[string]func(string) bool{
				"mode": is("throughput"), "backend": is("postgres"), "store": is("memory"),
				"deliveries_per_s": positive, "hookbus_dps_c16": positive, "baseline_rps_c16": positive,
				"failed": is("0"),
			},
		},
		{
			name: "postgres backend and store",
			env:  postgresURLEnv,
			args: append(slices.Clone(onBroker), "-backend", "postgres", "-store", "postgres", "-db", pgURL),
			want: map[string]func(string) bool{
				"backend": is("postgres"), "store": is("postgres"), "deliveries_per_s": positive, "failed": is("0"),
			},
		},
		{
			name: "nats backend",
			env:  natsURLEnv,
			args: append(slices.Clone(onBroker), "-backend", "nats", "-nats", natsURL),
			want: map[string]func(string) bool{
				"mode": is("throughput"), "backend": is("nats"), "store": is("memory"),
				"deliveries_per_s": positive, "hookbus_dps_c16": positive, "baseline_rps_c16": positive,
				"failed": is("0"),
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" && os.Getenv(tc.env) == "" {
				t.Skip(tc.env + " not set: skipping the run on a broker")
			}
			// run must leave nothing behind: services, connections and the
			// receiver process are all stopped.
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			var stdout, stderr bytes.Buffer
			if err := run(t.Context(), tc.args, &stdout, &stderr); err != nil {
				t.Fatalf("run %q: %v\nstdout:\n%s\nstderr:\n%s", tc.args, err, stdout.String(), stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
			last := lines[len(lines)-1]
			kv := parseSummary(last)
			if _, ok := kv["ratio_c16"]; ok && kv["backend"] != "memory" {
				t.Errorf("summary of a broker run has a ratio: %s", last)
			}
			checkNothingLeft(t, stdout.String(), pgURL, natsURL)
			for key, ok := range tc.want {
				v, found := kv[key]
				switch {
				case !found:
					t.Errorf("summary has no %s: %s", key, last)
				case !ok(v):
					t.Errorf("summary %s=%s unexpected: %s", key, v, last)
				}
			}
			if t.Failed() {
				t.Logf("output:\n%s", stdout.String())
			}
		})
	}
}

// TestParseOptionsRefuses starts from valid flags and breaks one at a time.
func TestParseOptionsRefuses(t *testing.T) {
	valid := map[string]string{
		"-duration": "1s", "-rounds": "2", "-concurrency": "1,16", "-payload": "1024",
		"-workers": "8", "-overflow": "wait", "-hang-timeout": "100ms", "-queue": "0", "-backend": "memory",
	}
	args := func(change map[string]string) []string {
		var out []string
		for _, k := range slices.Sorted(maps.Keys(valid)) {
			v := valid[k]
			if c, ok := change[k]; ok {
				v = c
			}
			out = append(out, k, v)
		}
		for k, v := range change {
			if _, ok := valid[k]; !ok {
				out = append(out, k, v)
			}
		}
		return out
	}
	if _, err := parseOptions(args(nil), &bytes.Buffer{}); err != nil {
		t.Fatalf("valid flags refused: %v", err)
	}
	cases := map[string]map[string]string{
		"zero duration":         {"-duration": "0s"},
		"no rounds":             {"-rounds": "0"},
		"zero concurrency":      {"-concurrency": "1,0"},
		"concurrency not a num": {"-concurrency": "1,x"},
		"no workers":            {"-workers": "0"},
		"unknown overflow":      {"-overflow": "drop"},
		"zero hang timeout":     {"-hang-timeout": "0s"},
		"negative queue":        {"-queue": "-1"},
		"negative backlog":      {"-backlog": "-1"},
		"backlog and isolation": {"-backlog": "10", "-isolation": "true"},
		"unknown variant":       {"-only": "otelhttp"},
		"unknown backend":       {"-backend": "kafka"},
		"unknown store":         {"-store": "mysql"},
		"backlog on a broker":   {"-backend": "postgres", "-backlog": "10"},
		"negative pool":         {"-db-conns": "-1"},
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := parseOptions(args(change), &bytes.Buffer{}); err == nil {
				t.Errorf("flags %q accepted", args(change))
			}
		})
	}
	for _, backend := range []string{"postgres", "nats"} {
		t.Run("broker default concurrency "+backend, func(t *testing.T) {
			o, err := parseOptions(args(map[string]string{"-backend": backend, "-concurrency": ""}), &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(o.concurrency, []int{16, 64}) {
				t.Errorf("-backend %s: concurrency %v, want [16 64]", backend, o.concurrency)
			}
		})
	}
	t.Run("payload too small", func(t *testing.T) {
		if _, err := newPayload(100); err == nil {
			t.Error("a 100-byte payload accepted")
		}
	})
}

// TestPayload checks that the published event encodes to the exact body the
// baseline sends.
func TestPayload(t *testing.T) {
	for _, size := range []int{400, 1024, 4096} {
		p, err := newPayload(size)
		if err != nil {
			t.Fatalf("newPayload(%d): %v", size, err)
		}
		if len(p.body) != size {
			t.Errorf("newPayload(%d): body of %d bytes", size, len(p.body))
		}
		got, err := json.Marshal(p.at(time.Now()))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, p.body) {
			t.Errorf("published event encodes to\n%s\nwant\n%s", got, p.body)
		}
		if err := p.at(time.Now()).Validate(); err != nil {
			t.Errorf("event of %d bytes invalid: %v", size, err)
		}
	}
}

// TestHistogram checks bucket bounds and quantiles against known values.
func TestHistogram(t *testing.T) {
	for v := uint64(0); v < 1<<20; v += 1 + v/7 {
		lo, hi := bucketBounds(bucketOf(v))
		if v < lo || v >= hi {
			t.Fatalf("value %d in bucket %d of [%d, %d)", v, bucketOf(v), lo, hi)
		}
		if hi-lo > 1 && float64(hi-lo)/float64(lo) > 1.0/histSub {
			t.Fatalf("bucket [%d, %d) wider than 1/%d", lo, hi, histSub)
		}
	}
	if got := bucketOf(1<<63 - 1); got >= histBuckets {
		t.Fatalf("largest duration in bucket %d of %d", got, histBuckets)
	}
	var h histogram
	if got := h.quantile(0.5); got != 0 {
		t.Errorf("empty histogram p50 = %v", got)
	}
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}, {1, time.Millisecond}} {
		got := h.quantile(c.q)
		if diff := float64(got-c.want) / float64(c.want); diff < -0.04 || diff > 0.04 {
			t.Errorf("quantile(%v) = %v, want %v within 4%%", c.q, got, c.want)
		}
	}
	h.reset()
	if got := h.quantile(0.99); got != 0 {
		t.Errorf("p99 after reset = %v", got)
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		xs   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.xs); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.xs, got, c.want)
		}
	}
}

// checkNothingLeft checks that the run whose output is stdout dropped its
// PostgreSQL schema and deleted its NATS streams, as the header names them.
func checkNothingLeft(t *testing.T, stdout, pgURL, natsURL string) {
	t.Helper()
	if m := regexp.MustCompile(`in schema (hookbus_bench_[0-9a-f]+)`).FindStringSubmatch(stdout); m != nil {
		db, err := sql.Open("pgx", pgURL)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n int
		if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM pg_catalog.pg_namespace WHERE nspname = $1`, m[1]).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("schema %s left behind", m[1])
		}
	}
	if m := regexp.MustCompile(`streams (hb[0-9a-f]+)-N_`).FindStringSubmatch(stdout); m != nil {
		nc, err := nats.Connect(natsURL)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, err := nc.JetStream()
		if err != nil {
			t.Fatal(err)
		}
		for name := range js.StreamNames(nats.Context(t.Context())) {
			if strings.HasPrefix(name, m[1]+"-") {
				t.Errorf("stream %s left behind", name)
			}
		}
	}
}

// parseSummary reads a summary line back into a map.
func parseSummary(line string) map[string]string {
	kv := make(map[string]string)
	for _, f := range strings.Fields(line) {
		if k, v, ok := strings.Cut(f, "="); ok {
			kv[k] = v
		}
	}
	return kv
}
