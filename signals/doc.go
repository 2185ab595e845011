// Package signals is the commercial-signal taxonomy of the
// commercial_signal_detected webhook: the signal codes and their groups, and
// the categories, activity types and change types a signal payload carries.
//
// # Codes and groups
//
// A [Code] names one commercial signal detected in an activity, such as
// [BuyingIntent] ("buying_intent") or [ChurnRisk] ("churn_risk"). There are 50
// codes in 6 groups ([Group]); [Codes] and [Groups] list them in the order of
// the vendor's documentation:
//
//	group                          wire value                  codes
//	Engagement & Intent            engagement_intent            10
//	Pricing, Budget & Negotiation  pricing_budget_negotiation   10
//	Fit & Product                  fit_product                  10
//	Competition                    competition                   3
//	Risk & Churn                   risk_churn                    7
//	Relationship & Communication   relationship_communication   10
//
// Every code knows its group ([Code.Group]) and its meaning as the vendor
// writes it ([Code.Description]). The vendor's spellings are kept exactly,
// including [InternalDisalignment] ("internal_disalignment", meaning internal
// misalignment), the singular [ComplianceConcern] and the plural
// [SecurityConcerns]. The group wire values are this package's own: the vendor
// documents group headings but no group field.
//
// # Payload enumerations
//
// A signal payload also carries a [Category] ([Positive], [Risk], [Neutral]),
// the [ActivityType] the signal was found in ([ActivityMeeting],
// [ActivityCall], [ActivityMail]) and a [ChangeType] relative to the previous
// detection ([ChangeNew], [ChangeUnchanged], [ChangeEscalated],
// [ChangeImproved], [ChangeRecovered]).
//
// # Wire format and validation
//
// All five types are strings whose value is the wire value. They implement
// [encoding.TextMarshaler] and [encoding.TextUnmarshaler], so they encode as
// JSON strings and work as JSON map keys. Only the values listed here are
// accepted, in both directions: unmarshalling or parsing an unknown value, and
// marshalling one, fail with an [*UnknownValueError] that matches the sentinel
// of its kind ([ErrUnknownCode], [ErrUnknownGroup], [ErrUnknownCategory],
// [ErrUnknownActivityType], [ErrUnknownChangeType]) under [errors.Is]. The
// empty string is unknown too: a caller for which a value is optional checks
// for emptiness before validating. Matching is exact: no case folding and no
// trimming.
//
// Two behaviours of [encoding/json] are worth knowing. A JSON null is not
// passed to UnmarshalText and leaves the field unchanged, so a required field
// is checked with Valid after decoding. When encoding a map, encoding/json
// writes keys of a string type as they are, without calling MarshalText: map
// keys are checked when decoded, but a caller encoding a map validates its
// keys first.
//
// The zero value of each type is the empty string, which is not valid. All
// values are immutable strings and every function of the package is safe for
// concurrent use. Validation, lookups and unmarshalling a known value do not
// allocate; marshalling allocates only the returned slice.
package signals
