// Command receiver is a standalone webhook receiver built on
// webhooks.NewReceiver: it verifies every request, answers as the wire
// contract expects, and logs each verified event as one JSON line on
// standard output, with its id, type and payload. Refused requests are
// logged on standard error.
//
// Usage:
//
//	receiver -secret whsec_... [-secret whsec_...] [-addr 127.0.0.1:8080] [-event TYPE] [-dedupe N]
//
// Give -secret twice, the old and the new one, while a webhook's secret
// rotates. Every path is served. The program prints "listening on
// http://ADDR" once it accepts connections (the real port when -addr ends
// with :0) and shuts down gracefully on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hookbus/hookbus/webhooks"
)

// shutdownTimeout bounds how long requests in flight may take to finish
// after a signal.
const shutdownTimeout = 10 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case err != nil:
		fmt.Fprintln(os.Stderr, "receiver:", err)
		os.Exit(2)
	}
}

// run serves webhooks until ctx ends. Events go to stdout, refusals and
// usage to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("receiver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	var secrets []string
	fs.Func("secret", "signing secret, whsec_...; repeat it to accept the old and the new secret during a rotation", func(s string) error {
		secrets = append(secrets, s)
		return nil
	})
	event := fs.String("event", "", "event type of requests without an X-Webhook-Event header")
	dedupe := fs.Int("dedupe", 0, "remember the ids of this many handled events and answer their retries without logging them again (0: off)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if len(secrets) == 0 {
		return errors.New("at least one -secret is required")
	}
	var eventType webhooks.EventType
	if *event != "" {
		t, err := webhooks.ParseEventType(*event)
		if err != nil {
			return err
		}
		eventType = t
	}

	events := slog.New(slog.NewJSONHandler(stdout, nil))
	refusals := slog.New(slog.NewJSONHandler(stderr, nil))
	logEvent := func(ctx context.Context, e webhooks.Event) error {
		v, _ := webhooks.VerifiedFromContext(ctx)
		events.InfoContext(ctx, "webhook",
			slog.String("id", v.ID),
			slog.String("type", string(e.EventType())),
			slog.Time("sent", v.Timestamp),
			slog.Any("payload", e))
		return nil
	}
	receiver, err := webhooks.NewReceiver(webhooks.ReceiverConfig{
		Secrets:    secrets,
		EventType:  eventType,
		DedupeSize: *dedupe,
		OnError: func(r *http.Request, err error) {
			refusals.WarnContext(r.Context(), "refused",
				slog.String("remote", r.RemoteAddr),
				slog.String("id", r.Header.Get(webhooks.HeaderID)),
				slog.Any("error", err))
		},
	}, webhooks.ReceiverFuncs{
		OnMeetingStatusChanged: func(ctx context.Context, e webhooks.MeetingStatusChanged) error {
			return logEvent(ctx, e)
		},
		OnMeetingNoteStatusChanged: func(ctx context.Context, e webhooks.MeetingNoteStatusChanged) error {
			return logEvent(ctx, e)
		},
		OnCommercialSignalDetected: func(ctx context.Context, e webhooks.CommercialSignalDetected) error {
			return logEvent(ctx, e)
		},
	})
	if err != nil {
		return err
	}

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           receiver,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	// The signal stops new requests; those in flight may finish.
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
