package signals

import (
	"errors"
	"fmt"
)

// Sentinel errors, one per kind of value. An [*UnknownValueError] matches the
// sentinel of its kind under [errors.Is].
var (
	// ErrUnknownCode reports a string that is not one of the 50 signal codes.
	ErrUnknownCode = errors.New("signals: unknown code")
	// ErrUnknownGroup reports a string that is not one of the 6 signal groups.
	ErrUnknownGroup = errors.New("signals: unknown group")
	// ErrUnknownCategory reports a string that is not a signal category.
	ErrUnknownCategory = errors.New("signals: unknown category")
	// ErrUnknownActivityType reports a string that is not an activity type.
	ErrUnknownActivityType = errors.New("signals: unknown activity type")
	// ErrUnknownChangeType reports a string that is not a change type.
	ErrUnknownChangeType = errors.New("signals: unknown change type")
)

// Kinds of value, as they appear in [UnknownValueError.Kind].
const (
	kindCode         = "code"
	kindGroup        = "group"
	kindCategory     = "category"
	kindActivityType = "activity type"
	kindChangeType   = "change type"
)

// UnknownValueError reports a value outside the taxonomy, met while parsing,
// unmarshalling or marshalling. It unwraps to the sentinel of its kind, so
// callers test for it with errors.Is(err, ErrUnknownCode) and friends, or get
// the details with [errors.As].
type UnknownValueError struct {
	// Kind names the type of the value: "code", "group", "category",
	// "activity type" or "change type".
	Kind string
	// Value is the refused value, verbatim; it may be empty.
	Value string
}

// Error returns a message naming the kind and the quoted value, such as
// `signals: unknown code "buying_intnet"`.
func (e *UnknownValueError) Error() string {
	return fmt.Sprintf("signals: unknown %s %q", e.Kind, e.Value)
}

// Unwrap returns the sentinel error of e.Kind, or nil for a kind this package
// does not define.
func (e *UnknownValueError) Unwrap() error {
	switch e.Kind {
	case kindCode:
		return ErrUnknownCode
	case kindGroup:
		return ErrUnknownGroup
	case kindCategory:
		return ErrUnknownCategory
	case kindActivityType:
		return ErrUnknownActivityType
	case kindChangeType:
		return ErrUnknownChangeType
	default:
		return nil
	}
}
