package engine

import (
	"errors"

	"github.com/hearthdb/hearth/codec"
	"github.com/hearthdb/hearth/wasm/protocol"
)

// Exactly-once writes across a tab hand-over. A write another tab forwards
// (exec, batch, commit) carries a write id ("wid"); the engine records
// (wid → encoded result) in _hearth_requests in the same transaction as the
// write. When the tab that led the database dies, the forwarding tab cannot
// know whether its write committed: it sends the write again, marked
// "retry", to the new leader, which answers a recorded id with the recorded
// result instead of applying the write a second time. Only retries look the
// id up, so a first attempt costs one small INSERT in its own transaction.

const (
	// requestsTable holds the recorded write ids; rowid orders them.
	requestsTable = "_hearth_requests"
	// maxWriteIDLen bounds a write id (the router's are ~30 bytes).
	maxWriteIDLen = 128
	// keepWriteIDs is how many recent write ids are kept: a retry follows
	// its first attempt within one hand-over, long before this many other
	// forwarded writes commit.
	keepWriteIDs = 4096
	// pruneEvery is how many recorded writes pass between prunes.
	pruneEvery = 512
)

// writeID returns a request's write id, if it has one, and whether it is
// a retry.
func writeID(req protocol.Request) (id string, retry bool, err error) {
	v, present := req.Fields["wid"]
	if !present || v == nil {
		return "", false, nil
	}
	id, ok := v.(string)
	if !ok || id == "" || len(id) > maxWriteIDLen {
		return "", false, protocol.Errorf(protocol.CodeBadRequest, "field wid must be text of 1 to %d bytes, got %s", maxWriteIDLen, codec.TypeName(v))
	}
	switch r := req.Fields["retry"].(type) {
	case nil:
	case bool:
		retry = r
	default:
		return "", false, protocol.Errorf(protocol.CodeBadRequest, "field retry must be a boolean, got %s", codec.TypeName(r))
	}
	return id, retry, nil
}

// ensureRequests creates the write-id table once per connection, and
// prunes it then (a new leader opening the database) and every pruneEvery
// recorded writes.
func (c *Conn) ensureRequests() error {
	if !c.requestsReady {
		err := c.db.Exec("CREATE TABLE IF NOT EXISTS " + requestsTable + " (id TEXT PRIMARY KEY, result BLOB NOT NULL)")
		if err != nil {
			return sqlError(err)
		}
		c.requestsReady = true
		c.sinceRequestsPrune = pruneEvery
	}
	if c.sinceRequestsPrune >= pruneEvery {
		if err := c.PruneWriteIDs(keepWriteIDs); err != nil {
			return err
		}
		c.sinceRequestsPrune = 0
	}
	return nil
}

// PruneWriteIDs deletes all but the newest keep write ids.
func (c *Conn) PruneWriteIDs(keep int) error {
	s, _, err := c.db.Prepare("DELETE FROM " + requestsTable + " WHERE rowid <= (SELECT max(rowid) FROM " + requestsTable + ") - ?")
	if err != nil {
		return sqlError(err)
	}
	defer s.Close()
	if err := s.BindInt(1, keep); err != nil {
		return sqlError(err)
	}
	return sqlError(s.Exec())
}

// RecordedResult returns the result recorded for a write id, if its write
// committed.
func (c *Conn) RecordedResult(id string) (result []byte, found bool, err error) {
	if err := c.ensureRequests(); err != nil {
		return nil, false, err
	}
	s, _, err := c.db.Prepare("SELECT result FROM " + requestsTable + " WHERE id = ?")
	if err != nil {
		return nil, false, sqlError(err)
	}
	defer s.Close()
	if err := s.BindText(1, id); err != nil {
		return nil, false, sqlError(err)
	}
	if s.Step() {
		return append([]byte(nil), s.ColumnRawBlob(0)...), true, nil
	}
	return nil, false, sqlError(s.Err())
}

