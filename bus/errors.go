package bus

import "errors"

// Sentinel errors returned (wrapped) by the bus. Test for them with errors.Is.
var (
	// ErrClosed is returned by Publish, Handle, Start and Run once Shutdown has begun.
	ErrClosed = errors.New("bus: closed")

	// ErrNotStarted is returned by Publish on the in-memory transport before Start:
	// no subscription exists yet, so the event would be dropped.
	ErrNotStarted = errors.New("bus: not started")

	// ErrStarted is returned by Handle, HandleRaw and HandleDeadLetters after Start,
	// and by a second Start.
	ErrStarted = errors.New("bus: already started")

	// ErrFull is returned by Publish on the in-memory transport when Config.MaxPending
	// (event, handler) pairs are already pending and Config.Overflow is OverflowFail.
	// An Inline handler may return it too, wrapped, when a queue of its own has no
	// room (package webhooks does, for a webhook's full queue).
	ErrFull = errors.New("bus: no room for the event")

	// ErrNoHandlers is returned by Publish on the in-memory transport for an event
	// that no handler subscribes to: the in-memory transport would drop it.
	ErrNoHandlers = errors.New("bus: no handler for event")

	// ErrDrainIncomplete is matched by the *DrainError Shutdown returns when its
	// context ended before every pending (event, handler) pair was handled.
	ErrDrainIncomplete = errors.New("bus: drain incomplete")

	// ErrInvalidConfig is wrapped by every configuration error New returns.
	ErrInvalidConfig = errors.New("bus: invalid config")

	// ErrInvalidHandler is wrapped by the errors Handle, HandleRaw and
	// HandleDeadLetters return for an unusable registration: an empty or duplicate
	// handler name, a nil function, an unusable event type or an invalid option.
	ErrInvalidHandler = errors.New("bus: invalid handler")

	// ErrInvalidEvent is wrapped by the errors Publish returns for an event it
	// refuses before publishing anything: a nil event, an empty or reserved event
	// name, an id CheckEventID refuses, a failed Validate or a payload that
	// cannot be marshalled to JSON.
	ErrInvalidEvent = errors.New("bus: invalid event")

	// ErrInlineHandler is wrapped by the error Publish returns when an Inline
	// handler fails; the handler's own error is wrapped too. The event was
	// valid: an error matching ErrInvalidEvent as well comes from the
	// handler (say, a follow-up it could not publish), not from the event.
	ErrInlineHandler = errors.New("bus: inline handler failed")

	// ErrHandlerPanic is wrapped by the error a recovered handler panic becomes. The
	// panic value is part of the message; when it is an error it is wrapped too.
	ErrHandlerPanic = errors.New("bus: handler panicked")

	// ErrPermanent marks a handler error that must not be retried. Handlers return
	// it through Permanent.
	ErrPermanent = errors.New("bus: permanent failure")
)

// Permanent marks err as permanent: the bus does not retry the handler call that
// returned it and dead-letters the event at once. The result matches both
// ErrPermanent and err with errors.Is, and its message is err's. Permanent(nil)
// is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err: err}
}

type permanentError struct{ err error }

func (p permanentError) Error() string   { return p.err.Error() }
func (p permanentError) Unwrap() []error { return []error{ErrPermanent, p.err} }
