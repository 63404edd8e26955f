package sqlitestore

import (
	"errors"
	"fmt"
	"sync"

	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/merge"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/ncruces/go-sqlite3"
)

// reader is the store's read-only connection for the reads that take
// long (snapshot chunks, checksums). A review held the writer's lock for
// 26 s with 200 snapshot requests, and other devices' pushes queued
// behind them; on its own connection, in WAL mode, a read takes a
// snapshot of the database and neither waits for the writer nor holds
// it up. (An in-memory store has no WAL: there a read still delays a
// commit, but no longer queues the push behind it on the store's lock.)
//
// Its methods serialize on mu: one connection runs one read at a time.
type reader struct {
	mu      sync.Mutex
	conn    *sqlite3.Conn
	stmts   map[string]*sqlite3.Stmt
	applier *merge.Applier
	scopes  *store.ScopeRules
}

// open (re)describes the tables after the writer ran the migrations.
func (r *reader) open(tables []*schema.Info, scopes *store.ScopeRules) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.applier != nil {
		r.applier.Close()
	}
	r.applier = merge.NewApplier(r.conn, tables, true)
	r.scopes = scopes
}

// read runs fn in one read transaction: everything it reads is of the
// same database state, the log head included.
func (r *reader) read(fn func() error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.applier == nil {
		return errors.New("sqlitestore: Open has not run")
	}
	if err := r.conn.Exec("BEGIN"); err != nil {
		return fmt.Errorf("sqlitestore: begin read: %w", err)
	}
	err := fn()
	// A read transaction has nothing to keep: ending it either way lets
	// the WAL be checkpointed past it.
	if end := r.conn.Exec("ROLLBACK"); err == nil && end != nil {
		err = fmt.Errorf("sqlitestore: end read: %w", end)
	}
	return err
}

// head is the log head (see Store.head) as of the read transaction: the
// compacted floor comes from the same state as the log.
func (r *reader) head() (int64, error) {
	rows, err := r.query(`SELECT max(coalesce((SELECT max(pos) FROM _hearth_log), 0),
		coalesce((SELECT CAST(v AS INTEGER) FROM _hearth_server WHERE k = 'floor'), 0))`)
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: read log head: %w", err)
	}
	head, ok := rows[0][0].(int64)
	if !ok {
		return 0, fmt.Errorf("sqlitestore: log head is %T, not an integer", rows[0][0])
	}
	return head, nil
}

func (r *reader) query(sql string, args ...any) ([][]any, error) {
	return queryRows(r.conn, r.stmts, sql, args...)
}

func (r *reader) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, st := range r.stmts {
		st.Close()
	}
	if r.applier != nil {
		r.applier.Close()
	}
	return r.conn.Close()
}
