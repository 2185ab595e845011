package webhooks

import (
	"fmt"
	"maps"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/hookbus/hookbus/internal/h1"
)

// Target is a webhook prepared for sending: its parsed URL, a signer holding
// every secret still valid and the headers that do not change between
// requests. Build one with NewTarget when a webhook is created or changed and
// reuse it: a Target is immutable and safe for concurrent use.
type Target struct {
	webhook Webhook
	url     *url.URL
	signer  *Signer
	header  http.Header // static headers; values shared read-only by every request
	// staticFields are the static headers but User-Agent as appendFields
	// writes them, or nil if they cannot be written so: a custom header is
	// not a valid field, is named as one of the signed fields (which the
	// header map of newHeader replaces) or as Host, Content-Length,
	// Transfer-Encoding, Trailer or Connection, or the URL has credentials.
	// The signed fields go in at staticCuts, so that all are in the order
	// of their names.
	staticFields []byte
	staticCuts   [len(signedFields)]int
	validUntil   time.Time                   // when a previous secret expires and the signer must be rebuilt
	spanName     string                      // "deliver <webhook name>"
	dest         atomic.Pointer[destination] // the attributes of url's spans and metrics, once made
}

// NewTarget prepares w for sending at time now: the current secret and every
// previous secret that has not expired by now sign each request. It checks
// what sending needs (a parseable URL and valid secrets) but not the whole
// configuration: Webhook.Validate does that when a webhook is saved.
func NewTarget(w Webhook, now time.Time) (*Target, error) {
	u, err := url.Parse(w.URL)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return nil, fmt.Errorf("%w: webhook %s", ErrURLInvalid, w.ID)
	}
	secrets := []string{w.Secret}
	var validUntil time.Time
	for _, p := range w.PreviousSecrets {
		if !now.Before(p.ExpiresAt) {
			continue
		}
		secrets = append(secrets, p.Secret)
		if validUntil.IsZero() || p.ExpiresAt.Before(validUntil) {
			validUntil = p.ExpiresAt
		}
	}
	signer, err := NewSigner(secrets...)
	if err != nil {
		return nil, fmt.Errorf("webhook %s: %w", w.ID, err)
	}
	header := make(http.Header, len(w.Headers)+2)
	for k, v := range w.Headers {
		header[http.CanonicalHeaderKey(k)] = []string{v}
	}
	header["Content-Type"] = []string{"application/json"}
	header["User-Agent"] = []string{userAgent}
	static, cuts := renderStatic(header)
	if u.User != nil {
		// http.Client adds Authorization from the URL unless the header
		// has one: it must see the custom headers.
		static = nil
	}
	return &Target{
		webhook:      w.Clone(),
		url:          u,
		signer:       signer,
		header:       header,
		staticFields: static,
		staticCuts:   cuts,
		validUntil:   validUntil,
		spanName:     "deliver " + w.Name,
	}, nil
}

// renderStatic returns the static header but User-Agent as header field
// lines, sorted by name, values trimmed as net/http trims them, and where in
// them each signed field goes (signedFields order), or nil if a field cannot
// be written so (see Target.staticFields).
func renderStatic(header http.Header) ([]byte, [len(signedFields)]int) {
	var (
		b    []byte
		cuts [len(signedFields)]int
	)
	for _, k := range slices.Sorted(maps.Keys(header)) {
		switch k {
		case "User-Agent":
			continue
		case canonicalID, canonicalTimestamp, canonicalSignature, canonicalVendorSignature, canonicalEvent:
			return nil, cuts
		}
		if h1.ReservedField(k) {
			return nil, cuts
		}
		if !httpguts.ValidHeaderFieldName(k) {
			return nil, cuts
		}
		for _, v := range header[k] {
			if !httpguts.ValidHeaderFieldValue(v) {
				return nil, cuts
			}
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, textproto.TrimString(v)...)
			b = append(b, "\r\n"...)
		}
		// A signed field goes after the static fields named before it.
		for i, f := range signedFields {
			if f > k {
				cuts[i] = len(b)
			}
		}
	}
	if b == nil {
		b = []byte{} // renderable, if empty: nil means not renderable
	}
	return b, cuts
}

// Webhook returns a copy of the webhook the target was built from.
func (t *Target) Webhook() Webhook { return t.webhook.Clone() }

