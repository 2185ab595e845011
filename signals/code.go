package signals

// Code is a commercial-signal code, the code field of a
// commercial_signal_detected payload. Its value is the wire value, such as
// "buying_intent". The zero Code is not valid.
type Code string

// Engagement & Intent codes ([GroupEngagementIntent]).
const (
	// BuyingIntent means buying intent detected.
	BuyingIntent Code = "buying_intent"
	// InterestInTrial means interest in trying a trial.
	InterestInTrial Code = "interest_in_trial"
	// OpportunityQualified means a qualified opportunity.
	OpportunityQualified Code = "opportunity_qualified"
	// ChampionDetected means an internal champion was detected.
	ChampionDetected Code = "champion_detected"
	// GatekeeperDetected means a gatekeeper was detected.
	GatekeeperDetected Code = "gatekeeper_detected"
	// FutureMeetingScheduled means a future meeting was scheduled.
	FutureMeetingScheduled Code = "future_meeting_scheduled"
	// DecisionTimelineMentioned means a decision timeline was mentioned.
	DecisionTimelineMentioned Code = "decision_timeline_mentioned"
	// FollowUpRequired means a follow-up is required.
	FollowUpRequired Code = "follow_up_required"
	// FollowUpDeadlineMentioned means a follow-up deadline was mentioned.
	FollowUpDeadlineMentioned Code = "follow_up_deadline_mentioned"
	// MultiDepartmentInvolvement means multiple departments are involved.
	MultiDepartmentInvolvement Code = "multi_department_involvement"
)

// Pricing, Budget & Negotiation codes ([GroupPricingBudgetNegotiation]).
const (
	// PricingDiscussed means pricing was discussed.
	PricingDiscussed Code = "pricing_discussed"
	// BudgetBlocker means a budget blocker.
	BudgetBlocker Code = "budget_blocker"
	// BudgetDiscussed means the budget was discussed.
	BudgetDiscussed Code = "budget_discussed"
	// DiscountRequested means a discount was requested.
	DiscountRequested Code = "discount_requested"
	// ContractualConcerns means contractual concerns.
	ContractualConcerns Code = "contractual_concerns"
	// LegalProcessDiscussed means the legal process was discussed.
	LegalProcessDiscussed Code = "legal_process_discussed"
	// RenewalDiscussed means a renewal was discussed.
	RenewalDiscussed Code = "renewal_discussed"
	// UpsellOpportunity means an upsell opportunity.
	UpsellOpportunity Code = "upsell_opportunity"
	// PilotSuccess means a pilot succeeded.
	PilotSuccess Code = "pilot_success"
	// PilotFailure means a pilot failed.
	PilotFailure Code = "pilot_failure"
)

// Fit & Product codes ([GroupFitProduct]).
const (
	// ProductFitConfirmed means product fit was confirmed.
	ProductFitConfirmed Code = "product_fit_confirmed"
	// UsageFeedbackPositive means positive usage feedback.
	UsageFeedbackPositive Code = "usage_feedback_positive"
	// UsageFeedbackNegative means negative usage feedback.
	UsageFeedbackNegative Code = "usage_feedback_negative"
	// TechnicalValidationPassed means technical validation passed.
	TechnicalValidationPassed Code = "technical_validation_passed"
	// TechnicalBlocker means a technical blocker.
	TechnicalBlocker Code = "technical_blocker"
	// IntegrationConcerns means integration concerns.
	IntegrationConcerns Code = "integration_concerns"
	// TrainingRequested means training was requested.
	TrainingRequested Code = "training_requested"
	// FeatureRequestMade means a new feature was requested.
	FeatureRequestMade Code = "feature_request_made"
	// SecurityConcerns means security concerns (plural, as the vendor spells it).
	SecurityConcerns Code = "security_concerns"
	// ComplianceConcern means a compliance concern (singular, as the vendor
	// spells it).
	ComplianceConcern Code = "compliance_concern"
)

// Competition codes ([GroupCompetition]).
const (
	// CompetitorMentioned means a competitor was mentioned.
	CompetitorMentioned Code = "competitor_mentioned"
	// CompetitorComparisonFavorable means a favorable comparison with a
	// competitor.
	CompetitorComparisonFavorable Code = "competitor_comparison_favorable"
	// CompetitorComparisonUnfavorable means an unfavorable comparison with a
	// competitor.
	CompetitorComparisonUnfavorable Code = "competitor_comparison_unfavorable"
)

