// Command checktrace checks that the traces examples/tracing produced reached
// Jaeger complete. It reads the example's output on standard input, takes
// every line
//
//	trace_id=<hex> [event=<event type>] [deliveries=<n>]
//
// and polls Jaeger's query API (GET /api/traces/<id>) until each of those
// traces holds the whole chain, every link a CHILD_OF reference:
//
//	host request span (server, the root)
//	└── publish <event type>             producer
//	    └── dispatch <event type>        consumer
//	        └── deliver <webhook name>   one per delivery (n when given)
//	            └── HTTP client span     one per attempt (hookbus.delivery.attempts)
//	                └── receiver span    server, exactly one per attempt
//
// All spans must come from -service. The deliver spans of the -failing
// webhook must show retries (at least -min-attempts client spans), the error
// tag and the dead_lettered outcome, and it must appear in at least one trace;
// every other deliver span must be delivered without error.
//
// It exits 0 when every trace is complete before -timeout, and otherwise 1
// after printing what each incomplete trace lacks.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdin, os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "checktrace:", err)
		os.Exit(1)
	}
}

// errIncomplete reports traces that did not become complete in time.
var errIncomplete = errors.New("traces incomplete")

func run(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("checktrace", flag.ContinueOnError)
	query := fs.String("query", "http://127.0.0.1:16686", "base URL of Jaeger's query service")
	service := fs.String("service", "hookbus-quickstart", "service.name every span must have")
	failing := fs.String("failing", "Legacy ERP (down)", "name of the webhook whose deliveries must fail after retries (empty: none)")
	minAttempts := fs.Int("min-attempts", 2, "least client spans of a failing delivery")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the traces to be complete")
	interval := fs.Duration("interval", 250*time.Millisecond, "time between polls")
	if err := fs.Parse(args); err != nil {
		return err
	}
	wants, err := parseWants(stdin)
	if err != nil {
		return err
	}
	if len(wants) == 0 {
		return errors.New("no trace_id= lines on standard input")
	}
	rules := rules{service: *service, failing: *failing, minAttempts: *minAttempts}
	client := &http.Client{Timeout: 5 * time.Second}

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	problems := map[string][]string{}
	summaries := map[string]string{}
	failingSeen := false
	pending := slices.Clone(wants)
	for {
		var still []want
		for _, w := range pending {
			tr, err := fetchTrace(ctx, client, *query, w.traceID)
			if err != nil {
				// A query the overall deadline cut short says nothing about
				// the trace: keep what the last answered query found.
				if ctx.Err() == nil || len(problems[w.traceID]) == 0 {
					problems[w.traceID] = []string{err.Error()}
				}
				still = append(still, w)
				continue
			}
			res := rules.check(tr, w)
			if len(res.problems) > 0 {
				problems[w.traceID] = res.problems
				still = append(still, w)
				continue
			}
			delete(problems, w.traceID)
			summaries[w.traceID] = res.summary
			failingSeen = failingSeen || res.failingSeen
		}
		pending = still
		if len(pending) == 0 || !sleep(ctx, *interval) {
			break
		}
	}

	for _, w := range wants {
		if s, ok := summaries[w.traceID]; ok {
			fmt.Fprintf(stdout, "ok       %s %s\n", w.traceID, s)
			continue
		}
		fmt.Fprintf(stdout, "FAIL     %s (%s):\n", w.traceID, w.event)
		for _, p := range problems[w.traceID] {
			fmt.Fprintf(stdout, "    - %s\n", p)
		}
	}
	if len(pending) > 0 {
		return fmt.Errorf("%w: %d of %d after %v", errIncomplete, len(pending), len(wants), *timeout)
	}
	if rules.failing != "" && !failingSeen {
		return fmt.Errorf("%w: no trace has a delivery to %q", errIncomplete, rules.failing)
	}
	fmt.Fprintf(stdout, "all %d traces complete\n", len(wants))
	return nil
}

// sleep waits d and reports whether ctx is still alive.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// want is one trace the example reported.
type want struct {
	traceID    string
	event      string // "" when not reported
	deliveries int    // -1 when not reported
}

