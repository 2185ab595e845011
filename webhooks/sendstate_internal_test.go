package webhooks

import (
	"context"
	"testing"

	"github.com/hookbus/hookbus/internal/h1"
)

// TestSendStateGivesOnlyItsOwnFields checks that a send whose fields are in
// a header map never passes on the fields of a send whose state is in its
// context (a Send made from within a hook of another).
func TestSendStateGivesOnlyItsOwnFields(t *testing.T) {
	outer := &sendState{Context: context.Background(), fields: []byte("Webhook-Id: outer\r\n")}
	inner := &sendState{Context: outer}
	if f := inner.Value(h1.FieldsKey{}); f != nil {
		t.Errorf("a send without fields gives %v, the enclosing send's", f)
	}
	if f, _ := outer.Value(h1.FieldsKey{}).(h1.Fields); f == nil || string(f.Lines()) != "Webhook-Id: outer\r\n" {
		t.Errorf("a send with fields gives %v", f)
	}
}
