package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookbus/hookbus/bus"
	"github.com/hookbus/hookbus/bus/busnats"
	"github.com/hookbus/hookbus/bus/buspg"
	"github.com/hookbus/hookbus/bus/outbox"
	"github.com/hookbus/hookbus/webhooks"
	"github.com/hookbus/hookbus/webhooks/postgres"
)

// workerEnv names the environment variable that turns the test binary into
// a worker process (see TestMain): it holds the worker's spec as JSON.
const workerEnv = "HOOKBUS_DURABLE_WORKER"

// readyLine is what a worker prints once its bus and service have started.
const readyLine = "worker ready"

// Bounds on a worker's lifecycle, as seen from the test.
const (
	workerStartTimeout = 30 * time.Second
	workerStopTimeout  = 60 * time.Second
)

// workerSpec says what a worker process runs: the webhook service of the
// schema's store and delivery log, on a bus on PostgreSQL or NATS
// JetStream, with or without the outbox forwarder.
type workerSpec struct {
	DB      string `json:"db"`
	Schema  string `json:"schema"`
	Backend string `json:"backend"`
	// NATSURL and Prefix locate the streams of the NATS backend.
	NATSURL string `json:"nats_url,omitempty"`
	Prefix  string `json:"prefix,omitempty"`
	// BatchSize is buspg.Config.BatchSize on the PostgreSQL backend.
	BatchSize int `json:"batch_size,omitempty"`
	// Replica, when positive, is sent in replicaHeader on every request.
	Replica int `json:"replica,omitempty"`
	// Outbox runs the schema's outbox forwarder in the worker.
	Outbox bool `json:"outbox,omitempty"`
}

// workerMain is the whole life of a worker process: it runs until SIGTERM or
// SIGINT, then shuts down cleanly, and returns the exit code.
func workerMain(specJSON string) int {
	var spec workerSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "worker: spec:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := runWorker(ctx, spec, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 1
	}
	return 0
}

// runWorker starts the service described by spec, prints readyLine, and
// serves until ctx ends.
func runWorker(ctx context.Context, spec workerSpec, out io.Writer) (err error) {
	db, err := sql.Open("pgx", spec.DB)
	if err != nil {
		return err
	}
	defer db.Close()
	// Three bus handlers, 32 dispatchers and 8 deliveries in flight share
	// the pool; idle connections are kept, since PostgreSQL forks a process
	// for every new one.
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)

	var bc bus.Config
	switch spec.Backend {
	case backendPostgres:
		bc, err = buspg.New(db, buspg.Config{Schema: spec.Schema, BatchSize: spec.BatchSize})
	case backendNATS:
		bc, err = busnats.New(spec.NATSURL, busnats.Config{Prefix: spec.Prefix})
	default:
		err = fmt.Errorf("unknown backend %q", spec.Backend)
	}
	if err != nil {
		return err
	}
	b, err := bus.New(bc)
	if err != nil {
		return err
	}
	opts := postgres.Options{Schema: spec.Schema}
	pgStore, err := postgres.NewStore(db, opts)
	if err != nil {
		return err
	}
	var store webhooks.Store = pgStore
	if spec.Replica > 0 {
		store = replicaStore{Store: pgStore, replica: strconv.Itoa(spec.Replica)}
	}
	deliveryLog, err := postgres.NewDeliveryLog(db, postgres.LogOptions{Options: opts})
	if err != nil {
		return err
	}
	hooks, err := webhooks.New(b, webhooks.Config{Store: store, Log: deliveryLog, Sender: loopbackSender()})
	if err != nil {
		return err
	}
	var ob *outbox.Outbox
	if spec.Outbox {
		if ob, err = outbox.New(b, db, outbox.Config{Schema: spec.Schema}); err != nil {
			return err
		}
	}
	if err := hooks.Start(ctx); err != nil {
		return err
	}
	fwdDone := make(chan error, 1)
	if ob != nil {
		go func() { fwdDone <- ob.Run(ctx) }()
	} else {
		fwdDone <- nil
	}
	fmt.Fprintln(out, readyLine)

	<-ctx.Done()
	if ob != nil {
		err = ob.Close()
	}
	err = errors.Join(err, <-fwdDone)
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), workerStopTimeout/2)
	defer cancel()
	return errors.Join(err, hooks.Shutdown(shutCtx))
}

// loopbackSender allows the test's receiver, plain http on loopback, and
// retries quickly.
func loopbackSender() webhooks.SenderConfig {
	return webhooks.SenderConfig{
		AllowHTTP:      true,
		AllowAddresses: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		RetryWaitMin:   50 * time.Millisecond,
		RetryWaitMax:   500 * time.Millisecond,
	}
}

// replicaStore is the shared webhook store as one replica sees it: every
// webhook carries the replica's number in replicaHeader, so the receiver
// knows which replica made each delivery.
type replicaStore struct {
	webhooks.Store
	replica string
}

// Get implements webhooks.Store.
func (s replicaStore) Get(ctx context.Context, id string) (webhooks.Webhook, error) {
	w, err := s.Store.Get(ctx, id)
	if err != nil {
		return w, err
	}
	return s.mark([]webhooks.Webhook{w})[0], nil
}

