package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookbus/hookbus/webhooks"
)

const testSecret = "whsec_aG9va2J1cyBleGFtcGxlIHJlY2VpdmVyIGtleSEh"

// TestBinary builds the program, runs it on a free port, posts a signed
// request and an unsigned one, and stops it with SIGINT.
func TestBinary(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the program: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "receiver")
	if out, err := exec.CommandContext(ctx, goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	cmd := exec.CommandContext(ctx, bin, "-addr", "127.0.0.1:0", "-secret", testSecret, "-dedupe", "100")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	next := func() string {
		t.Helper()
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("output ended; stderr:\n%s", stderr.String())
			}
			return line
		case <-ctx.Done():
			t.Fatalf("no output line: %v", ctx.Err())
		}
		return ""
	}

	base, ok := strings.CutPrefix(next(), "listening on ")
	if !ok || !strings.HasPrefix(base, "http://127.0.0.1:") || strings.HasSuffix(base, ":0") {
		t.Fatalf("first line %q, want listening on http://127.0.0.1:PORT", base)
	}

	e, err := webhooks.SampleEvent(webhooks.CommercialSignalDetectedEvent)
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	if code := testPost(t, ctx, base, "evt_example_1", sent, body, testSecret); code != http.StatusNoContent {
		t.Fatalf("signed request: status %d, want 204; stderr:\n%s", code, stderr.String())
	}
	var logged struct {
		Level   string
		Msg     string
		ID      string
		Type    string
		Sent    time.Time
		Payload json.RawMessage
	}
	line := next()
	if err := json.Unmarshal([]byte(line), &logged); err != nil {
		t.Fatalf("event line %q is not JSON: %v", line, err)
	}
	if logged.Level != "INFO" || logged.Msg != "webhook" || logged.ID != "evt_example_1" ||
		logged.Type != string(webhooks.CommercialSignalDetectedEvent) || logged.Sent.Unix() != sent.Unix() {
		t.Errorf("event line %s, want id evt_example_1, type %s, sent %v", line, webhooks.CommercialSignalDetectedEvent, sent.Unix())
	}
	payload, err := webhooks.DecodeEvent(webhooks.EventType(logged.Type), logged.Payload)
	if err != nil || !reflect.DeepEqual(payload, e) {
		t.Errorf("logged payload %s decodes to %#v, %v; want %#v", logged.Payload, payload, err, e)
	}

	// A retry is answered without being logged again; a request signed with
	// another secret is refused and logged on stderr.
	if code := testPost(t, ctx, base, "evt_example_1", sent, body, testSecret); code != http.StatusOK {
		t.Errorf("retry: status %d, want 200", code)
	}
	other, err := webhooks.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	if code := testPost(t, ctx, base, "evt_example_2", sent, body, other); code != http.StatusUnauthorized {
		t.Errorf("forged request: status %d, want 401", code)
	}

	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	for rest := range lines {
		t.Errorf("unexpected output line %q", rest)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after SIGINT: %v; stderr:\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), `"msg":"refused"`) || !strings.Contains(stderr.String(), "evt_example_2") {
		t.Errorf("stderr does not report the refused request:\n%s", stderr.String())
	}
}

// testPost posts body to url signed with secret and returns the status.
func testPost(t *testing.T, ctx context.Context, url, id string, ts time.Time, body []byte, secret string) int {
	t.Helper()
	sig, err := webhooks.Sign(secret, id, ts, body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/hooks", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhooks.HeaderID, id)
	req.Header.Set(webhooks.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(webhooks.HeaderSignature, sig)
	req.Header.Set(webhooks.HeaderEvent, string(webhooks.CommercialSignalDetectedEvent))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func TestRunRefusesBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want error
	}{
		{"no secret", []string{"-addr", "127.0.0.1:0"}, nil},
		{"invalid secret", []string{"-addr", "127.0.0.1:0", "-secret", "whsec_short"}, webhooks.ErrInvalidSecret},
		{"unknown event type", []string{"-addr", "127.0.0.1:0", "-secret", testSecret, "-event", "meeting"}, webhooks.ErrUnknownEventType},
		{"negative dedupe", []string{"-addr", "127.0.0.1:0", "-secret", testSecret, "-dedupe", "-1"}, webhooks.ErrInvalidReceiverConfig},
		{"unknown flag", []string{"-port", "80"}, nil},
		{"help", []string{"-h"}, flag.ErrHelp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), tt.args, &stdout, &stderr)
			if err == nil {
				t.Fatal("run succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("run = %v, want %v", err, tt.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
		})
	}
}

func TestRunStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-secret", testSecret}, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "listening on http://127.0.0.1:") {
		t.Fatalf("first line %q, %v", line, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run after cancel = %v, want nil", err)
	}
}
