// Package engine is the worker's request handler: it owns the open
// databases, routes each request to the one goroutine that owns its
// connection, runs it, and encodes exactly one reply.
//
// It is pure Go. The js/wasm main (wasm/) only moves bytes between
// postMessage and Receive/send; everything else is tested natively.
package engine

import (
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/hearthdb/hearth/codec"
	syncclient "github.com/hearthdb/hearth/syncworker/client"
	"github.com/hearthdb/hearth/syncworker/journal"
	"github.com/hearthdb/hearth/wasm/protocol"
)

// Engine routes requests to open databases.
type Engine struct {
	// syncStopTimeouts counts sync clients that did not stop within
	// syncStopTimeout of their database's close (tests read it).
	syncStopTimeouts atomic.Int64

	storage StorageResolver
	// send delivers one encoded reply. It must not keep msg after returning.
	send func(msg []byte)

	mu     sync.Mutex
	dbs    map[int64]*dbOwner
	nextDB int64
	// nextSub numbers live-query subscriptions across all databases.
	nextSub atomic.Int64
	// online is the page's last network signal, for sync clients.
	online atomic.Bool
	// nextTx numbers interactive transactions; it starts at a random
	// point so that a request naming a transaction of an earlier worker
	// (a tab that lost leadership) does not match a new one by chance.
	nextTx atomic.Int64
	// txIdle is how long a transaction may idle unless its begin says.
	txIdle time.Duration
	// idleCheckpoint is how long a database rests after a commit before
	// its WAL is checkpointed and emptied (Conn.checkpointIdle); 0 never.
	idleCheckpoint time.Duration
	// liveClock times live queries' refreshes (deferFactor); nil is
	// time.Now. Tests set their own before opening.
	liveClock func() time.Time
	// replicas downloads replica files for new synced databases
	// (SetReplicaFetcher); nil never does.
	replicas ReplicaFetcher
	// commitWindowMinCommit and commitWindowWait set each database's
	// commit window (commitwindow.go); tests set their own before opening.
	commitWindowMinCommit, commitWindowWait time.Duration
}

// DefaultIdleCheckpoint is Engine's idleCheckpoint.
const DefaultIdleCheckpoint = 2 * time.Second

// New returns an Engine that resolves storage with storage and delivers
// replies through send. send is called from the goroutines that own
// connections, and from Receive for requests rejected on arrival.
func New(storage StorageResolver, send func(msg []byte)) *Engine {
	e := &Engine{storage: storage, send: send, dbs: make(map[int64]*dbOwner), txIdle: DefaultTxIdleTimeout, idleCheckpoint: DefaultIdleCheckpoint,
		commitWindowMinCommit: DefaultCommitWindowMinCommit, commitWindowWait: DefaultCommitWindowWait}
	e.online.Store(true)
	e.nextTx.Store(rand.Int64N(1 << 40))
	return e
}

// dbOwner is one database's request queue and the goroutine draining it.
type dbOwner struct {
	queue requestQueue
	// closing is set when a close request is received, so later requests
	// fail fast with CLOSED while earlier ones still run in order.
	closing bool
	// name is the database's name once open succeeded.
	name string
	// sync is the database's sync engine, if it was opened with one.
	sync *dbSync
}

// Receive accepts one request message. It never blocks and never runs SQL,
// so it is safe to call from a JS event callback; msg may be reused by the
// caller once Receive returns only if it copied it (it does not copy: the
// caller hands msg over).
func (e *Engine) Receive(msg []byte) {
	req, hasID, perr := protocol.ParseRequest(msg)
	if perr != nil {
		if hasID {
			e.replyError(&req.ID, perr)
		} else {
			e.replyError(nil, perr)
		}
		return
	}
	switch req.Op {
	case protocol.OpOpen:
		e.mu.Lock()
		e.nextDB++
		handle := e.nextDB
		owner := &dbOwner{}
		owner.queue.init()
		e.dbs[handle] = owner
		e.mu.Unlock()
		owner.queue.push(req)
		go e.own(handle, owner)
	case protocol.OpExec, protocol.OpQuery, protocol.OpBatch, protocol.OpClose,
		protocol.OpWatch, protocol.OpUnwatch, protocol.OpInfo, protocol.OpSync,
		protocol.OpRetryQuarantined, protocol.OpDiscardQuarantined, protocol.OpDismissChange, protocol.OpSetSyncToken,
		protocol.OpBegin, protocol.OpCommit, protocol.OpRollback, protocol.OpHistory, protocol.OpEditText:
		// Pushing under e.mu orders this request against the owner's exit:
		// it is either queued before the owner drains its queue, or it
		// finds the handle gone.
		e.mu.Lock()
		owner := e.dbs[req.DB]
		closed := owner == nil || owner.closing
		if !closed {
			owner.closing = req.Op == protocol.OpClose
			owner.queue.push(req)
		}
		e.mu.Unlock()
		if closed {
			e.replyError(&req.ID, protocol.Errorf(protocol.CodeClosed, "database handle %d is closed or was never opened", req.DB))
		}
	case protocol.OpNetwork:
		// No SQL: the clients only flip a flag and maybe drop a socket.
		online, ok := req.Fields["online"].(bool)
		if !ok {
			e.replyError(&req.ID, protocol.Errorf(protocol.CodeBadRequest, "op \"network\" needs boolean field \"online\", got %s", codec.TypeName(req.Fields["online"])))
			return
		}
		e.setOnline(online)
		var enc codec.Encoder
		protocol.EncodeOKHeader(&enc, req.ID)
		enc.Map(0)
		e.send(enc.Bytes())
	case protocol.OpDatabases, protocol.OpDrop:
		// Storage-wide requests await browser promises: never in Receive.
		go e.global(req)
	default:
		e.replyError(&req.ID, protocol.Errorf(protocol.CodeBadRequest, "unknown op %q", req.Op))
	}
}

