package webhooks_test

import (
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookbus/hookbus/webhooks"
)

// An outcome whose write fails for a moment (a dropped connection) is
// written again: the dead letter is on record, once, and can be redelivered.
// When the failed write had gone through after all, the next try's
// ErrConflict counts as written.
func TestOutcomeWriteIsTriedAgain(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fails   int
		written bool
		status  int
	}{
		{"dead letter, two failures", 2, false, 500},
		{"delivered, two failures", 2, false, 204},
		{"written before the failure", 1, true, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := &outageLog{MemoryLog: webhooks.NewMemoryLog(0), written: tc.written}
			log.failures.Store(int64(tc.fails))
			var logged strings.Builder
			var logMu sync.Mutex
			logger := slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logged}, &slog.HandlerOptions{Level: slog.LevelError}))
			s := engService(t, webhooks.Config{Log: log, Logger: logger, Sender: webhooks.SenderConfig{MaxRetries: -1}})
			srv, _ := engServer(t, statusHandler(tc.status))
			w := engCreate(t, s, "flaky log", srv.URL, webhooks.MeetingStatusChangedEvent)
			publish(t, s, 1)
			recs := engWait(t, s, webhooks.DeliveryQuery{WebhookID: w.ID}, 1)
			want := int64(tc.fails + 1)
			for deadline := time.Now().Add(5 * time.Second); log.tries.Load() < want && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(100 * time.Millisecond) // and no more
			if tries := log.tries.Load(); tries != want {
				t.Errorf("%d writes of the outcome, want %d", tries, want)
			}
			logMu.Lock()
			if out := logged.String(); out != "" {
				t.Errorf("errors logged: %s", out)
			}
			logMu.Unlock()
			if all, _ := log.Deliveries(t.Context(), webhooks.DeliveryQuery{}); len(all) != 1 {
				t.Errorf("%d deliveries on record, want 1", len(all))
			}
			if tc.status == 500 {
				if _, err := s.Redeliver(t.Context(), recs[0].ID); err != nil {
					t.Errorf("Redeliver of the dead letter = %v", err)
				}
			}
		})
	}
}

// lockedWriter writes to w under mu.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
