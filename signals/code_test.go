package signals_test

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/hookbus/hookbus/signals"
)

// specCodes is the taxonomy copied from the webhook contract: every code in
// the vendor's order with its group and meaning. It pins the order, the
// spellings and the descriptions independently of the package's own table.
var specCodes = []struct {
	code        string
	group       string
	description string
}{
	{"buying_intent", "engagement_intent", "buying intent detected"},
	{"interest_in_trial", "engagement_intent", "interest in trying a trial"},
	{"opportunity_qualified", "engagement_intent", "qualified opportunity"},
	{"champion_detected", "engagement_intent", "internal champion detected"},
	{"gatekeeper_detected", "engagement_intent", "gatekeeper detected"},
	{"future_meeting_scheduled", "engagement_intent", "future meeting scheduled"},
	{"decision_timeline_mentioned", "engagement_intent", "decision timeline mentioned"},
	{"follow_up_required", "engagement_intent", "follow-up required"},
	{"follow_up_deadline_mentioned", "engagement_intent", "follow-up deadline mentioned"},
	{"multi_department_involvement", "engagement_intent", "multiple departments involved"},

	{"pricing_discussed", "pricing_budget_negotiation", "pricing discussed"},
	{"budget_blocker", "pricing_budget_negotiation", "budget blocker"},
	{"budget_discussed", "pricing_budget_negotiation", "budget discussed"},
	{"discount_requested", "pricing_budget_negotiation", "discount requested"},
	{"contractual_concerns", "pricing_budget_negotiation", "contractual concerns"},
	{"legal_process_discussed", "pricing_budget_negotiation", "legal process discussed"},
	{"renewal_discussed", "pricing_budget_negotiation", "renewal discussed"},
	{"upsell_opportunity", "pricing_budget_negotiation", "upsell opportunity"},
	{"pilot_success", "pricing_budget_negotiation", "pilot success"},
	{"pilot_failure", "pricing_budget_negotiation", "pilot failure"},

	{"product_fit_confirmed", "fit_product", "product fit confirmed"},
	{"usage_feedback_positive", "fit_product", "positive usage feedback"},
	{"usage_feedback_negative", "fit_product", "negative usage feedback"},
	{"technical_validation_passed", "fit_product", "technical validation passed"},
	{"technical_blocker", "fit_product", "technical blocker"},
	{"integration_concerns", "fit_product", "integration concerns"},
	{"training_requested", "fit_product", "training requested"},
	{"feature_request_made", "fit_product", "new feature requested"},
	{"security_concerns", "fit_product", "security concerns"},
	{"compliance_concern", "fit_product", "compliance concern"},

	{"competitor_mentioned", "competition", "competitor mentioned"},
	{"competitor_comparison_favorable", "competition", "favorable comparison with competitor"},
	{"competitor_comparison_unfavorable", "competition", "unfavorable comparison with competitor"},

	{"churn_risk", "risk_churn", "churn risk"},
	{"no_decision_maker", "risk_churn", "no decision maker"},
	{"internal_disalignment", "risk_churn", "internal misalignment"},
	{"resistance_to_change", "risk_churn", "resistance to change"},
	{"escalation_detected", "risk_churn", "escalation detected"},
	{"low_engagement", "risk_churn", "low engagement"},
	{"deadline_blocker", "risk_churn", "deadline blocker"},

	{"positive_feedback_on_demo", "relationship_communication", "positive feedback on demo"},
	{"negative_feedback_on_demo", "relationship_communication", "negative feedback on demo"},
	{"rapport_detected", "relationship_communication", "rapport detected"},
	{"misalignment_on_goals", "relationship_communication", "misalignment on goals"},
	{"client_asks_many_questions", "relationship_communication", "client asks many questions"},
	{"client_confused_about_offering", "relationship_communication", "client confused about the offering"},
	{"tone_aggressive", "relationship_communication", "aggressive tone"},
	{"tone_passive", "relationship_communication", "passive tone"},
	{"speaker_dominates_conversation", "relationship_communication", "speaker dominates the conversation"},
	{"client_drives_conversation", "relationship_communication", "client drives the conversation"},
}

func TestCodesOrderMatchesSpec(t *testing.T) {
	got := signals.Codes()
	if len(got) != 50 || len(specCodes) != 50 {
		t.Fatalf("len(Codes()) = %d, len(specCodes) = %d, want 50 each", len(got), len(specCodes))
	}
	for i, want := range specCodes {
		if string(got[i]) != want.code {
			t.Errorf("Codes()[%d] = %q, want %q", i, got[i], want.code)
		}
	}
}