// global runs a request that concerns stored databases rather than one open
// handle: listing them, or deleting one with every byte it stored.
func (e *Engine) global(req protocol.Request) {
	var enc codec.Encoder
	err := func() error {
		switch req.Op {
		case protocol.OpDatabases:
			list, err := e.storage.Databases()
			if err != nil {
				return err
			}
			protocol.EncodeOKHeader(&enc, req.ID)
			enc.Array(len(list))
			for _, d := range list {
				enc.Map(2)
				enc.Key("name")
				enc.Text(d.Name)
				enc.Key("storage")
				enc.Text(d.Storage)
			}
		case protocol.OpDrop:
			name, err := req.Text("name")
			if err != nil {
				return err
			}
			if err := ValidateName(name); err != nil {
				return err
			}
			e.mu.Lock()
			busy := false
			for _, o := range e.dbs {
				busy = busy || o.name == name
			}
			e.mu.Unlock()
			if busy {
				return protocol.Errorf(protocol.CodeBusy, "database %q is open; close it before deleting it", name)
			}
			if err := e.storage.Delete(name); err != nil {
				return err
			}
			protocol.EncodeOKHeader(&enc, req.ID)
			enc.Map(0)
		}
		return nil
	}()
	if err != nil {
		enc.Reset()
		protocol.EncodeError(&enc, &req.ID, err)
	}
	e.send(enc.Bytes())
}

func (e *Engine) replyError(id *int64, err error) {
	var enc codec.Encoder
	protocol.EncodeError(&enc, id, err)
	e.send(enc.Bytes())
}

// database is the state the owner goroutine keeps for one open database.
type database struct {
	handle int64
	owner  *dbOwner
	conn   *Conn
	live   *liveSet
	sync   *dbSync
	// tx is the open interactive transaction, if any; held are the
	// requests and sync turns that arrived meanwhile, in order.
	tx        *openTx
	held      []protocol.Request
	heldCalls []*localCall
	// window keeps a write transaction open for the writes that follow
	// (commitwindow.go).
	window commitWindow
}

// own is the goroutine that owns one connection: the first request it gets
// is the open, the last the close. Requests are taken from the queue in
// sweeps; consecutive writes in a sweep share one transaction (group
// commit), and live queries refresh after every commit.
func (e *Engine) own(handle int64, owner *dbOwner) {
	db := &database{handle: handle, owner: owner, live: newLiveSet(&e.nextSub),
		window: commitWindow{minCommit: e.commitWindowMinCommit, maxWait: e.commitWindowWait}}
	if e.liveClock != nil {
		db.live.now = e.liveClock
	}
	defer func() {
		e.stopSync(db)
		if db.conn != nil {
			db.conn.Close()
		}
		e.mu.Lock()
		delete(e.dbs, handle)
		e.mu.Unlock()
		// Requests that raced with the close still get their one reply.
		reqs, calls := owner.queue.drain()
		reqs = append(db.held, reqs...)
		calls = append(db.heldCalls, calls...)
		for _, req := range reqs {
			e.replyError(&req.ID, protocol.Errorf(protocol.CodeClosed, "database handle %d is closed", handle))
		}
		for _, call := range calls {
			if call.state.CompareAndSwap(0, 1) {
				call.done <- errOwnerGone
			}
		}
	}()
	for {
		reqs, calls := e.next(db, owner)
		for i := 0; i < len(reqs); {
			n := groupLength(db, reqs[i:])
			last := i+n == len(reqs)
			// A write alone runs as a group of one when it ends its sweep
			// and the commit window is open: later writes may join it.
			if n > 1 || (n == 1 && last && db.window.wait(0) > 0) {
				e.runGroup(db, reqs[i:i+n], last)
				i += n
			} else {
				var enc codec.Encoder
				req := reqs[i]
				i++
				hadTx := db.tx != nil
				if req.Fields["tx"] != nil || hadTx || req.Op == protocol.OpBegin {
					if e.runTxRequest(db, req, &enc) {
						db.held = append(db.held, req)
						continue
					}
				} else if n == 1 {
					e.runWrite(db, req, &enc)
				} else if e.handle(db, req, &enc) {
					e.send(enc.Bytes())
					return
				}
				e.settle(db, req, &enc)
				e.send(enc.Bytes())
				if hadTx && db.tx == nil && len(db.held) > 0 {
					// The requests held during the transaction are older
					// than the rest of this sweep: they run first.
					db.held = append(db.held, reqs[i:]...)
					reqs = reqs[:i]
				}
				if db.conn == nil {
					return // a held close ran, or the open failed
				}
			}
			e.refreshLive(db, true)
		}
		// The sync client's turns come between sweeps of requests, so a
		// burst of page writes is never split by a sync transaction.
		if db.tx != nil {
			db.heldCalls = append(db.heldCalls, calls...)
		} else if len(calls) > 0 {
			e.runCalls(db, calls)
			e.refreshLive(db, false)
		}
	}
}

