package webhooks

import (
	"cmp"
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hookbus/hookbus/internal/h1"
)

// TestSendStateGivesOnlyItsOwnFields checks that a send whose fields are in
// a header map never passes on the fields of a send whose state is in its
// context (a Send made from within a hook of another).
func TestSendStateGivesOnlyItsOwnFields(t *testing.T) {
	outer := &sendState{Context: context.Background(), fields: []byte("Webhook-Id: outer\r\n")}
	inner := &sendState{Context: outer}
	if f := inner.Value(h1.FieldsKey{}); f != nil {
		t.Errorf("a send without fields gives %v, the enclosing send's", f)
	}
	if f, _ := outer.Value(h1.FieldsKey{}).(h1.Fields); f == nil || string(f.Lines()) != "Webhook-Id: outer\r\n" {
		t.Errorf("a send with fields gives %v", f)
	}
}

// TestFieldsApartByDefault checks which sends keep their fields apart from
// the request's header: by default on h1, and not when the caller's code
// may see the request, nor in HTTP2 mode.
func TestFieldsApartByDefault(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer srv.Close()
	secret, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	for _, tc := range []struct {
		name      string
		cfg       SenderConfig
		onRequest bool
		url       string
		want      bool
	}{
		{name: "default", want: true},
		{name: "OnRequest", onRequest: true},
		{name: "RetryPolicy", cfg: SenderConfig{RetryPolicy: DefaultRetryPolicy}},
		{name: "Backoff", cfg: SenderConfig{Backoff: DefaultBackoff}},
		{name: "HTTP2", cfg: SenderConfig{HTTP2: true}},
		{name: "credentials in the URL", url: strings.Replace(srv.URL, "http://", "http://u:p@", 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.AllowHTTP, cfg.AllowAddresses = true, loopback
			s, err := NewSender(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			tg, err := NewTarget(Webhook{ID: "wh_1", URL: cmp.Or(tc.url, srv.URL), Secret: secret, EventType: MeetingStatusChangedEvent}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			st := &sendState{Context: t.Context(), req: SendRequest{Target: tg, EventID: "evt_1", Payload: []byte(`{}`)}}
			if tc.onRequest {
				st.req.OnRequest = func(*http.Request) {}
			}
			if _, err := s.send(st); err != nil {
				t.Fatal(err)
			}
			if got := st.fields != nil; got != tc.want {
				t.Errorf("fields kept apart: %t, want %t", got, tc.want)
			}
		})
	}
}
