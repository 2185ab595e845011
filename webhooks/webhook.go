package webhooks

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits on a webhook's configuration. They are exported so that user
// interfaces can show them next to the fields they bound.
const (
	// MaxNameLength is the longest Name, in characters (Unicode code points).
	MaxNameLength = 200
	// MaxDescriptionLength is the longest Description, in characters
	// (Unicode code points).
	MaxDescriptionLength = 2000
	// MaxURLLength is the longest URL, in bytes. Longer URLs are refused by
	// many servers and proxies.
	MaxURLLength = 2048
	// MaxHeaders is the largest number of custom headers.
	MaxHeaders = 20
	// MaxHeaderBytes bounds the custom headers: the total length in bytes of
	// every name and every value. It keeps the whole request head well under
	// the limits common HTTP servers enforce.
	MaxHeaderBytes = 8192
	// MaxPreviousSecrets is the largest number of PreviousSecrets: with the
	// current secret, every signature fits in the MaxSignatures entries a
	// receiver reads.
	MaxPreviousSecrets = MaxSignatures - 1
)

// Validation errors of a Webhook. Webhook.Validate wraps each one in a
// *FieldError, so callers match them with errors.Is.
var (
	// ErrNameRequired reports an empty or whitespace-only Name.
	ErrNameRequired = errors.New("webhooks: name is required")
	// ErrNameTooLong reports a Name longer than MaxNameLength characters.
	ErrNameTooLong = errors.New("webhooks: name is too long")
	// ErrNameInvalid reports a Name that is not valid UTF-8 or contains a
	// control character (a name is a single-line label).
	ErrNameInvalid = errors.New("webhooks: name is not valid text")
	// ErrDescriptionTooLong reports a Description longer than
	// MaxDescriptionLength characters.
	ErrDescriptionTooLong = errors.New("webhooks: description is too long")
	// ErrDescriptionInvalid reports a Description that is not valid UTF-8 or
	// contains a control character other than tab, line feed and carriage
	// return.
	ErrDescriptionInvalid = errors.New("webhooks: description is not valid text")
	// ErrURLRequired reports an empty URL.
	ErrURLRequired = errors.New("webhooks: url is required")
	// ErrURLInvalid reports a URL that does not parse, is not absolute, is
	// longer than MaxURLLength, contains whitespace, has a fragment or has a
	// port outside 1 to 65535.
	ErrURLInvalid = errors.New("webhooks: url is invalid")
	// ErrURLScheme reports a URL whose scheme is neither https nor http.
	ErrURLScheme = errors.New("webhooks: url scheme must be https or http")
	// ErrURLHost reports a URL without a host.
	ErrURLHost = errors.New("webhooks: url has no host")
	// ErrURLUserInfo reports a URL carrying credentials ("user:pass@").
	// Credentials belong in a custom header, where they are redacted from
	// logs.
	ErrURLUserInfo = errors.New("webhooks: url must not contain credentials")
	// ErrHTTPSRequired reports an http URL when ValidateOptions.AllowHTTP is
	// false.
	ErrHTTPSRequired = errors.New("webhooks: url must use https")
	// ErrHeaderName reports a custom header name that is not an HTTP token
	// (RFC 9110, section 5.6.2).
	ErrHeaderName = errors.New("webhooks: invalid header name")
	// ErrHeaderValue reports a custom header value containing a control
	// character other than horizontal tab, or leading or trailing
	// whitespace (which HTTP implementations strip silently).
	ErrHeaderValue = errors.New("webhooks: invalid header value")
	// ErrTooManySecrets reports more than MaxPreviousSecrets previous
	// secrets: a receiver would not read the signatures past MaxSignatures,
	// and one holding a secret they were made with would refuse requests.
	ErrTooManySecrets = errors.New("webhooks: too many previous secrets")
	// ErrHeaderReserved reports a custom header that hookbus sets itself;
	// see IsReservedHeader.
	ErrHeaderReserved = errors.New("webhooks: header is reserved")
	// ErrTooManyHeaders reports more than MaxHeaders custom headers.
	ErrTooManyHeaders = errors.New("webhooks: too many headers")
	// ErrHeadersTooLarge reports custom headers whose names and values
	// together exceed MaxHeaderBytes.
	ErrHeadersTooLarge = errors.New("webhooks: headers are too large")
	// ErrDuplicateHeader reports two custom header names that differ only
	// in case: HTTP header names are case-insensitive, so one would
	// silently replace the other.
	ErrDuplicateHeader = errors.New("webhooks: duplicate header")

	// ErrIDInvalid reports an ID given to Create that is not valid UTF-8,
	// holds a control character or has spaces around it: not every store
	// could keep it.
	ErrIDInvalid = errors.New("webhooks: id is not valid text")
)

