package engine

import (
	"errors"

	"github.com/hearthdb/hearth/sqlitevfs"
	"github.com/hearthdb/hearth/syncworker/journal"
	"github.com/hearthdb/hearth/wasm/protocol"
	"github.com/ncruces/go-sqlite3"
)

// Storage that writes behind (IndexedDB, through sqlitevfs.MirrorStore)
// makes a commit durable only when its Location.Flush returns: SQLite's
// COMMIT changed memory. The rule is that nobody hears of a commit before
// it is durable, so the owner flushes, outside SQLite's calls and outside
// transactions, after each request that may have committed and before its
// reply, before a sync turn's result goes back to the sync client (which
// may push what it just read: a row pushed and then lost would have its
// journal sequence reused by another change, which the server, idempotent
// by client and sequence, would drop), and at close (Location.Release).
// Live queries may show a write before it is durable, as they show it
// before its COMMIT (refreshBeforeCommit).

// durable makes what db's connection has committed durable. On failure
// the commits since the last durable one are lost: the connection is
// opened again on the storage's durable state (storageLost), and the
// error is returned for the reply, as a failed COMMIT's would be.
func (e *Engine) durable(db *database) error {
	err := e.flush(db)
	if err != nil {
		e.storageLost(db, err)
	}
	return err
}

// flush calls the location's Flush when there may be commits to flush.
func (e *Engine) flush(db *database) error {
	c := db.conn
	if c == nil || c.location.Flush == nil || c.InTransaction() {
		return nil
	}
	return StorageError(c.location.Flush(), sqlite3.IOERR_FSYNC)
}

// StorageError is the reply's error for err, a storage's own failure
// outside SQLite's calls: STORAGE_QUOTA when the quota ran out, else
// SQLite's extended code named code, as if SQLite had met it.
func StorageError(err error, code sqlite3.ExtendedErrorCode) error {
	var perr *protocol.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &perr):
		return err
	case errors.Is(err, sqlitevfs.ErrQuota):
		return &protocol.Error{Code: protocol.CodeStorageQuota, Message: "storage is full: " + err.Error(), Index: -1}
	}
	return &protocol.Error{Code: CodeName(code), Message: err.Error(), Index: -1}
}

// storageLost opens db's connection again after its storage lost commits
// (a failed Flush): the storage goes back to its durable state
// (Location.Recover), SQLite's page cache and statements go with the old
// connection, and every live query runs again. A sync client keeps
// running, with its journal's functions installed on the new connection
// (its triggers call them). What it remembers is still true: it takes a
// turn's results (the cursor, a snapshot's progress) only once the turn
// succeeded, every turn is flushed before it hears that, and only the
// last request's or turn's commit can be lost; a lost turn fails, which
// ends its session, and the next one pulls the same changes again. If
// the connection cannot be opened again, the handle closes. err is the
// Flush's: at the quota the storage's reserve is spent.
func (e *Engine) storageLost(db *database, err error) {
	c := db.conn
	c.failed(err)
	err = c.closeDB()
	if err == nil && c.location.Recover != nil {
		err = c.location.Recover()
	}
	if err == nil {
		err = c.openDB()
		if err == nil && db.sync != nil {
			if err = db.sync.journal.Register(c.db); err == nil {
				c.releaseJournal = journal.KeepStatements(c.db)
			} else {
				c.closeDB() //nolint:errcheck // the handle is closing on err
			}
		}
	}
	if err != nil {
		e.stopSync(db)
		db.sync = nil
		release(c.location)
		db.conn = nil
		return
	}
	c.requestsReady = false
	c.schemaChanged = true // the live queries' tables may all have gone back
}