// next returns the next sweep of work: what a finished transaction held
// back first, else what is queued. While a transaction is open it waits
// at most the transaction's idle timeout, then rolls it back; while a live
// query's refresh is held back, at most until it is due, then refreshes
// it; after a commit, at most idleCheckpoint, then checkpoints the WAL.
func (e *Engine) next(db *database, owner *dbOwner) ([]protocol.Request, []*localCall) {
	for {
		if db.tx == nil && (len(db.held) > 0 || len(db.heldCalls) > 0) {
			reqs, calls := db.held, db.heldCalls
			db.held, db.heldCalls = nil, nil
			return reqs, calls
		}
		if due := db.live.nextDue(); db.tx == nil && db.conn != nil && !due.IsZero() {
			if reqs, calls, ok := owner.queue.popWithin(maxGroup, due.Sub(db.live.now())); ok {
				return reqs, calls
			}
			db.live.refreshDue(db.conn, e.push)
			continue
		}
		if db.tx == nil && db.conn != nil && db.conn.walWritten && e.idleCheckpoint > 0 {
			if reqs, calls, ok := owner.queue.popWithin(maxGroup, e.idleCheckpoint); ok {
				return reqs, calls
			}
			db.conn.checkpointIdle()
			continue
		}
		if db.tx == nil {
			return owner.queue.popAll(maxGroup)
		}
		// Only the transaction's own requests keep it alive: others
		// arriving meanwhile do not move its deadline.
		reqs, calls, ok := owner.queue.popWithin(maxGroup, db.tx.idle-time.Since(db.tx.lastUsed))
		if ok {
			return reqs, calls
		}
		e.endTx(db, false)
	}
}

// maxGroup bounds one group commit, so that a read queued behind a flood
// of writes waits for at most one commit of bounded size.
const maxGroup = 512

// groupLength counts the writes at the head of reqs that can share one
// transaction.
func groupLength(db *database, reqs []protocol.Request) int {
	if db.conn == nil || db.conn.InTransaction() || db.tx != nil {
		return 0
	}
	n := 0
	for _, r := range reqs {
		if !groupable(r) {
			break
		}
		n++
	}
	return n
}

// groupable reports whether a request is a plain write that can run inside
// a group's transaction: a batch, or an exec of DML. Statements that manage
// transactions themselves, DDL and pragmas run alone.
func groupable(r protocol.Request) bool {
	if r.Fields["tx"] != nil {
		return false
	}
	switch r.Op {
	case protocol.OpBatch:
		return true
	case protocol.OpExec:
		sql, _ := r.Fields["sql"].(string)
		switch firstKeyword(sql) {
		case "INSERT", "UPDATE", "DELETE", "REPLACE":
			return true
		}
	}
	return false
}

// firstKeyword returns the first SQL keyword of s, upper-cased.
func firstKeyword(s string) string {
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		switch {
		case strings.HasPrefix(s, "--"):
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				return ""
			}
			s = s[i+1:]
		case strings.HasPrefix(s, "/*"):
			i := strings.Index(s, "*/")
			if i < 0 {
				return ""
			}
			s = s[i+2:]
		default:
			end := strings.IndexFunc(s, func(r rune) bool { return !unicode.IsLetter(r) })
			if end < 0 {
				end = len(s)
			}
			return strings.ToUpper(s[:end])
		}
	}
}

