package h1

import (
	"bytes"
	"net/http"
)

// FieldsKey is the context key under which a request's context may hold
// Fields: header fields of the request that are not in its Header.
type FieldsKey struct{}

// Fields are header fields of a request kept out of its Header, so that a
// caller that makes the same few fields for every request need not build a
// map for each (and http.Client copy it). Transport writes them with the
// Header's fields, all in the order of their names, as net/http would write
// a Header holding them all, when the request's context holds them under
// FieldsKey.
type Fields interface {
	// UserAgent returns the User-Agent field's value, written where
	// net/http writes it; "" for none. The Header's User-Agent, if it has
	// one, takes precedence.
	UserAgent() string
	// Lines returns the other fields, each as "Name: value\r\n", sorted by
	// name (Go's string order), names canonical (http.CanonicalHeaderKey)
	// and valid (httpguts.ValidHeaderFieldName), values valid
	// (httpguts.ValidHeaderFieldValue) without spaces or tabs around them.
	// No name may be one ReservedField reports. A field named as one of
	// the Header's is not written: the Header's values replace it, as
	// Header.Set would have (trace propagation sets fields on a copy of
	// the Header, say).
	// Transport does not check them; it neither modifies nor keeps the
	// slice.
	Lines() []byte
}

// ReservedField reports whether a canonical field name is one Transport
// writes itself or from the request's own fields (Host, User-Agent,
// Content-Length, Transfer-Encoding, Trailer, Connection), and so cannot be
// among a request's Fields.
func ReservedField(name string) bool {
	switch name {
	case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer", "Connection":
		return true
	}
	return false
}

// fieldsOf returns the Fields of r's context, or nil.
func fieldsOf(r *http.Request) Fields {
	f, _ := r.Context().Value(FieldsKey{}).(Fields)
	return f
}

// withFields returns a shallow copy of r whose Header also holds the
// fields of f, for writers that know only the Header.
func withFields(r *http.Request, f Fields) *http.Request {
	r2 := r.WithContext(r.Context())
	h := r.Header.Clone()
	if h == nil {
		h = make(http.Header)
	}
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = []string{f.UserAgent()} // "" writes none
	}
	for lines := f.Lines(); len(lines) > 0; {
		line, rest, _ := bytes.Cut(lines, []byte("\r\n"))
		name, value, _ := bytes.Cut(line, []byte(": "))
		if _, replaced := r.Header[string(name)]; !replaced {
			h.Add(string(name), string(value))
		}
		lines = rest
	}
	r2.Header = h
	return r2
}
