package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookbus/hookbus/webhooks"
)

// countingReceiver is the receiving end of the durability tests, in the test
// process: it verifies every request's signature, counts requests by
// webhook-id and by the replica that sent them, and answers 204.
type countingReceiver struct {
	srv *httptest.Server

	mu         sync.Mutex
	verifier   *webhooks.Verifier
	requests   int
	unverified int
	byID       map[string]int
	byReplica  map[string]int
	onRequest  func(distinct int)
}

// newCountingReceiver starts a receiver on loopback, closed at the end of the
// test. Requests are refused with 401 until setSecret.
func newCountingReceiver(t testing.TB) *countingReceiver {
	r := &countingReceiver{byID: map[string]int{}, byReplica: map[string]int{}}
	r.srv = httptest.NewServer(r)
	t.Cleanup(r.srv.Close)
	return r
}

// URL is the receiver's URL.
func (r *countingReceiver) URL() string { return r.srv.URL + "/hooks" }

// setSecret sets the secret requests are verified with.
func (r *countingReceiver) setSecret(t testing.TB, secret string) {
	t.Helper()
	v, err := webhooks.NewVerifier([]string{secret}, webhooks.VerifierConfig{})
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.verifier = v
	r.mu.Unlock()
}

// setHook makes fn run on every verified request, before it is answered,
// with the number of distinct webhook-ids received so far.
func (r *countingReceiver) setHook(fn func(distinct int)) {
	r.mu.Lock()
	r.onRequest = fn
	r.mu.Unlock()
}

// ServeHTTP verifies and counts one request.
func (r *countingReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, webhooks.DefaultReceiverMaxBodyBytes))
	if err != nil {
		http.Error(w, http.StatusText(http.StatusBadRequest), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	v := r.verifier
	r.mu.Unlock()
	if v == nil || v.Verify(req.Header, body) != nil {
		r.mu.Lock()
		r.unverified++
		r.mu.Unlock()
		http.Error(w, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
		return
	}
	r.mu.Lock()
	r.requests++
	r.byID[req.Header.Get(webhooks.HeaderID)]++
	r.byReplica[req.Header.Get(replicaHeader)]++
	distinct, hook := len(r.byID), r.onRequest
	r.mu.Unlock()
	if hook != nil {
		hook(distinct)
	}
	w.WriteHeader(http.StatusNoContent)
}

// receipt is what a countingReceiver has seen at one moment.
type receipt struct {
	requests, unverified int
	byID                 map[string]int
	byReplica            map[string]int
}

// snapshot returns a copy of the counts.
func (r *countingReceiver) snapshot() receipt {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := receipt{requests: r.requests, unverified: r.unverified, byID: make(map[string]int, len(r.byID)), byReplica: map[string]int{}}
	for k, v := range r.byID {
		s.byID[k] = v
	}
	for k, v := range r.byReplica {
		s.byReplica[k] = v
	}
	return s
}

// distinct returns the number of distinct webhook-ids received.
func (r *countingReceiver) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byID)
}

// waitDistinct waits until n distinct webhook-ids were received or ctx ends.
func (r *countingReceiver) waitDistinct(ctx context.Context, n int) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		got := r.distinct()
		if got >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d webhook-ids received: %w", got, n, ctx.Err())
		case <-tick.C:
		}
	}
}

// missing returns the ids of events never received, and the number of
// requests whose webhook-id is none of them.
func (s receipt) missing(events []identifiedMeeting) (missing []string, unknown int) {
	known := make(map[string]bool, len(events))
	for _, e := range events {
		known[e.id] = true
		if s.byID[e.id] == 0 {
			missing = append(missing, e.id)
		}
	}
	for id, n := range s.byID {
		if !known[id] {
			unknown += n
		}
	}
	return missing, unknown
}

// duplicates returns the requests beyond the first of each webhook-id.
func (s receipt) duplicates() int { return s.requests - len(s.byID) }

// split formats the requests per replica, "1=340 2=331 3=329".
func (s receipt) split() string {
	keys := make([]string, 0, len(s.byReplica))
	for k := range s.byReplica {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, s.byReplica[k])
	}
	return strings.Join(parts, " ")
}
