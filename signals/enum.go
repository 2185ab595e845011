package signals

import "slices"

// enum is the closed set of valid values of one string type, in wire order.
// An enum is built once during package initialization and only read after,
// so it is safe for concurrent use.
type enum[T ~string] struct {
	kind   string
	values []T
	// index maps a wire value to its position in values. It is keyed by
	// string, not T, so that a lookup with string(b) for a []byte b is the
	// form the compiler performs without allocating.
	index map[string]int
}

// newEnum returns the enum of values. It panics on an empty or repeated
// value: that is a mistake in this package's tables, caught by any test.
func newEnum[T ~string](kind string, values ...T) *enum[T] {
	e := &enum[T]{kind: kind, values: values, index: make(map[string]int, len(values))}
	for i, v := range values {
		if _, dup := e.index[string(v)]; dup || v == "" {
			panic("signals: empty or repeated " + kind + " " + string(v))
		}
		e.index[string(v)] = i
	}
	return e
}

// pos returns the position of v in wire order, or false if v is unknown.
func (e *enum[T]) pos(v T) (int, bool) {
	i, ok := e.index[string(v)]
	return i, ok
}

func (e *enum[T]) valid(v T) bool {
	_, ok := e.index[string(v)]
	return ok
}

func (e *enum[T]) parse(s string) (T, error) {
	i, ok := e.index[s]
	if !ok {
		return "", e.unknown(s)
	}
	return e.values[i], nil
}

// parseText is parse for a []byte. On success it returns the value from the
// table, so the result does not retain or copy text.
func (e *enum[T]) parseText(text []byte) (T, error) {
	i, ok := e.index[string(text)]
	if !ok {
		return "", e.unknown(string(text))
	}
	return e.values[i], nil
}

func (e *enum[T]) marshalText(v T) ([]byte, error) {
	if !e.valid(v) {
		return nil, e.unknown(string(v))
	}
	return []byte(v), nil
}

// unmarshalText sets *dst from text, leaving it unchanged on error.
func (e *enum[T]) unmarshalText(dst *T, text []byte) error {
	v, err := e.parseText(text)
	if err != nil {
		return err
	}
	*dst = v
	return nil
}

// list returns a copy of the values so callers may modify it.
func (e *enum[T]) list() []T {
	return slices.Clone(e.values)
}

func (e *enum[T]) unknown(s string) error {
	return &UnknownValueError{Kind: e.kind, Value: s}
}
