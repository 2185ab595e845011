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

// consumerSpanOptions are a handler's span start options, made once at Handle.
func consumerSpanOptions(operation, topic, handler string) []trace.SpanStartOption {
	return []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attrMessagingSystem.String("watermill"),
			attrMessagingOperationType.String("process"),
			attrMessagingOperationName.String(operation),
			attrMessagingDestination.String(topic),
			attrMessagingConsumerGroup.String(handler),
		),
	}
}