// Webhook is the configuration of one webhook: where to POST which event
// type, with which custom headers, signed with which secret.
//
// A Webhook is a plain value; the zero Webhook is not valid (Name, URL and
// EventType are required). Use Clone to copy one without sharing its Headers
// map or PreviousSecrets slice.
type Webhook struct {
	// ID identifies the webhook. It is assigned when the webhook is created
	// and never changes.
	ID string
	// Name is a human label, required, at most MaxNameLength characters.
	Name string
	// URL is the absolute https (or, if allowed, http) URL requests are
	// sent to.
	URL string
	// EventType is the one event type this webhook receives.
	EventType EventType
	// Headers are sent with every request, for example a token the receiver
	// checks. Names are case-insensitive and may not be reserved headers
	// (see IsReservedHeader). Values are never logged nor included in
	// errors.
	Headers map[string]string
	// Description is optional free text, at most MaxDescriptionLength
	// characters.
	Description string
	// Secret signs requests: SecretPrefix followed by a base64 key (see
	// ParseSecret). When a webhook is created with an empty Secret, one is
	// generated.
	Secret string
	// PreviousSecrets are secrets replaced by a rotation. Requests are also
	// signed with each of them until it expires, so receivers can switch
	// secrets without losing requests.
	PreviousSecrets []PreviousSecret
	// Disabled stops deliveries to this webhook; events for it are recorded
	// as skipped.
	Disabled bool
	// DisabledReason says why the webhook was disabled, for people.
	DisabledReason string
	// CreatedAt is when the webhook was created. The Service sets it, in
	// whole milliseconds.
	CreatedAt time.Time
	// UpdatedAt is when the webhook was last changed. The Service sets it,
	// in whole milliseconds, each change at least a millisecond after the
	// one before: it names the version, which Update checks a copy against.
	UpdatedAt time.Time
}

// PreviousSecret is a signing secret replaced by a rotation but still in use
// until ExpiresAt.
type PreviousSecret struct {
	// Secret is the former signing secret, in the same format as
	// Webhook.Secret.
	Secret string
	// ExpiresAt is when the secret stops being used. The zero time means it
	// has already expired.
	ExpiresAt time.Time
}

// ValidateOptions adjusts Webhook.Validate. The zero value is the strict
// default: https URLs only.
type ValidateOptions struct {
	// AllowHTTP accepts http URLs as well as https ones, for tests and
	// trusted internal networks.
	AllowHTTP bool
}

// FieldError reports a problem with one field of a Webhook or of an event
// payload. Err is a sentinel of this package (or of package signals),
// possibly wrapped with detail; errors.Is sees through a FieldError to it.
//
// Its message names the field but never contains a secret or a header value.
type FieldError struct {
	// Field names the offending field: the Go field path for a Webhook
	// (Name, Headers["X-Token"], PreviousSecrets[1].Secret), the JSON name
	// for an event payload (meetingId).
	Field string
	// Err says what is wrong.
	Err error
}

