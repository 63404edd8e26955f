// Package engine is the worker's request handler: it owns the open
// databases, routes each request to the one goroutine that owns its
// connection, runs it, and encodes exactly one reply.
//
// It is pure Go. The js/wasm main (wasm/) only moves bytes between
// postMessage and Receive/send; everything else is tested natively.
package engine

import (
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"unicode"

	"github.com/hearthdb/hearth/wasm/protocol"
)

// Engine routes requests to open databases.
type Engine struct {
	storage StorageResolver
	// send delivers one encoded reply. It must not keep msg after returning.
	send func(msg []byte)

	mu     sync.Mutex
	dbs    map[int64]*dbOwner
	nextDB int64
}

// New returns an Engine that resolves storage with storage and delivers
// replies through send. send is called from the goroutines that own
// connections, and from Receive for requests rejected on arrival.
func New(storage StorageResolver, send func(msg []byte)) *Engine {
	return &Engine{storage: storage, send: send, dbs: make(map[int64]*dbOwner)}
}

// dbOwner is one database's request queue and the goroutine draining it.
type dbOwner struct {
	queue requestQueue
	// closing is set when a close request is received, so later requests
	// fail fast with CLOSED while earlier ones still run in order.
	closing bool
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
		protocol.OpWatch, protocol.OpUnwatch, protocol.OpInfo:
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
	default:
		e.replyError(&req.ID, protocol.Errorf(protocol.CodeBadRequest, "unknown op %q", req.Op))
	}
}

func (e *Engine) replyError(id *int64, err error) {
	var enc protocol.Encoder
	protocol.EncodeError(&enc, id, err)
	e.send(enc.Bytes())
}

// database is the state the owner goroutine keeps for one open database.
type database struct {
	handle int64
	conn   *Conn
	live   *liveSet
}

// own is the goroutine that owns one connection: the first request it gets
// is the open, the last the close. Requests are taken from the queue in
// sweeps; consecutive writes in a sweep share one transaction (group
// commit), and live queries refresh after every commit.
func (e *Engine) own(handle int64, owner *dbOwner) {
	db := &database{handle: handle, live: newLiveSet()}
	defer func() {
		if db.conn != nil {
			db.conn.Close()
		}
		e.mu.Lock()
		delete(e.dbs, handle)
		e.mu.Unlock()
		// Requests that raced with the close still get their one reply.
		for _, req := range owner.queue.drain() {
			e.replyError(&req.ID, protocol.Errorf(protocol.CodeClosed, "database handle %d is closed", handle))
		}
	}()
	for {
		reqs := owner.queue.popAll(maxGroup)
		for i := 0; i < len(reqs); {
			if n := groupLength(db, reqs[i:]); n > 1 {
				e.runGroup(db, reqs[i:i+n])
				i += n
			} else {
				var enc protocol.Encoder
				done := e.handle(db, reqs[i], &enc)
				e.send(enc.Bytes())
				if done {
					return
				}
				i++
			}
			e.refreshLive(db)
		}
	}
}

// maxGroup bounds one group commit, so that a read queued behind a flood
// of writes waits for at most one commit of bounded size.
const maxGroup = 512

