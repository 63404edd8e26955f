// Package client is Hearth's Go client, for pages written in Go (vugu): the
// same API as web/hearth.js — Open, Exec, Query, Batch, Watch, Transaction — over the
// same binary protocol to the same worker.
//
// The client core is pure Go and tested natively against the worker's
// engine; the browser transport (a Web Worker and postMessage) is in
// transport_js.go.
package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/hearthdb/hearth/codec"
	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/wasm/protocol"
)

// Transport carries encoded messages to the worker and back.
type Transport interface {
	// Send delivers one request message. The transport owns msg afterwards.
	Send(msg []byte) error
	// Receive registers the function that takes every message from the
	// worker. It is called on the transport's goroutine and must not block.
	Receive(func(msg []byte))
}

// Error is a failure reported by the worker, with its stable code.
type Error struct {
	Code    string
	Message string
	// Index is the failing statement of a batch, or -1.
	Index int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// ErrClosed is returned for requests on a closed client.
var ErrClosed = errors.New("hearth client: closed")

// Client is a connection to one Hearth worker. It is safe for concurrent use.
type Client struct {
	t Transport

	mu      sync.Mutex
	nextID  int64
	pending map[int64]waiter
	subs    map[int64]func(push map[string]any)
	closed  bool
	// OnUnmatchedError receives errors that answer no request (a message
	// the worker could not read).
	OnUnmatchedError func(*Error)
}

type reply struct {
	ok  any
	err error
}

// waiter is a request in flight. onOK, when set, runs on the receiving
// goroutine before any later message is handled: a watch registers its
// subscription there, so no push can slip past it.
type waiter struct {
	ch   chan reply
	onOK func(ok any)
}

// New returns a client speaking over t.
func New(t Transport) *Client {
	c := &Client{t: t, pending: map[int64]waiter{}, subs: map[int64]func(map[string]any){}}
	t.Receive(c.receive)
	return c
}

func (c *Client) receive(msg []byte) {
	v, err := codec.Decode(msg)
	m, ok := v.(map[string]any)
	if err != nil || !ok {
		c.unmatched(&Error{Code: "BAD_REPLY", Message: fmt.Sprintf("undecodable message from the worker: %v", err), Index: -1})
		return
	}
	if sub, ok := m["sub"].(int64); ok {
		c.mu.Lock()
		fn := c.subs[sub]
		c.mu.Unlock()
		if fn != nil {
			fn(m)
		}
		return
	}
	if _, ok := m["progress"]; ok {
		return
	}
	id, _ := m["id"].(int64)
	c.mu.Lock()
	w, found := c.pending[id]
	delete(c.pending, id)
	c.mu.Unlock()
	r := reply{ok: m["ok"]}
	if e, bad := m["error"].(map[string]any); bad {
		r.err = errorOf(e)
	}
	if !found {
		if r.err != nil {
			c.unmatched(r.err.(*Error))
		}
		return
	}
	if r.err == nil && w.onOK != nil {
		w.onOK(r.ok)
	}
	w.ch <- r
}

func (c *Client) unmatched(e *Error) {
	if c.OnUnmatchedError != nil {
		c.OnUnmatchedError(e)
	}
}

func errorOf(e map[string]any) *Error {
	code, _ := e["code"].(string)
	msg, _ := e["message"].(string)
	idx := -1
	if i, ok := e["index"].(int64); ok {
		idx = int(i)
	}
	return &Error{Code: code, Message: msg, Index: idx}
}

// request sends one request and waits for its reply.
func (c *Client) request(ctx context.Context, op string, fields map[string]any) (any, error) {
	return c.requestHooked(ctx, op, fields, nil)
}

func (c *Client) requestHooked(ctx context.Context, op string, fields map[string]any, onOK func(any)) (any, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	c.nextID++
	id := c.nextID
	ch := make(chan reply, 1)
	c.pending[id] = waiter{ch: ch, onOK: onOK}
	c.mu.Unlock()

	m := map[string]any{"v": int64(protocol.Version), "id": id, "op": op}
	for k, v := range fields {
		m[k] = v
	}
	msg, err := codec.Encode(m)
	if err == nil {
		err = c.t.Send(msg)
	}
	if err != nil {
		c.forget(id)
		return nil, &Error{Code: protocol.CodeBadRequest, Message: err.Error(), Index: -1}
	}
	select {
	case r := <-ch:
		return r.ok, r.err
	case <-ctx.Done():
		// The worker still answers; the reply is dropped when it comes.
		c.forget(id)
		return nil, ctx.Err()
	}
}

func (c *Client) forget(id int64) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// Close fails every request in flight with ErrClosed.
func (c *Client) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for id, w := range c.pending {
		w.ch <- reply{err: ErrClosed}
		delete(c.pending, id)
	}
}

