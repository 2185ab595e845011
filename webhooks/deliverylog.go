package webhooks

import (
	"cmp"
	"context"
	"errors"
	"hash/maphash"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Outcome is how a delivery ended. The zero Outcome is not valid.
type Outcome string

// The outcomes of a delivery.
const (
	// OutcomeDelivered: the receiver answered with a 2xx status.
	OutcomeDelivered Outcome = "delivered"
	// OutcomeDeadLettered: retries were exhausted or the failure was not
	// retryable. The delivery can be redelivered.
	OutcomeDeadLettered Outcome = "dead_lettered"
	// OutcomeRefused: the request was never sent and never could be: the
	// payload was over the size limit or invalid, the event id could not be
	// sent (ErrInvalidEventID), the URL was http:// and the sender does not
	// allow it (ErrHTTPSRequired), or the webhook could not be prepared (a
	// stored secret that is not valid, say).
	OutcomeRefused Outcome = "refused"
	// OutcomeSkipped: the webhook was disabled. The delivery can be
	// redelivered.
	OutcomeSkipped Outcome = "skipped"
	// OutcomeUndelivered: shutdown came before the delivery could finish. The
	// delivery can be redelivered.
	OutcomeUndelivered Outcome = "undelivered"
)

// Errors of the delivery log.
var (
	// ErrUnknownOutcome reports a string that is not one of the outcomes,
	// including the empty string.
	ErrUnknownOutcome = errors.New("webhooks: unknown delivery outcome")
	// ErrInvalidLogEntry reports an Attempt or a DeliveryRecord that a
	// DeliveryLog refuses to record; see Attempt.Validate and
	// DeliveryRecord.Validate.
	ErrInvalidLogEntry = errors.New("webhooks: invalid delivery log entry")
	// ErrInvalidDeliveryQuery reports a DeliveryQuery that cannot be run; see
	// DeliveryQuery.Validate.
	ErrInvalidDeliveryQuery = errors.New("webhooks: invalid delivery query")
)

// ParseOutcome returns the Outcome whose wire value is s. The error wraps
// ErrUnknownOutcome. Matching is exact.
func ParseOutcome(s string) (Outcome, error) {
	if o := Outcome(s); o.Valid() {
		return o, nil
	}
	return "", newDeliveryLogError("webhooks: unknown delivery outcome "+strconv.Quote(s), ErrUnknownOutcome)
}

// Valid reports whether o is one of the outcomes.
func (o Outcome) Valid() bool { return o.index() >= 0 }

// String returns the wire value of o, valid or not.
func (o Outcome) String() string { return string(o) }

// MarshalText implements encoding.TextMarshaler. It fails with
// ErrUnknownOutcome if o is not valid.
func (o Outcome) MarshalText() ([]byte, error) {
	if !o.Valid() {
		_, err := ParseOutcome(string(o))
		return nil, err
	}
	return []byte(o), nil
}

// UnmarshalText implements encoding.TextUnmarshaler. It fails with
// ErrUnknownOutcome, leaving o unchanged, if text is not an outcome.
func (o *Outcome) UnmarshalText(text []byte) error {
	v, err := ParseOutcome(string(text))
	if err != nil {
		return err
	}
	*o = v
	return nil
}

// MaxLoggedResponseBytes is the most of a response body an Attempt holds.
const MaxLoggedResponseBytes = 4096

// Attempt is one HTTP request of a delivery.
type Attempt struct {
	// DeliveryID is the delivery the attempt belongs to; it is required.
	DeliveryID string
	// EventID is the event being delivered, sent as webhook-id.
	EventID string
	// WebhookID is the webhook the request went to.
	WebhookID string
	// Number counts the attempts of a delivery from 1.
	Number int
	// StartedAt is when the request started.
	StartedAt time.Time
	// Duration is how long the request took.
	Duration time.Duration
	// StatusCode is the response status, 0 when no response arrived.
	StatusCode int
	// Error says why the attempt failed; it is empty for a 2xx response.
	Error string
	// ResponseBody holds at most MaxLoggedResponseBytes of the response
	// body.
	ResponseBody []byte
}

// Validate reports whether a DeliveryLog records a: DeliveryID must be set
// and Number be at least 1. The error wraps ErrInvalidLogEntry.
func (a Attempt) Validate() error {
	switch {
	case a.DeliveryID == "":
		return newDeliveryLogError("webhooks: attempt without a delivery id", ErrInvalidLogEntry)
	case a.Number < 1:
		return newDeliveryLogError("webhooks: attempt "+strconv.Itoa(a.Number)+" of delivery "+strconv.Quote(a.DeliveryID)+
			": numbers start at 1", ErrInvalidLogEntry)
	}
	return nil
}

// DeliveryRecord is the delivery of one event to one webhook, with its
// outcome.
type DeliveryRecord struct {
	// ID identifies the delivery; it is required.
	ID string
	// EventID is the event delivered, sent as webhook-id.
	EventID string
	// EventType is the type of the event.
	EventType EventType
	// WebhookID is the webhook the event was delivered to.
	WebhookID string
	// WebhookCreatedAt is the CreatedAt of that webhook: it tells the
	// webhook the delivery was made for from another one created under the
	// same id since, which Redeliver does not send it to. It is zero when
	// not known (rows the PostgreSQL log recorded before its second
	// migration).
	WebhookCreatedAt time.Time
	// Outcome is how the delivery ended; it must be valid.
	Outcome Outcome
	// Attempts is the number of requests made, 0 if none was.
	Attempts int
	// StatusCode is the status of the last attempt, 0 if there was none or
	// no response arrived.
	StatusCode int
	// Error says why the delivery did not succeed; it is empty when
	// delivered.
	Error string
	// Payload is the request body, kept so the delivery can be redelivered.
	// A DeliveryLog may drop it for OutcomeDelivered (MemoryLog does).
	Payload []byte
	// OccurredAt is when the event happened.
	OccurredAt time.Time
	// CreatedAt is when the delivery was created.
	CreatedAt time.Time
	// CompletedAt is when the outcome was reached.
	CompletedAt time.Time
	// RedeliveryOf is the ID of the delivery this one redelivers, if any.
	RedeliveryOf string
}

// Validate reports whether a DeliveryLog records d: ID must be set and
// Outcome be valid. The error wraps ErrInvalidLogEntry, and ErrUnknownOutcome
// for an invalid Outcome.
func (d DeliveryRecord) Validate() error {
	switch {
	case d.ID == "":
		return newDeliveryLogError("webhooks: delivery without an id", ErrInvalidLogEntry)
	case !d.Outcome.Valid():
		return newDeliveryLogError("webhooks: delivery "+strconv.Quote(d.ID)+": unknown outcome "+strconv.Quote(string(d.Outcome)),
			ErrInvalidLogEntry, ErrUnknownOutcome)
	}
	return nil
}

// DeliveryQuery selects deliveries of a DeliveryLog. Every field set narrows
// the selection; the zero DeliveryQuery selects every delivery.
type DeliveryQuery struct {
	// WebhookID, if set, selects the deliveries to that webhook.
	WebhookID string
	// EventID, if set, selects the deliveries of that event.
	EventID string
	// Outcome, if set, selects the deliveries with that outcome.
	Outcome Outcome
	// Outcomes, if not empty, selects the deliveries with any of these
	// outcomes. It cannot be combined with Outcome.
	Outcomes []Outcome
	// Since, if not zero, selects the deliveries completed at or after it.
	Since time.Time
	// Limit, if positive, returns at most that many deliveries: the first
	// ones in the order of Deliveries. Zero means no limit.
	Limit int
}

// Validate reports whether q can be run: Outcome and every element of
// Outcomes must be valid outcomes, only one of them may be set, and Limit
// must not be negative. The error names every problem; it wraps
// ErrInvalidDeliveryQuery, and ErrUnknownOutcome for an invalid outcome.
func (q DeliveryQuery) Validate() error {
	var problems []string
	sentinels := []error{ErrInvalidDeliveryQuery}
	unknown := func(o Outcome) {
		problems = append(problems, "unknown outcome "+strconv.Quote(string(o)))
		if len(sentinels) == 1 {
			sentinels = append(sentinels, ErrUnknownOutcome)
		}
	}
	if q.Outcome != "" && len(q.Outcomes) > 0 {
		problems = append(problems, "sets both Outcome and Outcomes")
	}
	if q.Outcome != "" && !q.Outcome.Valid() {
		unknown(q.Outcome)
	}
	for _, o := range q.Outcomes {
		if !o.Valid() {
			unknown(o)
		}
	}
	if q.Limit < 0 {
		problems = append(problems, "negative limit "+strconv.Itoa(q.Limit))
	}
	if len(problems) == 0 {
		return nil
	}
	return newDeliveryLogError("webhooks: delivery query: "+strings.Join(problems, "; "), sentinels...)
}

// DeliveryLog records every attempt and every delivery outcome. The delivery
// engine calls it for each attempt and each outcome, so implementations
// should make recording cheap.
//
// Implementations are safe for concurrent use. Every method returns
// ctx.Err() (possibly wrapped) when ctx is done before it starts, and then
// records nothing. Errors other than those documented and context errors are
// failures of the backing storage.
//
// Ownership of slices: a DeliveryLog may keep the Payload and ResponseBody
// slices passed to it without copying them, so callers must not modify them
// afterwards; the Payload and ResponseBody of returned values may be shared
// with the log and other callers, so they must not be modified either. The
// slices of records and attempts that Deliveries and Attempts return are new
// on each call and belong to the caller.
//
// A DeliveryLog may forget old entries to bound its size (MemoryLog does);
// Delivery then fails with ErrNotFound and queries no longer list them.
//
// The package webhookstest provides a conformance suite for implementations.
type DeliveryLog interface {
	// RecordAttempt records one attempt of a delivery, before or after the
	// delivery's outcome is recorded. It fails with ErrInvalidLogEntry if a
	// does not pass Attempt.Validate. An attempt whose Number the delivery
	// already has changes nothing and is no error: the first one recorded
	// stays, so recording an attempt again after an error whose write may
	// have landed is safe. An implementation may truncate ResponseBody to
	// MaxLoggedResponseBytes.
	RecordAttempt(ctx context.Context, a Attempt) error
	// RecordDelivery records the outcome of a delivery, once per delivery
	// id: a second call for an id already recorded fails with ErrConflict
	// and changes nothing. It fails with ErrInvalidLogEntry if d does not
	// pass DeliveryRecord.Validate. An implementation may drop the Payload
	// of a delivered record.
	RecordDelivery(ctx context.Context, d DeliveryRecord) error
	// Delivery returns the delivery with the given id, or ErrNotFound.
	Delivery(ctx context.Context, id string) (DeliveryRecord, error)
	// Deliveries returns the deliveries q selects, ordered by CompletedAt,
	// then by ID, ascending. It fails with ErrInvalidDeliveryQuery if q
	// does not pass DeliveryQuery.Validate. No match is an empty slice and
	// a nil error.
	Deliveries(ctx context.Context, q DeliveryQuery) ([]DeliveryRecord, error)
	// Attempts returns the attempts recorded for a delivery, ordered by
	// Number. An unknown id is an empty slice and a nil error.
	Attempts(ctx context.Context, deliveryID string) ([]Attempt, error)
}

// OutcomeRecorder is a DeliveryLog that records a delivery's last attempt
// and its outcome in one step. RecordOutcome(ctx, last, d) leaves the log as
// RecordAttempt(ctx, last) followed by RecordDelivery(ctx, d) would, except
// that when d's id is already recorded it fails with ErrConflict and records
// neither; last must be an attempt of d (last.DeliveryID == d.ID), otherwise
// it fails with ErrInvalidLogEntry. A database does it in one statement: one
// commit instead of two. The delivery engine uses it for every delivery that
// ends with a successful attempt, when its log has it.
type OutcomeRecorder interface {
	DeliveryLog
	RecordOutcome(ctx context.Context, last Attempt, d DeliveryRecord) error
}

// ValidateOutcome checks the arguments of OutcomeRecorder.RecordOutcome:
// each valid, and last an attempt of d.
func ValidateOutcome(last Attempt, d DeliveryRecord) error {
	if err := last.Validate(); err != nil {
		return err
	}
	if err := d.Validate(); err != nil {
		return err
	}
	if last.DeliveryID != d.ID {
		return newDeliveryLogError("webhooks: attempt of delivery "+strconv.Quote(last.DeliveryID)+
			" recorded with the outcome of delivery "+strconv.Quote(d.ID), ErrInvalidLogEntry)
	}
	return nil
}

// DefaultLogCapacity is the number of deliveries a MemoryLog keeps when its
// capacity is not set.
const DefaultLogCapacity = 10_000

// MemoryLog is a DeliveryLog that keeps the most recent deliveries in memory,
// for a single process and for tests. It is bounded:
//
//   - it keeps at most capacity deliveries together with their attempts,
//     and at most 4*capacity attempts among them; when either bound would be
//     exceeded, the deliveries recorded earliest are evicted first, each with
//     all its attempts. With the default retry limit (4 attempts) only the
//     capacity bound is ever reached.
//   - attempts of deliveries whose outcome is not recorded yet are kept
//     apart, at most 4*capacity of them; when that bound is reached, the
//     attempts of the delivery whose first attempt is the oldest are dropped,
//     lowest Number first.
//
// MemoryLog drops the Payload of delivered records and keeps at most
// MaxLoggedResponseBytes of a ResponseBody, copying a longer one, and may
// copy a short one; it keeps every other slice it is given without copying
// (see DeliveryLog). Like a database column, it keeps the wall-clock part of
// times and drops monotonic clock readings, so deliveries are ordered by
// wall clock.
//
// Recording takes one mutex, held for a few map operations, and, at steady
// state with the log full, allocates nothing but the copy of an oversized
// response body and, when an attempt is recorded for a delivery already
// recorded with its only attempt, a copy of that delivery's strings and
// response body. A delivery that succeeded at its first attempt, with ids
// and event type of ordinary length, a short (or no) response body and
// times in UTC or local time, as most deliveries are, is kept in memory
// that the garbage collector does not scan, so a full log adds next to
// nothing to each collection. Delivery, Deliveries and
// Attempts copy what they return; Deliveries reads only the deliveries of
// the webhook or the outcomes queried (whichever are fewest; a query by
// event alone reads them all) and sorts outside the lock.
//
// A MemoryLog is safe for concurrent use. Its zero value is an empty log of
// DefaultLogCapacity, ready to use. A MemoryLog must not be copied after
// first use.
type MemoryLog struct {
	mu       sync.Mutex
	capacity int // 0 until the first write to a zero MemoryLog

	// hash, if set, replaces the hash of delivery ids, for tests. Set
	// before the log is shared, it is read without the lock.
	hash func(id string) uint64

	// Recorded deliveries live in slots, reused through a free list and
	// chained in recording order. The indexes are chains through the same
	// slots, also in recording order: eviction always takes the oldest
	// delivery, which is then the head of each chain it is on. The index by
	// delivery id is keyed by a hash of the id, computed before the lock is
	// taken and kept in the slot, so that neither recording nor eviction
	// reads an id under the lock: a chain holds the deliveries of every id
	// with that hash, and lookups compare ids.
	//
	// A slot holds no pointer: a delivery that does not fit in one (see
	// deliverySlot) is boxed, kept whole in boxes under its slot. Webhook
	// ids are interned in webhooks, one entry per webhook with deliveries
	// recorded, which also holds the webhook's chain.
	blocks       [][]deliverySlot // slot s is blocks[s/slotBlock][s%slotBlock]
	nslots       int              // slots ever used
	free         int              // first free slot, or noSlot
	order        slotChain
	byID         map[uint64]slotChain
	boxes        map[int]*deliveryBox
	spareBoxes   []*deliveryBox
	webhooks     []webhookEntry
	webhookIndex map[string]int32 // position in webhooks
	webhookFree  []int32          // unused positions in webhooks
	byOutcome    [outcomeCount]slotChain
	keptAttempts int // attempts held by recorded deliveries

	// Attempts of deliveries without an outcome, in pendingSlots, reused
	// through a free list and chained both ways in order of first attempt.
	pendingSlots    []pendingSlot
	pendingFree     int
	pendingFirst    int
	pendingLast     int
	pendingByID     map[string]int
	pendingAttempts int
}

// NewMemoryLog returns an empty MemoryLog keeping capacity deliveries.
// capacity <= 0 means DefaultLogCapacity; a capacity over 1<<30 is reduced to
// 1<<30. Memory is allocated as deliveries are recorded, not up front.
func NewMemoryLog(capacity int) *MemoryLog {
	l := &MemoryLog{}
	l.setUp(capacity)
	return l
}

var _ DeliveryLog = (*MemoryLog)(nil)

// RecordAttempt implements DeliveryLog. An attempt of a delivery that is
// already recorded joins its attempts and counts towards their bound.
func (l *MemoryLog) RecordAttempt(ctx context.Context, a Attempt) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := a.Validate(); err != nil {
		return err
	}
	a = prepareAttempt(a)
	h := l.idHash(a.DeliveryID)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.setUp(0)
	l.recordAttemptLocked(a, h)
	return nil
}