// groupLength counts the writes at the head of reqs that can share one
// transaction.
func groupLength(db *database, reqs []protocol.Request) int {
	if db.conn == nil || db.conn.InTransaction() {
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

// runGroup runs writes in one transaction, each inside its own savepoint so
// that one failing write fails alone, and replies once the commit is
// durable. If the transaction itself is lost (a failed commit, or an error
// that makes SQLite roll back everything), the writes are run again one by
// one, so each still gets its own true outcome.
func (e *Engine) runGroup(db *database, reqs []protocol.Request) {
	c := db.conn
	if err := c.db.Exec("BEGIN IMMEDIATE"); err != nil {
		e.runAlone(db, reqs)
		return
	}
	replies := make([]protocol.Encoder, len(reqs))
	for i, req := range reqs {
		if err := c.db.Exec("SAVEPOINT hearth_write"); err != nil {
			c.db.Exec("ROLLBACK")
			e.runAlone(db, reqs)
			return
		}
		if err := e.run(db, req, &replies[i]); err != nil {
			replies[i].Reset()
			protocol.EncodeError(&replies[i], &req.ID, err)
			if !c.InTransaction() {
				e.runAlone(db, reqs)
				return
			}
			c.db.Exec("ROLLBACK TO hearth_write")
		}
		c.db.Exec("RELEASE hearth_write")
	}
	if err := c.db.Exec("COMMIT"); err != nil {
		c.db.Exec("ROLLBACK")
		e.runAlone(db, reqs)
		return
	}
	for i := range replies {
		e.send(replies[i].Bytes())
	}
}

func (e *Engine) runAlone(db *database, reqs []protocol.Request) {
	for _, req := range reqs {
		var enc protocol.Encoder
		e.handle(db, req, &enc)
		e.send(enc.Bytes())
	}
}

// refreshLive re-runs the live queries a commit affected. Inside an app's
// own transaction nothing is committed yet, so it waits for the end.
func (e *Engine) refreshLive(db *database) {
	if db.conn == nil || db.conn.InTransaction() {
		return
	}
	changed, schema := db.conn.TakeChanges()
	if len(changed) == 0 && !schema {
		return
	}
	db.live.refresh(db.conn, changed, schema, func(sub int64, write func(*protocol.Encoder)) {
		var enc protocol.Encoder
		enc.Map(3)
		enc.Key("v")
		enc.Int(protocol.Version)
		enc.Key("sub")
		enc.Int(sub)
		write(&enc)
		e.send(enc.Bytes())
	})
}

// handle runs one request and encodes its reply into enc. It reports
// whether the connection is finished (closed, or never opened).
func (e *Engine) handle(db *database, req protocol.Request, enc *protocol.Encoder) (done bool) {
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
		enc.Reset()
		protocol.EncodeError(enc, &req.ID, err)
		return db.conn == nil
	}
	return req.Op == protocol.OpClose
}

// run executes one request, encoding its success reply into enc.
func (e *Engine) run(db *database, req protocol.Request, enc *protocol.Encoder) error {
	if req.Op == protocol.OpOpen {
		return e.open(db, req, enc)
	}
	conn := db.conn
	if conn == nil {
		return protocol.Errorf(protocol.CodeClosed, "database handle %d is not open", db.handle)
	}
	switch req.Op {
	case protocol.OpExec:
		sql, params, err := sqlAndParams(req.Fields, req.Op)
		if err != nil {
			return err
		}
		r, err := conn.Exec(sql, params)
		if err != nil {
			return err
		}
		protocol.EncodeOKHeader(enc, req.ID)
		writeExecResult(enc, r)
	case protocol.OpQuery:
		sql, params, err := sqlAndParams(req.Fields, req.Op)
		if err != nil {
			return err
		}
		protocol.EncodeOKHeader(enc, req.ID)
		return conn.Query(sql, params, enc)
	case protocol.OpBatch:
		stmts, err := batchStatements(req.Fields)
		if err != nil {
			return err
		}
		protocol.EncodeOKHeader(enc, req.ID)
		return conn.Batch(stmts, enc)
	case protocol.OpWatch:
		sql, params, err := sqlAndParams(req.Fields, req.Op)
		if err != nil {
			return err
		}
		sub, q, err := db.live.watch(conn, sql, params)
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
			return protocol.Errorf(protocol.CodeBadRequest, "op \"unwatch\" needs integer field \"sub\", got %s", protocol.TypeName(req.Fields["sub"]))
		}
		found := db.live.unwatch(sub)
		protocol.EncodeOKHeader(enc, req.ID)
		enc.Map(1)
		enc.Key("found")
		enc.Bool(found)
	case protocol.OpInfo:
		protocol.EncodeOKHeader(enc, req.ID)
		e.writeInfo(db, enc)
	case protocol.OpClose:
		db.conn = nil
		if err := conn.Close(); err != nil {
			return err
		}
		protocol.EncodeOKHeader(enc, req.ID)
		enc.Map(0)
	}
	return nil
}