// Error returns the field name followed by the problem.
func (e *FieldError) Error() string {
	if e.Err == nil {
		return e.Field + ": invalid"
	}
	// The package prefix of the sentinel is dropped: the caller's context
	// (or ErrInvalidPayload) already says where the error comes from.
	return e.Field + ": " + strings.TrimPrefix(e.Err.Error(), "webhooks: ")
}

// Unwrap returns Err.
func (e *FieldError) Unwrap() error { return e.Err }

// Validate checks the configuration without touching the network and
// returns every problem at once: nil, or an errors.Join of *FieldError
// values, one per problem. Each FieldError wraps one of the Err* sentinels
// of this file, ErrUnknownEventType or ErrInvalidSecret.
//
// An empty Secret is valid: it means "generate one". ID, Disabled,
// DisabledReason and the timestamps are not checked.
func (w Webhook) Validate(opts ValidateOptions) error {
	var errs []error
	add := func(field string, err error) {
		errs = append(errs, &FieldError{Field: field, Err: err})
	}

	if err := validateName(w.Name); err != nil {
		add("Name", err)
	}
	if err := validateURL(w.URL, opts); err != nil {
		add("URL", err)
	}
	if err := validateEventType(w.EventType); err != nil {
		add("EventType", err)
	}
	if err := validateDescription(w.Description); err != nil {
		add("Description", err)
	}
	errs = append(errs, validateHeaders(w.Headers)...)
	if w.Secret != "" {
		if _, err := ParseSecret(w.Secret); err != nil {
			add("Secret", err)
		}
	}
	if n := len(w.PreviousSecrets); n > MaxPreviousSecrets {
		add("PreviousSecrets", fmt.Errorf("%w: %d, at most %d", ErrTooManySecrets, n, MaxPreviousSecrets))
	}
	for i, p := range w.PreviousSecrets {
		if _, err := ParseSecret(p.Secret); err != nil {
			add(fmt.Sprintf("PreviousSecrets[%d].Secret", i), err)
		}
	}
	return errors.Join(errs...)
}

// Clone returns a deep copy of w: the copy shares neither the Headers map
// nor the PreviousSecrets slice with w. Nil stays nil.
func (w Webhook) Clone() Webhook {
	w.Headers = maps.Clone(w.Headers)
	w.PreviousSecrets = slices.Clone(w.PreviousSecrets)
	return w
}

// validateID checks an ID given to Create.
func validateID(id string) error {
	if !utf8.ValidString(id) || strings.ContainsFunc(id, unicode.IsControl) || strings.TrimSpace(id) != id {
		return &FieldError{Field: "ID", Err: ErrIDInvalid}
	}
	return nil
}

func validateName(name string) error {
	if strings.TrimSpace(name) == "" {
		return ErrNameRequired
	}
	if !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl) {
		return ErrNameInvalid
	}
	if n := utf8.RuneCountInString(name); n > MaxNameLength {
		return fmt.Errorf("%w: %d characters, at most %d allowed", ErrNameTooLong, n, MaxNameLength)
	}
	return nil
}

func validateDescription(desc string) error {
	invalid := func(r rune) bool {
		return unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r'
	}
	if !utf8.ValidString(desc) || strings.ContainsFunc(desc, invalid) {
		return ErrDescriptionInvalid
	}
	if n := utf8.RuneCountInString(desc); n > MaxDescriptionLength {
		return fmt.Errorf("%w: %d characters, at most %d allowed", ErrDescriptionTooLong, n, MaxDescriptionLength)
	}
	return nil
}

func validateEventType(t EventType) error {
	if t == "" {
		return fmt.Errorf("%w: event type is required", ErrUnknownEventType)
	}
	if !t.Valid() {
		return fmt.Errorf("%w %q", ErrUnknownEventType, string(t))
	}
	return nil
}