// prepareAttempt returns a as the log keeps it.
func prepareAttempt(a Attempt) Attempt {
	if len(a.ResponseBody) > MaxLoggedResponseBytes {
		// A slice of a longer body would keep all of it alive.
		a.ResponseBody = slices.Clone(a.ResponseBody[:MaxLoggedResponseBytes])
	}
	a.StartedAt = a.StartedAt.Round(0)
	return a
}

// recordAttemptLocked adds a valid, prepared attempt, whose delivery id has
// the hash h. The caller holds l.mu.
func (l *MemoryLog) recordAttemptLocked(a Attempt, h uint64) {
	if s, ok := l.lookup(a.DeliveryID, h); ok {
		if !l.recordedHasAttempt(s, a.Number) {
			l.attemptOfRecorded(s, a)
		}
		return
	}
	p, ok := l.pendingByID[a.DeliveryID]
	if ok && hasAttemptNumbered(l.pendingSlots[p].attempts, a.Number) {
		return
	}
	if !ok {
		l.makePendingRoom(noSlot)
		p = l.newPending(a.DeliveryID)
	} else {
		l.makePendingRoom(p)
	}
	ps := &l.pendingSlots[p]
	ps.attempts = insertAttempt(ps.attempts, a)
	l.pendingAttempts++
}