func TestCodeMetadataMatchesSpec(t *testing.T) {
	for _, want := range specCodes {
		t.Run(want.code, func(t *testing.T) {
			c, err := signals.ParseCode(want.code)
			if err != nil {
				t.Fatalf("ParseCode(%q): %v", want.code, err)
			}
			if !c.Valid() {
				t.Errorf("Valid() = false")
			}
			if c.String() != want.code {
				t.Errorf("String() = %q, want %q", c.String(), want.code)
			}
			if got := c.Description(); got != want.description {
				t.Errorf("Description() = %q, want %q", got, want.description)
			}
			if got := c.Group(); string(got) != want.group {
				t.Errorf("Group() = %q, want %q", got, want.group)
			}
		})
	}
}

func TestCodeConstants(t *testing.T) {
	// The vendor's spellings, kept exactly.
	tests := []struct {
		c    signals.Code
		want string
	}{
		{signals.BuyingIntent, "buying_intent"},
		{signals.InternalDisalignment, "internal_disalignment"},
		{signals.ComplianceConcern, "compliance_concern"},
		{signals.SecurityConcerns, "security_concerns"},
		{signals.ClientDrivesConversation, "client_drives_conversation"},
	}
	for _, tt := range tests {
		if string(tt.c) != tt.want {
			t.Errorf("constant = %q, want %q", tt.c, tt.want)
		}
	}
}

func TestCodeRoundTrip(t *testing.T) {
	type payload struct {
		Code signals.Code `json:"code"`
	}
	for _, c := range signals.Codes() {
		t.Run(string(c), func(t *testing.T) {
			text, err := c.MarshalText()
			if err != nil {
				t.Fatalf("MarshalText: %v", err)
			}
			var fromText signals.Code
			if err := fromText.UnmarshalText(text); err != nil {
				t.Fatalf("UnmarshalText(%q): %v", text, err)
			}
			if fromText != c {
				t.Errorf("text round trip = %q, want %q", fromText, c)
			}

			body, err := json.Marshal(payload{Code: c})
			if err != nil {
				t.Fatalf("json.Marshal: %v", err)
			}
			if want := `{"code":"` + string(c) + `"}`; string(body) != want {
				t.Errorf("json.Marshal = %s, want %s", body, want)
			}
			var got payload
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("json.Unmarshal(%s): %v", body, err)
			}
			if got.Code != c {
				t.Errorf("JSON round trip = %q, want %q", got.Code, c)
			}
		})
	}
}

func TestCodeAsMapKey(t *testing.T) {
	in := map[signals.Code]int{signals.ChurnRisk: 1, signals.BuyingIntent: 2}
	body, err := json.Marshal(in)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	var out map[signals.Code]int
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("json.Unmarshal(%s): %v", body, err)
	}
	if len(out) != len(in) || out[signals.ChurnRisk] != 1 || out[signals.BuyingIntent] != 2 {
		t.Errorf("round trip = %v, want %v", out, in)
	}

	err = json.Unmarshal([]byte(`{"churn_risk":1,"churn_risks":2}`), &out)
	if !errors.Is(err, signals.ErrUnknownCode) {
		t.Errorf("unknown map key: err = %v, want ErrUnknownCode", err)
	}
}

func TestCodesReturnsFreshSlice(t *testing.T) {
	first := signals.Codes()
	first[0] = "changed"
	slices.Reverse(first)
	if got := signals.Codes(); got[0] != signals.BuyingIntent || len(got) != 50 {
		t.Errorf("Codes() after modifying an earlier result: first = %q, len = %d", got[0], len(got))
	}
}

func TestInvalidCodeHasNoMetadata(t *testing.T) {
	for _, c := range []signals.Code{"", "Buying_Intent", "buying_intent ", "internal_misalignment"} {
		if c.Valid() {
			t.Errorf("Code(%q).Valid() = true", c)
		}
		if g := c.Group(); g != "" {
			t.Errorf("Code(%q).Group() = %q, want empty", c, g)
		}
		if d := c.Description(); d != "" {
			t.Errorf("Code(%q).Description() = %q, want empty", c, d)
		}
	}
}

func FuzzParseCode(f *testing.F) {
	for _, c := range specCodes {
		f.Add(c.code)
	}
	f.Add("")
	f.Add("buying_intnet")
	f.Add("BUYING_INTENT")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := signals.ParseCode(s)
		if err != nil {
			var uv *signals.UnknownValueError
			if !errors.Is(err, signals.ErrUnknownCode) || !errors.As(err, &uv) || uv.Value != s {
				t.Fatalf("ParseCode(%q) error = %v, want *UnknownValueError for %q matching ErrUnknownCode", s, err, s)
			}
			if signals.Code(s).Valid() {
				t.Fatalf("ParseCode(%q) failed but Valid() = true", s)
			}
			return
		}
		if string(c) != s || !c.Valid() || c.Group() == "" || c.Description() == "" {
			t.Fatalf("ParseCode(%q) = %q (valid %v, group %q, description %q)", s, c, c.Valid(), c.Group(), c.Description())
		}
	})
}
