package engine

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/hearthdb/hearth/codec"
)

var benchDatabases int

// benchCaller returns a function that sends one request to an engine over
// memory storage and returns its reply, skipping the live update a write
// pushes before it (which must be a delta).
func benchCaller(b *testing.B) func(op string, fields map[string]any) map[string]any {
	out := make(chan map[string]any, 16)
	eng := New(MemoryStorage{}, func(msg []byte) {
		v, err := codec.Decode(bytes.Clone(msg))
		if err != nil {
			b.Errorf("undecodable message: %v", err)
			return
		}
		out <- v.(map[string]any)
	})
	var id int64
	return func(op string, fields map[string]any) map[string]any {
		id++
		fields["v"], fields["id"], fields["op"] = int64(1), id, op
		msg, err := codec.Encode(fields)
		if err != nil {
			b.Fatal(err)
		}
		eng.Receive(msg)
		r := <-out
		if _, push := r["sub"]; push && op == "exec" {
			// A write's live update comes before its reply.
			if r["delta"] == nil {
				b.Fatalf("want a delta push, got %v", r)
			}
			r = <-out
		}
		if r["error"] != nil || r["id"] != id {
			b.Fatalf("%s: %v", op, r)
		}
		return r["ok"].(map[string]any)
	}
}

// BenchmarkLiveUpdate is one write seen by a watch on a 500-row result (the
// shape of e2e/bench/live.mjs, issue 15 goal 5): the UPDATE, its commit, the
// live query's re-run, the delta and both messages out, in memory.
func BenchmarkLiveUpdate(b *testing.B) {
	call := benchCaller(b)
	benchDatabases++ // memory databases live as long as the process: one per run
	db := call("open", map[string]any{"name": fmt.Sprint("bench-live-", benchDatabases), "storage": "memory"})["db"].(int64)
	call("exec", map[string]any{"db": db, "sql": "CREATE TABLE tasks(id TEXT PRIMARY KEY, title TEXT, project TEXT, pos REAL); CREATE INDEX tasks_project ON tasks(project)"})
	stmts := []any{}
	for i := range 1000 {
		project := "b"
		if i%2 == 1 {
			project = "a"
		}
		stmts = append(stmts, map[string]any{"sql": "INSERT INTO tasks VALUES (?, ?, ?, ?)", "params": []any{fmt.Sprintf("t%d", i), fmt.Sprintf("task %d", i), project, float64(i)}})
	}
	call("batch", map[string]any{"db": db, "statements": stmts})
	call("watch", map[string]any{"db": db, "sql": "SELECT id, title, pos FROM tasks WHERE project = 'a' ORDER BY pos"})
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		call("exec", map[string]any{"db": db, "sql": "UPDATE tasks SET title = ? WHERE id = ?", "params": []any{fmt.Sprintf("edit %d", i), fmt.Sprintf("t%d", 1+2*(i%500))}})
	}
}

// BenchmarkLiveBulkCommit is a commit of 1,000 new rows (an initial sync's
// chunk, or an app's import) seen by a watch on every row of the table,
// 20,000 rows before the first: the INSERT, its commit, the live query's
// refresh (patched or re-run), the delta and both messages out, in memory.
func BenchmarkLiveBulkCommit(b *testing.B) {
	call := benchCaller(b)
	benchDatabases++
	db := call("open", map[string]any{"name": fmt.Sprint("bench-bulk-", benchDatabases), "storage": "memory"})["db"].(int64)
	call("exec", map[string]any{"db": db, "sql": `CREATE TABLE tasks(id TEXT PRIMARY KEY, title TEXT, pos REAL);
		WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 19999)
		INSERT INTO tasks SELECT printf('t%06d', i), 'task ' || i, i * 1000 FROM n`})
	call("watch", map[string]any{"db": db, "sql": "SELECT id, title, pos FROM tasks ORDER BY pos"})
	b.ResetTimer()
	for i := range b.N {
		call("exec", map[string]any{"db": db, "sql": fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999)
			INSERT INTO tasks SELECT printf('b%%06d-%%04d', %d, i), 'bulk', i * 20 + %d FROM n`, i, i%20+1)})
	}
}

// BenchmarkAutocommitInsert is one row inserted in its own transaction into
// a 10,000-row table with no watch on it (e2e/bench/page.js's autocommit
// row, issue 15 goal 3): the request, the INSERT and its commit, the reply.
// Its allocations set how often Go's collector pauses the worker.
func BenchmarkAutocommitInsert(b *testing.B) {
	call := benchCaller(b)
	benchDatabases++
	db := call("open", map[string]any{"name": fmt.Sprint("bench-autocommit-", benchDatabases), "storage": "memory"})["db"].(int64)
	call("exec", map[string]any{"db": db, "sql": "CREATE TABLE tasks(id TEXT PRIMARY KEY, title TEXT, status TEXT, project_id TEXT, position REAL); CREATE INDEX tasks_project ON tasks(project_id)"})
	stmts := []any{}
	for i := range 10000 {
		stmts = append(stmts, map[string]any{"sql": "INSERT INTO tasks VALUES (?,?,?,?,?)", "params": []any{fmt.Sprintf("t%05d", i), fmt.Sprintf("task %d", i), "todo", fmt.Sprintf("p%02d", i%20), float64(i)}})
	}
	call("batch", map[string]any{"db": db, "statements": stmts})
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		call("exec", map[string]any{"db": db, "sql": "INSERT INTO tasks VALUES (?,?,?,?,?)", "params": []any{fmt.Sprintf("n%08d", i), "a new task", "todo", "p01", float64(i)}})
	}
}
