package signals

// ActivityType is the kind of activity a signal was detected in: the
// activityType field of a commercial_signal_detected payload. The zero
// ActivityType is not valid.
type ActivityType string

// The activity types.
const (
	// ActivityMeeting is a meeting.
	ActivityMeeting ActivityType = "meeting"
	// ActivityCall is a phone call.
	ActivityCall ActivityType = "call"
	// ActivityMail is an email.
	ActivityMail ActivityType = "mail"
)

// ParseActivityType returns the ActivityType whose wire value is s. It fails
// with an [*UnknownValueError] matching [ErrUnknownActivityType] if s is not
// one, including when s is empty.
func ParseActivityType(s string) (ActivityType, error) {
	return activityTypeSet.parse(s)
}

// ActivityTypes returns all activity types: meeting, call, mail. It returns a
// new slice on each call.
func ActivityTypes() []ActivityType {
	return activityTypeSet.list()
}

// Valid reports whether a is a known activity type.
func (a ActivityType) Valid() bool {
	return activityTypeSet.valid(a)
}

// String returns the wire value of a, valid or not.
func (a ActivityType) String() string {
	return string(a)
}

// MarshalText implements [encoding.TextMarshaler]. It fails with
// [ErrUnknownActivityType] if a is not valid.
func (a ActivityType) MarshalText() ([]byte, error) {
	return activityTypeSet.marshalText(a)
}

// UnmarshalText implements [encoding.TextUnmarshaler]. It fails with
// [ErrUnknownActivityType], leaving a unchanged, if text is not an activity
// type.
func (a *ActivityType) UnmarshalText(text []byte) error {
	return activityTypeSet.unmarshalText(a, text)
}

var activityTypeSet = newEnum(kindActivityType, ActivityMeeting, ActivityCall, ActivityMail)
