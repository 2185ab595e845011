package bustest_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/hookbus/hookbus/bus"
	"github.com/hookbus/hookbus/bus/bustest"
)

type greeting struct {
	Text string `json:"text"`
}

func (greeting) EventName() string { return "greeting" }

func ExampleRecorder() {
	b, err := bus.New(bus.Config{})
	if err != nil {
		log.Fatal(err)
	}
	typed := bustest.NewRecorder[greeting]()
	raw := bustest.NewRecorder[bus.Message]()
	if err := bus.Handle(b, "typed", typed.Handle); err != nil {
		log.Fatal(err)
	}
	if err := bus.HandleRaw(b, "raw", "greeting", raw.Handle); err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	if err := b.Publish(ctx, greeting{Text: "hello"}); err != nil {
		log.Fatal(err)
	}
	greetings, err := typed.Wait(ctx, 1)
	if err != nil {
		log.Fatal(err)
	}
	messages, err := raw.Wait(ctx, 1)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(greetings[0].Text)
	fmt.Println(messages[0].Name, string(messages[0].Payload))
	// Output:
	// hello
	// greeting {"text":"hello"}
}
