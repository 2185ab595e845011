// Package wmlog adapts a *slog.Logger to Watermill's logger the way every
// hookbus transport does.
package wmlog

import (
	"log/slog"

	"github.com/ThreeDotsLabs/watermill"
)

// Adapter returns a Watermill logger writing to l, with Watermill's Info
// level (which logs every subscription and batch) lowered to Debug; nil l
// discards everything.
func Adapter(l *slog.Logger) watermill.LoggerAdapter {
	if l == nil {
		return watermill.NopLogger{}
	}
	return watermill.NewSlogLoggerWithLevelMapping(l, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
}
