package webhooks_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookbus/hookbus/webhooks"
)

const (
	testSecret     = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	testPrevSecret = "whsec_d2ViaG9va3N0ZXN0IHByZXZpb3VzIHNpZ25pbmcga2V5"
)

// validWebhook returns a configuration that passes Validate with the zero
// options; every case below changes one thing.
func validWebhook() webhooks.Webhook {
	created := time.Date(2025, time.June, 2, 9, 30, 0, 0, time.UTC)
	return webhooks.Webhook{
		ID:        "wh_1",
		Name:      "CRM sync",
		URL:       "https://crm.example.com/hooks?tenant=acme",
		EventType: webhooks.MeetingStatusChangedEvent,
		Headers: map[string]string{
			"Authorization": "Bearer s3cr3t-token",
			"X-Tenant":      "acme",
		},
		Description: "Pushes meeting statuses to the CRM.",
		Secret:      testSecret,
		PreviousSecrets: []webhooks.PreviousSecret{
			{Secret: testPrevSecret, ExpiresAt: created.Add(24 * time.Hour)},
		},
		CreatedAt: created,
		UpdatedAt: created,
	}
}

func TestWebhookValidateValid(t *testing.T) {
	tests := []struct {
		name   string
		change func(w *webhooks.Webhook)
		opts   webhooks.ValidateOptions
	}{
		{"base", func(*webhooks.Webhook) {}, webhooks.ValidateOptions{}},
		{"empty secret means generate", func(w *webhooks.Webhook) { w.Secret = "" }, webhooks.ValidateOptions{}},
		{"no headers", func(w *webhooks.Webhook) { w.Headers = nil }, webhooks.ValidateOptions{}},
		{"no description", func(w *webhooks.Webhook) { w.Description = "" }, webhooks.ValidateOptions{}},
		{"name at limit in characters", func(w *webhooks.Webhook) { w.Name = strings.Repeat("é", webhooks.MaxNameLength) }, webhooks.ValidateOptions{}},
		{"description at limit with newlines", func(w *webhooks.Webhook) {
			w.Description = strings.Repeat("line\n", webhooks.MaxDescriptionLength/5)
		}, webhooks.ValidateOptions{}},
		{"url at limit", func(w *webhooks.Webhook) {
			base := "https://example.com/"
			w.URL = base + strings.Repeat("a", webhooks.MaxURLLength-len(base))
		}, webhooks.ValidateOptions{}},
		{"uppercase scheme", func(w *webhooks.Webhook) { w.URL = "HTTPS://example.com/in" }, webhooks.ValidateOptions{}},
		{"explicit port", func(w *webhooks.Webhook) { w.URL = "https://example.com:8443/in" }, webhooks.ValidateOptions{}},
		{"ipv6 literal", func(w *webhooks.Webhook) { w.URL = "https://[2001:db8::1]:8443/in" }, webhooks.ValidateOptions{}},
		{"http allowed", func(w *webhooks.Webhook) { w.URL = "http://127.0.0.1:8080/in" }, webhooks.ValidateOptions{AllowHTTP: true}},
		{"https with AllowHTTP", func(*webhooks.Webhook) {}, webhooks.ValidateOptions{AllowHTTP: true}},
		{"header value with inner tab and space", func(w *webhooks.Webhook) { w.Headers["X-List"] = "a,\tb c" }, webhooks.ValidateOptions{}},
		{"header value with obs-text", func(w *webhooks.Webhook) { w.Headers["X-Name"] = "caf\xc3\xa9" }, webhooks.ValidateOptions{}},
		{"empty header value", func(w *webhooks.Webhook) { w.Headers["X-Empty"] = "" }, webhooks.ValidateOptions{}},
		{"header name with all tchar symbols", func(w *webhooks.Webhook) { w.Headers["X-!#$%&'*+-.^_`|~9"] = "v" }, webhooks.ValidateOptions{}},
		{"max headers", func(w *webhooks.Webhook) { w.Headers = numberedHeaders(webhooks.MaxHeaders) }, webhooks.ValidateOptions{}},
		{"headers at size limit", func(w *webhooks.Webhook) {
			w.Headers = map[string]string{"X-Big": strings.Repeat("v", webhooks.MaxHeaderBytes-len("X-Big"))}
		}, webhooks.ValidateOptions{}},
		{"several previous secrets", func(w *webhooks.Webhook) {
			w.PreviousSecrets = append(w.PreviousSecrets, webhooks.PreviousSecret{Secret: testSecret})
		}, webhooks.ValidateOptions{}},
		{"disabled", func(w *webhooks.Webhook) { w.Disabled, w.DisabledReason = true, "410 Gone" }, webhooks.ValidateOptions{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := validWebhook()
			tc.change(&w)
			if err := w.Validate(tc.opts); err != nil {
				t.Errorf("Validate = %v, want nil", err)
			}
		})
	}
}

