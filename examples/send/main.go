// Command send sends one signed webhook event to a URL, as a provider's
// "trigger" tool does, through the library's own sending path: the same
// signing, headers, SSRF rules and timeout as hookbus deliveries.
//
//	go run ./examples/send -url http://127.0.0.1:8080/hooks -secret whsec_... -allow-private
//	go run ./examples/send -url https://example.com/hooks -secret whsec_... \
//	    -event commercial_signal_detected -data @signal.json -header 'Authorization: Bearer t0ken'
//
// It prints the request it sent and the response it got, and exits 0 on a
// 2xx, 1 when the receiver answered otherwise or could not be reached, and 2
// when the input is refused (bad flags, an invalid or oversized payload).
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"sort"
	"strings"
	"time"

	"github.com/hookbus/hookbus/webhooks"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailed  = 1 // sent, but not answered with a 2xx, or not sent
	exitRefused = 2 // not sent: bad flags or payload
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// headerFlags collects repeated -header 'Name: value' flags.
type headerFlags map[string]string

func (h headerFlags) String() string { return "" }

func (h headerFlags) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("want 'Name: value', got %q", v)
	}
	h[strings.TrimSpace(name)] = strings.TrimSpace(value)
	return nil
}

// run is the program; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		target       = fs.String("url", "", "receiver URL (required)")
		secret       = fs.String("secret", "", "signing secret, whsec_... (required)")
		event        = fs.String("event", string(webhooks.MeetingStatusChangedEvent), "event type")
		data         = fs.String("data", "", "payload: inline JSON, or @path of a file; a sample of the event type when empty")
		id           = fs.String("id", "", "event id sent as webhook-id; random when empty")
		allowPrivate = fs.Bool("allow-private", false, "permit loopback, private and link-local targets")
		timeout      = fs.Duration("timeout", webhooks.DefaultTimeout, "timeout of the request")
		headers      = headerFlags{}
	)
	fs.Var(headers, "header", "custom header 'Name: value' (repeatable)")
	if err := fs.Parse(args); err != nil {
		return exitRefused
	}
	refuse := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "send: "+format+"\n", a...)
		return exitRefused
	}
	if *target == "" || *secret == "" {
		return refuse("-url and -secret are required")
	}
	et, err := webhooks.ParseEventType(*event)
	if err != nil {
		return refuse("%v", err)
	}
	body, err := payload(et, *data)
	if err != nil {
		return refuse("%v", err)
	}
	if len(body) > webhooks.DefaultMaxPayloadBytes {
		return refuse("%v: %d bytes, limit %d", webhooks.ErrPayloadTooLarge, len(body), webhooks.DefaultMaxPayloadBytes)
	}
	w := webhooks.Webhook{ID: "send", Name: "send", URL: *target, EventType: et, Headers: headers, Secret: *secret}
	if err := w.Validate(webhooks.ValidateOptions{AllowHTTP: true}); err != nil {
		return refuse("%v", err)
	}
	cfg := webhooks.SenderConfig{AllowHTTP: true, MaxRetries: -1, Timeout: *timeout}
	if *allowPrivate {
		cfg.AllowAddresses = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
	}
	sender, err := webhooks.NewSender(cfg)
	if err != nil {
		return refuse("%v", err)
	}
	defer sender.Close()
	t, err := webhooks.NewTarget(w, time.Now())
	if err != nil {
		return refuse("%v", err)
	}
	if *id == "" {
		*id = randomID()
	}

	res, err := sender.Send(ctx, webhooks.SendRequest{
		Target:    t,
		EventID:   *id,
		EventType: et,
		Payload:   body,
		NoRetry:   true,
		OnRequest: func(r *http.Request) { printRequest(stdout, r, body) },
		OnAttempt: func(a webhooks.Attempt) { printAttempt(stdout, a) },
	})
	if err != nil {
		if errors.Is(err, webhooks.ErrPayloadTooLarge) {
			return refuse("%v", err)
		}
		fmt.Fprintf(stderr, "send: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "delivered: %d\n", res.StatusCode)
	return exitOK
}

// payload returns the body to send: the -data value (inline or @file),
// checked against the event type's rules, or a sample event.
func payload(et webhooks.EventType, data string) ([]byte, error) {
	if data == "" {
		e, err := webhooks.SampleEvent(et)
		if err != nil {
			return nil, err
		}
		return json.Marshal(e)
	}
	raw := []byte(data)
	if path, ok := strings.CutPrefix(data, "@"); ok {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		raw = b
	}
	if _, err := webhooks.DecodeEvent(et, raw); err != nil {
		return nil, err
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return nil, err
	}
	return compact.Bytes(), nil
}

func printRequest(out io.Writer, r *http.Request, body []byte) {
	fmt.Fprintf(out, "> %s %s\n", r.Method, r.URL)
	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		for _, v := range r.Header[k] {
			fmt.Fprintf(out, "> %s: %s\n", k, v)
		}
	}
	fmt.Fprintf(out, ">\n> %s\n", body)
}

func printAttempt(out io.Writer, a webhooks.Attempt) {
	if a.StatusCode == 0 {
		fmt.Fprintf(out, "< no response after %v: %s\n", a.Duration.Round(time.Millisecond), a.Error)
		return
	}
	fmt.Fprintf(out, "< %d %s (%v)\n", a.StatusCode, http.StatusText(a.StatusCode), a.Duration.Round(time.Millisecond))
	if len(a.ResponseBody) > 0 {
		fmt.Fprintf(out, "<\n< %s\n", a.ResponseBody)
	}
}

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "msg_" + hex.EncodeToString(b[:])
}