// OpenOptions says which database to open and how.
type OpenOptions struct {
	Name string
	// Storage is "auto" (default), "opfs", "idb" or "memory".
	Storage    string
	Migrations []appschema.Migration
	// Sync, when set, replicates tables through a Hearth sync server.
	Sync *SyncOptions
}

// DB is an open database.
type DB struct {
	c          *Client
	handle     int64
	Name       string
	Storage    string
	Reason     string
	Version    int64
	Persistent bool
	// Synced says the database was opened with sync.
	Synced bool
}

// Open opens (creating if needed) a database and applies pending migrations.
func (c *Client) Open(ctx context.Context, opts OpenOptions) (*DB, error) {
	storage := opts.Storage
	if storage == "" {
		storage = "auto"
	}
	fields := map[string]any{"name": opts.Name, "storage": storage}
	if len(opts.Migrations) > 0 {
		migs := make([]any, len(opts.Migrations))
		for i, m := range opts.Migrations {
			migs[i] = map[string]any{"version": m.Version, "sql": m.SQL}
		}
		fields["migrations"] = migs
	}
	if opts.Sync != nil {
		fields["sync"] = opts.Sync.fields()
	}
	v, err := c.request(ctx, protocol.OpOpen, fields)
	if err != nil {
		return nil, err
	}
	m := v.(map[string]any)
	db := &DB{c: c, Name: opts.Name}
	db.handle, _ = m["db"].(int64)
	db.Storage, _ = m["storage"].(string)
	db.Reason, _ = m["reason"].(string)
	db.Version, _ = m["version"].(int64)
	db.Persistent, _ = m["persistent"].(bool)
	db.Synced, _ = m["sync"].(bool)
	return db, nil
}

// ExecResult reports what a write did.
type ExecResult struct {
	Changes         int64
	LastInsertRowID int64
}

// params turns Go arguments into wire params: one map argument binds by
// name, otherwise the arguments bind by position.
func params(args []any) (any, error) {
	if len(args) == 0 {
		// No params at all: the worker refuses an empty list for a
		// multi-statement exec.
		return nil, nil
	}
	if len(args) == 1 {
		if m, ok := args[0].(map[string]any); ok {
			return m, nil
		}
	}
	out := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case int:
			out[i] = int64(v)
		case int32:
			out[i] = int64(v)
		case float32:
			out[i] = float64(v)
		case nil, bool, int64, float64, string, []byte:
			out[i] = v
		default:
			return nil, fmt.Errorf("hearth client: cannot bind argument %d of type %T", i, a)
		}
	}
	return out, nil
}

// Exec runs a write (or several statements without arguments).
func (db *DB) Exec(ctx context.Context, sql string, args ...any) (ExecResult, error) {
	p, err := params(args)
	if err != nil {
		return ExecResult{}, err
	}
	v, err := db.c.request(ctx, protocol.OpExec, map[string]any{"db": db.handle, "sql": sql, "params": p})
	if err != nil {
		return ExecResult{}, err
	}
	return execResultOf(v), nil
}

func execResultOf(v any) ExecResult {
	m, _ := v.(map[string]any)
	r := ExecResult{}
	r.Changes, _ = m["changes"].(int64)
	r.LastInsertRowID, _ = m["lastInsertRowid"].(int64)
	return r
}

// Result is a query result: values are nil, int64, float64, string or []byte.
type Result struct {
	Columns []string
	Rows    [][]any
}

// Map returns row i as a map by column name.
func (r Result) Map(i int) map[string]any {
	m := make(map[string]any, len(r.Columns))
	for j, c := range r.Columns {
		m[c] = r.Rows[i][j]
	}
	return m
}

