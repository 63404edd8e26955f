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
	"sync"

	"github.com/hearthdb/hearth/wasm/protocol"
)

// maxRetainedBuffer is the largest reply buffer a connection keeps for
// reuse; a one-off huge result should not pin its memory forever.
const maxRetainedBuffer = 1 << 20

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
	case protocol.OpExec, protocol.OpQuery, protocol.OpBatch, protocol.OpClose:
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

// own is the goroutine that owns one connection: the first request it gets
// is the open, the last the close.
func (e *Engine) own(handle int64, owner *dbOwner) {
	var conn *Conn
	var enc protocol.Encoder
	defer func() {
		if conn != nil {
			conn.Close()
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
		req := owner.queue.pop()
		enc.Reset()
		done := e.handle(handle, &conn, req, &enc)
		e.send(enc.Bytes())
		if cap(enc.Bytes()) > maxRetainedBuffer {
			enc = protocol.Encoder{}
		}
		if done {
			return
		}
	}
}

// handle runs one request and encodes its reply into enc. It reports
// whether the connection is finished (closed, or never opened).
func (e *Engine) handle(handle int64, conn **Conn, req protocol.Request, enc *protocol.Encoder) (done bool) {
	defer func() {
		if r := recover(); r != nil {
			enc.Reset()
			protocol.EncodeError(enc, &req.ID, protocol.Errorf(protocol.CodeInternal, "panic in %s: %v\n%s", req.Op, r, debug.Stack()))
			done = *conn == nil
		}
	}()
	// run writes the success reply straight into enc, rows included; on
	// failure the partial reply is discarded and replaced by the error.
	if err := e.run(handle, conn, req, enc); err != nil {
		enc.Reset()
		protocol.EncodeError(enc, &req.ID, err)
		return *conn == nil
	}
	return req.Op == protocol.OpClose
}

// run executes one request, encoding its success reply into enc.
func (e *Engine) run(handle int64, connp **Conn, req protocol.Request, enc *protocol.Encoder) error {
	if req.Op == protocol.OpOpen {
		return e.open(handle, connp, req, enc)
	}
	conn := *connp
	if conn == nil {
		return protocol.Errorf(protocol.CodeClosed, "database handle %d is not open", handle)
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
	case protocol.OpClose:
		*connp = nil
		if err := conn.Close(); err != nil {
			return err
		}
		protocol.EncodeOKHeader(enc, req.ID)
		enc.Map(0)
	}
	return nil
}

func (e *Engine) open(handle int64, connp **Conn, req protocol.Request, enc *protocol.Encoder) error {
	if *connp != nil {
		return protocol.Errorf(protocol.CodeBadRequest, "database handle %d is already open", handle)
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
	loc, rerr := e.storage.Resolve(name, choice)
	if rerr != nil {
		return rerr
	}
	conn, oerr := OpenConn(loc)
	if oerr != nil {
		return fmt.Errorf("open %q on %s: %w", name, loc.Backend, oerr)
	}
	*connp = conn
	protocol.EncodeOKHeader(enc, req.ID)
	enc.Map(4)
	enc.Key("db")
	enc.Int(handle)
	enc.Key("name")
	enc.Text(name)
	enc.Key("storage")
	enc.Text(loc.Backend)
	enc.Key("reason")
	enc.Text(loc.Reason)
	return nil
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

func (q *requestQueue) pop() protocol.Request {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			r := q.items[0]
			q.items[0] = protocol.Request{}
			q.items = q.items[1:]
			q.mu.Unlock()
			return r
		}
		q.mu.Unlock()
		<-q.waiting
	}
}

func (q *requestQueue) drain() []protocol.Request {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = nil
	return items
}
