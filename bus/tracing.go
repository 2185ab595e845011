package bus

import (
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Attribute keys of the OpenTelemetry messaging semantic conventions.
const (
	attrMessagingSystem        = attribute.Key("messaging.system")
	attrMessagingOperationType = attribute.Key("messaging.operation.type")
	attrMessagingOperationName = attribute.Key("messaging.operation.name")
	attrMessagingDestination   = attribute.Key("messaging.destination.name")
	attrMessagingMessageID     = attribute.Key("messaging.message.id")
	attrMessagingConsumerGroup = attribute.Key("messaging.consumer.group.name")
	attrAttempt                = attribute.Key("messaging.handler.attempt")
)

// producerSpanOptions never changes; sharing it saves an allocation per Publish.
var producerSpanOptions = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindProducer)}

func producerAttributes(topic, id string) []attribute.KeyValue {
	return []attribute.KeyValue{
		attrMessagingSystem.String("watermill"),
		attrMessagingOperationType.String("send"),
		attrMessagingOperationName.String("publish"),
		attrMessagingDestination.String(topic),
		attrMessagingMessageID.String(id),
	}
}

// consumerSpanOptions never changes; sharing it saves an allocation per handling.
var consumerSpanOptions = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer)}

// consumerAttributes are the attributes of a handler's span but the message
// id, made once at Handle, with room for the id: a span gets all of them in
// one SetAttributes call, which the SDK copies in one allocation (attributes
// given at Start and set later cost it a copy each).
func consumerAttributes(operation, topic, handler string) []attribute.KeyValue {
	return append(make([]attribute.KeyValue, 0, 6),
		attrMessagingSystem.String("watermill"),
		attrMessagingOperationType.String("process"),
		attrMessagingOperationName.String(operation),
		attrMessagingDestination.String(topic),
		attrMessagingConsumerGroup.String(handler),
	)
}

// consumerSpanAttributes are the attributes of the span of h handling the
// message id.
func consumerSpanAttributes(h *handler, id string) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, len(h.spanAttrs), len(h.spanAttrs)+1)
	copy(attrs, h.spanAttrs)
	return append(attrs, attrMessagingMessageID.String(id))
}
