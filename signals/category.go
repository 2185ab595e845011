package signals

// Category says whether a detected signal is good or bad news for the deal:
// the category field of a commercial_signal_detected payload. The zero
// Category is not valid.
type Category string

// The signal categories.
const (
	// Positive is a signal in favour of the deal.
	Positive Category = "positive"
	// Risk is a signal that puts the deal at risk.
	Risk Category = "risk"
	// Neutral is a signal that neither helps nor harms the deal.
	Neutral Category = "neutral"
)

// ParseCategory returns the Category whose wire value is s. It fails with an
// [*UnknownValueError] matching [ErrUnknownCategory] if s is not one,
// including when s is empty.
func ParseCategory(s string) (Category, error) {
	return categorySet.parse(s)
}

// Categories returns all categories: positive, risk, neutral. It returns a
// new slice on each call.
func Categories() []Category {
	return categorySet.list()
}

// Valid reports whether c is a known category.
func (c Category) Valid() bool {
	return categorySet.valid(c)
}

// String returns the wire value of c, valid or not.
func (c Category) String() string {
	return string(c)
}

// MarshalText implements [encoding.TextMarshaler]. It fails with
// [ErrUnknownCategory] if c is not valid.
func (c Category) MarshalText() ([]byte, error) {
	return categorySet.marshalText(c)
}

// UnmarshalText implements [encoding.TextUnmarshaler]. It fails with
// [ErrUnknownCategory], leaving c unchanged, if text is not a category.
func (c *Category) UnmarshalText(text []byte) error {
	return categorySet.unmarshalText(c, text)
}

var categorySet = newEnum(kindCategory, Positive, Risk, Neutral)