// validateURL never puts the URL itself into an error: query strings often
// carry tokens.
func validateURL(raw string, opts ValidateOptions) error {
	if raw == "" {
		return ErrURLRequired
	}
	if len(raw) > MaxURLLength {
		return fmt.Errorf("%w: %d bytes, at most %d allowed", ErrURLInvalid, len(raw), MaxURLLength)
	}
	if strings.ContainsFunc(raw, unicode.IsSpace) {
		return fmt.Errorf("%w: contains whitespace", ErrURLInvalid)
	}
	if !utf8.ValidString(raw) {
		return fmt.Errorf("%w: not valid UTF-8", ErrURLInvalid)
	}
	u, err := url.Parse(raw)
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err // without the URL
		}
		return fmt.Errorf("%w: %w", ErrURLInvalid, err)
	}
	if !u.IsAbs() {
		return fmt.Errorf("%w: not absolute", ErrURLInvalid)
	}
	// url.Parse cuts at the first '#', so any '#' starts a fragment, even
	// an empty one. A fragment is never sent to the server.
	if strings.Contains(raw, "#") {
		return fmt.Errorf("%w: has a fragment", ErrURLInvalid)
	}
	switch u.Scheme { // url.Parse lowercases the scheme
	case "https":
	case "http":
		if !opts.AllowHTTP {
			return ErrHTTPSRequired
		}
	default:
		return fmt.Errorf("%w: got %q", ErrURLScheme, u.Scheme)
	}
	if u.User != nil {
		return ErrURLUserInfo
	}
	if u.Hostname() == "" {
		return ErrURLHost
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%w: port out of range", ErrURLInvalid)
		}
	}
	return nil
}

// validateHeaders returns one *FieldError per problem, in a deterministic
// order (names sorted).
func validateHeaders(headers map[string]string) []error {
	var errs []error
	add := func(field string, err error) {
		errs = append(errs, &FieldError{Field: field, Err: err})
	}

	if n := len(headers); n > MaxHeaders {
		add("Headers", fmt.Errorf("%w: %d headers, at most %d allowed", ErrTooManyHeaders, n, MaxHeaders))
	}
	size := 0
	for name, value := range headers {
		size += len(name) + len(value)
	}
	if size > MaxHeaderBytes {
		add("Headers", fmt.Errorf("%w: %d bytes, at most %d allowed", ErrHeadersTooLarge, size, MaxHeaderBytes))
	}

	names := slices.Sorted(maps.Keys(headers))
	firstByLower := make(map[string]string, len(names))
	for _, name := range names {
		field := fmt.Sprintf("Headers[%q]", name)
		switch {
		case !isToken(name):
			add(field, ErrHeaderName)
		case IsReservedHeader(name):
			add(field, ErrHeaderReserved)
		}
		if err := validateHeaderValue(headers[name]); err != nil {
			add(field, err)
		}
		lower := strings.ToLower(name)
		if first, ok := firstByLower[lower]; ok {
			add(field, fmt.Errorf("%w: same name as %q", ErrDuplicateHeader, first))
		} else {
			firstByLower[lower] = name
		}
	}
	return errs
}

// isToken reports whether s is an RFC 9110 token:
//
//	token = 1*tchar
//	tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
//	        "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// validateHeaderValue follows RFC 9110 field-value: visible ASCII, obs-text
// (bytes 0x80 to 0xFF), space and horizontal tab, without leading or
// trailing whitespace; the obs-text must be UTF-8, as every store can keep
// it. The error never contains the value.
func validateHeaderValue(v string) error {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return fmt.Errorf("%w: control character at byte %d", ErrHeaderValue, i)
		}
	}
	if v != strings.Trim(v, " \t") {
		return fmt.Errorf("%w: leading or trailing whitespace", ErrHeaderValue)
	}
	if !utf8.ValidString(v) {
		// Bytes over 0x7f that are not UTF-8 (obsolete ISO-8859-1 text)
		// would not survive a store that keeps text, as PostgreSQL's does.
		return fmt.Errorf("%w: not UTF-8", ErrHeaderValue)
	}
	return nil
}