// RecordDelivery implements DeliveryLog. It drops the Payload of a delivered
// record and may evict the oldest deliveries to make room.
func (l *MemoryLog) RecordDelivery(ctx context.Context, d DeliveryRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := d.Validate(); err != nil {
		return err
	}
	d = prepareDelivery(d)
	h := l.idHash(d.ID)
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.recordDeliveryLocked(d, h, nil)
}

// RecordOutcome implements OutcomeRecorder: the delivery, then its last
// attempt straight into it, under one lock.
func (l *MemoryLog) RecordOutcome(ctx context.Context, last Attempt, d DeliveryRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := ValidateOutcome(last, d); err != nil {
		return err
	}
	last, d = prepareAttempt(last), prepareDelivery(d)
	h := l.idHash(d.ID)
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.recordDeliveryLocked(d, h, &last)
}

var _ OutcomeRecorder = (*MemoryLog)(nil)

// prepareDelivery returns d as the log keeps it.
func prepareDelivery(d DeliveryRecord) DeliveryRecord {
	if d.Outcome == OutcomeDelivered {
		d.Payload = nil
	}
	d.OccurredAt = d.OccurredAt.Round(0)
	d.CreatedAt = d.CreatedAt.Round(0)
	d.CompletedAt = d.CompletedAt.Round(0)
	d.WebhookCreatedAt = d.WebhookCreatedAt.Round(0)
	return d
}