// RecordWriteID records a write id and its encoded result in the current
// transaction: it commits or rolls back with the write.
func (c *Conn) RecordWriteID(id string, result []byte) error {
	if err := c.ensureRequests(); err != nil {
		return err
	}
	s, _, err := c.db.Prepare("INSERT INTO " + requestsTable + " (id, result) VALUES (?, ?)")
	if err != nil {
		return sqlError(err)
	}
	defer s.Close()
	if err := s.BindText(1, id); err != nil {
		return sqlError(err)
	}
	if err := s.BindBlob(2, result); err != nil {
		return sqlError(err)
	}
	if err := s.Exec(); err != nil {
		return sqlError(err)
	}
	c.sinceRequestsPrune++
	return nil
}

// RunOnce runs a write identified by id at most once: on a retry whose id
// is recorded it returns the recorded result; otherwise it runs write (which
// encodes its result into the encoder it is given) and records id with the
// result, all in one savepoint, so the write and its record commit
// together or not at all.
func (c *Conn) RunOnce(id string, retry bool, write func(*codec.Encoder) error) ([]byte, error) {
	if retry {
		if result, found, err := c.RecordedResult(id); err != nil || found {
			return result, err
		}
	}
	if err := c.db.Exec("SAVEPOINT hearth_request"); err != nil {
		return nil, sqlError(err)
	}
	var body codec.Encoder
	err := write(&body)
	if err == nil {
		err = c.RecordWriteID(id, body.Bytes())
	}
	if err != nil {
		if c.InTransaction() {
			// Still open (the write did not end it): undo both parts.
			// The table may have been made inside the savepoint
			// (ensureRequests): the rollback took it too.
			c.requestsReady = false
			if rbErr := c.db.Exec("ROLLBACK TO hearth_request; RELEASE hearth_request"); rbErr != nil {
				return nil, errors.Join(err, sqlError(rbErr))
			}
		}
		return nil, err
	}
	if err := c.db.Exec("RELEASE hearth_request"); err != nil {
		if c.InTransaction() {
			c.db.Exec("ROLLBACK TO hearth_request; RELEASE hearth_request")
		}
		return nil, sqlError(err)
	}
	return body.Bytes(), nil
}

// runWriteOnce runs an exec or batch that carries a write id through
// RunOnce; handled is false when it carries none.
func (e *Engine) runWriteOnce(conn *Conn, req protocol.Request, enc *codec.Encoder) (handled bool, err error) {
	wid, retry, err := writeID(req)
	if err != nil || wid == "" {
		return err != nil, err
	}
	if req.Fields["tx"] != nil {
		return true, protocol.Errorf(protocol.CodeBadRequest, "a statement of a transaction takes no wid (its commit does)")
	}
	body, err := conn.RunOnce(wid, retry, func(body *codec.Encoder) error { return runWrite(conn, req, body) })
	if err != nil {
		return true, err
	}
	protocol.EncodeOKHeader(enc, req.ID)
	enc.Raw(body)
	return true, nil
}

// commitOnce handles a commit that carries a write id. A retry naming a
// transaction that is not open here (its leader died) succeeds when its
// id was recorded, i.e. it committed; otherwise it was rolled back with
// the leader and the reply is TX_FINISHED. A first attempt records its id
// in the transaction, just before COMMIT. handled is false without an id.
func (e *Engine) commitOnce(db *database, req protocol.Request, tx int64, enc *codec.Encoder) (handled bool, err error) {
	wid, retry, err := writeID(req)
	if err != nil || wid == "" {
		return err != nil, err
	}
	if db.conn == nil {
		return true, errTxFinished(tx)
	}
	if db.tx == nil || db.tx.id != tx {
		if !retry {
			return true, errTxFinished(tx)
		}
		if _, found, err := db.conn.RecordedResult(wid); err != nil || !found {
			if err == nil {
				err = errTxFinished(tx)
			}
			return true, err
		}
		protocol.EncodeOKHeader(enc, req.ID)
		enc.Map(0)
		return true, nil
	}
	var empty codec.Encoder
	empty.Map(0)
	if err := db.conn.RecordWriteID(wid, empty.Bytes()); err != nil {
		e.endTx(db, false)
		return true, err
	}
	if err := e.endTx(db, true); err != nil {
		return true, err
	}
	protocol.EncodeOKHeader(enc, req.ID)
	enc.Map(0)
	return true, nil
}
