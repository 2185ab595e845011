package bustest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hookbus/hookbus/bus/bustest"
)

func TestRecorderWait(t *testing.T) {
	rec := bustest.NewRecorder[int]()
	go func() {
		for i := range 3 {
			_ = rec.Handle(context.Background(), i)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := rec.Wait(ctx, 3)
	if err != nil || len(got) != 3 || got[0] != 0 || got[2] != 2 {
		t.Fatalf("Wait = %v, %v; want [0 1 2]", got, err)
	}
	if rec.Len() != 3 || len(rec.All()) != 3 {
		t.Fatalf("Len %d, All %v; want 3 values", rec.Len(), rec.All())
	}

	short, cancelShort := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancelShort()
	got, err = rec.Wait(short, 4)
	if !errors.Is(err, context.DeadlineExceeded) || len(got) != 3 {
		t.Fatalf("Wait beyond what was recorded = %v, %v; want the 3 values and context.DeadlineExceeded", got, err)
	}
}
