// Package store defines the sync server's storage: the merged tables, the
// server log that orders every accepted change, and the record of which
// pushes were already applied. The server talks to it only through Store,
// so the default embedded SQLite store (syncserver/sqlitestore) and the
// PostgreSQL one (syncserver/pgstore) are interchangeable.
//
// Every method is one transaction: a push is applied whole or not at all,
// and its log positions, dedup records and violation rows commit with it.
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/checksum"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/merge"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/hearthdb/hearth/syncworker/wire"
)

// Schema is what the store must hold: the app's tables, and which of
// them sync.
type Schema struct {
	Migrations []appschema.Migration
	Tables     []appschema.Table
	// Scopes names, per synced table, the column holding a row's scope
	// (see Scope); the store records every row's scope in its log
	// entries and lets snapshots select scopes.
	Scopes map[string]string
}

// Info describes an opened store.
type Info struct {
	// ID identifies this store's log; it never changes once created.
	ID string
	// Version is the newest schema version the store is at.
	Version int64
	// Head is the last log position.
	Head int64
	// Tables are the synced tables as the store describes them.
	Tables []*schema.Info
}

// Refusal codes the store adds to merge's (UNKNOWN_TABLE, UNKNOWN_COLUMN,
// TYPE_MISMATCH, BAD_KEY, BAD_CHANGE).
const (
	// CodeForbidden: the change writes a table clients may not write, or
	// the app's authorization refused it.
	CodeForbidden = "FORBIDDEN"
	// CodeConstraint: the database's own constraints refused the row.
	CodeConstraint = "CONSTRAINT"
	// CodeClockSkew: the change's timestamp is too far in the future.
	CodeClockSkew = "CLOCK_SKEW"
	// CodeReplayMismatch: the client pushed a change under a seq that
	// already has an outcome for another change (a different stamp, or
	// table, key or op). The store answers it with this refusal instead
	// of the earlier outcome, records nothing, and keeps the earlier
	// outcome for a true replay.
	CodeReplayMismatch = "REPLAY_MISMATCH"
	// CodeRowTooLarge: the change would make its row weigh more than
	// Push.MaxRowBytes (see RowData.Weight).
	CodeRowTooLarge = "ROW_TOO_LARGE"
	// CodeQuotaExceeded: the change would make the rows the pushing
	// principal last wrote weigh more than Push.MaxPrincipalBytes.
	CodeQuotaExceeded = "QUOTA_EXCEEDED"
)

// TextEpochsKept is how many of a text field's past epochs the server
// can translate ops from (see Writer.SaveTextEpoch).
const TextEpochsKept = 4

// Pushed is one change a client pushed.
type Pushed struct {
	Seq int64
	change.Change
	// Prev and Scope are the row's scope before and after the change,
	// set by the store before Admit for tables with a scope rule.
	Prev, Scope Scope
}

// Push is one client's batch.
type Push struct {
	Client string
	// Principal is who pushed it (Identity.Principal; "" on a server
	// without authentication). Every log entry of the push records it,
	// and a client id bound to another principal (see BindClient) fails
	// the push with ErrClientTaken.
	Principal string
	// Schema is the client's schema version.
	Schema  int64
	Changes []Pushed
	// Stamp stamps changes the server writes itself (violation rows).
	Stamp func() hlc.Stamp
	// Restamped says the pusher stamps its changes anew each time it
	// sends them (backend writes, whose retries are told apart by a
	// request digest of their own): a repeated (client, seq) gets its
	// first outcome without comparing stamps (see Recorded).
	Restamped bool
	// MaxRowBytes, when positive, refuses a change that would make its
	// row weigh more than this (RowData.Weight) with ROW_TOO_LARGE,
	// unless the change makes the row lighter: a row only grows to it.
	MaxRowBytes int
	// TextCompactTombstones, when positive and Stamp is set, compacts a
	// collaborative text field a change edits once it holds this many
	// deleted characters (see collabtext.Compact): the server merges and
	// logs a reset, stamped by Stamp, after the change.
	TextCompactTombstones int
	// MaxPrincipalBytes, when positive and Principal is not "", refuses
	// a change that would make the rows Principal last wrote weigh more
	// than this in all (its usage, see Writer.Usage) with
	// QUOTA_EXCEEDED, unless the change does not add to that usage
	// (deletes never do).
	MaxPrincipalBytes int64
}

// PushResult is the outcome of a push: a verdict per change, as the
// server's Ack carries it (wire.Acknowledged, wire.Flagged or
// wire.Refused).
type PushResult struct {
	Outcomes []wire.Result
	// Head is the last log position after the push.
	Head int64
}

// Querier runs read queries inside the store's transaction, for
// invariant checks. Arguments and results are storable values (nil,
// int64, float64, string, []byte).
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) ([][]any, error)
}

// Checker is the server's say on each change of a push, called inside
// the push's transaction.
type Checker interface {
	// Admit runs before a change is applied; a non-nil refusal keeps
	// it out.
	Admit(ctx context.Context, q Querier, p *Push, c *Pushed) *merge.Refusal
	// Inspect runs after a change is applied and returns the invariant
	// violations it caused: the change stays stored and is flagged.
	Inspect(ctx context.Context, q Querier, p *Push, c *Pushed) ([]string, error)
}

