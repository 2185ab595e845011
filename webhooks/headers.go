package webhooks

import "strings"

// Header names of the wire contract. Receivers dedupe on HeaderID; the
// signature is computed over id, timestamp and body as the Standard Webhooks
// specification describes.
const (
	// HeaderID carries the event id, stable across retries and webhooks.
	HeaderID = "webhook-id"
	// HeaderTimestamp carries the Unix seconds of the attempt.
	HeaderTimestamp = "webhook-timestamp"
	// HeaderSignature carries one or more space-separated "v1,<base64>" signatures.
	HeaderSignature = "webhook-signature"
	// HeaderVendorSignature repeats HeaderSignature under the vendor's name.
	HeaderVendorSignature = "X-Webhook-Signature"
	// HeaderEvent carries the event type, so one URL can serve several types.
	HeaderEvent = "X-Webhook-Event"
)

// reservedHeaders are set by hookbus itself on every request; a webhook's
// custom headers may not name them.
var reservedHeaders = map[string]struct{}{
	"content-type":      {},
	"content-length":    {},
	"host":              {},
	"user-agent":        {},
	"transfer-encoding": {},
	"connection":        {},
	// The other hop-by-hop headers: net/http does not send Trailer as a
	// header, and HTTP/2 forbids the rest.
	"keep-alive":       {},
	"proxy-connection": {},
	"te":               {},
	"trailer":          {},
	"upgrade":          {},
	"traceparent":      {},
	"tracestate":       {},
}

// reservedHeaderPrefixes cover whole families of headers hookbus owns.
var reservedHeaderPrefixes = []string{"webhook-", "x-webhook-"}

// IsReservedHeader reports whether name is a header hookbus sets itself and a
// webhook's custom headers therefore may not set or override. The comparison
// ignores case, and takes '_' for '-': receivers behind CGI-style gateways
// (WSGI, Rack, PHP) see Webhook_Signature and webhook-signature under one
// name, HTTP_WEBHOOK_SIGNATURE, where one could replace the other.
func IsReservedHeader(name string) bool {
	lower := strings.ReplaceAll(strings.ToLower(name), "_", "-")
	if _, ok := reservedHeaders[lower]; ok {
		return true
	}
	for _, p := range reservedHeaderPrefixes {
		if strings.HasPrefix(lower, p) {
			return true
		}
	}
	return false
}