func TestWebhookValidateInvalid(t *testing.T) {
	tests := []struct {
		name   string
		change func(w *webhooks.Webhook)
		want   error
		field  string
	}{
		{"empty name", func(w *webhooks.Webhook) { w.Name = "" }, webhooks.ErrNameRequired, "Name"},
		{"whitespace name", func(w *webhooks.Webhook) { w.Name = " \t\n " }, webhooks.ErrNameRequired, "Name"},
		{"name too long", func(w *webhooks.Webhook) { w.Name = strings.Repeat("é", webhooks.MaxNameLength+1) }, webhooks.ErrNameTooLong, "Name"},
		{"name with newline", func(w *webhooks.Webhook) { w.Name = "CRM\nsync" }, webhooks.ErrNameInvalid, "Name"},
		{"name not utf-8", func(w *webhooks.Webhook) { w.Name = "CRM \xff" }, webhooks.ErrNameInvalid, "Name"},
		{"description too long", func(w *webhooks.Webhook) {
			w.Description = strings.Repeat("d", webhooks.MaxDescriptionLength+1)
		}, webhooks.ErrDescriptionTooLong, "Description"},
		{"description with NUL", func(w *webhooks.Webhook) { w.Description = "a\x00b" }, webhooks.ErrDescriptionInvalid, "Description"},
		{"empty url", func(w *webhooks.Webhook) { w.URL = "" }, webhooks.ErrURLRequired, "URL"},
		{"relative url", func(w *webhooks.Webhook) { w.URL = "/hooks" }, webhooks.ErrURLInvalid, "URL"},
		{"url without scheme", func(w *webhooks.Webhook) { w.URL = "crm.example.com/hooks" }, webhooks.ErrURLInvalid, "URL"},
		{"unparseable url", func(w *webhooks.Webhook) { w.URL = "https://exa%mple.com/" }, webhooks.ErrURLInvalid, "URL"},
		{"url with space", func(w *webhooks.Webhook) { w.URL = "https://example.com/a b" }, webhooks.ErrURLInvalid, "URL"},
		{"url with fragment", func(w *webhooks.Webhook) { w.URL = "https://example.com/in#frag" }, webhooks.ErrURLInvalid, "URL"},
		{"url with empty fragment", func(w *webhooks.Webhook) { w.URL = "https://example.com/in#" }, webhooks.ErrURLInvalid, "URL"},
		{"url not utf-8", func(w *webhooks.Webhook) { w.URL = "https://example.com/caf\xe9" }, webhooks.ErrURLInvalid, "URL"},
		{"url too long", func(w *webhooks.Webhook) {
			w.URL = "https://example.com/" + strings.Repeat("a", webhooks.MaxURLLength)
		}, webhooks.ErrURLInvalid, "URL"},
		{"port zero", func(w *webhooks.Webhook) { w.URL = "https://example.com:0/in" }, webhooks.ErrURLInvalid, "URL"},
		{"port too large", func(w *webhooks.Webhook) { w.URL = "https://example.com:65536/in" }, webhooks.ErrURLInvalid, "URL"},
		{"ftp scheme", func(w *webhooks.Webhook) { w.URL = "ftp://example.com/in" }, webhooks.ErrURLScheme, "URL"},
		{"mailto scheme", func(w *webhooks.Webhook) { w.URL = "mailto:ops@example.com" }, webhooks.ErrURLScheme, "URL"},
		{"no host", func(w *webhooks.Webhook) { w.URL = "https:///in" }, webhooks.ErrURLHost, "URL"},
		{"opaque https", func(w *webhooks.Webhook) { w.URL = "https:example.com" }, webhooks.ErrURLHost, "URL"},
		{"port without host", func(w *webhooks.Webhook) { w.URL = "https://:8443/in" }, webhooks.ErrURLHost, "URL"},
		{"user info", func(w *webhooks.Webhook) { w.URL = "https://user:pass@example.com/in" }, webhooks.ErrURLUserInfo, "URL"},
		{"http without option", func(w *webhooks.Webhook) { w.URL = "http://example.com/in" }, webhooks.ErrHTTPSRequired, "URL"},
		{"empty event type", func(w *webhooks.Webhook) { w.EventType = "" }, webhooks.ErrUnknownEventType, "EventType"},
		{"unknown event type", func(w *webhooks.Webhook) { w.EventType = "meeting_started" }, webhooks.ErrUnknownEventType, "EventType"},
		{"event type wrong case", func(w *webhooks.Webhook) { w.EventType = "Meeting_Status_Changed" }, webhooks.ErrUnknownEventType, "EventType"},
		{"empty header name", func(w *webhooks.Webhook) { w.Headers[""] = "v" }, webhooks.ErrHeaderName, `Headers[""]`},
		{"header name with space", func(w *webhooks.Webhook) { w.Headers["X Token"] = "v" }, webhooks.ErrHeaderName, `Headers["X Token"]`},
		{"header name with colon", func(w *webhooks.Webhook) { w.Headers["X-Token:"] = "v" }, webhooks.ErrHeaderName, `Headers["X-Token:"]`},
		{"header name with CRLF", func(w *webhooks.Webhook) { w.Headers["X-A\r\nX-B"] = "v" }, webhooks.ErrHeaderName, `Headers["X-A\r\nX-B"]`},
		{"header name not ascii", func(w *webhooks.Webhook) { w.Headers["X-Clé"] = "v" }, webhooks.ErrHeaderName, `Headers["X-Clé"]`},
		{"header value with LF", func(w *webhooks.Webhook) { w.Headers["X-Tenant"] = "acme\nX-Evil: 1" }, webhooks.ErrHeaderValue, `Headers["X-Tenant"]`},
		{"header value with CR", func(w *webhooks.Webhook) { w.Headers["X-Tenant"] = "acme\r" + "x" }, webhooks.ErrHeaderValue, `Headers["X-Tenant"]`},
		{"header value with NUL", func(w *webhooks.Webhook) { w.Headers["X-Tenant"] = "ac\x00me" }, webhooks.ErrHeaderValue, `Headers["X-Tenant"]`},
		{"header value with DEL", func(w *webhooks.Webhook) { w.Headers["X-Tenant"] = "ac\x7fme" }, webhooks.ErrHeaderValue, `Headers["X-Tenant"]`},
		{"header value with leading space", func(w *webhooks.Webhook) { w.Headers["X-Tenant"] = " acme" }, webhooks.ErrHeaderValue, `Headers["X-Tenant"]`},
		{"header value with trailing tab", func(w *webhooks.Webhook) { w.Headers["X-Tenant"] = "acme\t" }, webhooks.ErrHeaderValue, `Headers["X-Tenant"]`},
		{"header value not UTF-8", func(w *webhooks.Webhook) { w.Headers["X-Tenant"] = "caf\xe9" }, webhooks.ErrHeaderValue, `Headers["X-Tenant"]`},
		{"reserved content-type", func(w *webhooks.Webhook) { w.Headers["Content-Type"] = "text/plain" }, webhooks.ErrHeaderReserved, `Headers["Content-Type"]`},
		{"reserved host lowercase", func(w *webhooks.Webhook) { w.Headers["host"] = "evil.example" }, webhooks.ErrHeaderReserved, `Headers["host"]`},
		{"reserved webhook-signature", func(w *webhooks.Webhook) { w.Headers["Webhook-Signature"] = "v1,x" }, webhooks.ErrHeaderReserved, `Headers["Webhook-Signature"]`},
		{"reserved x-webhook prefix", func(w *webhooks.Webhook) { w.Headers["X-Webhook-Custom"] = "x" }, webhooks.ErrHeaderReserved, `Headers["X-Webhook-Custom"]`},
		{"reserved traceparent", func(w *webhooks.Webhook) { w.Headers["Traceparent"] = "00-x" }, webhooks.ErrHeaderReserved, `Headers["Traceparent"]`},
		{"reserved trailer", func(w *webhooks.Webhook) { w.Headers["Trailer"] = "X-Sum" }, webhooks.ErrHeaderReserved, `Headers["Trailer"]`},
		{"reserved upgrade", func(w *webhooks.Webhook) { w.Headers["Upgrade"] = "websocket" }, webhooks.ErrHeaderReserved, `Headers["Upgrade"]`},
		{"reserved keep-alive", func(w *webhooks.Webhook) { w.Headers["Keep-Alive"] = "timeout=5" }, webhooks.ErrHeaderReserved, `Headers["Keep-Alive"]`},
		{"reserved te", func(w *webhooks.Webhook) { w.Headers["TE"] = "trailers" }, webhooks.ErrHeaderReserved, `Headers["TE"]`},
		{"reserved signature with underscore", func(w *webhooks.Webhook) { w.Headers["Webhook_Signature"] = "v1,x" }, webhooks.ErrHeaderReserved, `Headers["Webhook_Signature"]`},
		{"reserved x-webhook with underscores", func(w *webhooks.Webhook) { w.Headers["x_webhook_event"] = "x" }, webhooks.ErrHeaderReserved, `Headers["x_webhook_event"]`},
		{"duplicate header", func(w *webhooks.Webhook) { w.Headers["x-tenant"] = "other" }, webhooks.ErrDuplicateHeader, `Headers["x-tenant"]`},
		{"too many headers", func(w *webhooks.Webhook) { w.Headers = numberedHeaders(webhooks.MaxHeaders + 1) }, webhooks.ErrTooManyHeaders, "Headers"},
		{"headers too large", func(w *webhooks.Webhook) {
			w.Headers = map[string]string{"X-Big": strings.Repeat("v", webhooks.MaxHeaderBytes-len("X-Big")+1)}
		}, webhooks.ErrHeadersTooLarge, "Headers"},
		{"secret without prefix", func(w *webhooks.Webhook) { w.Secret = strings.TrimPrefix(testSecret, webhooks.SecretPrefix) }, webhooks.ErrInvalidSecret, "Secret"},
		{"secret not base64", func(w *webhooks.Webhook) { w.Secret = "whsec_not*base64" }, webhooks.ErrInvalidSecret, "Secret"},
		{"secret too short", func(w *webhooks.Webhook) { w.Secret = "whsec_c2hvcnQ=" }, webhooks.ErrInvalidSecret, "Secret"},
		{"empty previous secret", func(w *webhooks.Webhook) { w.PreviousSecrets[0].Secret = "" }, webhooks.ErrInvalidSecret, "PreviousSecrets[0].Secret"},
		{"invalid second previous secret", func(w *webhooks.Webhook) {
			w.PreviousSecrets = append(w.PreviousSecrets, webhooks.PreviousSecret{Secret: "whsec_???"})
		}, webhooks.ErrInvalidSecret, "PreviousSecrets[1].Secret"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := validWebhook()
			tc.change(&w)
			err := w.Validate(webhooks.ValidateOptions{})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Validate = %v, want %v", err, tc.want)
			}
			fields := fieldErrors(t, err)
			if len(fields) != 1 {
				t.Fatalf("Validate returned %d problems, want 1: %v", len(fields), err)
			}
			if fields[0].Field != tc.field {
				t.Errorf("FieldError.Field = %q, want %q", fields[0].Field, tc.field)
			}
		})
	}
}