// Entry is one log entry.
type Entry struct {
	Pos int64
	// Client pushed it ("" for changes the server wrote).
	Client string
	// Principal is who pushed it (Push.Principal; "" for changes the
	// server wrote, external writes, and entries of pushes without
	// authentication or from before principals were recorded). It is for
	// operators and hooks: the wire format does not carry it.
	Principal string
	change.Change
	// Scope is the row's scope after the change and Prev before it (they
	// differ when the change moved the row), for tables with a scope
	// rule; not Known otherwise.
	Scope, Prev Scope
}

// Chunk is one page of a snapshot.
type Chunk struct {
	// At is the log position the snapshot started at.
	At      int64
	Changes []change.Change
	Rows    int64
	Total   int64
	Next    merge.Cursor
	Done    bool
}

// ErrBadRequest is wrapped by errors the caller caused (a snapshot
// position beyond the log, say).
var ErrBadRequest = errors.New("bad request")

// ErrClientTaken is wrapped by Push's error when the push's client id is
// bound to another principal than the push's (see BindClient).
var ErrClientTaken = errors.New("the client id belongs to another principal")

// ErrCompacted is wrapped by Log's error for a position older than the
// compacted log keeps: the caller must read the state by snapshot.
var ErrCompacted = errors.New("the log before this position was compacted")

// Store is the server's storage.
type Store interface {
	// Open brings the store to the app's schema and describes it.
	Open(ctx context.Context, s Schema) (Info, error)
	// BindClient binds a client id to the principal that first uses it,
	// durably: an unbound id is bound to principal (unless principal is
	// "": anonymous use binds nothing). It returns the principal the id
	// is bound to ("" when unbound), for the caller to refuse a
	// connection of another principal.
	BindClient(ctx context.Context, client, principal string) (owner string, err error)
	// Push applies a batch in one transaction. Pushes are idempotent by
	// (client, seq): a change seen before gets its first outcome again
	// and is not applied twice; another change under a seq seen before is
	// refused with REPLAY_MISMATCH (see Recorded). A client id bound to
	// another principal than p.Principal fails the push with
	// ErrClientTaken, nothing applied.
	Push(ctx context.Context, p Push, check Checker) (PushResult, error)
	// Log returns up to limit entries after a position, and the head.
	Log(ctx context.Context, after int64, limit int) ([]Entry, int64, error)
	// Snapshot returns up to limit rows after a cursor, as changes. A
	// negative at starts a snapshot at the current head. A non-nil view
	// leaves out the rows of scopes it does not list (Total counts the
	// rest).
	Snapshot(ctx context.Context, at int64, after merge.Cursor, limit int, view *View) (Chunk, error)
	// Row returns a row's stored state as changes (none if the store
	// never saw it) and its scope.
	Row(ctx context.Context, table string, key []byte) ([]change.Change, Scope, error)
	// Compact drops the log entries up to position before (at most the
	// head): the merged rows hold their effect already. It keeps the
	// verdicts of the pushes they record (pushes stay idempotent) and
	// returns the compacted floor: Log after an older position fails with
	// ErrCompacted from then on.
	Compact(ctx context.Context, before int64) (floor int64, err error)
	// Checksums fingerprints the synced tables and returns the head they
	// correspond to.
	Checksums(ctx context.Context) (int64, map[string]checksum.Sum, error)
	Close() error
}

// HeadWatcher is implemented by stores that other server instances write
// to as well (a shared database). The server calls WatchHead once when
// it starts, so that its clients hear of every instance's pushes, not
// only its own.
type HeadWatcher interface {
	// WatchHead calls fn with the log head whenever it may have moved,
	// from now until ctx is done or the store is closed. fn must not
	// block. It returns once watching has started; an error says the
	// first attempt failed, and watching goes on retrying.
	WatchHead(ctx context.Context, fn func(head int64)) error
}

// ExternalWriter is implemented by stores whose synced tables other
// programs may write to directly (PostgreSQL: psql, the app's ORM). The
// store captures those writes as they commit; Ingest turns them into
// ordinary changes, each stamped by stamp (the server's clock), merged,
// scope-recorded, checked by check's invariants (flagged, never refused:
// the write is already committed) and appended to the log with client
// "". Each captured write is ingested exactly once, whichever server
// instance ingests it. A store also ingests at the start of every push,
// so a pushed change merges against the latest external state.
type ExternalWriter interface {
	// Ingest ingests every captured write and returns the log head after.
	Ingest(ctx context.Context, stamp func() hlc.Stamp, check Checker) (head int64, err error)
	// WatchExternal calls fn when captured writes may be waiting: on
	// every notification, and at least every second as a fallback, from
	// now until ctx is done or the store is closed. fn must not block. It
	// returns once watching has started; an error says the first attempt
	// failed, and watching goes on retrying.
	WatchExternal(ctx context.Context, fn func()) error
}

// Violations runs check's invariants on an applied change and returns them
// joined for the log's flag ("" when none, or when there is no checker).
// Both stores flag a change the same way.
func Violations(ctx context.Context, check Checker, q Querier, p *Push, c *Pushed) (string, error) {
	if check == nil {
		return "", nil
	}
	violations, err := check.Inspect(ctx, q, p, c)
	if err != nil {
		return "", fmt.Errorf("invariant check of %s seq %d: %w", p.Client, c.Seq, err)
	}
	return strings.Join(violations, "; "), nil
}