// recordDeliveryLocked adds a valid, prepared delivery, whose id has the
// hash h, and then its attempt last if not nil (valid, prepared, of d), or
// fails with ErrConflict. The caller holds l.mu.
func (l *MemoryLog) recordDeliveryLocked(d DeliveryRecord, h uint64, last *Attempt) error {
	l.setUp(0)
	if _, ok := l.lookup(d.ID, h); ok {
		return newDeliveryLogError("webhooks: delivery "+strconv.Quote(d.ID)+" already recorded", ErrConflict)
	}
	p, hasPending := l.pendingByID[d.ID]
	var pending []Attempt
	if hasPending {
		pending = l.pendingSlots[p].attempts
	}
	if last != nil && hasAttemptNumbered(pending, last.Number) {
		last = nil // the first attempt of its number stays
	}
	n := len(pending)
	for l.order.n >= l.capacity || (l.order.n > 0 && l.keptAttempts+n > l.attemptLimit()) {
		l.evictOldest()
	}
	s := l.newSlot()
	slot := l.slot(s)
	slot.idHash = h
	slot.outcome = uint8(d.Outcome.index())
	slot.webhook = l.internWebhook(d.WebhookID)
	// Packed if it fits, attempt included; boxed from d otherwise, never
	// from the slot, whose strings would have to be made again.
	only := last
	if n > 0 {
		only = &pending[0]
	}
	packed := (n == 0 || (n == 1 && last == nil)) && slot.pack(d)
	if packed && only != nil && !slot.packAttempt(*only, d.WebhookID) {
		slot.unpack()
		packed = false
	}
	if !packed {
		b := l.newBox(d, pending)
		if last != nil {
			b.attempts = insertAttempt(b.attempts, *last)
		}
		l.boxes[s] = b
	}
	if hasPending {
		l.pendingAttempts -= n
		l.releasePending(p)
		l.keptAttempts += n
	}
	l.link(s)
	if last != nil {
		l.keptAttempts++
		for l.keptAttempts > l.attemptLimit() {
			l.evictOldest()
		}
	}
	return nil
}

// attemptOfRecorded adds a valid, prepared attempt to the delivery recorded
// in slot s, evicting the oldest deliveries if the attempts kept exceed
// their bound. The caller holds l.mu.
func (l *MemoryLog) attemptOfRecorded(s int, a Attempt) {
	slot := l.slot(s)
	if b := l.boxes[s]; b != nil {
		b.attempts = insertAttempt(b.attempts, a)
	} else if slot.hasAttempt || !slot.packAttempt(a, l.webhooks[slot.webhook].id) {
		l.box(s, a)
	}
	l.keptAttempts++
	for l.keptAttempts > l.attemptLimit() {
		l.evictOldest()
	}
}

// recordedHasAttempt reports whether the delivery recorded in slot s has an
// attempt numbered n. The caller holds l.mu.
func (l *MemoryLog) recordedHasAttempt(s, n int) bool {
	if b := l.boxes[s]; b != nil {
		return hasAttemptNumbered(b.attempts, n)
	}
	slot := l.slot(s)
	return slot.hasAttempt && slot.attemptNumber == n
}

// hasAttemptNumbered reports whether attempts has one numbered n.
func hasAttemptNumbered(attempts []Attempt, n int) bool {
	for i := range attempts {
		if attempts[i].Number == n {
			return true
		}
	}
	return false
}

// box moves the delivery packed in slot s into a box, with its attempt if
// it has one and a, in order. It makes the delivery's strings again, and its
// attempt's response body if any.
func (l *MemoryLog) box(s int, a Attempt) {
	slot := l.slot(s)
	b := l.newBox(slot.record(l), nil)
	if slot.hasAttempt {
		b.attempts = append(b.attempts, slot.attempt(b.rec))
	}
	b.attempts = insertAttempt(b.attempts, a)
	slot.unpack()
	l.boxes[s] = b
}

// Delivery implements DeliveryLog.
func (l *MemoryLog) Delivery(ctx context.Context, id string) (DeliveryRecord, error) {
	if err := ctx.Err(); err != nil {
		return DeliveryRecord{}, err
	}
	h := l.idHash(id)
	l.mu.Lock()
	s, ok := l.lookup(id, h)
	var d DeliveryRecord
	if ok {
		d = l.record(s)
	}
	l.mu.Unlock()
	if !ok {
		return DeliveryRecord{}, newDeliveryLogError("webhooks: delivery "+strconv.Quote(id)+" not found", ErrNotFound)
	}
	return d, nil
}