// List implements webhooks.Store.
func (s replicaStore) List(ctx context.Context) ([]webhooks.Webhook, error) {
	ws, err := s.Store.List(ctx)
	return s.mark(ws), err
}

// ListEnabled implements webhooks.Store.
func (s replicaStore) ListEnabled(ctx context.Context, t webhooks.EventType) ([]webhooks.Webhook, error) {
	ws, err := s.Store.ListEnabled(ctx, t)
	return s.mark(ws), err
}

// ListByEventType implements webhooks.Store; the dispatcher calls it for
// every event.
func (s replicaStore) ListByEventType(ctx context.Context, t webhooks.EventType) ([]webhooks.Webhook, error) {
	ws, err := s.Store.ListByEventType(ctx, t)
	return s.mark(ws), err
}

// mark adds replicaHeader to copies of the webhooks' headers.
func (s replicaStore) mark(ws []webhooks.Webhook) []webhooks.Webhook {
	for i := range ws {
		h := make(map[string]string, len(ws[i].Headers)+1)
		for k, v := range ws[i].Headers {
			h[k] = v
		}
		h[replicaHeader] = s.replica
		ws[i].Headers = h
	}
	return ws
}

// worker is a worker process as the test sees it.
type worker struct {
	t    testing.TB
	name string
	spec workerSpec

	stdout readyWriter
	stderr lockedBuffer

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{} // closed once the process has exited
	waitErr error         // set before exited is closed
}

// newWorker returns a worker not started yet; start starts it.
func newWorker(t testing.TB, name string, spec workerSpec) *worker {
	w := &worker{t: t, name: name, spec: spec, exited: make(chan struct{})}
	w.stdout.ready = make(chan struct{})
	return w
}

// startWorker starts a worker and waits until it is ready.
func startWorker(t testing.TB, name string, spec workerSpec) *worker {
	t.Helper()
	w := newWorker(t, name, spec)
	w.start()
	return w
}

// start runs the test binary as the worker process and waits until it is
// ready. The process is killed at the end of the test if still running.
func (w *worker) start() {
	w.t.Helper()
	spec, err := json.Marshal(w.spec)
	if err != nil {
		w.t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), workerEnv+"="+string(spec))
	cmd.Stdout = &w.stdout
	cmd.Stderr = &w.stderr
	w.mu.Lock()
	w.cmd = cmd
	err = cmd.Start()
	w.mu.Unlock()
	if err != nil {
		w.t.Fatalf("start worker %s: %v", w.name, err)
	}
	go func() {
		err := cmd.Wait()
		w.mu.Lock()
		w.waitErr = err
		w.mu.Unlock()
		close(w.exited)
	}()
	w.t.Cleanup(func() {
		w.kill()
		<-w.exited
		if w.t.Failed() {
			w.t.Logf("worker %s stderr:\n%s", w.name, w.stderr.String())
		}
	})
	select {
	case <-w.stdout.ready:
	case <-w.exited:
		w.t.Fatalf("worker %s exited before it was ready: %v\n%s", w.name, w.exitErr(), w.stderr.String())
	case <-time.After(workerStartTimeout):
		w.t.Fatalf("worker %s not ready after %v\n%s", w.name, workerStartTimeout, w.stderr.String())
	}
}

// kill sends SIGKILL to the process, if it started and has not exited. It is
// safe to call from any goroutine.
func (w *worker) kill() {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case <-w.exited:
		return
	default:
	}
	if w.cmd != nil && w.cmd.Process != nil {
		w.cmd.Process.Kill()
	}
}

// waitExit waits for the process to end, after kill, and fails the test if
// the race detector reported a race in it before it died.
func (w *worker) waitExit() {
	w.t.Helper()
	select {
	case <-w.exited:
	case <-time.After(workerStopTimeout):
		w.t.Fatalf("worker %s still running %v after it was killed", w.name, workerStopTimeout)
	}
	if out := w.stderr.String(); strings.Contains(out, "WARNING: DATA RACE") {
		w.t.Errorf("worker %s:\n%s", w.name, out)
	}
}

// stop asks the worker to shut down with SIGTERM and fails the test unless
// it exits cleanly (a race the detector found in it makes it fail too).
func (w *worker) stop() {
	w.t.Helper()
	w.mu.Lock()
	w.cmd.Process.Signal(syscall.SIGTERM)
	w.mu.Unlock()
	select {
	case <-w.exited:
	case <-time.After(workerStopTimeout):
		w.t.Fatalf("worker %s did not stop within %v", w.name, workerStopTimeout)
	}
	if err := w.exitErr(); err != nil {
		w.t.Errorf("worker %s: %v\n%s", w.name, err, w.stderr.String())
	}
}

func (w *worker) exitErr() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.waitErr
}

// readyWriter is a worker's standard output: it closes ready once readyLine
// has been written.
type readyWriter struct {
	lockedBuffer
	once  sync.Once
	ready chan struct{}
}

// Write implements io.Writer.
func (r *readyWriter) Write(p []byte) (int, error) {
	n, err := r.lockedBuffer.Write(p)
	if strings.Contains(r.String(), readyLine+"\n") {
		r.once.Do(func() { close(r.ready) })
	}
	return n, err
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written.
func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
