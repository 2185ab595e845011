// Command quickstart runs hookbus end to end in one process: an in-memory
// bus, a local receiver that verifies signatures, webhooks for the three event
// types plus one whose endpoint fails, a realistic sequence of events, and an
// account of every delivery, its retries, the dead letter and its redelivery.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookbus/hookbus/bus"
	"github.com/hookbus/hookbus/signals"
	"github.com/hookbus/hookbus/webhooks"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// run runs the whole flow, writing its account to out.
func run(out io.Writer) error {
	ctx := context.Background()
	// Dead letters are reported from delivery workers: one lock keeps lines whole.
	out = &lockedWriter{w: out}

	// A receiver on loopback, as a customer would run it: one path per
	// webhook, each verifying its own secret.
	recv := newReceiver()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: recv, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()

	// The bus and the webhook service. Loopback is allow-listed and plain
	// http allowed because the receiver runs here; retries are quick so the
	// demo does not wait.
	b, err := bus.New(bus.Config{})
	if err != nil {
		return err
	}
	hooks, err := webhooks.New(b, webhooks.Config{
		Sender: webhooks.SenderConfig{
			AllowHTTP:      true,
			AllowAddresses: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
			RetryWaitMin:   50 * time.Millisecond,
			RetryWaitMax:   200 * time.Millisecond,
		},
		OnDeadLetter: func(p webhooks.DeadLetterParams) {
			fmt.Fprintf(out, "  ! dead letter: %s to %q after %d attempts (%s)\n", p.Delivery.EventType, p.Webhook.Name, p.Delivery.Attempts, p.Delivery.Error)
		},
	})
	if err != nil {
		return err
	}
	if err := hooks.Start(ctx); err != nil {
		return err
	}

	fmt.Fprintln(out, "== webhooks")
	specs := []struct {
		name, path string
		et         webhooks.EventType
	}{
		{"CRM meeting sync", "/crm", webhooks.MeetingStatusChangedEvent},
		{"Notes mirror", "/notes", webhooks.MeetingNoteStatusChangedEvent},
		{"Deal signals", "/signals", webhooks.CommercialSignalDetectedEvent},
		{"Legacy ERP (down)", "/erp", webhooks.MeetingStatusChangedEvent},
	}
	names := map[string]string{}
	var erp webhooks.Webhook
	for _, s := range specs {
		w, err := hooks.Create(ctx, webhooks.Webhook{
			Name: s.name, URL: base + s.path, EventType: s.et,
			Headers: map[string]string{"Authorization": "Bearer demo-token"},
		})
		if err != nil {
			return err
		}
		recv.addSecret(s.path, w.Secret)
		names[w.ID] = w.Name
		if s.path == "/erp" {
			erp = w
		}
		fmt.Fprintf(out, "  %-18s %-28s %s\n", w.Name, w.EventType, w.URL)
	}
	recv.setDown("/erp", true)

	fmt.Fprintln(out, "== publishing")
	events := []webhooks.Event{
		webhooks.MeetingStatusChanged{MeetingID: "m-42", Status: webhooks.MeetingCreated},
		webhooks.MeetingStatusChanged{MeetingID: "m-42", Status: webhooks.MeetingTranscriptDone},
		webhooks.MeetingStatusChanged{MeetingID: "m-42", Status: webhooks.MeetingVideoDone},
		webhooks.MeetingStatusChanged{MeetingID: "m-42", Status: webhooks.MeetingSummaryDone},
		webhooks.MeetingNoteStatusChanged{MeetingNoteID: "n-1", MeetingID: "m-42", Status: webhooks.MeetingNoteCreated},
		webhooks.MeetingNoteStatusChanged{MeetingNoteID: "n-2", MeetingID: "m-42", Status: webhooks.MeetingNoteCreated},
		webhooks.MeetingStatusChanged{MeetingID: "m-42", Status: webhooks.MeetingNotesDone},
		webhooks.CommercialSignalDetected{
			Code: signals.BuyingIntent, Description: signals.BuyingIntent.Description(),
			ContactID: "c-7", CompanyID: "co-3", Category: signals.Positive,
			ActivityType: signals.ActivityMeeting, ActivityID: "m-42",
			Evidence:   []string{"We want to roll this out to the whole team next quarter."},
			ChangeType: signals.ChangeNew,
		},
		webhooks.CommercialSignalDetected{
			Code: signals.CompetitorMentioned, Description: signals.CompetitorMentioned.Description(),
			ContactID: "c-7", CompanyID: "co-3", Category: signals.Risk,
			ActivityType: signals.ActivityMeeting, ActivityID: "m-42",
			Evidence:   []string{"We are also evaluating another vendor."},
			ChangeType: signals.ChangeNew,
		},
		webhooks.MeetingNoteStatusChanged{MeetingNoteID: "n-1", MeetingID: "m-42", Status: webhooks.MeetingNoteUpdated},
	}
	for _, e := range events {
		if err := hooks.Publish(ctx, e); err != nil {
			return err
		}
		fmt.Fprintf(out, "  published %s\n", e.EventType())
	}
	// Five meeting events reach two webhooks each, the rest one each.
	const want = 5*2 + 3 + 2
	if err := waitOutcomes(ctx, hooks, webhooks.DeliveryQuery{}, want); err != nil {
		return err
	}

	fmt.Fprintln(out, "== deliveries")
	if err := report(ctx, out, hooks, names, webhooks.DeliveryQuery{}); err != nil {
		return err
	}

	fmt.Fprintln(out, "== the ERP endpoint recovers; redelivering its dead letters")
	recv.setDown("/erp", false)
	ids, err := hooks.RedeliverFailed(ctx, erp.ID, time.Time{})
	if err != nil {
		return err
	}
	if err := waitOutcomes(ctx, hooks, webhooks.DeliveryQuery{WebhookID: erp.ID, Outcome: webhooks.OutcomeDelivered}, len(ids)); err != nil {
		return err
	}
	if err := report(ctx, out, hooks, names, webhooks.DeliveryQuery{WebhookID: erp.ID, Outcome: webhooks.OutcomeDelivered}); err != nil {
		return err
	}

	fmt.Fprintln(out, "== receiver")
	fmt.Fprintf(out, "  %d requests, %d verified, %d answered 2xx, %d distinct webhook-ids\n",
		recv.requests.Load(), recv.verified.Load(), recv.ok.Load(), recv.distinctIDs())

	shutCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return hooks.Shutdown(shutCtx)
}

