package signals_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/hookbus/hookbus/signals"
)

// specGroups is the group list of the webhook contract, in its order, with
// the number of codes in each.
var specGroups = []struct {
	group string
	title string
	count int
}{
	{"engagement_intent", "Engagement & Intent", 10},
	{"pricing_budget_negotiation", "Pricing, Budget & Negotiation", 10},
	{"fit_product", "Fit & Product", 10},
	{"competition", "Competition", 3},
	{"risk_churn", "Risk & Churn", 7},
	{"relationship_communication", "Relationship & Communication", 10},
}

func TestGroupsMatchSpec(t *testing.T) {
	got := signals.Groups()
	if len(got) != len(specGroups) {
		t.Fatalf("len(Groups()) = %d, want %d", len(got), len(specGroups))
	}
	for i, want := range specGroups {
		g := got[i]
		if string(g) != want.group {
			t.Errorf("Groups()[%d] = %q, want %q", i, g, want.group)
		}
		if !g.Valid() {
			t.Errorf("%q.Valid() = false", g)
		}
		if g.Title() != want.title {
			t.Errorf("%q.Title() = %q, want %q", g, g.Title(), want.title)
		}
		if n := len(g.Codes()); n != want.count {
			t.Errorf("len(%q.Codes()) = %d, want %d", g, n, want.count)
		}
	}
}

func TestGroupCodesConcatenateToCodes(t *testing.T) {
	var all []signals.Code
	for _, g := range signals.Groups() {
		for _, c := range g.Codes() {
			if c.Group() != g {
				t.Errorf("%q listed under %q but Group() = %q", c, g, c.Group())
			}
			all = append(all, c)
		}
	}
	if !slices.Equal(all, signals.Codes()) {
		t.Errorf("group codes in group order = %v, want Codes() = %v", all, signals.Codes())
	}
}

func TestGroupRoundTrip(t *testing.T) {
	type payload struct {
		Group signals.Group `json:"group"`
	}
	for _, g := range signals.Groups() {
		text, err := g.MarshalText()
		if err != nil {
			t.Fatalf("%q.MarshalText: %v", g, err)
		}
		var fromText signals.Group
		if err := fromText.UnmarshalText(text); err != nil || fromText != g {
			t.Errorf("text round trip of %q = %q, %v", g, fromText, err)
		}
		body, err := json.Marshal(payload{Group: g})
		if err != nil {
			t.Fatalf("json.Marshal(%q): %v", g, err)
		}
		var got payload
		if err := json.Unmarshal(body, &got); err != nil || got.Group != g {
			t.Errorf("JSON round trip of %q = %q, %v", g, got.Group, err)
		}
		if p, err := signals.ParseGroup(g.String()); err != nil || p != g {
			t.Errorf("ParseGroup(%q) = %q, %v", g, p, err)
		}
	}
}

func TestGroupListsAreFresh(t *testing.T) {
	signals.Groups()[0] = "changed"
	if got := signals.Groups()[0]; got != signals.GroupEngagementIntent {
		t.Errorf("Groups()[0] after modifying an earlier result = %q", got)
	}
	signals.GroupCompetition.Codes()[0] = "changed"
	if got := signals.GroupCompetition.Codes()[0]; got != signals.CompetitorMentioned {
		t.Errorf("GroupCompetition.Codes()[0] after modifying an earlier result = %q", got)
	}
}

func TestInvalidGroup(t *testing.T) {
	for _, g := range []signals.Group{"", "Engagement & Intent", "risk", "risk_churn_"} {
		if g.Valid() {
			t.Errorf("Group(%q).Valid() = true", g)
		}
		if got := g.Title(); got != "" {
			t.Errorf("Group(%q).Title() = %q, want empty", g, got)
		}
		if got := g.Codes(); got != nil {
			t.Errorf("Group(%q).Codes() = %v, want nil", g, got)
		}
	}
}
