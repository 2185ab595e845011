package id_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hookbus/hookbus/internal/id"
)

func TestNewIsUUIDv7(t *testing.T) {
	for _, prefix := range []string{"", "dlv_", "a-very-long-prefix-"} {
		before := time.Now().UnixMilli()
		s := id.New(prefix)
		after := time.Now().UnixMilli()
		if !strings.HasPrefix(s, prefix) {
			t.Fatalf("New(%q) = %q lacks the prefix", prefix, s)
		}
		u, err := uuid.Parse(strings.TrimPrefix(s, prefix))
		if err != nil {
			t.Fatalf("New(%q) = %q: %v", prefix, s, err)
		}
		if u.Version() != 7 || u.Variant() != uuid.RFC4122 {
			t.Errorf("New(%q) = %q: version %d variant %v", prefix, s, u.Version(), u.Variant())
		}
		sec, nsec := u.Time().UnixTime()
		ms := sec*1000 + nsec/1e6
		if ms < before || ms > after {
			t.Errorf("New(%q) = %q carries %d ms, want %d..%d", prefix, s, ms, before, after)
		}
	}
}

func TestNewIsUnique(t *testing.T) {
	seen := make(map[string]bool, 100_000)
	for range 100_000 {
		s := id.New("x_")
		if seen[s] {
			t.Fatalf("duplicate id %q", s)
		}
		seen[s] = true
	}
}

func ExampleNew() {
	s := id.New("dlv_")
	fmt.Println(len(s), s[:4], s[4+14:4+15])
	// Output: 40 dlv_ 7
}