// Deliveries implements DeliveryLog.
func (l *MemoryLog) Deliveries(ctx context.Context, q DeliveryQuery) ([]DeliveryRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	m := deliveryMatcher{webhookID: q.WebhookID, eventID: q.EventID, since: q.Since}
	if q.Outcome != "" {
		m.outcomes = 1 << q.Outcome.index()
	}
	for _, o := range q.Outcomes {
		m.outcomes |= 1 << o.index()
	}

	l.mu.Lock()
	res := l.matching(m)
	l.mu.Unlock()

	slices.SortFunc(res, compareDeliveryRecords)
	if q.Limit > 0 && len(res) > q.Limit {
		// A new slice, so the caller does not keep the discarded matches
		// alive.
		res = slices.Clone(res[:q.Limit])
	}
	return res, nil
}

// Attempts implements DeliveryLog.
func (l *MemoryLog) Attempts(ctx context.Context, deliveryID string) ([]Attempt, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h := l.idHash(deliveryID)
	l.mu.Lock()
	defer l.mu.Unlock()
	var src []Attempt
	if s, ok := l.lookup(deliveryID, h); ok {
		if b := l.boxes[s]; b != nil {
			src = b.attempts
		} else if slot := l.slot(s); slot.hasAttempt {
			return []Attempt{slot.attempt(slot.record(l))}, nil
		}
	} else if p, ok := l.pendingByID[deliveryID]; ok {
		src = l.pendingSlots[p].attempts
	}
	out := make([]Attempt, len(src)) // not nil even when empty
	copy(out, src)
	return out, nil
}

// noSlot marks the end of a chain or an empty free list.
const noSlot = -1

const (
	// outcomeCount is the number of valid outcomes.
	outcomeCount = 5
	// logAttemptsPerDelivery sizes the attempt bounds of a MemoryLog: the spec's
	// limit of 3 retries makes at most 4 attempts per delivery.
	logAttemptsPerDelivery = 4
	// maxMemoryLogCapacity keeps logAttemptsPerDelivery*capacity far from
	// overflowing.
	maxMemoryLogCapacity = 1 << 30
	// maxRecycledAttempts is the largest attempts slice kept for reuse when
	// a box or a pending slot is freed; a larger one is left to the garbage collector so a
	// single delivery with many attempts does not pin its memory.
	maxRecycledAttempts = 16
)

// outcomes lists the valid outcomes; a MemoryLog indexes them by position.
var outcomes = [outcomeCount]Outcome{OutcomeDelivered, OutcomeDeadLettered, OutcomeRefused, OutcomeSkipped, OutcomeUndelivered}

// index returns the position of o in outcomes, or -1.
func (o Outcome) index() int {
	for i, x := range outcomes {
		if x == o {
			return i
		}
	}
	return -1
}

// deliverySlot holds a recorded delivery, and its links on the chains of
// the log. It holds no pointer, so the garbage collector never scans the
// slots: a delivery whose times are in UTC or local time, with no Payload
// and no Error, whose strings fit in text, and with at most one attempt,
// of the same event and webhook, without an error and with a response body
// that fits in what text has left, is packed in its slot. Any other is
// boxed: its slot then holds only its links, webhook and outcome.
type deliverySlot struct {
	idHash uint64 // of the delivery id
	// next links the recording order, or the free list.
	next        int
	nextID      int
	nextWebhook int
	nextOutcome int
	webhook     int32 // position in MemoryLog.webhooks
	outcome     uint8 // Outcome.index

	// The packed delivery, when packed.
	packed                                           bool
	idLen, eventIDLen, eventTypeLen, redeliveryOfLen uint8
	attempts, statusCode                             int
	occurredAt, createdAt, completedAt               packedTime
	webhookCreatedAt                                 packedTime
	// Its attempt, when hasAttempt; a response body when hasBody.
	hasAttempt, hasBody bool
	bodyLen             uint8
	attemptNumber       int
	attemptStatusCode   int
	attemptDuration     time.Duration
	attemptStartedAt    packedTime
	// text holds the delivery id, event id, event type, RedeliveryOf and
	// the response body, in this order.
	text [slotText]byte
}

// slotText is the room a slot has for a delivery's strings: enough for two
// prefixed UUIDs, an event type, another prefixed UUID and a short
// response body.
const slotText = 192

// deliveryBox is a delivery that does not fit in its slot, with its
// attempts, ordered by Number.
type deliveryBox struct {
	rec      DeliveryRecord
	attempts []Attempt
}

// newBox returns a box holding d and a copy of attempts, ordered, reusing
// a spare box.
func (l *MemoryLog) newBox(d DeliveryRecord, attempts []Attempt) *deliveryBox {
	var b *deliveryBox
	if n := len(l.spareBoxes); n > 0 {
		b = l.spareBoxes[n-1]
		l.spareBoxes[n-1] = nil
		l.spareBoxes = l.spareBoxes[:n-1]
	} else {
		b = new(deliveryBox)
	}
	b.rec = d
	b.attempts = append(b.attempts, attempts...)
	return b
}

// recycleBox empties b and keeps it for reuse, unless enough are kept.
func (l *MemoryLog) recycleBox(b *deliveryBox) {
	if len(l.spareBoxes) >= maxSpareBoxes {
		return
	}
	b.rec = DeliveryRecord{}
	b.attempts = recycleAttempts(b.attempts)
	l.spareBoxes = append(l.spareBoxes, b)
}

// maxSpareBoxes bounds the emptied boxes a MemoryLog keeps for reuse.
const maxSpareBoxes = 256

// packedTime is a time in UTC or local time, without pointers.
type packedTime struct {
	sec   int64
	nsec  int32
	local bool
}

// packTime packs t, and reports whether it could: its location must be UTC
// or Local.
func packTime(t time.Time) (packedTime, bool) {
	switch t.Location() {
	case time.UTC:
		return packedTime{sec: t.Unix(), nsec: int32(t.Nanosecond())}, true
	case time.Local:
		return packedTime{sec: t.Unix(), nsec: int32(t.Nanosecond()), local: true}, true
	}
	return packedTime{}, false
}

