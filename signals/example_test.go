package signals_test

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hookbus/hookbus/signals"
)

func Example() {
	code, err := signals.ParseCode("internal_disalignment")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(code.Group().Title())
	fmt.Println(code.Description())
	// Output:
	// Risk & Churn
	// internal misalignment
}

func ExampleCodes() {
	fmt.Println(len(signals.Codes()), "codes")
	for _, g := range signals.Groups() {
		fmt.Printf("%-30s %2d  first: %s\n", g.Title(), len(g.Codes()), g.Codes()[0])
	}
	// Output:
	// 50 codes
	// Engagement & Intent            10  first: buying_intent
	// Pricing, Budget & Negotiation  10  first: pricing_discussed
	// Fit & Product                  10  first: product_fit_confirmed
	// Competition                     3  first: competitor_mentioned
	// Risk & Churn                    7  first: churn_risk
	// Relationship & Communication   10  first: positive_feedback_on_demo
}

func ExampleParseCode_unknown() {
	_, err := signals.ParseCode("buying_intnet")
	fmt.Println(err)
	fmt.Println(errors.Is(err, signals.ErrUnknownCode))

	var unknown *signals.UnknownValueError
	if errors.As(err, &unknown) {
		fmt.Printf("kind=%s value=%s\n", unknown.Kind, unknown.Value)
	}
	// Output:
	// signals: unknown code "buying_intnet"
	// true
	// kind=code value=buying_intnet
}

func ExampleCode_UnmarshalText() {
	var signal struct {
		Code         signals.Code         `json:"code"`
		Category     signals.Category     `json:"category"`
		ActivityType signals.ActivityType `json:"activityType"`
		ChangeType   signals.ChangeType   `json:"changeType"`
	}
	err := json.Unmarshal([]byte(`{"code":"churn_risk","category":"risk","activityType":"call","changeType":"escalated"}`), &signal)
	fmt.Println(signal.Code.Description(), signal.Category, signal.ActivityType, signal.ChangeType, err)

	err = json.Unmarshal([]byte(`{"code":"churn_risk","category":"bad"}`), &signal)
	fmt.Println(err, errors.Is(err, signals.ErrUnknownCategory))
	// Output:
	// churn risk risk call escalated <nil>
	// signals: unknown category "bad" true
}