// runGroup runs writes in one transaction and replies once the commit is
// durable. If the transaction itself is lost (a failed commit, or an error
// that makes SQLite roll back everything), the writes are run again one by
// one, so each still gets its own true outcome. With last (the group ends
// its sweep: nothing older waits behind it), the transaction takes in the
// writes that arrive within the commit window (commitwindow.go).
func (e *Engine) runGroup(db *database, reqs []protocol.Request, last bool) {
	c := db.conn
	began := time.Now()
	if err := c.db.Exec("BEGIN IMMEDIATE"); err != nil {
		e.runAlone(db, reqs)
		return
	}
	replies := make([]codec.Encoder, 0, len(reqs))
	// run runs reqs[from:], reporting false when the transaction was lost
	// (then every write has run alone). A write that fails keeps what it
	// ran before failing, as it would alone (runWrite, like sqlite3_exec:
	// a failing statement undoes itself, an exec's earlier statements
	// stay, a batch undoes itself whole), so it fails alone and which
	// path a write takes, which depends on what else arrived meanwhile,
	// changes nothing of its outcome.
	run := func(from int) bool {
		for _, req := range reqs[from:] {
			replies = append(replies, codec.Encoder{})
			reply := &replies[len(replies)-1]
			if err := e.run(db, req, reply); err != nil {
				if !c.InTransaction() {
					e.runAlone(db, reqs) // which reports this error once
					return false
				}
				c.failed(err)
				reply.Reset()
				protocol.EncodeError(reply, &req.ID, err)
			}
		}
		return true
	}
	if !run(0) {
		return
	}
	early := e.refreshBeforeCommit(db)
	caught := false
	for last && len(reqs) < maxGroup {
		wait := db.window.wait(time.Since(began))
		if wait <= 0 {
			break
		}
		more, calls, ok := db.owner.queue.popWithin(maxGroup-len(reqs), wait)
		if !ok {
			break
		}
		n := 0
		for n < len(more) && groupable(more[n]) {
			n++
		}
		// What is not a plain write runs after the commit, in order.
		db.held = append(db.held, more[n:]...)
		db.heldCalls = append(db.heldCalls, calls...)
		if n > 0 {
			caught = true
			from := len(reqs)
			// reqs is a slice of the caller's sweep: grow a copy, never
			// that sweep's backing array.
			reqs = append(reqs[:from:from], more[:n]...)
			// The writes are taken: if the transaction is lost they run
			// alone (run's runAlone has all of reqs); the changes
			// already refreshed are the group's too.
			if !run(from) {
				return
			}
			later := e.refreshBeforeCommit(db)
			c.restoreChanges(early)
			c.restoreChanges(later)
			early = c.TakeChanges()
		}
		if n < len(more) || len(calls) > 0 {
			break
		}
	}
	committing := time.Now()
	if err := c.db.Exec("COMMIT"); err != nil {
		c.db.Exec("ROLLBACK")
		// The live queries showed the group's writes: the re-runs below
		// and the refresh after them take those rows back where the
		// writes, run alone, fail.
		c.restoreChanges(early)
		e.runAlone(db, reqs)
		return
	}
	db.window.observe(time.Since(committing), db.owner.queue.len() > 0, caught)
	if err := e.durable(db); err != nil {
		// The storage lost the group's commit and went back to before
		// it: each write runs again alone, as after a failed COMMIT, and
		// gets its own outcome.
		c.restoreChanges(early)
		e.runAlone(db, reqs)
		return
	}
	e.committed(db, early, true)
	for i := range replies {
		e.send(replies[i].Bytes())
	}
}

func (e *Engine) runAlone(db *database, reqs []protocol.Request) {
	for _, req := range reqs {
		var enc codec.Encoder
		e.handle(db, req, &enc)
		e.settle(db, req, &enc)
		e.send(enc.Bytes())
	}
}

// settle makes a request's commits durable before its reply goes
// (durable); if they were lost, the reply is the error instead. An open
// whose writes were lost fails, and the database closes.
func (e *Engine) settle(db *database, req protocol.Request, enc *codec.Encoder) {
	err := e.durable(db)
	if err == nil {
		return
	}
	if req.Op == protocol.OpOpen && db.conn != nil {
		e.stopSync(db)
		db.sync = nil
		db.conn.Close() //nolint:errcheck // the open fails with err
		db.conn = nil
	}
	enc.Reset()
	protocol.EncodeError(enc, &req.ID, err)
}

// runWrite runs one page write (a groupable request that came alone) in a
// transaction of its own, so that, as in a group, the live queries show it
// before its commit's I/O. Like autocommit, a failed statement rolls back
// alone and what ran before it in the same exec is kept; a failed commit
// takes everything back and is the write's error.
func (e *Engine) runWrite(db *database, req protocol.Request, enc *codec.Encoder) {
	c := db.conn
	if err := c.db.Exec("BEGIN IMMEDIATE"); err != nil {
		e.handle(db, req, enc)
		return
	}
	e.handle(db, req, enc)
	if db.conn != c || !c.InTransaction() {
		return // the write's error ended the transaction; its reply says so
	}
	early := e.refreshBeforeCommit(db)
	committing := time.Now()
	if err := c.db.Exec("COMMIT"); err != nil {
		if c.InTransaction() {
			c.db.Exec("ROLLBACK")
		}
		c.requestsReady = false
		c.restoreChanges(early)
		err = sqlError(err)
		c.failed(err)
		enc.Reset()
		protocol.EncodeError(enc, &req.ID, err)
		return
	}
	db.window.observe(time.Since(committing), db.owner.queue.len() > 0, false)
	if err := e.durable(db); err != nil {
		c.restoreChanges(early)
		enc.Reset()
		protocol.EncodeError(enc, &req.ID, err)
		return
	}
	e.committed(db, early, true)
}

