//go:build !race

// The race detector's instrumentation allocates, so allocation counts are
// pinned only in ordinary builds.

package id_test

import (
	"testing"

	"github.com/hookbus/hookbus/internal/id"
)

func TestNewAllocatesOnlyTheString(t *testing.T) {
	if n := testing.AllocsPerRun(1000, func() { _ = id.New("dlv_") }); n > 1 {
		t.Errorf("New allocates %v times, want 1", n)
	}
}
