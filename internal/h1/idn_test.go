package h1_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/hookbus/hookbus/internal/h1"
)

// An internationalised host name, accepted by webhooks' URL validation.
func TestIDNHost(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Host) })
	addr := strings.TrimPrefix(srv.URL, "http://")
	var dialed []string
	dial := func(ctx context.Context, network, a string) (net.Conn, error) {
		dialed = append(dialed, a)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	for name, rt := range map[string]http.RoundTripper{
		"h1":       h1.New(h1.Config{DialContext: dial}),
		"net/http": &http.Transport{DialContext: dial},
	} {
		dialed = nil
		req, _ := http.NewRequest(http.MethodPost, "http://bücher.example:8080/hook", strings.NewReader("{}"))
		resp, err := (&http.Client{Transport: rt}).Do(req)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Logf("%s: dialed %v, server saw Host %s", name, dialed, b)
		rt.(interface{ CloseIdleConnections() }).CloseIdleConnections()
	}
}
