package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/wasm/engine"
)

// engineTransport connects a client to a real engine in-process: the same
// bytes that would cross postMessage.
type engineTransport struct {
	eng     *engine.Engine
	mu      sync.Mutex
	receive func([]byte)
}

func newEngineTransport() *engineTransport {
	t := &engineTransport{}
	t.eng = engine.New(engine.MemoryStorage{}, func(msg []byte) {
		t.mu.Lock()
		fn := t.receive
		t.mu.Unlock()
		fn(bytes.Clone(msg))
	})
	return t
}

// openDB opens a database through a new client on its own in-process
// engine and closes it when the test ends: a memory database lives while
// a connection holds it, so a test run again in the same process (go test
// -count=N) would find the tables of the run before.
func openDB(t *testing.T, ctx context.Context, opts OpenOptions) (*Client, *DB) {
	t.Helper()
	c := New(newEngineTransport())
	db, err := c.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		closing, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := db.Close(closing); err != nil {
			t.Errorf("closing %s: %v", opts.Name, err)
		}
	})
	return c, db
}

func (t *engineTransport) Send(msg []byte) error { t.eng.Receive(msg); return nil }
func (t *engineTransport) Receive(fn func([]byte)) {
	t.mu.Lock()
	t.receive = fn
	t.mu.Unlock()
}

func TestClientAgainstEngine(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := New(newEngineTransport())
	db, err := c.Open(ctx, OpenOptions{Name: "go-client", Storage: "memory", Migrations: []appschema.Migration{
		{Version: 1, SQL: "CREATE TABLE tasks(id TEXT PRIMARY KEY, title TEXT, pos REAL)"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if db.Version != 1 || db.Storage != "memory" {
		t.Fatalf("open: %+v", db)
	}
	if _, err := db.Exec(ctx, "INSERT INTO tasks VALUES (?, ?, ?)", "a", "first", 1); err != nil {
		t.Fatal(err)
	}
	updates := make(chan Result, 10)
	stop, err := db.Watch(ctx, "SELECT id, title FROM tasks ORDER BY pos", nil, func(r Result) { updates <- r })
	if err != nil {
		t.Fatal(err)
	}
	next := func() Result {
		select {
		case r := <-updates:
			return r
		case <-ctx.Done():
			t.Fatal("no watch update")
			return Result{}
		}
	}
	if r := next(); fmt.Sprint(r.Rows) != "[[a first]]" {
		t.Fatalf("initial %v", r.Rows)
	}
	if _, err := db.Batch(ctx,
		Statement{SQL: "INSERT INTO tasks VALUES (?, ?, ?)", Args: []any{"b", "second", 0.5}},
		Statement{SQL: "UPDATE tasks SET title = ? WHERE id = ?", Args: []any{"renamed", "a"}},
	); err != nil {
		t.Fatal(err)
	}
	if r := next(); fmt.Sprint(r.Rows) != "[[b second] [a renamed]]" {
		t.Fatalf("after batch %v", r.Rows)
	}
	q, err := db.Query(ctx, "SELECT count(*) AS n FROM tasks WHERE title = :t", map[string]any{"t": "renamed"})
	if err != nil || q.Map(0)["n"] != int64(1) {
		t.Fatalf("query %v %v", q, err)
	}
	// SQL without placeholders and no arguments: sent without params.
	if _, err := db.Exec(ctx, "CREATE TABLE notes(a); CREATE TABLE links(b)"); err != nil {
		t.Fatalf("exec without arguments: %v", err)
	}
	_, err = db.Exec(ctx, "INSERT INTO tasks VALUES ('a', 'dup', 0)")
	var herr *Error
	if !errors.As(err, &herr) || herr.Code != "SQLITE_CONSTRAINT_PRIMARYKEY" {
		t.Fatalf("duplicate insert: %v", err)
	}
	if err := stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Query(ctx, "SELECT 1"); !errors.As(err, &herr) || herr.Code != "CLOSED" {
		t.Fatalf("after close: %v", err)
	}
	if _, err := db.Exec(ctx, "SELECT ?", struct{}{}); err == nil {
		t.Fatal("binding a struct succeeded")
	}
}