// Risk & Churn codes ([GroupRiskChurn]).
const (
	// ChurnRisk means a churn risk.
	ChurnRisk Code = "churn_risk"
	// NoDecisionMaker means no decision maker is involved.
	NoDecisionMaker Code = "no_decision_maker"
	// InternalDisalignment means internal misalignment; "disalignment" is the
	// vendor's spelling of the code.
	InternalDisalignment Code = "internal_disalignment"
	// ResistanceToChange means resistance to change.
	ResistanceToChange Code = "resistance_to_change"
	// EscalationDetected means an escalation was detected.
	EscalationDetected Code = "escalation_detected"
	// LowEngagement means low engagement.
	LowEngagement Code = "low_engagement"
	// DeadlineBlocker means a deadline blocker.
	DeadlineBlocker Code = "deadline_blocker"
)

// Relationship & Communication codes ([GroupRelationshipCommunication]).
const (
	// PositiveFeedbackOnDemo means positive feedback on a demo.
	PositiveFeedbackOnDemo Code = "positive_feedback_on_demo"
	// NegativeFeedbackOnDemo means negative feedback on a demo.
	NegativeFeedbackOnDemo Code = "negative_feedback_on_demo"
	// RapportDetected means rapport was detected.
	RapportDetected Code = "rapport_detected"
	// MisalignmentOnGoals means misalignment on goals.
	MisalignmentOnGoals Code = "misalignment_on_goals"
	// ClientAsksManyQuestions means the client asks many questions.
	ClientAsksManyQuestions Code = "client_asks_many_questions"
	// ClientConfusedAboutOffering means the client is confused about the
	// offering.
	ClientConfusedAboutOffering Code = "client_confused_about_offering"
	// ToneAggressive means an aggressive tone.
	ToneAggressive Code = "tone_aggressive"
	// TonePassive means a passive tone.
	TonePassive Code = "tone_passive"
	// SpeakerDominatesConversation means a speaker dominates the conversation.
	SpeakerDominatesConversation Code = "speaker_dominates_conversation"
	// ClientDrivesConversation means the client drives the conversation.
	ClientDrivesConversation Code = "client_drives_conversation"
)

// ParseCode returns the Code whose wire value is s. It fails with an
// [*UnknownValueError] matching [ErrUnknownCode] if s is not one, including
// when s is empty.
func ParseCode(s string) (Code, error) {
	return codeSet.parse(s)
}

// Codes returns all 50 codes, grouped and ordered as the vendor documents
// them. It returns a new slice on each call.
func Codes() []Code {
	return codeSet.list()
}

// Valid reports whether c is one of the 50 codes.
func (c Code) Valid() bool {
	return codeSet.valid(c)
}

// String returns the wire value of c, valid or not.
func (c Code) String() string {
	return string(c)
}

// Group returns the group c belongs to, or the zero Group if c is not valid.
func (c Code) Group() Group {
	if i, ok := codeSet.pos(c); ok {
		return codeTable[i].group
	}
	return ""
}

// Description returns the meaning of c as the vendor writes it, such as
// "buying intent detected", or "" if c is not valid.
func (c Code) Description() string {
	if i, ok := codeSet.pos(c); ok {
		return codeTable[i].description
	}
	return ""
}

// MarshalText implements [encoding.TextMarshaler]. It fails with
// [ErrUnknownCode] if c is not valid, so an unknown code never reaches the
// wire.
func (c Code) MarshalText() ([]byte, error) {
	return codeSet.marshalText(c)
}

// UnmarshalText implements [encoding.TextUnmarshaler]. It fails with
// [ErrUnknownCode], leaving c unchanged, if text is not a code.
func (c *Code) UnmarshalText(text []byte) error {
	return codeSet.unmarshalText(c, text)
}

// codeEntry is what the package knows about one code.
type codeEntry struct {
	code        Code
	group       Group
	description string
}