func TestWebhookValidateReportsEveryProblem(t *testing.T) {
	w := validWebhook()
	w.Name = ""
	w.URL = "http://example.com/in"
	w.EventType = "nope"
	w.Description = strings.Repeat("d", webhooks.MaxDescriptionLength+1)
	w.Headers["Content-Length"] = "1"
	w.Headers["X-Bad"] = "a\nb"
	w.Secret = "whsec_bad"
	w.PreviousSecrets[0].Secret = "bad"

	err := w.Validate(webhooks.ValidateOptions{})
	want := []error{
		webhooks.ErrNameRequired, webhooks.ErrHTTPSRequired, webhooks.ErrUnknownEventType,
		webhooks.ErrDescriptionTooLong, webhooks.ErrHeaderReserved, webhooks.ErrHeaderValue,
		webhooks.ErrInvalidSecret,
	}
	for _, sentinel := range want {
		if !errors.Is(err, sentinel) {
			t.Errorf("Validate does not report %v; got %v", sentinel, err)
		}
	}
	var fields []string
	for _, fe := range fieldErrors(t, err) {
		fields = append(fields, fe.Field)
	}
	wantFields := []string{"Name", "URL", "EventType", "Description", `Headers["Content-Length"]`, `Headers["X-Bad"]`, "Secret", "PreviousSecrets[0].Secret"}
	if !slices.Equal(fields, wantFields) {
		t.Errorf("fields = %q, want %q", fields, wantFields)
	}
}