// time returns the packed time, equal (==) to the one packed, which had no
// monotonic clock reading.
func (p packedTime) time() time.Time {
	t := time.Unix(p.sec, int64(p.nsec))
	if !p.local {
		t = t.UTC()
	}
	return t
}

// pack packs d, prepared, into the empty slot s, and reports whether it
// fits; if not, s is unchanged.
func (s *deliverySlot) pack(d DeliveryRecord) bool {
	if d.Payload != nil || d.Error != "" ||
		len(d.ID)+len(d.EventID)+len(d.EventType)+len(d.RedeliveryOf) > slotText {
		return false
	}
	occurred, ok1 := packTime(d.OccurredAt)
	created, ok2 := packTime(d.CreatedAt)
	completed, ok3 := packTime(d.CompletedAt)
	webhookCreated, ok4 := packTime(d.WebhookCreatedAt)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return false
	}
	n := copy(s.text[:], d.ID)
	n += copy(s.text[n:], d.EventID)
	n += copy(s.text[n:], d.EventType)
	copy(s.text[n:], d.RedeliveryOf)
	s.idLen, s.eventIDLen = uint8(len(d.ID)), uint8(len(d.EventID))
	s.eventTypeLen, s.redeliveryOfLen = uint8(len(d.EventType)), uint8(len(d.RedeliveryOf))
	s.attempts, s.statusCode = d.Attempts, d.StatusCode
	s.occurredAt, s.createdAt, s.completedAt = occurred, created, completed
	s.webhookCreatedAt = webhookCreated
	s.packed = true
	return true
}

// textLen returns the length of the packed delivery's strings in text.
func (s *deliverySlot) textLen() int {
	return int(s.idLen) + int(s.eventIDLen) + int(s.eventTypeLen) + int(s.redeliveryOfLen)
}

// packAttempt packs a, prepared, as the only attempt of the delivery packed
// in s (to the webhook webhookID), which has no attempt yet, and reports
// whether it fits; if not, s is unchanged.
func (s *deliverySlot) packAttempt(a Attempt, webhookID string) bool {
	n := s.textLen()
	if !s.packed || a.Error != "" || a.WebhookID != webhookID || !s.hasEventID(a.EventID) ||
		!s.hasDeliveryID(a.DeliveryID) || len(a.ResponseBody) > slotText-n {
		return false
	}
	started, ok := packTime(a.StartedAt)
	if !ok {
		return false
	}
	s.hasBody = a.ResponseBody != nil
	s.bodyLen = uint8(copy(s.text[n:], a.ResponseBody))
	s.attemptNumber, s.attemptStatusCode, s.attemptDuration = a.Number, a.StatusCode, a.Duration
	s.attemptStartedAt = started
	s.hasAttempt = true
	return true
}

// unpack empties s of its packed delivery, keeping its links, webhook and
// outcome.
func (s *deliverySlot) unpack() {
	*s = deliverySlot{idHash: s.idHash, next: s.next, nextID: s.nextID, nextWebhook: s.nextWebhook,
		nextOutcome: s.nextOutcome, webhook: s.webhook, outcome: s.outcome}
}

// hasDeliveryID reports whether the delivery packed in s has the id.
func (s *deliverySlot) hasDeliveryID(id string) bool {
	return string(s.text[:s.idLen]) == id
}

// hasEventID reports whether the delivery packed in s is of the event id.
func (s *deliverySlot) hasEventID(id string) bool {
	return string(s.text[s.idLen:s.idLen+s.eventIDLen]) == id
}

// record returns the delivery packed in s, its strings in one allocation.
func (s *deliverySlot) record(l *MemoryLog) DeliveryRecord {
	text := string(s.text[:s.textLen()])
	id, text := text[:s.idLen], text[s.idLen:]
	eventID, text := text[:s.eventIDLen], text[s.eventIDLen:]
	eventType, redeliveryOf := text[:s.eventTypeLen], text[s.eventTypeLen:]
	return DeliveryRecord{
		ID:               id,
		EventID:          eventID,
		EventType:        EventType(eventType),
		WebhookID:        l.webhooks[s.webhook].id,
		WebhookCreatedAt: s.webhookCreatedAt.time(),
		Outcome:          outcomes[s.outcome],
		Attempts:         s.attempts,
		StatusCode:       s.statusCode,
		OccurredAt:       s.occurredAt.time(),
		CreatedAt:        s.createdAt.time(),
		CompletedAt:      s.completedAt.time(),
		RedeliveryOf:     redeliveryOf,
	}
}

// attempt returns the attempt packed in s, of the delivery d packed with
// it.
func (s *deliverySlot) attempt(d DeliveryRecord) Attempt {
	a := Attempt{
		DeliveryID: d.ID,
		EventID:    d.EventID,
		WebhookID:  d.WebhookID,
		Number:     s.attemptNumber,
		StartedAt:  s.attemptStartedAt.time(),
		Duration:   s.attemptDuration,
		StatusCode: s.attemptStatusCode,
	}
	if s.hasBody {
		n := s.textLen()
		a.ResponseBody = slices.Clone(s.text[n : n+int(s.bodyLen)])
		if a.ResponseBody == nil {
			a.ResponseBody = []byte{}
		}
	}
	return a
}

// webhookEntry is an interned webhook id, with the chain of its recorded
// deliveries.
type webhookEntry struct {
	id    string
	chain slotChain
}

// internWebhook returns the position of the webhook id in l.webhooks,
// adding it if it has no recorded deliveries.
func (l *MemoryLog) internWebhook(id string) int32 {
	if w, ok := l.webhookIndex[id]; ok {
		return w
	}
	var w int32
	if n := len(l.webhookFree); n > 0 {
		w = l.webhookFree[n-1]
		l.webhookFree = l.webhookFree[:n-1]
	} else {
		l.webhooks = append(l.webhooks, webhookEntry{})
		w = int32(len(l.webhooks) - 1)
	}
	l.webhooks[w] = webhookEntry{id: id, chain: slotChain{head: noSlot, tail: noSlot}}
	l.webhookIndex[id] = w
	return w
}

