package store

import (
	"context"
	"time"

	"github.com/openintent-go/openintent/gen/models"
	"github.com/openintent-go/openintent/internal/eventlog"
)

// tables holds a store's rows: SQLite tables for a file store (sqlTables), PostgreSQL tables
// for a PostgreSQL store (pgTables), Go maps for the in-memory store (memTables). The store's rules (versions, the events each write appends,
// lease conflicts, caching, waking readers) are written once, over this interface.
//
// Inside a write transaction a tables sees the transaction's own writes; outside one, only
// committed rows. Rows come back as copies the caller may change, except intent rows and
// record bodies, which are never changed in place once stored (a write stores new ones).
type tables interface {
	// intent returns intent id's row, or nil when there is none.
	intent(ctx context.Context, id string) (*intentRow, error)
	// putIntent inserts row (insert) or replaces the stored row of its id; statusChanged tells
	// whether the status differs from the stored row's.
	putIntent(ctx context.Context, row *intentRow, insert, statusChanged bool) error
	// countIntents counts the intents q selects (its Limit and Offset aside).
	countIntents(ctx context.Context, q IntentQuery) (int64, error)
	// listIntents returns the page of intents q selects, newest first.
	listIntents(ctx context.Context, q IntentQuery) ([]*intentRow, error)
	// children returns the intents whose parent is id, oldest first.
	children(ctx context.Context, id string) ([]*intentRow, error)
	// dependents returns the intents that depend on id, oldest first.
	dependents(ctx context.Context, id string) ([]*intentRow, error)
	// addDependency and removeDependency maintain the index of dependencies (an intent's own
	// list is in its row).
	addDependency(ctx context.Context, id, dependency string) error
	removeDependency(ctx context.Context, id, dependency string) error

	// insertEvent appends ev (its ID, CreatedAt, Sequence and hashes set, Payload ignored) with
	// its encoded payload and returns its sequence number.
	insertEvent(ctx context.Context, ev *models.IntentEvent, payload []byte) (int64, error)
	// events returns an intent's events matching f, newest first.
	events(ctx context.Context, intentID string, f EventFilter) ([]models.IntentEvent, error)
	// eventsAfter returns the events matching f, oldest first.
	eventsAfter(ctx context.Context, f StreamFilter) ([]models.IntentEvent, error)
	// lastSeq returns the newest event's sequence number (0 when there is none).
	lastSeq(ctx context.Context) (int64, error)

	// The hash chain (RFC-0019, chain.go). nextSeq is the sequence number the next event gets;
	// chainHead the hash of an intent's newest event, if it has one; chainHashes the place and
	// hash of the events after afterSeq (of intentID, or of every intent when it is empty),
	// oldest first, at most limit; eventRef the place and hash of event id, if it is in the
	// log (of intentID, or every intent's when it is empty) from sequence from to to.
	nextSeq(ctx context.Context) (int64, error)
	chainHead(ctx context.Context, intentID string) (eventlog.Hash, bool, error)
	chainHashes(ctx context.Context, intentID string, afterSeq int64, limit int) ([]chainEntry, error)
	eventRef(ctx context.Context, id, intentID string, from, to int64) (chainEntry, bool, error)

	// assignment returns agentID's assignment to an intent, if any.
	assignment(ctx context.Context, intentID, agentID string) (models.AgentAssignment, bool, error)
	insertAssignment(ctx context.Context, a models.AgentAssignment) error
	setAssignmentRole(ctx context.Context, a models.AgentAssignment) error
	// deleteAssignment reports whether there was an assignment to delete.
	deleteAssignment(ctx context.Context, intentID, agentID string) (bool, error)
	// assignments returns an intent's assignments, oldest first.
	assignments(ctx context.Context, intentID string) ([]models.AgentAssignment, error)

	// Leases come back without their Status, which depends on the time of reading (withStatus).

	// activeLease returns the unreleased lease on scope expiring last after now, if any.
	activeLease(ctx context.Context, intentID, scope string, now time.Time) (models.Lease, bool, error)
	// lease returns lease id of an intent, if any.
	lease(ctx context.Context, intentID, id string) (models.Lease, bool, error)
	insertLease(ctx context.Context, l models.Lease) error
	// updateLease stores l's expiry and release time.
	updateLease(ctx context.Context, l models.Lease) error
	// leases returns every lease taken on an intent, oldest first.
	leases(ctx context.Context, intentID string) ([]models.Lease, error)

	// record returns the record kind/id if it is live at now.
	record(ctx context.Context, kind, id string, now time.Time) (Record, bool, error)
	// records returns the records q selects that are live at now (nil when none).
	records(ctx context.Context, q Query, now time.Time) ([]Record, error)
	// insertRecord stores a new record; one whose id, or key among records live at now, is
	// taken is a DuplicateError.
	insertRecord(ctx context.Context, r Record, now time.Time) error
	// rewriteRecord stores r's body, version, expiry and ref; it reports whether r existed.
	rewriteRecord(ctx context.Context, r Record) (bool, error)
	// deleteRecord deletes the record kind/id if it is live at now, reporting whether it was.
	deleteRecord(ctx context.Context, kind, id string, now time.Time) (bool, error)
}

// withStatus returns l with its status at now.
func withStatus(l models.Lease, now time.Time) models.Lease {
	switch {
	case !l.ReleasedAt.IsZero():
		l.Status = models.LeaseStatusReleased
	case !l.ExpiresAt.After(now):
		l.Status = models.LeaseStatusExpired
	default:
		l.Status = models.LeaseStatusActive
	}
	return l
}

// reading runs fn on the store's committed tables.
func reading[T any](s *Store, fn func(t tables) (T, error)) (T, error) {
	if s.mem == nil {
		if s.pg != nil {
			return fn(pgTables{q: s.pg.pool})
		}
		return fn(sqlTables{q: s.read})
	}
	s.writeMu.RLock()
	defer s.writeMu.RUnlock()
	if s.closed {
		var zero T
		return zero, errClosed
	}
	return fn(s.mem)
}