func TestWebhookValidateAllowHTTP(t *testing.T) {
	w := validWebhook()
	w.URL = "http://localhost:8080/in"
	if err := w.Validate(webhooks.ValidateOptions{}); !errors.Is(err, webhooks.ErrHTTPSRequired) {
		t.Errorf("Validate(zero options) = %v, want ErrHTTPSRequired", err)
	}
	if err := w.Validate(webhooks.ValidateOptions{AllowHTTP: true}); err != nil {
		t.Errorf("Validate(AllowHTTP) = %v, want nil", err)
	}
	w.URL = "ws://localhost:8080/in"
	if err := w.Validate(webhooks.ValidateOptions{AllowHTTP: true}); !errors.Is(err, webhooks.ErrURLScheme) {
		t.Errorf("Validate(AllowHTTP) of a ws URL = %v, want ErrURLScheme", err)
	}
}

// TestWebhookValidateRedacts checks that messages name fields but never
// carry secrets, header values or URLs (whose query may hold a token).
func TestWebhookValidateRedacts(t *testing.T) {
	const (
		secretMark = "SECRETMARK"
		valueMark  = "VALUEMARK"
		urlMark    = "URLMARK"
	)
	w := validWebhook()
	w.Secret = "whsec_" + secretMark + "*"
	w.PreviousSecrets[0].Secret = secretMark + "2"
	w.Headers["X-Token"] = valueMark + "\r\n"
	w.Headers["Content-Type"] = valueMark
	w.URL = "https://user:" + urlMark + "@example.com/?token=" + urlMark

	err := w.Validate(webhooks.ValidateOptions{})
	if err == nil {
		t.Fatal("Validate = nil, want errors")
	}
	msg := err.Error()
	for _, mark := range []string{secretMark, valueMark, urlMark} {
		if strings.Contains(msg, mark) {
			t.Errorf("error message contains %s:\n%s", mark, msg)
		}
	}
	for _, field := range []string{"Secret", "PreviousSecrets[0].Secret", "X-Token", "Content-Type", "URL"} {
		if !strings.Contains(msg, field) {
			t.Errorf("error message does not name %s:\n%s", field, msg)
		}
	}
}

