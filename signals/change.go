package signals

// ChangeType says how a detected signal relates to the previous detection of
// the same signal: the changeType field of a commercial_signal_detected
// payload. The zero ChangeType is not valid.
type ChangeType string

// The change types.
const (
	// ChangeNew is a signal detected for the first time.
	ChangeNew ChangeType = "new"
	// ChangeUnchanged is a signal detected again at the same level.
	ChangeUnchanged ChangeType = "unchanged"
	// ChangeEscalated is a signal that has grown stronger or worse.
	ChangeEscalated ChangeType = "escalated"
	// ChangeImproved is a signal that has got better.
	ChangeImproved ChangeType = "improved"
	// ChangeRecovered is a signal whose earlier problem has been resolved.
	ChangeRecovered ChangeType = "recovered"
)

// ParseChangeType returns the ChangeType whose wire value is s. It fails with
// an [*UnknownValueError] matching [ErrUnknownChangeType] if s is not one,
// including when s is empty.
func ParseChangeType(s string) (ChangeType, error) {
	return changeTypeSet.parse(s)
}

// ChangeTypes returns all change types: new, unchanged, escalated, improved,
// recovered. It returns a new slice on each call.
func ChangeTypes() []ChangeType {
	return changeTypeSet.list()
}

// Valid reports whether t is a known change type.
func (t ChangeType) Valid() bool {
	return changeTypeSet.valid(t)
}

// String returns the wire value of t, valid or not.
func (t ChangeType) String() string {
	return string(t)
}

// MarshalText implements [encoding.TextMarshaler]. It fails with
// [ErrUnknownChangeType] if t is not valid.
func (t ChangeType) MarshalText() ([]byte, error) {
	return changeTypeSet.marshalText(t)
}

// UnmarshalText implements [encoding.TextUnmarshaler]. It fails with
// [ErrUnknownChangeType], leaving t unchanged, if text is not a change type.
func (t *ChangeType) UnmarshalText(text []byte) error {
	return changeTypeSet.unmarshalText(t, text)
}

var changeTypeSet = newEnum(kindChangeType, ChangeNew, ChangeUnchanged, ChangeEscalated, ChangeImproved, ChangeRecovered)
