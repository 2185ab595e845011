package postgres

import (
	"context"
	"fmt"
	"time"
)

// Prune deletes the deliveries completed before olderThan, with their
// attempts, and the attempts started before olderThan that belong to no
// recorded delivery (such as those of test sends, or of deliveries whose
// outcome was never recorded). It returns the number of deliveries deleted.
//
// It deletes in batches of LogOptions.PruneBatchSize deliveries, each batch
// one statement in its own transaction, oldest first, so a large backlog
// never holds locks for long and recording goes on meanwhile. When ctx ends
// it stops between or during batches and returns the number deleted so far
// with ctx's error, possibly wrapped; the batches already done stay done, and
// calling Prune again finishes the work.
//
// Choose olderThan well before any delivery in flight: the attempts of a
// delivery still running when it started before olderThan are deleted too.
// A host typically calls it from a ticker with time.Now() minus its
// retention period.
func (l *DeliveryLog) Prune(ctx context.Context, olderThan time.Time) (int64, error) {
	// Stored times are whole microseconds: before olderThan is before its
	// next whole microsecond.
	olderThan = ceilMicrosecond(olderThan)
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		var n int64
		if err := l.db.QueryRowContext(ctx, l.q.pruneDeliveries, olderThan, l.pruneBatch).Scan(&n); err != nil {
			return total, fmt.Errorf("postgres: prune deliveries: %w", err)
		}
		total += n
		if n < int64(l.pruneBatch) {
			break
		}
	}
	// Attempts come about four to a delivery: batches of attempts are
	// larger to take about as long.
	attemptBatch := 4 * l.pruneBatch
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		res, err := l.db.ExecContext(ctx, l.q.pruneOrphanAttempts, olderThan, attemptBatch)
		if err != nil {
			return total, fmt.Errorf("postgres: prune attempts: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("postgres: prune attempts: %w", err)
		}
		if n < int64(attemptBatch) {
			return total, nil
		}
	}
}