// codeTable is the single source of truth of the taxonomy: every code, its
// group and description, in the vendor's order. It is never written to.
var codeTable = [...]codeEntry{
	{BuyingIntent, GroupEngagementIntent, "buying intent detected"},
	{InterestInTrial, GroupEngagementIntent, "interest in trying a trial"},
	{OpportunityQualified, GroupEngagementIntent, "qualified opportunity"},
	{ChampionDetected, GroupEngagementIntent, "internal champion detected"},
	{GatekeeperDetected, GroupEngagementIntent, "gatekeeper detected"},
	{FutureMeetingScheduled, GroupEngagementIntent, "future meeting scheduled"},
	{DecisionTimelineMentioned, GroupEngagementIntent, "decision timeline mentioned"},
	{FollowUpRequired, GroupEngagementIntent, "follow-up required"},
	{FollowUpDeadlineMentioned, GroupEngagementIntent, "follow-up deadline mentioned"},
	{MultiDepartmentInvolvement, GroupEngagementIntent, "multiple departments involved"},

	{PricingDiscussed, GroupPricingBudgetNegotiation, "pricing discussed"},
	{BudgetBlocker, GroupPricingBudgetNegotiation, "budget blocker"},
	{BudgetDiscussed, GroupPricingBudgetNegotiation, "budget discussed"},
	{DiscountRequested, GroupPricingBudgetNegotiation, "discount requested"},
	{ContractualConcerns, GroupPricingBudgetNegotiation, "contractual concerns"},
	{LegalProcessDiscussed, GroupPricingBudgetNegotiation, "legal process discussed"},
	{RenewalDiscussed, GroupPricingBudgetNegotiation, "renewal discussed"},
	{UpsellOpportunity, GroupPricingBudgetNegotiation, "upsell opportunity"},
	{PilotSuccess, GroupPricingBudgetNegotiation, "pilot success"},
	{PilotFailure, GroupPricingBudgetNegotiation, "pilot failure"},

	{ProductFitConfirmed, GroupFitProduct, "product fit confirmed"},
	{UsageFeedbackPositive, GroupFitProduct, "positive usage feedback"},
	{UsageFeedbackNegative, GroupFitProduct, "negative usage feedback"},
	{TechnicalValidationPassed, GroupFitProduct, "technical validation passed"},
	{TechnicalBlocker, GroupFitProduct, "technical blocker"},
	{IntegrationConcerns, GroupFitProduct, "integration concerns"},
	{TrainingRequested, GroupFitProduct, "training requested"},
	{FeatureRequestMade, GroupFitProduct, "new feature requested"},
	{SecurityConcerns, GroupFitProduct, "security concerns"},
	{ComplianceConcern, GroupFitProduct, "compliance concern"},

	{CompetitorMentioned, GroupCompetition, "competitor mentioned"},
	{CompetitorComparisonFavorable, GroupCompetition, "favorable comparison with competitor"},
	{CompetitorComparisonUnfavorable, GroupCompetition, "unfavorable comparison with competitor"},

	{ChurnRisk, GroupRiskChurn, "churn risk"},
	{NoDecisionMaker, GroupRiskChurn, "no decision maker"},
	{InternalDisalignment, GroupRiskChurn, "internal misalignment"},
	{ResistanceToChange, GroupRiskChurn, "resistance to change"},
	{EscalationDetected, GroupRiskChurn, "escalation detected"},
	{LowEngagement, GroupRiskChurn, "low engagement"},
	{DeadlineBlocker, GroupRiskChurn, "deadline blocker"},

	{PositiveFeedbackOnDemo, GroupRelationshipCommunication, "positive feedback on demo"},
	{NegativeFeedbackOnDemo, GroupRelationshipCommunication, "negative feedback on demo"},
	{RapportDetected, GroupRelationshipCommunication, "rapport detected"},
	{MisalignmentOnGoals, GroupRelationshipCommunication, "misalignment on goals"},
	{ClientAsksManyQuestions, GroupRelationshipCommunication, "client asks many questions"},
	{ClientConfusedAboutOffering, GroupRelationshipCommunication, "client confused about the offering"},
	{ToneAggressive, GroupRelationshipCommunication, "aggressive tone"},
	{TonePassive, GroupRelationshipCommunication, "passive tone"},
	{SpeakerDominatesConversation, GroupRelationshipCommunication, "speaker dominates the conversation"},
	{ClientDrivesConversation, GroupRelationshipCommunication, "client drives the conversation"},
}

// codeSet indexes codeTable: a code's position in codeSet is its index in
// codeTable.
var codeSet = newEnum(kindCode, tableCodes()...)

func tableCodes() []Code {
	codes := make([]Code, len(codeTable))
	for i, e := range codeTable {
		codes[i] = e.code
	}
	return codes
}
