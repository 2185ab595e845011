package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookbus/hookbus/webhooks"
	"github.com/hookbus/hookbus/webhooks/webhookstest"
)

// TestSendToReceiver builds examples/receiver, runs it on a free loopback
// port, and sends events to it with run: a sample and a file payload of each
// event type are verified and logged by the receiver; a wrong secret, an
// invalid payload and a target the SSRF rules refuse are not.
func TestSendToReceiver(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the receiver: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "receiver")
	if out, err := exec.CommandContext(ctx, goTool, "build", "-o", bin, "../receiver").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	recv := exec.CommandContext(ctx, bin, "-addr", "127.0.0.1:0", "-secret", webhookstest.Secret)
	stdout, err := recv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := recv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = recv.Process.Kill(); _ = recv.Wait() })
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var url string
	select {
	case l := <-lines:
		var ok bool
		if url, ok = strings.CutPrefix(l, "listening on "); !ok {
			t.Fatalf("receiver said %q", l)
		}
	case <-ctx.Done():
		t.Fatal("receiver did not start")
	}
	nextLine := func() string {
		select {
		case l := <-lines:
			return l
		case <-time.After(10 * time.Second):
			t.Fatal("receiver logged nothing")
			return ""
		}
	}

	file := filepath.Join(t.TempDir(), "signal.json")
	if err := os.WriteFile(file, []byte(`{"code":"pricing_discussed","description":"d","contactId":"c","companyId":"co",
		"category":"neutral","activityType":"call","activityId":"a-1","evidence":["we talked price"],"changeType":"new"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string // in the receiver's log line
	}{
		{"sample meeting", []string{"-event", "meeting_status_changed"}, `"meeting_status_changed"`},
		{"sample note", []string{"-event", "meeting_note_status_changed"}, `"meeting_note_status_changed"`},
		{"inline signal", []string{"-event", "commercial_signal_detected", "-data", `{"code":"buying_intent","category":"positive","activityType":"meeting","activityId":"m-1","changeType":"new"}`}, `buying_intent`},
		{"file signal", []string{"-event", "commercial_signal_detected", "-data", "@" + file, "-header", "X-Tenant: acme"}, `pricing_discussed`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{"-url", url + "/hooks", "-secret", webhookstest.Secret, "-allow-private", "-id", "evt-" + strings.ReplaceAll(tc.name, " ", "-")}, tc.args...)
			if code := run(ctx, args, &out, &errOut); code != exitOK {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
			}
			for _, want := range []string{"> POST " + url + "/hooks", "> Webhook-Signature: v1,", "< 204", "delivered: 204"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
			if l := nextLine(); !strings.Contains(l, tc.want) || !strings.Contains(l, "evt-") {
				t.Errorf("receiver logged %q, want it to contain %s and the event id", l, tc.want)
			}
		})
	}

	otherSecret, err := webhooks.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"wrong secret", []string{"-secret", otherSecret, "-allow-private"}, exitFailed},
		{"loopback without -allow-private", []string{"-secret", webhookstest.Secret}, exitFailed},
		{"invalid payload", []string{"-secret", webhookstest.Secret, "-allow-private", "-data", `{"meetingId":""}`}, exitRefused},
		{"oversized payload", []string{"-secret", webhookstest.Secret, "-allow-private", "-event", "commercial_signal_detected", "-data",
			`{"code":"buying_intent","category":"positive","activityType":"meeting","activityId":"m-1","changeType":"new","description":"` + strings.Repeat("x", webhooks.DefaultMaxPayloadBytes) + `"}`}, exitRefused},
		{"unknown event", []string{"-secret", webhookstest.Secret, "-event", "meeting_moved"}, exitRefused},
		{"reserved header", []string{"-secret", webhookstest.Secret, "-header", "webhook-id: forged"}, exitRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(ctx, append([]string{"-url", url + "/hooks"}, tc.args...), &out, &errOut); code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out.String(), errOut.String())
			}
		})
	}
	select {
	case l := <-lines:
		t.Errorf("receiver logged an event it should have refused: %s", l)
	default:
	}
}