func (e *Engine) writeInfo(db *database, enc *protocol.Encoder) {
	loc := db.conn.Location()
	e.mu.Lock()
	depth := 0
	if owner := e.dbs[db.handle]; owner != nil {
		depth = owner.queue.len()
	}
	e.mu.Unlock()
	enc.Map(7)
	enc.Key("storage")
	enc.Text(loc.Backend)
	enc.Key("storageReason")
	enc.Text(loc.Reason)
	enc.Key("queueDepth")
	enc.Int(int64(depth))
	enc.Key("liveQueries")
	enc.Int(int64(len(db.live.queries)))
	enc.Key("subscriptions")
	enc.Int(int64(len(db.live.bySub)))
	enc.Key("liveQueryRuns")
	enc.Int(db.live.runs)
	enc.Key("inTransaction")
	enc.Bool(db.conn.InTransaction())
}

func (e *Engine) open(db *database, req protocol.Request, enc *protocol.Encoder) error {
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
	choice, err := req.OptionalText("storage", StorageAuto)
	if err != nil {
		return err
	}
	migrations, merr := parseMigrations(req.Fields["migrations"])
	if merr != nil {
		return merr
	}
	loc, rerr := e.storage.Resolve(name, choice)
	if rerr != nil {
		return rerr
	}
	conn, oerr := OpenConn(loc)
	if oerr != nil {
		return fmt.Errorf("open %q on %s: %w", name, loc.Backend, oerr)
	}
	version, merr := migrate(conn, migrations, func(p MigrationProgress) { e.sendProgress(req.ID, p) })
	if merr != nil {
		conn.Close()
		return merr
	}
	db.conn = conn
	conn.TakeChanges() // the migrations' writes precede every watch
	protocol.EncodeOKHeader(enc, req.ID)
	enc.Map(6)
	enc.Key("db")
	enc.Int(db.handle)
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

// sendProgress pushes {v, id, progress} for a request still running.
func (e *Engine) sendProgress(id int64, p MigrationProgress) {
	var enc protocol.Encoder
	enc.Map(3)
	enc.Key("v")
	enc.Int(protocol.Version)
	enc.Key("id")
	enc.Int(id)
	enc.Key("progress")
	enc.Map(4)
	enc.Key("phase")
	enc.Text("migrate")
	enc.Key("version")
	enc.Int(p.Version)
	enc.Key("done")
	enc.Int(int64(p.Done))
	enc.Key("total")
	enc.Int(int64(p.Total))
	e.send(enc.Bytes())
}

func sqlAndParams(fields map[string]any, op string) (string, any, error) {
	sql, ok := fields["sql"].(string)
	if !ok {
		return "", nil, protocol.Errorf(protocol.CodeBadRequest, "op %q needs text field \"sql\", got %s", op, protocol.TypeName(fields["sql"]))
	}
	return sql, fields["params"], nil
}

func batchStatements(fields map[string]any) ([]Statement, error) {
	list, ok := fields["statements"].([]any)
	if !ok {
		return nil, protocol.Errorf(protocol.CodeBadRequest, "op \"batch\" needs array field \"statements\", got %s", protocol.TypeName(fields["statements"]))
	}
	stmts := make([]Statement, len(list))
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, &protocol.Error{Code: protocol.CodeBadRequest, Message: fmt.Sprintf("statement %d must be a map {sql, params}, got %s", i, protocol.TypeName(item)), Index: i}
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
type requestQueue struct {
	mu      sync.Mutex
	items   []protocol.Request
	waiting chan struct{}
}

func (q *requestQueue) init() { q.waiting = make(chan struct{}, 1) }

func (q *requestQueue) push(r protocol.Request) {
	q.mu.Lock()
	q.items = append(q.items, r)
	q.mu.Unlock()
	select {
	case q.waiting <- struct{}{}:
	default:
	}
}

// popAll parks until at least one request is queued, then takes up to max.
func (q *requestQueue) popAll(max int) []protocol.Request {
	for {
		q.mu.Lock()
		if n := len(q.items); n > 0 {
			if n > max {
				n = max
			}
			out := make([]protocol.Request, n)
			copy(out, q.items)
			clear(q.items[:n])
			q.items = q.items[n:]
			q.mu.Unlock()
			return out
		}
		q.mu.Unlock()
		<-q.waiting
	}
}

func (q *requestQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

func (q *requestQueue) drain() []protocol.Request {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = nil
	return items
}
