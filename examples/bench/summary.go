package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// summary is the last line of the output: key=value pairs in the order they
// were added, separated by single spaces, values without spaces.
type summary struct {
	pairs []string
}

// add appends key=value; floats get three decimals, durations their string.
func (s *summary) add(key string, v any) {
	var val string
	switch v := v.(type) {
	case float64:
		val = strconv.FormatFloat(v, 'f', 3, 64)
	case time.Duration:
		val = v.String()
	default:
		val = fmt.Sprint(v)
	}
	s.pairs = append(s.pairs, key+"="+strings.ReplaceAll(val, " ", "_"))
}

func (s summary) String() string { return strings.Join(s.pairs, " ") }