// refreshBeforeCommit brings the live queries up to date with the page's
// writes (a group's, or one write's) once they have run, before their
// COMMIT: the transaction's own changes are visible to its connection, so
// the pages see the writes while the commit does its I/O (an IndexedDB
// transaction's round trip, an OPFS flush), and the writes' replies still
// wait for the commit to be durable. It returns the changes it took, to be
// restored if the commit fails. An app's own transaction (db.transaction)
// shows nothing before it commits.
func (e *Engine) refreshBeforeCommit(db *database) changes {
	changed := db.conn.TakeChanges()
	if len(changed.tables) > 0 || changed.schema {
		db.live.refresh(db.conn, changed, e.push, false)
	}
	return changed
}

// committed tells the connection of a commit that changed something (the
// WAL is due an idle checkpoint) and, after the page's writes (byPage),
// wakes the sync client when they were journaled. It reports whether
// anything changed.
func (e *Engine) committed(db *database, changed changes, byPage bool) bool {
	if len(changed.tables) == 0 && !changed.schema {
		return false
	}
	db.conn.committed()
	if _, journaled := changed.tables["_hearth_journal"]; journaled && byPage && db.sync != nil {
		db.sync.client.Notify()
	}
	return true
}

// refreshLive re-runs the live queries a commit affected. Inside an app's
// own transaction nothing is committed yet, so it waits for the end. After
// the page's writes (byPage) it also wakes the sync client when they were
// journaled; after the sync client's, slow queries may be held back
// (deferFactor) and next runs them when due.
func (e *Engine) refreshLive(db *database, byPage bool) {
	if db.conn == nil || db.conn.InTransaction() {
		return
	}
	changed := db.conn.TakeChanges()
	if e.committed(db, changed, byPage) {
		db.live.refresh(db.conn, changed, e.push, !byPage)
	}
}

// push sends one subscription push {v, sub, <what write adds>}.
func (e *Engine) push(sub int64, write func(*codec.Encoder)) {
	var enc codec.Encoder
	enc.Map(3)
	enc.Key("v")
	enc.Int(protocol.Version)
	enc.Key("sub")
	enc.Int(sub)
	write(&enc)
	e.send(enc.Bytes())
}

// handle runs one request and encodes its reply into enc. It reports
// whether the connection is finished (closed, or never opened).
func (e *Engine) handle(db *database, req protocol.Request, enc *codec.Encoder) (done bool) {
	defer func() {
		if r := recover(); r != nil {
			enc.Reset()
			protocol.EncodeError(enc, &req.ID, protocol.Errorf(protocol.CodeInternal, "panic in %s: %v\n%s", req.Op, r, debug.Stack()))
			done = db.conn == nil
		}
	}()
	// run writes the success reply straight into enc, rows included; on
	// failure the partial reply is discarded and replaced by the error.
	if err := e.run(db, req, enc); err != nil {
		db.conn.failed(err)
		enc.Reset()
		protocol.EncodeError(enc, &req.ID, err)
		return db.conn == nil
	}
	return req.Op == protocol.OpClose
}