func TestWebhookClone(t *testing.T) {
	w := validWebhook()
	c := w.Clone()
	c.Headers["X-Tenant"] = "changed"
	c.PreviousSecrets[0].Secret = "changed"
	if w.Headers["X-Tenant"] != "acme" || w.PreviousSecrets[0].Secret != testPrevSecret {
		t.Error("mutating a clone changed the original")
	}
	var zero webhooks.Webhook
	if c := zero.Clone(); c.Headers != nil || c.PreviousSecrets != nil {
		t.Error("Clone of nil fields is not nil")
	}
}

func TestFieldError(t *testing.T) {
	err := error(&webhooks.FieldError{Field: "Name", Err: webhooks.ErrNameRequired})
	if !errors.Is(err, webhooks.ErrNameRequired) {
		t.Error("FieldError does not unwrap to its Err")
	}
	fe, ok := errors.AsType[*webhooks.FieldError](fmt.Errorf("create: %w", err))
	if !ok || fe.Field != "Name" {
		t.Errorf("errors.AsType = %v, %v", fe, ok)
	}
	if got := (&webhooks.FieldError{Field: "Name"}).Error(); got == "" {
		t.Error("FieldError with nil Err has an empty message")
	}
}

// fieldErrors returns the *FieldError values joined in err, in order.
func fieldErrors(t *testing.T, err error) []*webhooks.FieldError {
	t.Helper()
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %T is not a joined error: %v", err, err)
	}
	var out []*webhooks.FieldError
	for _, e := range joined.Unwrap() {
		fe, ok := e.(*webhooks.FieldError)
		if !ok {
			t.Fatalf("joined error %T is not a *FieldError: %v", e, e)
		}
		out = append(out, fe)
	}
	return out
}

func numberedHeaders(n int) map[string]string {
	h := make(map[string]string, n)
	for i := range n {
		h[fmt.Sprintf("X-Custom-%02d", i)] = "v"
	}
	return h
}