// record returns the delivery in slot s.
func (l *MemoryLog) record(s int) DeliveryRecord {
	if b := l.boxes[s]; b != nil {
		return b.rec
	}
	return l.slot(s).record(l)
}

// hashSeed seeds the hashes of the delivery ids MemoryLogs index.
var hashSeed = maphash.MakeSeed()

// idHash returns the hash under which l indexes the delivery id.
func (l *MemoryLog) idHash(id string) uint64 {
	if l.hash != nil {
		return l.hash(id)
	}
	return maphash.String(hashSeed, id)
}

// pendingSlot holds the attempts of a delivery without an outcome.
type pendingSlot struct {
	id       string
	attempts []Attempt
	// prev and next link the order of first attempt; next also links the
	// free list.
	prev, next int
}

// slotChain is a singly linked chain of delivery slots.
type slotChain struct {
	head, tail, n int
}

// chainLink names the link a chain follows.
type chainLink int

const (
	linkOrder chainLink = iota
	linkID
	linkWebhook
	linkOutcome
)

// setUp prepares the log on first use; capacity <= 0 means the default.
func (l *MemoryLog) setUp(capacity int) {
	if l.byID != nil {
		return
	}
	if capacity <= 0 {
		capacity = DefaultLogCapacity
	}
	l.capacity = min(capacity, maxMemoryLogCapacity)
	l.free, l.pendingFree, l.pendingFirst, l.pendingLast = noSlot, noSlot, noSlot, noSlot
	l.order = slotChain{head: noSlot, tail: noSlot}
	for i := range l.byOutcome {
		l.byOutcome[i] = slotChain{head: noSlot, tail: noSlot}
	}
	l.byID = make(map[uint64]slotChain)
	l.boxes = make(map[int]*deliveryBox)
	l.webhookIndex = make(map[string]int32)
	l.pendingByID = make(map[string]int)
}

// attemptLimit bounds the attempts held by recorded deliveries, and
// separately those of pending ones.
func (l *MemoryLog) attemptLimit() int { return logAttemptsPerDelivery * l.capacity }

// newSlot returns a free delivery slot, growing the slots if there is none.
func (l *MemoryLog) newSlot() int {
	if s := l.free; s != noSlot {
		l.free = l.slot(s).next
		return s
	}
	s := l.nslots
	if s%slotBlock == 0 {
		// Blocks, not one growing slice: growing would copy every
		// recorded delivery.
		l.blocks = append(l.blocks, make([]deliverySlot, slotBlock))
	}
	l.nslots++
	return s
}

// slotBlock is the number of delivery slots allocated together.
const slotBlock = 256

// slot returns delivery slot s.
func (l *MemoryLog) slot(s int) *deliverySlot {
	return &l.blocks[s/slotBlock][s%slotBlock]
}

// lookup returns the slot of the delivery id, whose hash is h.
func (l *MemoryLog) lookup(id string, h uint64) (int, bool) {
	c := l.byID[h]
	for s, left := c.head, c.n; left > 0; left-- {
		slot := l.slot(s)
		if slot.packed && slot.hasDeliveryID(id) {
			return s, true
		}
		if b := l.boxes[s]; !slot.packed && b.rec.ID == id {
			return s, true
		}
		s = slot.nextID
	}
	return noSlot, false
}

// link puts the delivery in slot s at the end of its chains.
func (l *MemoryLog) link(s int) {
	slot := l.slot(s)
	l.appendToIDChain(slot.idHash, s)
	l.appendTo(&l.order, s, linkOrder)
	l.appendTo(&l.webhooks[slot.webhook].chain, s, linkWebhook)
	l.appendTo(&l.byOutcome[slot.outcome], s, linkOutcome)
}

// appendToIDChain adds slot s at the tail of the chain of the delivery ids
// with hash h.
func (l *MemoryLog) appendToIDChain(h uint64, s int) {
	c := l.byID[h]
	if c.n == 0 {
		c = slotChain{head: noSlot, tail: noSlot}
	}
	l.appendTo(&c, s, linkID)
	l.byID[h] = c
}

// popIDChainHead removes the head of the chain of the delivery ids with
// hash h, whose successor is next.
func (l *MemoryLog) popIDChainHead(h uint64, next int) {
	c := l.byID[h]
	if c.n == 1 {
		delete(l.byID, h)
		return
	}
	popChainHead(&c, next)
	l.byID[h] = c
}

// appendTo adds slot s at the tail of c, following link.
func (l *MemoryLog) appendTo(c *slotChain, s int, link chainLink) {
	*l.slot(s).linkPtr(link) = noSlot
	if c.n == 0 {
		c.head = s
	} else {
		*l.slot(c.tail).linkPtr(link) = s
	}
	c.tail = s
	c.n++
}

// evictOldest removes the delivery recorded earliest, with its attempts, and
// frees its slot. The log must not be empty.
func (l *MemoryLog) evictOldest() {
	s := l.order.head
	slot := l.slot(s)
	l.popIDChainHead(slot.idHash, slot.nextID)
	popChainHead(&l.order, slot.next)
	w := &l.webhooks[slot.webhook]
	if popChainHead(&w.chain, slot.nextWebhook); w.chain.n == 0 {
		delete(l.webhookIndex, w.id)
		*w = webhookEntry{}
		l.webhookFree = append(l.webhookFree, slot.webhook)
	}
	popChainHead(&l.byOutcome[slot.outcome], slot.nextOutcome)
	if b := l.boxes[s]; b != nil {
		l.keptAttempts -= len(b.attempts)
		delete(l.boxes, s)
		l.recycleBox(b)
	} else if slot.hasAttempt {
		l.keptAttempts--
	}
	*slot = deliverySlot{next: l.free}
	l.free = s
}

// popChainHead removes the head of c, whose successor is next.
func popChainHead(c *slotChain, next int) {
	c.n--
	if c.n == 0 {
		*c = slotChain{head: noSlot, tail: noSlot}
		return
	}
	c.head = next
}