// run executes one request, encoding its success reply into enc.
func (e *Engine) run(db *database, req protocol.Request, enc *codec.Encoder) error {
	if req.Op == protocol.OpOpen {
		return e.open(db, req, enc)
	}
	conn := db.conn
	if conn == nil {
		return protocol.Errorf(protocol.CodeClosed, "database handle %d is not open", db.handle)
	}
	switch req.Op {
	case protocol.OpExec, protocol.OpBatch:
		if handled, err := e.runWriteOnce(conn, req, enc); handled {
			return err
		}
		protocol.EncodeOKHeader(enc, req.ID)
		return runWrite(conn, req, enc)
	case protocol.OpQuery:
		sql, params, err := sqlAndParams(req.Fields, req.Op)
		if err != nil {
			return err
		}
		protocol.EncodeOKHeader(enc, req.ID)
		return conn.Query(sql, params, enc)
	case protocol.OpWatch:
		if req.Fields["sync"] == true {
			if db.sync == nil {
				return errNotSynced(db.handle)
			}
			sub := e.nextSub.Add(1)
			db.sync.watch(sub)
			protocol.EncodeOKHeader(enc, req.ID)
			enc.Map(2)
			enc.Key("sub")
			enc.Int(sub)
			enc.Key("status")
			db.sync.client.Status().Encode(enc)
			return nil
		}
		sql, params, err := sqlAndParams(req.Fields, req.Op)
		if err != nil {
			return err
		}
		sub, q, err := db.live.watch(conn, sql, params, e.push)
		if err != nil {
			return err
		}
		protocol.EncodeOKHeader(enc, req.ID)
		enc.Map(2)
		enc.Key("sub")
		enc.Int(sub)
		writeFull(enc, "result", q.result)
	case protocol.OpUnwatch:
		sub, ok := req.Fields["sub"].(int64)
		if !ok {
			return protocol.Errorf(protocol.CodeBadRequest, "op \"unwatch\" needs integer field \"sub\", got %s", codec.TypeName(req.Fields["sub"]))
		}
		found := db.live.unwatch(sub) || (db.sync != nil && db.sync.unwatch(sub))
		protocol.EncodeOKHeader(enc, req.ID)
		enc.Map(1)
		enc.Key("found")
		enc.Bool(found)
	case protocol.OpInfo:
		protocol.EncodeOKHeader(enc, req.ID)
		e.writeInfo(db, enc)
	case protocol.OpSync:
		if db.sync == nil {
			return errNotSynced(db.handle)
		}
		protocol.EncodeOKHeader(enc, req.ID)
		db.sync.client.Status().Encode(enc)
	case protocol.OpRetryQuarantined, protocol.OpDiscardQuarantined, protocol.OpDismissChange:
		return e.runJournalOp(db, req, enc)
	case protocol.OpSetSyncToken:
		if db.sync == nil {
			return errNotSynced(db.handle)
		}
		token, err := req.Text("token")
		if err != nil {
			return err
		}
		if db.sync.client == nil || token == "" {
			return protocol.Errorf(protocol.CodeBadRequest, "setSyncToken needs a non-empty token")
		}
		db.sync.setToken(token)
		protocol.EncodeOKHeader(enc, req.ID)
		enc.Map(0)
	case protocol.OpHistory:
		return e.history(db, req, enc)
	case protocol.OpEditText:
		return e.editText(db, req, enc)
	case protocol.OpBegin:
		return e.begin(db, req, enc)
	case protocol.OpCommit, protocol.OpRollback:
		return protocol.Errorf(protocol.CodeBadRequest, "op %q needs integer field \"tx\"", req.Op)
	case protocol.OpClose:
		e.stopSync(db)
		db.sync = nil
		db.conn = nil
		if err := conn.Close(); err != nil {
			return err
		}
		protocol.EncodeOKHeader(enc, req.ID)
		enc.Map(0)
	}
	return nil
}

func (e *Engine) writeInfo(db *database, enc *codec.Encoder) {
	loc := db.conn.Location()
	e.mu.Lock()
	depth := 0
	if owner := e.dbs[db.handle]; owner != nil {
		depth = owner.queue.len()
	}
	e.mu.Unlock()
	health := e.storage.Health()
	persistent, reason := loc.Persistent, loc.PersistReason
	if persistent && !health.Persisted {
		// On disk, but the browser may evict it (or a private window
		// discards it on close): an app should warn, not assume.
		persistent, reason = false, health.PersistReason
	}
	enc.Map(15)
	enc.Key("storage")
	enc.Text(loc.Backend)
	enc.Key("storageReason")
	enc.Text(loc.Reason)
	enc.Key("persistent")
	enc.Bool(persistent)
	enc.Key("persistReason")
	enc.Text(reason)
	enc.Key("persisted")
	enc.Bool(health.Persisted)
	enc.Key("usage")
	enc.Int(health.Usage)
	enc.Key("quota")
	enc.Int(health.Quota)
	enc.Key("queueDepth")
	enc.Int(int64(depth))
	enc.Key("liveQueries")
	enc.Int(int64(len(db.live.queries)))
	enc.Key("subscriptions")
	enc.Int(int64(len(db.live.bySub)))
	enc.Key("liveQueryRuns")
	enc.Int(db.live.runs)
	enc.Key("liveQueryPatches")
	enc.Int(db.live.patches)
	enc.Key("liveQueryStats")
	writeLiveStats(enc, db.live)
	enc.Key("inTransaction")
	enc.Bool(db.conn.InTransaction())
	enc.Key("heldByTransaction")
	enc.Int(int64(len(db.held)))
}

