package webhooks_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/hookbus/hookbus/webhooks"
)

func TestDefaultRetryPolicy(t *testing.T) {
	live := context.Background()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	status := func(code int) *http.Response { return &http.Response{StatusCode: code, Body: http.NoBody} }
	netErr := errors.New("connection reset by peer")
	for _, tc := range []struct {
		name      string
		ctx       context.Context
		resp      *http.Response
		err       error
		wantRetry bool
		wantErr   error
	}{
		{"2xx", live, status(204), nil, false, nil},
		{"5xx", live, status(503), nil, true, nil},
		{"4xx", live, status(400), nil, true, nil},
		{"410 Gone", live, status(410), nil, false, nil},
		{"network error", live, nil, netErr, true, nil},
		{"blocked address", live, nil, webhooks.ErrAddressBlocked, false, webhooks.ErrAddressBlocked},
		{"5xx after ctx ended", done, status(500), nil, false, context.Canceled},
		{"error after ctx ended", done, nil, netErr, false, context.Canceled},
		// The receiver answered: the event is delivered, whatever happened
		// to the context meanwhile.
		{"2xx after ctx ended", done, status(200), nil, false, nil},
	} {
		retry, err := webhooks.DefaultRetryPolicy(tc.ctx, tc.resp, tc.err)
		if retry != tc.wantRetry || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
			t.Errorf("%s: (%v, %v), want (%v, %v)", tc.name, retry, err, tc.wantRetry, tc.wantErr)
		}
	}
}
