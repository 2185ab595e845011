package outbox

import "testing"

// Watermill's router gives its handlers CloseTimeout when it closes, and
// Close waits for the forward in progress, which may take forwardDeadline:
// a shorter timeout would report a forward that finished as a close timeout.
func TestRouterWaitsAsLongAsAForward(t *testing.T) {
	o := &Outbox{cfg: Config{}.withDefaults()}
	if got := o.forwarderConfig().CloseTimeout; got <= forwardDeadline {
		t.Errorf("router CloseTimeout %v, want more than a forward's deadline %v", got, forwardDeadline)
	}
}