// linkPtr returns the link of slot s that chains of kind link follow.
func (s *deliverySlot) linkPtr(link chainLink) *int {
	switch link {
	case linkWebhook:
		return &s.nextWebhook
	case linkID:
		return &s.nextID
	case linkOutcome:
		return &s.nextOutcome
	}
	return &s.next
}

// newPending returns a pending slot for the delivery id, last in the order of
// first attempt.
func (l *MemoryLog) newPending(id string) int {
	p := l.pendingFree
	if p != noSlot {
		l.pendingFree = l.pendingSlots[p].next
	} else {
		l.pendingSlots = append(l.pendingSlots, pendingSlot{})
		p = len(l.pendingSlots) - 1
	}
	ps := &l.pendingSlots[p]
	ps.id = id
	ps.prev, ps.next = l.pendingLast, noSlot
	if l.pendingLast == noSlot {
		l.pendingFirst = p
	} else {
		l.pendingSlots[l.pendingLast].next = p
	}
	l.pendingLast = p
	l.pendingByID[id] = p
	return p
}

// releasePending unlinks the pending slot p and frees it, keeping its
// attempts slice, emptied, for reuse. The caller accounts for the attempts.
func (l *MemoryLog) releasePending(p int) {
	ps := &l.pendingSlots[p]
	if ps.prev == noSlot {
		l.pendingFirst = ps.next
	} else {
		l.pendingSlots[ps.prev].next = ps.next
	}
	if ps.next == noSlot {
		l.pendingLast = ps.prev
	} else {
		l.pendingSlots[ps.next].prev = ps.prev
	}
	delete(l.pendingByID, ps.id)
	ps.id = ""
	ps.attempts = recycleAttempts(ps.attempts)
	ps.prev, ps.next = noSlot, l.pendingFree
	l.pendingFree = p
}

// makePendingRoom drops pending attempts until one more fits: whole
// deliveries in order of first attempt, except keep (a pending slot about to
// receive an attempt), whose lowest-numbered attempt goes instead.
func (l *MemoryLog) makePendingRoom(keep int) {
	for l.pendingAttempts >= l.attemptLimit() {
		p := l.pendingFirst
		if p == keep {
			ps := &l.pendingSlots[p]
			n := len(ps.attempts)
			copy(ps.attempts, ps.attempts[1:])
			ps.attempts[n-1] = Attempt{}
			ps.attempts = ps.attempts[:n-1]
			l.pendingAttempts--
			continue
		}
		l.pendingAttempts -= len(l.pendingSlots[p].attempts)
		l.releasePending(p)
	}
}

// deliveryMatcher is a DeliveryQuery ready to test records.
type deliveryMatcher struct {
	webhookID, eventID string
	outcomes           uint8 // bit i set selects the outcome of index i; 0 selects all
	since              time.Time
}

// match reports whether m selects the delivery in slot s of l.
func (m *deliveryMatcher) match(l *MemoryLog, s int, slot *deliverySlot) bool {
	if (m.webhookID != "" && l.webhooks[slot.webhook].id != m.webhookID) ||
		(m.outcomes != 0 && m.outcomes&(1<<slot.outcome) == 0) {
		return false
	}
	if !slot.packed {
		d := &l.boxes[s].rec
		return (m.eventID == "" || d.EventID == m.eventID) &&
			(m.since.IsZero() || !d.CompletedAt.Before(m.since))
	}
	return (m.eventID == "" || slot.hasEventID(m.eventID)) &&
		(m.since.IsZero() || !slot.completedAt.time().Before(m.since))
}

// matching returns copies of the records m selects, unordered. It walks the
// shortest chain that covers them all.
func (l *MemoryLog) matching(m deliveryMatcher) []DeliveryRecord {
	chains := [outcomeCount]slotChain{l.order}
	link, nChains, total := linkOrder, 1, l.order.n
	if m.webhookID != "" {
		c := slotChain{head: noSlot, tail: noSlot}
		if w, ok := l.webhookIndex[m.webhookID]; ok {
			c = l.webhooks[w].chain
		}
		if c.n < total {
			chains[0], link, nChains, total = c, linkWebhook, 1, c.n
		}
	}
	if m.outcomes != 0 {
		var cs [outcomeCount]slotChain
		k, sum := 0, 0
		for i, c := range l.byOutcome {
			if m.outcomes&(1<<i) != 0 {
				cs[k] = c
				k++
				sum += c.n
			}
		}
		if sum < total {
			chains, link, nChains, total = cs, linkOutcome, k, sum
		}
	}
	res := make([]DeliveryRecord, 0, min(total, 64)) // not nil even when empty
	for _, c := range chains[:nChains] {
		for s, left := c.head, c.n; left > 0; left-- {
			slot := l.slot(s)
			if m.match(l, s, slot) {
				res = append(res, l.record(s))
			}
			s = *slot.linkPtr(link)
		}
	}
	return res
}

// compareDeliveryRecords orders records by CompletedAt, then by ID.
func compareDeliveryRecords(a, b DeliveryRecord) int {
	if c := a.CompletedAt.Compare(b.CompletedAt); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// insertAttempt adds a to attempts, which is ordered by Number, after any
// attempt with the same Number.
func insertAttempt(attempts []Attempt, a Attempt) []Attempt {
	attempts = append(attempts, a)
	i := len(attempts) - 1
	for ; i > 0 && attempts[i-1].Number > a.Number; i-- {
		attempts[i] = attempts[i-1]
	}
	attempts[i] = a
	return attempts
}

// recycleAttempts empties attempts for reuse, dropping its references, or returns
// nil if it is too large to keep.
func recycleAttempts(attempts []Attempt) []Attempt {
	if cap(attempts) > maxRecycledAttempts {
		return nil
	}
	clear(attempts)
	return attempts[:0]
}

// deliveryLogError is an error of the delivery log: a message and the sentinels it
// wraps.
type deliveryLogError struct {
	msg  string
	errs []error
}

func newDeliveryLogError(msg string, errs ...error) error {
	return &deliveryLogError{msg: msg, errs: errs}
}

func (e *deliveryLogError) Error() string   { return e.msg }
func (e *deliveryLogError) Unwrap() []error { return e.errs }