func (e *Engine) open(db *database, req protocol.Request, enc *codec.Encoder) error {
	if db.conn != nil {
		return protocol.Errorf(protocol.CodeBadRequest, "database handle %d is already open", db.handle)
	}
	name, err := req.Text("name")
	if err != nil {
		return err
	}
	if err := ValidateName(name); err != nil {
		return err
	}
	or, oerr := parseOpenRequest(name, req)
	if oerr != nil {
		return oerr
	}
	migrations, merr := parseMigrations(req.Fields["migrations"])
	if merr != nil {
		return merr
	}
	syncOpts, serr := parseSyncOptions(req.Fields["sync"])
	if serr != nil {
		return serr
	}
	loc, rerr := e.storage.Resolve(or)
	if rerr != nil {
		return rerr
	}
	if loc.Prepare != nil {
		if err := loc.Prepare(); err != nil {
			release(loc)
			return fmt.Errorf("open %q on %s: %w", name, loc.Backend, err)
		}
	}
	pre := e.preconnect(syncOpts)
	defer func() {
		if db.sync == nil { // no client took it: the open failed
			pre.Close()
		}
	}()
	// A new synced database may begin as the server's replica file (one
	// download instead of a snapshot applied row by row): downloaded while
	// the database opens when the storage can tell it is new, copied in
	// before the migrations, which then find it at their last version.
	replicaProgress := func(received, total int64) {
		e.sendProgress(req.ID, "replica", 0, received, total)
	}
	early := e.startReplica(loc, syncOpts, migrations, replicaProgress)
	conn, cerr := OpenConn(loc)
	if cerr != nil {
		early.abandon()
		return fmt.Errorf("open %q on %s: %w", name, loc.Backend, cerr)
	}
	began, berr := e.beginFromReplica(conn, syncOpts, migrations, early, replicaProgress)
	if berr != nil {
		return fmt.Errorf("open %q on %s: %w", name, loc.Backend, berr)
	}
	migrating := migrationsPending(conn, migrations)
	if syncOpts == nil || migrating {
		// An initial sync that stopped here left the synced tables' plain
		// indexes dropped (syncclient.RestoreIndexes): the app's
		// migrations, and an app that no longer syncs, see its schema
		// whole. Otherwise the sync resumes the snapshot, which restores
		// them when it ends.
		if _, err := syncclient.RestoreIndexes(conn.db); err != nil {
			conn.Close()
			return fmt.Errorf("open %q: %w", name, err)
		}
	}
	var j *journal.Journal
	if syncOpts != nil {
		if j, serr = prepareSync(conn, syncOpts, migrating); serr != nil {
			conn.Close()
			return serr
		}
	}
	version, merr := migrate(conn, migrations, func(p MigrationProgress) {
		e.sendProgress(req.ID, "migrate", p.Version, int64(p.Done), int64(p.Total))
	})
	if merr != nil {
		conn.Close()
		return merr
	}
	db.conn = conn
	if j != nil {
		if serr = e.startSync(db, db.owner, syncOpts, j, pre, began); serr != nil {
			db.conn = nil
			conn.Close()
			return serr
		}
	}
	conn.TakeChanges() // the migrations' writes precede every watch
	e.mu.Lock()
	if owner := e.dbs[db.handle]; owner != nil {
		owner.name = name
	}
	e.mu.Unlock()
	protocol.EncodeOKHeader(enc, req.ID)
	enc.Map(7)
	enc.Key("db")
	enc.Int(db.handle)
	enc.Key("sync")
	enc.Bool(db.sync != nil)
	enc.Key("name")
	enc.Text(name)
	enc.Key("storage")
	enc.Text(loc.Backend)
	enc.Key("reason")
	enc.Text(loc.Reason)
	enc.Key("version")
	enc.Int(version)
	enc.Key("persistent")
	enc.Bool(loc.Persistent)
	return nil
}

func parseOpenRequest(name string, req protocol.Request) (OpenRequest, error) {
	or := OpenRequest{Name: name}
	var err error
	if or.Storage, err = optionalText(req, "storage", StorageAuto); err != nil {
		return or, err
	}
	if or.Durability, err = optionalText(req, "durability", "full"); err != nil {
		return or, err
	}
	if or.Durability != "full" && or.Durability != "normal" {
		return or, protocol.Errorf(protocol.CodeBadRequest, "durability must be \"full\" or \"normal\", got %q", or.Durability)
	}
	switch k := req.Fields["key"].(type) {
	case nil:
	case []byte:
		if len(k) != 32 {
			return or, protocol.Errorf(protocol.CodeBadRequest, "an encryption key must be 32 bytes (or a passphrase string), got %d bytes", len(k))
		}
		or.Key = k
	case string:
		if k == "" {
			return or, protocol.Errorf(protocol.CodeBadRequest, "an empty passphrase encrypts nothing")
		}
		or.Passphrase = k
	default:
		return or, protocol.Errorf(protocol.CodeBadRequest, "key must be a 32-byte Uint8Array or a passphrase string, got %s", codec.TypeName(k))
	}
	return or, nil
}

// optionalText avoids returning a typed nil *protocol.Error as an error.
func optionalText(req protocol.Request, key, def string) (string, error) {
	s, err := req.OptionalText(key, def)
	if err != nil {
		return "", err
	}
	return s, nil
}

// sendProgress pushes {v, id, progress: {phase, version, done, total}}
// for an open still running.
func (e *Engine) sendProgress(id int64, phase string, version, done, total int64) {
	var enc codec.Encoder
	enc.Map(3)
	enc.Key("v")
	enc.Int(protocol.Version)
	enc.Key("id")
	enc.Int(id)
	enc.Key("progress")
	enc.Map(4)
	enc.Key("phase")
	enc.Text(phase)
	enc.Key("version")
	enc.Int(version)
	enc.Key("done")
	enc.Int(done)
	enc.Key("total")
	enc.Int(total)
	e.send(enc.Bytes())
}

