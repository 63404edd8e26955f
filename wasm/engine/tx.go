package engine

import (
	"time"

	"github.com/hearthdb/hearth/codec"
	"github.com/hearthdb/hearth/wasm/protocol"
)

// Interactive transactions: the page begins one, sends statements that
// carry its id, decides in JS between them, and commits or rolls back.
//
// Exclusivity is by queueing: while a transaction is open, the owner
// goroutine runs only the requests that carry its id; every other request
// (reads included) and the sync client's turns are held, in arrival order,
// until it ends. Others therefore never see its uncommitted work: they run
// after it, against the committed (or rolled-back) state.
//
// A transaction never holds the database for ever: one that stays idle
// (no request of its own) past its timeout is rolled back, and the
// multi-tab router rolls back one whose tab died (web/hearth-tabs.js).

const (
	// DefaultTxIdleTimeout is how long an open transaction may wait for its
	// next request before it is rolled back.
	DefaultTxIdleTimeout = 15 * time.Second
	// MaxTxIdleTimeout bounds the timeout a begin may ask for.
	MaxTxIdleTimeout = 5 * time.Minute
)

// openTx is the transaction a database's owner is serving.
type openTx struct {
	id   int64
	idle time.Duration
	// lastUsed is when the transaction's last request ran: it is rolled
	// back once it idles idle past it.
	lastUsed time.Time
}

// txOf returns the tx field of a request, if it has one.
func txOf(req protocol.Request) (int64, bool, error) {
	v, present := req.Fields["tx"]
	if !present || v == nil {
		return 0, false, nil
	}
	id, ok := v.(int64)
	if !ok {
		return 0, false, protocol.Errorf(protocol.CodeBadRequest, "field tx must be an integer, got %s", codec.TypeName(v))
	}
	return id, true, nil
}

// passesTx reports whether a request may run while a transaction is open
// although it is not part of it: it reads or changes no rows.
func passesTx(op string) bool {
	switch op {
	case protocol.OpUnwatch, protocol.OpInfo, protocol.OpSync, protocol.OpSetSyncToken:
		return true
	}
	return false
}

// txTakes reports whether op may carry a tx field.
func txTakes(op string) bool {
	switch op {
	case protocol.OpExec, protocol.OpQuery, protocol.OpBatch, protocol.OpCommit, protocol.OpRollback:
		return true
	}
	return false
}

func errTxFinished(id int64) error {
	return protocol.Errorf(protocol.CodeTxFinished, "transaction %d is finished (committed, rolled back, rolled back after idling past its timeout, or its owner went away)", id)
}

// begin starts a transaction: BEGIN IMMEDIATE takes the write lock now, so
// a transaction that reads first never fails later on upgrading it.
func (e *Engine) begin(db *database, req protocol.Request, enc *codec.Encoder) error {
	idle := e.txIdle
	switch v := req.Fields["timeoutMs"].(type) {
	case nil:
	case int64:
		if v < 1 || time.Duration(v)*time.Millisecond > MaxTxIdleTimeout {
			return protocol.Errorf(protocol.CodeBadRequest, "timeoutMs must be between 1 and %d, got %d", MaxTxIdleTimeout.Milliseconds(), v)
		}
		idle = time.Duration(v) * time.Millisecond
	default:
		return protocol.Errorf(protocol.CodeBadRequest, "timeoutMs must be an integer, got %s", codec.TypeName(v))
	}
	if db.conn.InTransaction() {
		return protocol.Errorf(protocol.CodeBusy, "a transaction opened with SQL (BEGIN) is still open on database handle %d", db.handle)
	}
	if err := db.conn.db.Exec("BEGIN IMMEDIATE"); err != nil {
		return sqlError(err)
	}
	db.tx = &openTx{id: e.nextTx.Add(1), idle: idle, lastUsed: time.Now()}
	protocol.EncodeOKHeader(enc, req.ID)
	enc.Map(1)
	enc.Key("tx")
	enc.Int(db.tx.id)
	return nil
}

// endTx commits or rolls back the open transaction. A failed commit rolls
// back: either way the transaction is over when it returns.
func (e *Engine) endTx(db *database, commit bool) error {
	db.tx = nil
	c := db.conn
	if !c.InTransaction() {
		return nil
	}
	if commit {
		if err := c.db.Exec("COMMIT"); err == nil {
			return nil
		} else if c.InTransaction() {
			c.db.Exec("ROLLBACK")
			c.TakeChanges()
			return sqlError(err)
		} else {
			c.TakeChanges()
			return sqlError(err)
		}
	}
	err := c.db.Exec("ROLLBACK")
	// Nothing the transaction wrote remains: no live query needs a re-run.
	c.TakeChanges()
	return sqlError(err)
}

// runTxRequest runs a request while a transaction is open (or names one
// that is not): it reports whether the request was held for later.
func (e *Engine) runTxRequest(db *database, req protocol.Request, enc *codec.Encoder) (held bool) {
	id, has, err := txOf(req)
	if err == nil && has && !txTakes(req.Op) {
		err = protocol.Errorf(protocol.CodeBadRequest, "op %q takes no tx field", req.Op)
	}
	if err != nil {
		protocol.EncodeError(enc, &req.ID, err)
		return false
	}
	if !has {
		if db.tx != nil && !passesTx(req.Op) {
			return true
		}
		e.handle(db, req, enc)
		return false
	}
	if req.Op == protocol.OpCommit {
		if handled, err := e.commitOnce(db, req, id, enc); handled {
			if err != nil {
				db.conn.failed(err)
				enc.Reset()
				protocol.EncodeError(enc, &req.ID, err)
			}
			return false
		}
	}
	if db.tx == nil || db.tx.id != id || db.conn == nil {
		protocol.EncodeError(enc, &req.ID, errTxFinished(id))
		return false
	}
	switch req.Op {
	case protocol.OpCommit, protocol.OpRollback:
		if err := e.endTx(db, req.Op == protocol.OpCommit); err != nil {
			db.conn.failed(err)
			protocol.EncodeError(enc, &req.ID, err)
			return false
		}
		protocol.EncodeOKHeader(enc, req.ID)
		enc.Map(0)
	default:
		e.handle(db, req, enc)
		db.tx.lastUsed = time.Now()
		// The app's own SQL may have ended it (COMMIT, ROLLBACK, or an
		// error after which SQLite rolled back): it is over then too.
		if db.conn == nil || !db.conn.InTransaction() {
			db.tx = nil
		}
	}
	return false
}
