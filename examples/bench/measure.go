package main

import (
	"context"
	"math"
	"math/bits"
	"runtime"
	"slices"
	"sync/atomic"
	"time"
)

// tally counts the completions of a running variant and, while a window is
// open, their latencies. It is safe for concurrent use and does not allocate.
type tally struct {
	ok, failed atomic.Int64
	recording  atomic.Bool
	latency    histogram
}

// observe counts one completion that took d; ok says whether it succeeded
// (a 2xx). Only successes have their latency recorded.
func (t *tally) observe(d time.Duration, ok bool) {
	if !ok {
		t.failed.Add(1)
		return
	}
	t.ok.Add(1)
	if t.recording.Load() {
		t.latency.record(d)
	}
}

// sample is what one window measured.
type sample struct {
	completed int64         // successful completions
	failed    int64         // failed completions
	rate      float64       // successful completions per second
	allocs    float64       // heap allocations of the process per successful completion
	bytes     float64       // bytes those allocations took, per successful completion
	cpu       time.Duration // CPU time of the process per successful completion
	p50, p99  time.Duration
	stalled   bool // nothing completed: p50 and p99 are the window, a lower bound
}

// window measures t over d: completions, allocations and their bytes (the
// whole process's runtime.MemStats.Mallocs and TotalAlloc), CPU time of the process and latency quantiles.
func (t *tally) window(ctx context.Context, d time.Duration) (sample, error) {
	var m0, m1 runtime.MemStats
	t.latency.reset()
	runtime.ReadMemStats(&m0)
	cpu0 := processCPU()
	ok0, failed0 := t.ok.Load(), t.failed.Load()
	t.recording.Store(true)
	start := time.Now()
	err := sleep(ctx, d)
	elapsed := time.Since(start)
	t.recording.Store(false)
	ok1, failed1 := t.ok.Load(), t.failed.Load()
	cpu1 := processCPU()
	runtime.ReadMemStats(&m1)
	if err != nil {
		return sample{}, err
	}
	s := sample{
		completed: ok1 - ok0,
		failed:    failed1 - failed0,
		rate:      float64(ok1-ok0) / elapsed.Seconds(),
		p50:       t.latency.quantile(0.50),
		p99:       t.latency.quantile(0.99),
	}
	if s.completed > 0 {
		s.allocs = float64(m1.Mallocs-m0.Mallocs) / float64(s.completed)
		s.bytes = float64(m1.TotalAlloc-m0.TotalAlloc) / float64(s.completed)
		s.cpu = (cpu1 - cpu0) / time.Duration(s.completed)
	} else {
		// Nothing completed: whatever was in flight has waited at least the
		// whole window, the only latency that can be stated.
		s.stalled = true
		s.p50, s.p99 = elapsed, elapsed
	}
	return s, nil
}

// histogram is a lock-free latency histogram with log-linear buckets: exact
// below 64 ns, then 32 buckets per power of two (within about 3%).
type histogram struct {
	buckets [histBuckets]atomic.Int64
}

const (
	histSubBits = 5
	histSub     = 1 << histSubBits
	histBuckets = (64 - histSubBits) * histSub
)

func (h *histogram) record(d time.Duration) {
	h.buckets[bucketOf(uint64(max(d, 0)))].Add(1)
}

func (h *histogram) reset() {
	for i := range h.buckets {
		h.buckets[i].Store(0)
	}
}

// quantile returns the midpoint of the bucket holding the q-quantile, or 0
// when nothing was recorded.
func (h *histogram) quantile(q float64) time.Duration {
	var counts [histBuckets]int64
	var total int64
	for i := range h.buckets {
		counts[i] = h.buckets[i].Load()
		total += counts[i]
	}
	if total == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(total)))
	rank = min(max(rank, 1), total)
	var seen int64
	for i, n := range counts {
		seen += n
		if seen >= rank {
			lo, hi := bucketBounds(i)
			return time.Duration(lo + (hi-lo)/2)
		}
	}
	return 0
}

// bucketOf maps v to its bucket: values below 2·histSub are their own
// bucket; above, the top histSubBits+1 bits of v select it.
func bucketOf(v uint64) int {
	if v < 2*histSub {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBits - 1
	return (shift+1)*histSub + int(v>>shift) - histSub
}

// bucketBounds returns the values [lo, hi) of bucket i.
func bucketBounds(i int) (lo, hi uint64) {
	if i < 2*histSub {
		return uint64(i), uint64(i) + 1
	}
	shift := i/histSub - 1
	m := uint64(i%histSub + histSub)
	return m << shift, (m + 1) << shift
}

// median returns the median of xs (the mean of the middle two for an even
// count), or 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// collect applies f to every sample.
func collect(ss []sample, f func(sample) float64) []float64 {
	out := make([]float64, len(ss))
	for i, s := range ss {
		out[i] = f(s)
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