// ValidUntil reports when a previous secret of the target expires, after which
// the target must be rebuilt; the zero time means never.
func (t *Target) ValidUntil() time.Time { return t.validUntil }

// Signer returns the signer of the target's valid secrets.
func (t *Target) Signer() *Signer { return t.signer }

const userAgent = "hookbus/" + Version

// newHeader returns the headers of one request: the static ones, the event
// type of the payload (the delivery's, which a later change to the webhook
// does not alter), and id, timestamp and signature. The map is new; static
// values are shared.
func (t *Target) newHeader(et EventType, id string, ts time.Time, body []byte) http.Header {
	h := make(http.Header, len(t.header)+5)
	for k, v := range t.header {
		h[k] = v
	}
	vals := make([]string, 4)
	vals[3] = string(et)
	h[canonicalEvent] = vals[3:4:4]
	t.signInto(h, vals[:3:3], id, ts, body)
	return h
}

// signedFields are the names of the fields newHeader adds to the static
// ones, sorted.
var signedFields = [...]string{canonicalID, canonicalSignature, canonicalTimestamp, canonicalEvent, canonicalVendorSignature}

// appendFields appends to dst the header fields of one request but
// User-Agent, as h1 writes them (h1.Fields): the static ones and those
// newHeader adds to them, with the same values, in the order of their names,
// as net/http writes a header. t.staticFields must not be nil, and id and et
// must be valid field values without spaces or tabs around them.
func (t *Target) appendFields(dst []byte, et EventType, id string, ts time.Time, body []byte) []byte {
	static, cut := t.staticFields, &t.staticCuts
	dst = append(dst, static[:cut[0]]...)
	dst = append(dst, canonicalID+": "...)
	dst = append(dst, id...)
	dst = append(dst, "\r\n"...)
	dst = append(dst, static[cut[0]:cut[1]]...)
	dst = append(dst, canonicalSignature+": "...)
	start := len(dst)
	dst = t.signer.AppendSign(dst, id, ts, body)
	end := len(dst)
	dst = append(dst, "\r\n"...)
	dst = append(dst, static[cut[1]:cut[2]]...)
	dst = append(dst, canonicalTimestamp+": "...)
	dst = strconv.AppendInt(dst, ts.Unix(), 10)
	dst = append(dst, "\r\n"...)
	dst = append(dst, static[cut[2]:cut[3]]...)
	dst = append(dst, canonicalEvent+": "...)
	dst = append(dst, et...)
	dst = append(dst, "\r\n"...)
	dst = append(dst, static[cut[3]:cut[4]]...)
	dst = append(dst, canonicalVendorSignature+": "...)
	dst = append(dst, dst[start:end]...)
	dst = append(dst, "\r\n"...)
	return append(dst, static[cut[4]:]...)
}

// sign sets a fresh timestamp and signature on h, as before a retry.
func (t *Target) sign(h http.Header, id string, ts time.Time, body []byte) {
	t.signInto(h, make([]string, 3), id, ts, body)
}

// signInto sets id, timestamp and signature on h, using vals (three
// elements) as their storage; X-Webhook-Signature shares the
// webhook-signature value.
func (t *Target) signInto(h http.Header, vals []string, id string, ts time.Time, body []byte) {
	// Timestamp and signature share one string: one allocation for both.
	var buf [128]byte
	b := strconv.AppendInt(buf[:0], ts.Unix(), 10)
	n := len(b)
	both := string(t.signer.AppendSign(b, id, ts, body))
	vals[0] = id
	vals[1] = both[:n]
	vals[2] = both[n:]
	h[canonicalID] = vals[0:1:1]
	h[canonicalTimestamp] = vals[1:2:2]
	h[canonicalSignature] = vals[2:3:3]
	h[canonicalVendorSignature] = vals[2:3:3]
}

// Canonical forms of the header names (http.CanonicalHeaderKey), so that
// http.Header.Get finds them; the wire is case-insensitive.
const (
	canonicalID              = "Webhook-Id"
	canonicalTimestamp       = "Webhook-Timestamp"
	canonicalSignature       = "Webhook-Signature"
	canonicalVendorSignature = "X-Webhook-Signature"
	canonicalEvent           = "X-Webhook-Event"
)