func resultOf(v any) Result {
	m, _ := v.(map[string]any)
	var r Result
	for _, c := range asSlice(m["columns"]) {
		s, _ := c.(string)
		r.Columns = append(r.Columns, s)
	}
	for _, row := range asSlice(m["rows"]) {
		r.Rows = append(r.Rows, asSlice(row))
	}
	return r
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// Query runs one statement and returns its rows.
func (db *DB) Query(ctx context.Context, sql string, args ...any) (Result, error) {
	p, err := params(args)
	if err != nil {
		return Result{}, err
	}
	v, err := db.c.request(ctx, protocol.OpQuery, map[string]any{"db": db.handle, "sql": sql, "params": p})
	if err != nil {
		return Result{}, err
	}
	return resultOf(v), nil
}

// Statement is one entry of a batch.
type Statement struct {
	SQL  string
	Args []any
}

// Batch runs statements in one transaction, all or none.
func (db *DB) Batch(ctx context.Context, stmts ...Statement) ([]Result, error) {
	list, err := statementList(stmts)
	if err != nil {
		return nil, err
	}
	v, err := db.c.request(ctx, protocol.OpBatch, map[string]any{"db": db.handle, "statements": list})
	if err != nil {
		return nil, err
	}
	return batchResultsOf(v), nil
}

func statementList(stmts []Statement) ([]any, error) {
	list := make([]any, len(stmts))
	for i, s := range stmts {
		p, err := params(s.Args)
		if err != nil {
			return nil, err
		}
		list[i] = map[string]any{"sql": s.SQL, "params": p}
	}
	return list, nil
}

func batchResultsOf(v any) []Result {
	m, _ := v.(map[string]any)
	results := asSlice(m["results"])
	out := make([]Result, len(results))
	for i, r := range results {
		out[i] = resultOf(r)
	}
	return out
}

// Watch calls fn with the query's result now and after every commit that
// changes it; the worker sends deltas and the client keeps the full result.
// fn runs on the transport's goroutine: hand the result to your UI loop.
// The returned stop function ends the watch.
func (db *DB) Watch(ctx context.Context, sql string, args []any, fn func(Result)) (stop func(context.Context) error, err error) {
	p, err := params(args)
	if err != nil {
		return nil, err
	}
	// Pushes can arrive before the reply is processed: buffer them until
	// the initial result is in place.
	var mu sync.Mutex
	var current *Result
	var early []map[string]any
	apply := func(push map[string]any) {
		if full, ok := push["full"]; ok {
			r := resultOf(full)
			current = &r
		} else if d, ok := push["delta"].(map[string]any); ok {
			current.Rows = applyDelta(current.Rows, d)
		} else {
			return
		}
		fn(Result{Columns: current.Columns, Rows: slices.Clone(current.Rows)})
	}
	handler := func(push map[string]any) {
		mu.Lock()
		defer mu.Unlock()
		if current == nil {
			early = append(early, push)
			return
		}
		apply(push)
	}
	v, sub, err := db.subscribe(ctx, map[string]any{"db": db.handle, "sql": sql, "params": p}, handler)
	if err != nil {
		return nil, err
	}
	mu.Lock()
	r := resultOf(v.(map[string]any)["result"])
	current = &r
	fn(Result{Columns: r.Columns, Rows: slices.Clone(r.Rows)})
	for _, push := range early {
		apply(push)
	}
	early = nil
	mu.Unlock()
	return db.unsubscriber(sub), nil
}

// subscribe sends a watch request and routes its pushes to handler from
// the moment the reply is matched (pushes may follow it at once).
func (db *DB) subscribe(ctx context.Context, fields map[string]any, handler func(map[string]any)) (reply any, sub int64, err error) {
	reply, err = db.c.requestHooked(ctx, protocol.OpWatch, fields, func(ok any) {
		sub, _ = ok.(map[string]any)["sub"].(int64)
		db.c.mu.Lock()
		db.c.subs[sub] = handler
		db.c.mu.Unlock()
	})
	return reply, sub, err
}

// unsubscriber returns the function that ends a subscription.
func (db *DB) unsubscriber(sub int64) func(context.Context) error {
	return func(ctx context.Context) error {
		db.c.mu.Lock()
		delete(db.c.subs, sub)
		db.c.mu.Unlock()
		_, err := db.c.request(ctx, protocol.OpUnwatch, map[string]any{"db": db.handle, "sub": sub})
		return err
	}
}

// applyDelta applies a worker delta: removals (indices into the old rows),
// then insertions and changes at indices of the new rows.
func applyDelta(rows [][]any, d map[string]any) [][]any {
	rows = slices.Clone(rows)
	removed := asSlice(d["removed"])
	for i := len(removed) - 1; i >= 0; i-- {
		at := int(removed[i].(int64))
		rows = slices.Delete(rows, at, at+1)
	}
	for _, x := range asSlice(d["inserted"]) {
		p := asSlice(x)
		rows = slices.Insert(rows, int(p[0].(int64)), asSlice(p[1]))
	}
	for _, x := range asSlice(d["changed"]) {
		p := asSlice(x)
		rows[int(p[0].(int64))] = asSlice(p[1])
	}
	return rows
}

// Close closes the database.
func (db *DB) Close(ctx context.Context) error {
	_, err := db.c.request(ctx, protocol.OpClose, map[string]any{"db": db.handle})
	return err
}
