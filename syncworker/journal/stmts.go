package journal

import (
	"sync"

	"github.com/ncruces/go-sqlite3"
)

// The journal's statements run on every push and every acknowledgement.
// A connection's owner that keeps it open (a device's worker) lets the
// journal keep them prepared (KeepStatements) rather than compile them
// again each time: in the browser, compiling them was about an eighth of
// the worker's time for each card moved on the board
// (e2e/bench/board-inp-trace.mjs, 2026-12-07). Other connections (the
// server's replica builds, tests) prepare and finalize as before, so
// closing them needs nothing new.

// maxKeptStatements bounds what one connection keeps: the journal's
// fixed statements fit many times over; the statements it writes per
// table are not kept past it.
const maxKeptStatements = 32

// kept holds a *keptStatements for each connection whose owner called
// KeepStatements.
var kept sync.Map

type keptStatements struct {
	mu    sync.Mutex
	stmts map[string]*sqlite3.Stmt // nil once released
}

// KeepStatements makes the journal keep the statements it prepares on
// conn until release, which finalizes them. Call release before closing
// conn: SQLite does not close a connection with statements left.
func KeepStatements(conn *sqlite3.Conn) (release func()) {
	k := &keptStatements{stmts: map[string]*sqlite3.Stmt{}}
	kept.Store(conn, k)
	return func() {
		if !kept.CompareAndDelete(conn, k) {
			return
		}
		k.mu.Lock()
		defer k.mu.Unlock()
		for _, s := range k.stmts {
			s.Close()
		}
		k.stmts = nil
	}
}

// statement returns a statement of sql on conn (prepared, or kept from
// before), and done, to call once the caller is finished with it: a kept statement is reset and kept for the
// next use, any other finalized. A kept statement is out of the cache
// while in use, so a nested use of the same SQL prepares its own.
func statement(conn *sqlite3.Conn, sql string) (s *sqlite3.Stmt, done func(), err error) {
	v, ok := kept.Load(conn)
	if !ok {
		if s, _, err = conn.Prepare(sql); err != nil {
			return nil, nil, err
		}
		return s, func() { s.Close() }, nil
	}
	k := v.(*keptStatements)
	k.mu.Lock()
	s = k.stmts[sql]
	delete(k.stmts, sql)
	k.mu.Unlock()
	if s == nil {
		if s, _, err = conn.PrepareFlags(sql, sqlite3.PREPARE_PERSISTENT); err != nil {
			return nil, nil, err
		}
	}
	return s, func() { k.put(sql, s) }, nil
}

func (k *keptStatements) put(sql string, s *sqlite3.Stmt) {
	// Reset reports the last step's error, which the caller has had; the
	// statement is ready again either way.
	s.Reset()         //nolint:errcheck
	s.ClearBindings() //nolint:errcheck
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stmts == nil || k.stmts[sql] != nil || len(k.stmts) >= maxKeptStatements {
		s.Close()
		return
	}
	k.stmts[sql] = s
}
