package main

import (
	"context"
	"fmt"

	"github.com/hookbus/hookbus/bus"
)

// backend supplies the transport of the bus under measurement. Every mode
// builds its buses through one, so a broker-backed run differs from the
// in-memory one only here.
type backend interface {
	// name is the value of -backend.
	name() string
	// busConfig returns cfg with the backend's Publisher and Subscriber (or
	// NewSubscriber) set, and a function that releases what it created,
	// called after the bus has shut down.
	busConfig(ctx context.Context, cfg bus.Config) (bus.Config, func() error, error)
}

// newBackend returns the backend called name.
func newBackend(name string) (backend, error) {
	switch name {
	case "memory":
		return memoryBackend{}, nil
	}
	return nil, fmt.Errorf("-backend %q: only memory is implemented", name)
}

// memoryBackend is the in-memory transport: the GoChannel bus.New makes
// when Publisher and Subscriber are nil.
type memoryBackend struct{}

func (memoryBackend) name() string { return "memory" }

func (memoryBackend) busConfig(_ context.Context, cfg bus.Config) (bus.Config, func() error, error) {
	return cfg, func() error { return nil }, nil
}