// waitOutcomes polls the delivery log until n deliveries match q.
func waitOutcomes(ctx context.Context, hooks *webhooks.Service, q webhooks.DeliveryQuery, n int) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := hooks.Log().Deliveries(ctx, q)
		if err != nil {
			return err
		}
		if len(got) >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d deliveries finished", len(got), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// report prints one line per delivery and one per attempt.
func report(ctx context.Context, out io.Writer, hooks *webhooks.Service, names map[string]string, q webhooks.DeliveryQuery) error {
	recs, err := hooks.Log().Deliveries(ctx, q)
	if err != nil {
		return err
	}
	sort.SliceStable(recs, func(i, j int) bool { return names[recs[i].WebhookID] < names[recs[j].WebhookID] })
	for _, r := range recs {
		line := fmt.Sprintf("  %-18s %-28s %-13s attempts=%d status=%d", names[r.WebhookID], r.EventType, r.Outcome, r.Attempts, r.StatusCode)
		if r.RedeliveryOf != "" {
			line += " (redelivery)"
		}
		fmt.Fprintln(out, line)
		if r.Attempts > 1 {
			attempts, err := hooks.Log().Attempts(ctx, r.ID)
			if err != nil {
				return err
			}
			for _, a := range attempts {
				fmt.Fprintf(out, "      attempt %d at +%-6v status %d in %v\n", a.Number,
					a.StartedAt.Sub(attempts[0].StartedAt).Round(time.Millisecond), a.StatusCode, a.Duration.Round(100*time.Microsecond))
			}
		}
	}
	return nil
}

// receiver checks every request with webhooks.VerifyRequests and its path's
// secret and answers 204, or 503 on a path that is down.
type receiver struct {
	mu       sync.Mutex
	handlers map[string]http.Handler // path: VerifyRequests with its secret
	down     map[string]bool
	ids      map[string]bool // path and webhook-id of each request answered 2xx

	requests, verified, ok atomic.Int64
}

func newReceiver() *receiver {
	return &receiver{handlers: map[string]http.Handler{}, down: map[string]bool{}, ids: map[string]bool{}}
}

func (r *receiver) addSecret(path, secret string) {
	h, err := webhooks.VerifyRequests(webhooks.ReceiverConfig{Secrets: []string{secret}},
		http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { r.handleVerified(w, req, path) }))
	if err != nil {
		panic(err) // secrets come from Create: always valid
	}
	r.mu.Lock()
	r.handlers[path] = h
	r.mu.Unlock()
}

func (r *receiver) setDown(path string, down bool) {
	r.mu.Lock()
	r.down[path] = down
	r.mu.Unlock()
}

func (r *receiver) distinctIDs() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ids)
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.requests.Add(1)
	r.mu.Lock()
	h := r.handlers[req.URL.Path]
	r.mu.Unlock()
	if h == nil {
		http.NotFound(w, req)
		return
	}
	h.ServeHTTP(w, req)
}

// handleVerified answers a request whose signature VerifyRequests accepted.
func (r *receiver) handleVerified(w http.ResponseWriter, req *http.Request, path string) {
	r.verified.Add(1)
	r.mu.Lock()
	down := r.down[path]
	r.mu.Unlock()
	if down {
		http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
		return
	}
	v, _ := webhooks.VerifiedFromContext(req.Context())
	r.mu.Lock()
	r.ids[path+" "+v.ID] = true
	r.mu.Unlock()
	r.ok.Add(1)
	w.WriteHeader(http.StatusNoContent)
}

// lockedWriter serialises writes.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
