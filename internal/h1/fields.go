package h1

import (
	"bytes"
	"context"
	"net/http"
)

// FieldsKey is the context key under which a request's context may hold
// Fields: header fields of the request that are not in its Header.
type FieldsKey struct{}

// Fields are header fields of a request kept out of its Header, so that a
// caller that makes the same few fields for every request need not build a
// map for each (and http.Client copy it). Transport writes them after the
// Header's fields when the request's context holds them under FieldsKey.
//
// Their names and values must be valid (httpguts.ValidHeaderFieldName and
// ValidHeaderFieldValue), values without spaces or tabs around them; no
// name may be one of the Header's, nor Host, Content-Length,
// Transfer-Encoding, Trailer or Connection. Transport does not check them.
// A request with Fields and no User-Agent in its Header gets none but the
// one its Fields may carry: not Transport's default.
type Fields interface {
	// AppendFields appends the fields to dst, each as "Name: value\r\n",
	// and returns the extended slice.
	AppendFields(dst []byte) []byte
}

// fieldsOf returns the Fields of r's context, or nil.
func fieldsOf(r *http.Request) Fields {
	f, _ := r.Context().Value(FieldsKey{}).(Fields)
	return f
}

// withFields returns a shallow copy of r whose Header also holds the
// fields f appends, for writers that know only the Header.
func withFields(ctx context.Context, r *http.Request, f Fields) *http.Request {
	r2 := r.WithContext(ctx)
	h := r.Header.Clone()
	if h == nil {
		h = make(http.Header)
	}
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = []string{""} // no default: the fields may add one
	}
	lines := f.AppendFields(nil)
	for len(lines) > 0 {
		line, rest, _ := bytes.Cut(lines, []byte("\r\n"))
		name, value, _ := bytes.Cut(line, []byte(": "))
		if k := string(name); k == "User-Agent" {
			h[k] = []string{string(value)}
		} else {
			h.Add(k, string(value))
		}
		lines = rest
	}
	r2.Header = h
	return r2
}
