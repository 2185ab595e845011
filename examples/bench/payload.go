package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/hookbus/hookbus/webhooks"
)

// payload is the event every variant sends, and its exact JSON body.
type payload struct {
	event webhooks.CommercialSignalDetected
	body  []byte
}

// newPayload returns a valid commercial_signal_detected event whose JSON
// body is exactly size bytes, its description padded with plain text.
func newPayload(size int) (payload, error) {
	sample, err := webhooks.SampleEvent(webhooks.CommercialSignalDetectedEvent)
	if err != nil {
		return payload{}, err
	}
	e := sample.(webhooks.CommercialSignalDetected)
	e.Description = ""
	bare, err := e.MarshalJSON()
	if err != nil {
		return payload{}, err
	}
	if size < len(bare) {
		return payload{}, fmt.Errorf("-payload %d: the smallest event body is %d bytes", size, len(bare))
	}
	const text = "The client asked for a quote for 40 seats to start before the end of the quarter. "
	e.Description = strings.Repeat(text, (size-len(bare))/len(text)+1)[:size-len(bare)]
	body, err := e.MarshalJSON()
	if err != nil {
		return payload{}, err
	}
	if len(body) != size {
		return payload{}, fmt.Errorf("-payload %d: built a body of %d bytes", size, len(body))
	}
	return payload{event: e, body: body}, nil
}

// at returns the event stamped with t as its occurrence time.
func (p payload) at(t time.Time) timedSignal {
	return timedSignal{CommercialSignalDetected: p.event, at: t}
}

// timedSignal is the published event: a CommercialSignalDetected whose
// EventTime, which the bus carries to the delivery record's OccurredAt, is
// the moment Publish was called. The recorded outcome then gives the
// publish-to-delivered latency without any lookup. Its JSON is the embedded
// payload's (the promoted MarshalJSON), byte for byte.
type timedSignal struct {
	webhooks.CommercialSignalDetected
	at time.Time
}

// EventTime returns when Publish was called.
func (e timedSignal) EventTime() time.Time { return e.at }
