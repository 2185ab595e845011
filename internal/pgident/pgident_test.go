package pgident_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hookbus/hookbus/internal/pgident"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		s  string
		ok bool
	}{
		{"hookbus_", true},
		{"a1", true},
		{"_x", true},
		{"", true},
		{strings.Repeat("a", pgident.MaxLength), true},
		{strings.Repeat("a", pgident.MaxLength+1), false},
		{"1a", false},
		{"Upper", false},
		{"semi;colon", false},
		{`quo"te`, false},
		{"ünï", false},
		{"a-b", false},
	} {
		if err := pgident.Check(tc.s, pgident.MaxLength); (err == nil) != tc.ok {
			t.Errorf("Check(%q) = %v, want ok=%v", tc.s, err, tc.ok)
		}
	}
}

func ExampleQuote() {
	fmt.Println(pgident.Quote("user"), pgident.Quote(`a"b`))
	fmt.Println(pgident.Check("Drop Table", pgident.MaxLength))
	// Output:
	// "user" "a""b"
	// byte 0 is not a lowercase ASCII letter, digit or underscore
}
