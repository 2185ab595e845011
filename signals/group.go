package signals

// Group is one of the 6 groups the vendor arranges signal codes in. Its value
// is a stable snake_case wire value of this package's choosing, such as
// "engagement_intent"; [Group.Title] gives the vendor's heading. The zero
// Group is not valid.
type Group string

// The signal groups, in the vendor's order.
const (
	// GroupEngagementIntent is "Engagement & Intent" (10 codes).
	GroupEngagementIntent Group = "engagement_intent"
	// GroupPricingBudgetNegotiation is "Pricing, Budget & Negotiation" (10 codes).
	GroupPricingBudgetNegotiation Group = "pricing_budget_negotiation"
	// GroupFitProduct is "Fit & Product" (10 codes).
	GroupFitProduct Group = "fit_product"
	// GroupCompetition is "Competition" (3 codes).
	GroupCompetition Group = "competition"
	// GroupRiskChurn is "Risk & Churn" (7 codes).
	GroupRiskChurn Group = "risk_churn"
	// GroupRelationshipCommunication is "Relationship & Communication" (10 codes).
	GroupRelationshipCommunication Group = "relationship_communication"
)

// ParseGroup returns the Group whose wire value is s. It fails with an
// [*UnknownValueError] matching [ErrUnknownGroup] if s is not one, including
// when s is empty.
func ParseGroup(s string) (Group, error) {
	return groupSet.parse(s)
}

// Groups returns the 6 groups in the vendor's order. It returns a new slice
// on each call.
func Groups() []Group {
	return groupSet.list()
}

// Valid reports whether g is one of the 6 groups.
func (g Group) Valid() bool {
	return groupSet.valid(g)
}

// String returns the wire value of g, valid or not.
func (g Group) String() string {
	return string(g)
}

// Title returns the vendor's heading of g, such as "Engagement & Intent", or
// "" if g is not valid.
func (g Group) Title() string {
	if i, ok := groupSet.pos(g); ok {
		return groupTable[i].title
	}
	return ""
}

// Codes returns the codes of g in the vendor's order, or nil if g is not
// valid. It returns a new slice on each call.
func (g Group) Codes() []Code {
	if !g.Valid() {
		return nil
	}
	var codes []Code
	for _, e := range codeTable {
		if e.group == g {
			codes = append(codes, e.code)
		}
	}
	return codes
}

// MarshalText implements [encoding.TextMarshaler]. It fails with
// [ErrUnknownGroup] if g is not valid.
func (g Group) MarshalText() ([]byte, error) {
	return groupSet.marshalText(g)
}

// UnmarshalText implements [encoding.TextUnmarshaler]. It fails with
// [ErrUnknownGroup], leaving g unchanged, if text is not a group.
func (g *Group) UnmarshalText(text []byte) error {
	return groupSet.unmarshalText(g, text)
}

// groupEntry is what the package knows about one group.
type groupEntry struct {
	group Group
	title string
}

// groupTable lists the groups and their headings in the vendor's order. It is
// never written to.
var groupTable = [...]groupEntry{
	{GroupEngagementIntent, "Engagement & Intent"},
	{GroupPricingBudgetNegotiation, "Pricing, Budget & Negotiation"},
	{GroupFitProduct, "Fit & Product"},
	{GroupCompetition, "Competition"},
	{GroupRiskChurn, "Risk & Churn"},
	{GroupRelationshipCommunication, "Relationship & Communication"},
}

// groupSet indexes groupTable: a group's position in groupSet is its index in
// groupTable.
var groupSet = newEnum(kindGroup, tableGroups()...)

func tableGroups() []Group {
	groups := make([]Group, len(groupTable))
	for i, e := range groupTable {
		groups[i] = e.group
	}
	return groups
}