// runWrite runs an exec or a batch and encodes its result (the reply's ok
// value) into enc.
func runWrite(conn *Conn, req protocol.Request, enc *codec.Encoder) error {
	if req.Op == protocol.OpBatch {
		stmts, err := batchStatements(req.Fields)
		if err != nil {
			return err
		}
		return conn.Batch(stmts, enc)
	}
	sql, params, err := sqlAndParams(req.Fields, req.Op)
	if err != nil {
		return err
	}
	r, err := conn.Exec(sql, params)
	if err != nil {
		return err
	}
	writeExecResult(enc, r)
	return nil
}

func sqlAndParams(fields map[string]any, op string) (string, any, error) {
	sql, ok := fields["sql"].(string)
	if !ok {
		return "", nil, protocol.Errorf(protocol.CodeBadRequest, "op %q needs text field \"sql\", got %s", op, codec.TypeName(fields["sql"]))
	}
	return sql, fields["params"], nil
}

func batchStatements(fields map[string]any) ([]Statement, error) {
	list, ok := fields["statements"].([]any)
	if !ok {
		return nil, protocol.Errorf(protocol.CodeBadRequest, "op \"batch\" needs array field \"statements\", got %s", codec.TypeName(fields["statements"]))
	}
	stmts := make([]Statement, len(list))
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, &protocol.Error{Code: protocol.CodeBadRequest, Message: fmt.Sprintf("statement %d must be a map {sql, params}, got %s", i, codec.TypeName(item)), Index: i}
		}
		sql, params, err := sqlAndParams(m, "batch")
		if err != nil {
			perr := asProtocolError(err)
			perr.Index = i
			return nil, perr
		}
		stmts[i] = Statement{SQL: sql, Params: params}
	}
	return stmts, nil
}

// requestQueue is an unbounded FIFO: pushing never blocks (it happens in a
// JS callback), popping parks the owner goroutine until a request arrives.
// Beside requests it holds the sync client's turns (calls).
type requestQueue struct {
	mu    sync.Mutex
	items []protocol.Request
	calls []*localCall
	// callsRefused: the owner is closing; closed: it has exited.
	callsRefused, closed bool
	waiting              chan struct{}
}

func (q *requestQueue) init() { q.waiting = make(chan struct{}, 1) }

func (q *requestQueue) wake() {
	select {
	case q.waiting <- struct{}{}:
	default:
	}
}

func (q *requestQueue) push(r protocol.Request) {
	q.mu.Lock()
	q.items = append(q.items, r)
	q.mu.Unlock()
	q.wake()
}

// pushCall queues a sync turn; false once the owner is closing.
func (q *requestQueue) pushCall(c *localCall) bool {
	q.mu.Lock()
	if q.closed || q.callsRefused {
		q.mu.Unlock()
		return false
	}
	q.calls = append(q.calls, c)
	q.mu.Unlock()
	q.wake()
	return true
}

// popAll parks until at least one request or call is queued, then takes
// up to max requests and every call.
func (q *requestQueue) popAll(max int) ([]protocol.Request, []*localCall) {
	for {
		q.mu.Lock()
		n := len(q.items)
		if n > 0 || len(q.calls) > 0 {
			n = min(n, max)
			var out []protocol.Request
			if n > 0 {
				out = make([]protocol.Request, n)
				copy(out, q.items)
				clear(q.items[:n])
				q.items = q.items[n:]
			}
			calls := q.calls
			q.calls = nil
			q.mu.Unlock()
			return out, calls
		}
		q.mu.Unlock()
		<-q.waiting
	}
}

// popWithin is popAll that gives up after d, reporting false.
func (q *requestQueue) popWithin(max int, d time.Duration) ([]protocol.Request, []*localCall, bool) {
	if d <= 0 {
		return nil, nil, false
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		q.mu.Lock()
		ready := len(q.items) > 0 || len(q.calls) > 0
		q.mu.Unlock()
		if ready {
			reqs, calls := q.popAll(max)
			return reqs, calls, true
		}
		select {
		case <-q.waiting:
		case <-timer.C:
			return nil, nil, false
		}
	}
}

func (q *requestQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// refuseCalls makes pushCall fail from now on: the owner is closing and
// gives the sync client no more turns. A turn the client asks for while
// it stops (restoring a setting at the end of its initial sync) would
// otherwise wait for the owner, which waits for the client to stop: the
// close took syncStopTimeout (5 s).
func (q *requestQueue) refuseCalls() {
	q.mu.Lock()
	q.callsRefused = true
	q.mu.Unlock()
}

// drain empties the queue for good: later calls are refused.
func (q *requestQueue) drain() ([]protocol.Request, []*localCall) {
	q.mu.Lock()
	defer q.mu.Unlock()
	items, calls := q.items, q.calls
	q.items, q.calls, q.closed = nil, nil, true
	return items, calls
}