// parseWants reads the trace_id= lines of the example's output.
func parseWants(r io.Reader) ([]want, error) {
	var out []want
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "trace_id=") {
			continue
		}
		w := want{deliveries: -1}
		for field := range strings.FieldsSeq(line) {
			k, v, _ := strings.Cut(field, "=")
			switch k {
			case "trace_id":
				if len(v) != 32 || strings.Trim(v, "0123456789abcdef") != "" {
					return nil, fmt.Errorf("malformed trace id in %q", line)
				}
				w.traceID = v
			case "event":
				w.event = v
			case "deliveries":
				n, err := strconv.Atoi(v)
				if err != nil {
					return nil, fmt.Errorf("malformed deliveries in %q", line)
				}
				w.deliveries = n
			}
		}
		out = append(out, w)
	}
	return out, sc.Err()
}

// fetchTrace gets one trace from Jaeger's query API.
func fetchTrace(ctx context.Context, client *http.Client, base, id string) (*jaegerTrace, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/api/traces/"+url.PathEscape(id), nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("query Jaeger: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, errors.New("trace not found in Jaeger")
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("query Jaeger: status %d", resp.StatusCode)
	}
	var body struct {
		Data []jaegerTrace `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("decode Jaeger answer: %w", err)
	}
	if len(body.Data) != 1 {
		return nil, fmt.Errorf("the query returned %d traces for one id", len(body.Data))
	}
	return &body.Data[0], nil
}

// jaegerTrace is a trace in the JSON of Jaeger's query API.
type jaegerTrace struct {
	TraceID   string                   `json:"traceID"`
	Spans     []jaegerSpan             `json:"spans"`
	Processes map[string]jaegerProcess `json:"processes"`
}

type jaegerSpan struct {
	TraceID       string      `json:"traceID"`
	SpanID        string      `json:"spanID"`
	OperationName string      `json:"operationName"`
	References    []jaegerRef `json:"references"`
	Tags          []jaegerTag `json:"tags"`
	ProcessID     string      `json:"processID"`
}

type jaegerRef struct {
	RefType string `json:"refType"`
	TraceID string `json:"traceID"`
	SpanID  string `json:"spanID"`
}

type jaegerTag struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}

type jaegerProcess struct {
	ServiceName string `json:"serviceName"`
}

func (s *jaegerSpan) tag(key string) (any, bool) {
	for _, t := range s.Tags {
		if t.Key == key {
			return t.Value, true
		}
	}
	return nil, false
}

func (s *jaegerSpan) kind() string {
	v, _ := s.tag("span.kind")
	k, _ := v.(string)
	return k
}

func (s *jaegerSpan) isError() bool {
	v, _ := s.tag("error")
	b, _ := v.(bool)
	return b
}

// parent returns the span's CHILD_OF parent id in the same trace, or "".
func (s *jaegerSpan) parent() string {
	for _, r := range s.References {
		if r.RefType == "CHILD_OF" && r.TraceID == s.TraceID {
			return r.SpanID
		}
	}
	return ""
}

// rules are what a complete trace must satisfy.
type rules struct {
	service     string
	failing     string
	minAttempts int
}

// result is the verdict on one trace.
type result struct {
	problems    []string
	summary     string
	failingSeen bool
}

// check compares tr with the chain it must hold.
func (r rules) check(tr *jaegerTrace, w want) result {
	var res result
	missing := func(format string, a ...any) { res.problems = append(res.problems, fmt.Sprintf(format, a...)) }

	children := map[string][]*jaegerSpan{}
	ids := map[string]bool{}
	var roots []*jaegerSpan
	for i := range tr.Spans {
		sp := &tr.Spans[i]
		ids[sp.SpanID] = true
		if svc := tr.Processes[sp.ProcessID].ServiceName; svc != r.service {
			missing("span %q is from service %q, want %q", sp.OperationName, svc, r.service)
		}
		switch p := sp.parent(); {
		case p != "":
			children[p] = append(children[p], sp)
		case len(sp.References) > 0:
			missing("span %q has references but none CHILD_OF in this trace", sp.OperationName)
		default:
			roots = append(roots, sp)
		}
	}
	for i := range tr.Spans {
		if p := tr.Spans[i].parent(); p != "" && !ids[p] {
			missing("span %q is CHILD_OF %s, which is not in the trace", tr.Spans[i].OperationName, p)
		}
	}
	childrenOf := func(p *jaegerSpan, match func(*jaegerSpan) bool) []*jaegerSpan {
		var out []*jaegerSpan
		for _, c := range children[p.SpanID] {
			if match(c) {
				out = append(out, c)
			}
		}
		return out
	}
	// only returns the single child of p that match selects, or reports it.
	only := func(p *jaegerSpan, what string, match func(*jaegerSpan) bool) *jaegerSpan {
		got := childrenOf(p, match)
		if len(got) != 1 {
			missing("%d %s spans as CHILD_OF %q, want 1", len(got), what, p.OperationName)
			return nil
		}
		return got[0]
	}

	if len(roots) != 1 {
		missing("%d root spans, want 1 host request span", len(roots))
		return res
	}
	host := roots[0]
	if !strings.HasPrefix(host.OperationName, "POST ") || host.kind() != "server" {
		missing("root span %q (kind %q) is not the host's POST request span", host.OperationName, host.kind())
	}
	publish := only(host, "publish "+w.event+" (producer)", func(s *jaegerSpan) bool {
		return s.kind() == "producer" && strings.HasPrefix(s.OperationName, "publish ") &&
			(w.event == "" || s.OperationName == "publish "+w.event)
	})
	if publish == nil {
		return res
	}
	event := strings.TrimPrefix(publish.OperationName, "publish ")
	dispatch := only(publish, "dispatch "+event+" (consumer)", func(s *jaegerSpan) bool {
		return s.kind() == "consumer" && s.OperationName == "dispatch "+event
	})
	if dispatch == nil {
		return res
	}
	delivers := childrenOf(dispatch, func(s *jaegerSpan) bool { return strings.HasPrefix(s.OperationName, "deliver ") })
	switch {
	case len(delivers) == 0:
		missing("no deliver span as CHILD_OF %q", dispatch.OperationName)
	case w.deliveries >= 0 && len(delivers) != w.deliveries:
		missing("%d deliver spans as CHILD_OF %q, want %d", len(delivers), dispatch.OperationName, w.deliveries)
	}

	var notes []string
	for _, d := range delivers {
		name := strings.TrimPrefix(d.OperationName, "deliver ")
		clients := childrenOf(d, func(s *jaegerSpan) bool { return s.kind() == "client" })
		if len(clients) == 0 {
			missing("no HTTP client span as CHILD_OF %q", d.OperationName)
		}
		if v, ok := d.tag("hookbus.delivery.attempts"); ok {
			if n, ok := v.(float64); ok && int(n) != len(clients) {
				missing("%q records %d attempts but has %d HTTP client spans", d.OperationName, int(n), len(clients))
			}
		} else {
			missing("%q has no hookbus.delivery.attempts tag", d.OperationName)
		}
		for _, c := range clients {
			if got := childrenOf(c, func(s *jaegerSpan) bool { return s.kind() == "server" }); len(got) != 1 {
				missing("%d receiver (server) spans as CHILD_OF client span %s of %q, want 1", len(got), c.SpanID, d.OperationName)
			}
		}
		outcome, _ := d.tag("hookbus.delivery.outcome")
		if name == r.failing {
			res.failingSeen = true
			if len(clients) < r.minAttempts {
				missing("%q has %d HTTP client spans, want at least %d (retries)", d.OperationName, len(clients), r.minAttempts)
			}
			if !d.isError() {
				missing("%q has no error tag", d.OperationName)
			}
			if outcome != "dead_lettered" {
				missing("%q outcome %v, want dead_lettered", d.OperationName, outcome)
			}
		} else {
			if d.isError() {
				missing("%q has the error tag", d.OperationName)
			}
			if outcome != "delivered" {
				missing("%q outcome %v, want delivered", d.OperationName, outcome)
			}
		}
		notes = append(notes, fmt.Sprintf("%s: %d attempt(s) %v", name, len(clients), outcome))
	}
	slices.Sort(notes)
	res.summary = fmt.Sprintf("%q -> %s, %d spans; %s", host.OperationName, dispatch.OperationName, len(tr.Spans), strings.Join(notes, "; "))
	return res
}
