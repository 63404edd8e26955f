package engine

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearthdb/hearth/codec"
	"github.com/ncruces/go-sqlite3"
)

// nextPush waits for a subscription push, skipping nothing: replies arriving
// meanwhile are a test bug.
func (c *client) nextPush(t *testing.T) map[string]any {
	t.Helper()
	r := c.next()
	if _, ok := r["sub"]; !ok {
		t.Fatalf("expected a subscription push, got %v", r)
	}
	return r
}

func (c *client) noPush(t *testing.T) {
	t.Helper()
	if len(c.pushes) > 0 {
		t.Fatalf("unexpected push %v", c.pushes[0])
	}
	select {
	case r := <-c.replies:
		t.Fatalf("unexpected message %v", r)
	case <-time.After(50 * time.Millisecond):
	}
}

// apply replays a delta on a page-side copy of the rows, as hearth.js does.
func apply(rows []any, d map[string]any) []any {
	removed := d["removed"].([]any)
	for i := len(removed) - 1; i >= 0; i-- {
		at := int(removed[i].(int64))
		rows = slices.Delete(rows, at, at+1)
	}
	for _, x := range d["inserted"].([]any) {
		p := x.([]any)
		rows = slices.Insert(rows, int(p[0].(int64)), p[1])
	}
	for _, x := range d["changed"].([]any) {
		p := x.([]any)
		rows[int(p[0].(int64))] = p[1]
	}
	return rows
}

// applyNextDelta applies the next push, a delta, to rows (the page's copy
// of the watch of sql) and checks the copy against sql run afresh.
func (c *client) applyNextDelta(t *testing.T, db int64, sql string, rows []any, what string) []any {
	t.Helper()
	p := c.nextPush(t)
	d, ok := p["delta"].(map[string]any)
	if !ok {
		t.Fatalf("%s: expected a delta, got %v", what, p)
	}
	rows = apply(rows, d)
	want := c.ok("query", map[string]any{"db": db, "sql": sql})["rows"].([]any)
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Fatalf("%s: the page's copy (%d rows) diverged from the query (%d rows):\n got %v\nwant %v", what, len(rows), len(want), rows, want)
	}
	return rows
}

func info(c *client, db int64) map[string]any {
	return c.ok("info", map[string]any{"db": db})
}

func TestWatchPushesDeltasForInsertUpdateDelete(t *testing.T) {
	c := newClient(t)
	db := c.open("watch")
	c.ok("exec", map[string]any{"db": db, "sql": "CREATE TABLE tasks(id TEXT PRIMARY KEY, title TEXT, pos REAL); CREATE TABLE other(x)"})
	stmts := []any{}
	for i := range 500 {
		stmts = append(stmts, map[string]any{"sql": "INSERT INTO tasks VALUES (?, ?, ?)", "params": []any{fmt.Sprintf("t%03d", i), "task", float64(i)}})
	}
	c.ok("batch", map[string]any{"db": db, "statements": stmts})
	w := c.ok("watch", map[string]any{"db": db, "sql": "SELECT id, title FROM tasks ORDER BY pos"})
	result := w["result"].(map[string]any)
	rows := result["rows"].([]any)
	if len(rows) != 500 || result["keyed"] != true {
		t.Fatalf("initial result: %d rows keyed=%v", len(rows), result["keyed"])
	}
	runs := info(c, db)["liveQueryRuns"].(int64)

	// An unrelated write re-runs nothing and pushes nothing.
	c.ok("exec", map[string]any{"db": db, "sql": "INSERT INTO other VALUES (1)"})
	c.noPush(t)
	if got := info(c, db)["liveQueryRuns"].(int64); got != runs {
		t.Fatalf("unrelated write re-ran live queries: %d → %d", runs, got)
	}

	check := func(what string) {
		t.Helper()
		rows = c.applyNextDelta(t, db, "SELECT id, title FROM tasks ORDER BY pos", rows, what)
	}
	c.ok("exec", map[string]any{"db": db, "sql": "INSERT INTO tasks VALUES ('new', 'inserted', 250.5)"})
	check("insert")
	c.ok("exec", map[string]any{"db": db, "sql": "UPDATE tasks SET title = 'renamed' WHERE id = 't010'"})
	check("update")
	c.ok("exec", map[string]any{"db": db, "sql": "DELETE FROM tasks WHERE id = 't020'"})
	check("delete")
	c.ok("exec", map[string]any{"db": db, "sql": "UPDATE tasks SET pos = -1 WHERE id = 't400'"})
	check("move")
	// A write that changes nothing the query shows pushes nothing.
	c.ok("exec", map[string]any{"db": db, "sql": "UPDATE tasks SET pos = pos WHERE id = 't001'"})
	c.noPush(t)

	// 100 writes in one batch: one commit, one push.
	stmts = stmts[:0]
	for i := range 100 {
		stmts = append(stmts, map[string]any{"sql": "UPDATE tasks SET title = ? WHERE id = ?", "params": []any{"bulk", fmt.Sprintf("t%03d", i+100)}})
	}
	before := info(c, db)["liveQueryRuns"].(int64)
	c.ok("batch", map[string]any{"db": db, "statements": stmts})
	check("batch")
	c.noPush(t)
	if got := info(c, db)["liveQueryRuns"].(int64); got != before+1 {
		t.Fatalf("a 100-write batch ran the live query %d times, want 1", got-before)
	}
}

func TestIdenticalWatchesShareOneEvaluation(t *testing.T) {
	c := newClient(t)
	db := c.open("share")
	c.ok("exec", map[string]any{"db": db, "sql": "CREATE TABLE t(id INTEGER PRIMARY KEY, v)"})
	a := c.ok("watch", map[string]any{"db": db, "sql": "SELECT * FROM t WHERE v > :min", "params": map[string]any{"min": int64(1)}})["sub"]
	b := c.ok("watch", map[string]any{"db": db, "sql": "SELECT * FROM t WHERE v > :min", "params": map[string]any{"min": int64(1)}})["sub"]
	if a == b {
		t.Fatal("two subscriptions share an id")
	}
	in := info(c, db)
	if in["liveQueries"] != int64(1) || in["subscriptions"] != int64(2) || in["liveQueryRuns"] != int64(1) {
		t.Fatalf("info %v", in)
	}
	c.ok("exec", map[string]any{"db": db, "sql": "INSERT INTO t VALUES (1, 5)"})
	got := map[any]bool{}
	for range 2 {
		got[c.nextPush(t)["sub"]] = true
	}
	if !got[a] || !got[b] {
		t.Fatalf("pushes went to %v", got)
	}
	if in := info(c, db); in["liveQueryRuns"] != int64(2) {
		t.Fatalf("shared query ran %v times", in["liveQueryRuns"])
	}
	c.ok("unwatch", map[string]any{"db": db, "sub": a})
	c.ok("unwatch", map[string]any{"db": db, "sub": b})
	c.ok("exec", map[string]any{"db": db, "sql": "INSERT INTO t VALUES (2, 5)"})
	c.noPush(t)
}

func TestUnkeyedWatchGetsFullResults(t *testing.T) {
	c := newClient(t)
	db := c.open("unkeyed")
	c.ok("exec", map[string]any{"db": db, "sql": "CREATE TABLE t(v)"})
	w := c.ok("watch", map[string]any{"db": db, "sql": "SELECT count(*) AS n FROM t"})
	if w["result"].(map[string]any)["keyed"] != false {
		t.Fatal("an aggregate was treated as keyed")
	}
	c.ok("exec", map[string]any{"db": db, "sql": "INSERT INTO t VALUES (1)"})
	p := c.nextPush(t)
	if fmt.Sprint(p["full"].(map[string]any)["rows"]) != "[[1]]" {
		t.Fatalf("push %v", p)
	}
	c.fail("watch", map[string]any{"db": db, "sql": "DELETE FROM t"}, "BAD_REQUEST")
}

func TestWatchSeesTriggerWritesAndWaitsForAppTransactions(t *testing.T) {
	c := newClient(t)
	db := c.open("trig")
	c.ok("exec", map[string]any{"db": db, "sql": `CREATE TABLE a(id INTEGER PRIMARY KEY); CREATE TABLE log(id INTEGER PRIMARY KEY, msg);
		CREATE TRIGGER a_log AFTER INSERT ON a BEGIN INSERT INTO log(msg) VALUES ('added ' || new.id); END`})
	c.ok("watch", map[string]any{"db": db, "sql": "SELECT id, msg FROM log"})
	c.ok("exec", map[string]any{"db": db, "sql": "BEGIN"})
	c.ok("exec", map[string]any{"db": db, "sql": "INSERT INTO a VALUES (1)"})
	c.noPush(t) // not committed yet
	c.ok("exec", map[string]any{"db": db, "sql": "COMMIT"})
	if d := c.nextPush(t)["delta"].(map[string]any); len(d["inserted"].([]any)) != 1 {
		t.Fatalf("delta %v", d)
	}
}

func TestDiffProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 2000 {
		old := randomEvaluation(r, 30)
		cur := randomEvaluation(r, 30)
		d := diff(old, cur)
		rows := make([]any, len(old.rows))
		for i := range old.rows {
			rows[i] = string(old.rows[i])
		}
		for i := len(d.removed) - 1; i >= 0; i-- {
			rows = slices.Delete(rows, d.removed[i], d.removed[i]+1)
		}
		for _, i := range d.inserted {
			rows = slices.Insert(rows, i, any(string(cur.rows[i])))
		}
		for _, i := range d.changed {
			rows[i] = string(cur.rows[i])
		}
		want := make([]any, len(cur.rows))
		for i := range cur.rows {
			want[i] = string(cur.rows[i])
		}
		if fmt.Sprint(rows) != fmt.Sprint(want) {
			t.Fatalf("round %d: delta %+v gives %v, want %v", round, d, rows, want)
		}
	}
}

func randomEvaluation(r *rand.Rand, maxRows int) evaluation {
	keys := r.Perm(maxRows)[:r.IntN(maxRows)]
	ev := evaluation{keyed: true}
	for _, k := range keys {
		var enc codec.Encoder
		enc.Array(2)
		enc.Int(int64(k))
		enc.Int(int64(r.IntN(3)))
		ev.keys = append(ev.keys, fmt.Sprint(k))
		ev.rows = append(ev.rows, enc.Bytes())
	}
	return ev
}

func TestGroupCommitKeepsOrderAndIndividualFailures(t *testing.T) {
	c := newClient(t)
	db := c.open("group")
	c.ok("exec", map[string]any{"db": db, "sql": "CREATE TABLE t(seq INTEGER PRIMARY KEY, v TEXT UNIQUE)"})
	const n = 1000
	ids := make([]int64, n)
	for i := range n {
		v := fmt.Sprint("v", i)
		if i == 500 {
			v = "v10" // violates UNIQUE
		}
		ids[i] = c.send("exec", map[string]any{"db": db, "sql": "INSERT INTO t(seq, v) VALUES (?, ?)", "params": []any{int64(i), v}})
	}
	failed := 0
	for i := range n {
		r := c.next()
		if r["id"] != ids[i] {
			t.Fatalf("reply %d out of order: id %v", i, r["id"])
		}
		if e, bad := r["error"].(map[string]any); bad {
			failed++
			if i != 500 || e["code"] != "SQLITE_CONSTRAINT_UNIQUE" {
				t.Fatalf("request %d failed: %v", i, e)
			}
		}
	}
	rows := c.ok("query", map[string]any{"db": db, "sql": "SELECT count(*), min(seq), max(seq) FROM t"})["rows"]
	if failed != 1 || fmt.Sprint(rows) != "[[999 0 999]]" {
		t.Fatalf("failed=%d rows=%v", failed, rows)
	}
}

// TestAFailedExecKeepsWhatRanBeforeItAloneOrInAGroup: an exec of several
// statements whose last fails keeps those before it (TestMultiStatementExec:
// like sqlite3_exec), whether it runs alone or in a group commit with other
// writes: the path depends on what else arrives meanwhile, the outcome
// must not.
func TestAFailedExecKeepsWhatRanBeforeItAloneOrInAGroup(t *testing.T) {
	c := newClient(t)
	db := c.open("failed-exec")
	c.ok("exec", map[string]any{"db": db, "sql": "CREATE TABLE t(v TEXT)"})
	bad := func(v string) map[string]any {
		return map[string]any{"db": db, "sql": "INSERT INTO t VALUES (?); INSERT INTO nowhere VALUES (1)", "params": []any{v}}
	}
	c.fail("exec", bad("alone"), "SQLITE_ERROR")
	// Sent together, so that one sweep takes them: a group (unless the
	// engine took the first before the others arrived: then alone).
	ids := []int64{
		c.send("exec", map[string]any{"db": db, "sql": "INSERT INTO t VALUES ('before')"}),
		c.send("exec", bad("grouped")),
		c.send("exec", map[string]any{"db": db, "sql": "INSERT INTO t VALUES ('after')"}),
	}
	for i, id := range ids {
		r := c.next()
		if r["id"] != id || (r["error"] != nil) != (i == 1) {
			t.Fatalf("reply %d: %v", i, r)
		}
	}
	rows := c.ok("query", map[string]any{"db": db, "sql": "SELECT v FROM t ORDER BY rowid"})["rows"]
	if fmt.Sprint(rows) != "[[alone] [before] [grouped] [after]]" {
		t.Fatalf("rows %v", rows)
	}
}

func TestMigrations(t *testing.T) {
	c := newClient(t)
	v1 := map[string]any{"version": int64(1), "sql": "CREATE TABLE tasks(id TEXT PRIMARY KEY, title TEXT)"}
	v2 := map[string]any{"version": int64(2), "sql": "ALTER TABLE tasks ADD COLUMN done INTEGER NOT NULL DEFAULT 0"}
	v3 := map[string]any{"version": int64(3), "sql": "CREATE INDEX tasks_done ON tasks(done); UPDATE tasks SET done = 1 WHERE title LIKE '%done%'"}
	open := func(migs ...any) (map[string]any, map[string]any) {
		id := c.send("open", map[string]any{"name": "mig", "storage": "memory", "migrations": migs})
		var progress []map[string]any
		for {
			r := c.next()
			if p, ok := r["progress"].(map[string]any); ok && r["id"] == id {
				progress = append(progress, p)
				continue
			}
			if e, bad := r["error"].(map[string]any); bad {
				return nil, e
			}
			return r["ok"].(map[string]any), map[string]any{"progress": progress}
		}
	}
	keep, _ := open(v1) // keeps the memory database alive across reopenings
	if keep["version"] != int64(1) {
		t.Fatalf("v1: %v", keep)
	}
	c.ok("exec", map[string]any{"db": keep["db"], "sql": "INSERT INTO tasks VALUES ('a', 'write'), ('b', 'done already')"})
	got, extra := open(v1, v2, v3)
	if got["version"] != int64(3) || len(extra["progress"].([]map[string]any)) != 2 {
		t.Fatalf("v3: %v %v", got, extra)
	}
	rows := c.ok("query", map[string]any{"db": got["db"], "sql": "SELECT id, done FROM tasks ORDER BY id"})["rows"]
	if fmt.Sprint(rows) != "[[a 0] [b 1]]" {
		t.Fatalf("data after v3: %v", rows)
	}
	bad := map[string]any{"version": int64(4), "sql": "CREATE TABLE extra(x); INSERT INTO nowhere VALUES (1)"}
	_, e := open(v1, v2, v3, bad)
	if e["code"] != "MIGRATION_FAILED" {
		t.Fatalf("failing v4: %v", e)
	}
	tables := c.ok("query", map[string]any{"db": got["db"], "sql": "SELECT count(*) FROM sqlite_master WHERE name = 'extra'"})["rows"]
	version := c.ok("query", map[string]any{"db": got["db"], "sql": "PRAGMA user_version"})["rows"]
	if fmt.Sprint(tables) != "[[0]]" || fmt.Sprint(version) != "[[3]]" {
		t.Fatalf("failed v4 left %v tables, version %v", tables, version)
	}
	c.ok("exec", map[string]any{"db": got["db"], "sql": "PRAGMA user_version = 5"})
	if _, e := open(v1, v2, v3); e["code"] != "SCHEMA_TOO_NEW" {
		t.Fatalf("v5 database opened by a v3 app: %v", e)
	}
	c.fail("open", map[string]any{"name": "x", "storage": "memory", "migrations": []any{v2, v1}}, "BAD_REQUEST")
}

func TestSubscriptionIDsAreUniqueAcrossDatabases(t *testing.T) {
	c := newClient(t)
	a, b := c.open("sub-a"), c.open("sub-b")
	for _, db := range []int64{a, b} {
		c.ok("exec", map[string]any{"db": db, "sql": "CREATE TABLE t(id INTEGER PRIMARY KEY)"})
	}
	subA := c.ok("watch", map[string]any{"db": a, "sql": "SELECT id FROM t"})["sub"]
	subB := c.ok("watch", map[string]any{"db": b, "sql": "SELECT id FROM t"})["sub"]
	if subA == subB {
		t.Fatalf("two databases handed out subscription %v twice: pushes would reach the wrong watch", subA)
	}
	c.ok("exec", map[string]any{"db": b, "sql": "INSERT INTO t VALUES (1)"})
	if p := c.nextPush(t); p["sub"] != subB {
		t.Fatalf("push for database b went to sub %v", p["sub"])
	}
}

// Each evaluation writes over the storage of the result before the last
// one: over many commits of every kind (in-place changes, inserts, deletes,
// moves, keys that stop and start identifying rows, a schema change that
// takes the key away and gives it back) the page's copy, built only from
// what the worker pushed, must stay the query's result.
func TestLiveResultStaysExactOverManyCommits(t *testing.T) {
	c := newClient(t)
	db := c.open("many-commits")
	c.ok("exec", map[string]any{"db": db, "sql": "CREATE TABLE tasks(id TEXT PRIMARY KEY, title TEXT, pos REAL)"})
	stmts := []any{}
	for i := range 60 {
		stmts = append(stmts, map[string]any{"sql": "INSERT INTO tasks VALUES (?, ?, ?)", "params": []any{fmt.Sprintf("t%02d", i), "task", float64(i)}})
	}
	c.ok("batch", map[string]any{"db": db, "statements": stmts})
	const query = "SELECT id, title FROM tasks ORDER BY pos, id"
	result := c.ok("watch", map[string]any{"db": db, "sql": query})["result"].(map[string]any)
	rows := result["rows"].([]any)
	r := rand.New(rand.NewPCG(3, 4))
	for step := range 300 {
		id := fmt.Sprintf("t%02d", r.IntN(80))
		var sql string
		var params []any
		switch op := r.IntN(7); {
		case step == 150:
			// The key column goes: the table is rebuilt without a primary key.
			sql = "CREATE TABLE tasks2(id TEXT, title TEXT, pos REAL); INSERT INTO tasks2 SELECT * FROM tasks; DROP TABLE tasks; ALTER TABLE tasks2 RENAME TO tasks"
		case step == 200:
			// And comes back.
			sql = "CREATE TABLE tasks2(id TEXT PRIMARY KEY, title TEXT, pos REAL); INSERT OR IGNORE INTO tasks2 SELECT * FROM tasks; DROP TABLE tasks; ALTER TABLE tasks2 RENAME TO tasks"
		case op <= 2:
			sql, params = "UPDATE tasks SET title = ? WHERE id = ?", []any{fmt.Sprint("edit ", step), id}
		case op == 3:
			sql, params = "UPDATE tasks SET pos = ? WHERE id = ?", []any{r.Float64() * 80, id}
		case op == 4:
			sql, params = "DELETE FROM tasks WHERE id = ?", []any{id}
		default:
			sql, params = "INSERT OR IGNORE INTO tasks VALUES (?, 'new', ?)", []any{id, r.Float64() * 80}
		}
		fields := map[string]any{"db": db, "sql": sql}
		if params != nil {
			fields["params"] = params
		}
		c.ok("exec", fields)
		// The commit's push (if any) comes before the reply to a query
		// sent after it.
		qid := c.send("query", map[string]any{"db": db, "sql": query})
		var want []any
		for want == nil {
			p := c.next()
			switch {
			case p["id"] == qid:
				want = p["ok"].(map[string]any)["rows"].([]any)
			case p["delta"] != nil:
				rows = apply(rows, p["delta"].(map[string]any))
			case p["full"] != nil:
				rows = p["full"].(map[string]any)["rows"].([]any)
			default:
				t.Fatalf("step %d (%s): message %v", step, sql, p)
			}
		}
		if fmt.Sprint(rows) != fmt.Sprint(want) {
			t.Fatalf("step %d (%s): the page's copy diverged:\n got %v\nwant %v", step, sql, rows, want)
		}
	}
	c.noPush(t)
}

// After a schema change the key column is looked for again: a table
// rebuilt without its primary key gives full results, not deltas keyed
// by a column that no longer identifies rows.
func TestWatchFindsTheKeyAgainAfterASchemaChange(t *testing.T) {
	c := newClient(t)
	db := c.open("rekey")
	c.ok("exec", map[string]any{"db": db, "sql": "CREATE TABLE t(id TEXT PRIMARY KEY, v); INSERT INTO t VALUES ('a', 1)"})
	w := c.ok("watch", map[string]any{"db": db, "sql": "SELECT id, v FROM t ORDER BY v"})
	if w["result"].(map[string]any)["keyed"] != true {
		t.Fatal("a primary key column was not taken as the key")
	}
	c.ok("exec", map[string]any{"db": db, "sql": "DROP TABLE t; CREATE TABLE t(id TEXT, v); INSERT INTO t VALUES ('a', 1), ('a', 2)"})
	p := c.nextPush(t)
	full, ok := p["full"].(map[string]any)
	if !ok || full["keyed"] != false || fmt.Sprint(full["rows"]) != "[[a 1] [a 2]]" {
		t.Fatalf("after the key went: push %v", p)
	}
	c.ok("exec", map[string]any{"db": db, "sql": "UPDATE t SET v = 3 WHERE v = 1"})
	p = c.nextPush(t)
	if full, ok := p["full"].(map[string]any); !ok || fmt.Sprint(full["rows"]) != "[[a 2] [a 3]]" {
		t.Fatalf("unkeyed update: push %v", p)
	}
}

// Rows whose keys come back in the same order differ only in their bytes:
// the delta is exactly the rows whose bytes changed.
func TestDiffOfRowsChangedInPlace(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for round := range 500 {
		old := randomEvaluation(r, 40)
		cur := evaluation{keyed: true, keys: slices.Clone(old.keys)}
		var want []int
		for i, row := range old.rows {
			if r.IntN(4) == 0 {
				changed := append(slices.Clone(row), 0)
				cur.rows = append(cur.rows, changed)
				want = append(want, i)
			} else {
				cur.rows = append(cur.rows, slices.Clone(row))
			}
		}
		d := diff(old, cur)
		if len(d.removed) != 0 || len(d.inserted) != 0 || fmt.Sprint(d.changed) != fmt.Sprint(want) {
			t.Fatalf("round %d: delta %+v, want changed %v", round, d, want)
		}
	}
}

// TestAHeldBackRefreshRunsForThePageAndForANewWatcher: after the sync
// client's commit a slow live query is held back (no push), but a page
// write to its table, a new watcher of it, and its due time each bring it
// up to date at once, commits it missed included. Every clock read is a
// second later, so every refresh costs one.
func TestAHeldBackRefreshRunsForThePageAndForANewWatcher(t *testing.T) {
	c := newClient(t)
	var reads atomic.Int64
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.eng.liveClock = func() time.Time { return start.Add(time.Duration(reads.Add(1)) * time.Second) }
	db := c.open("held")
	// runCalls marks the sync tables an app may watch as written after a
	// turn that wrote; without sync, the test makes one of its own.
	c.ok("exec", map[string]any{"db": db, "sql": "CREATE TABLE _hearth_quarantine(id TEXT PRIMARY KEY, v INTEGER)"})
	const list = "SELECT id, v FROM _hearth_quarantine ORDER BY id"
	w := c.ok("watch", map[string]any{"db": db, "sql": list})
	rows := w["result"].(map[string]any)["rows"].([]any)
	c.eng.mu.Lock()
	owner := c.eng.dbs[db]
	c.eng.mu.Unlock()
	syncTurn := func(id string) {
		t.Helper()
		call := &localCall{done: make(chan error, 1), fn: func(conn *sqlite3.Conn) error {
			return conn.Exec("INSERT INTO _hearth_quarantine VALUES ('" + id + "', 1)")
		}}
		if !owner.queue.pushCall(call) {
			t.Fatal("the owner refused the turn")
		}
		if err := <-call.done; err != nil {
			t.Fatal(err)
		}
	}
	exact := func(what string) {
		t.Helper()
		rows = c.applyNextDelta(t, db, list, rows, what)
	}

	syncTurn("a")
	c.noPush(t)
	c.ok("exec", map[string]any{"db": db, "sql": "INSERT INTO _hearth_quarantine VALUES ('b', 2)"})
	exact("a page write after a held-back turn")

	syncTurn("c")
	c.noPush(t)
	second := c.ok("watch", map[string]any{"db": db, "sql": list})
	if got := fmt.Sprint(second["result"].(map[string]any)["rows"]); got != "[[a 1] [b 2] [c 1]]" {
		t.Fatalf("a new watcher of a held-back query got %s", got)
	}
	exact("the first watcher, when a second one came")

	syncTurn("d")
	// Held back, then due a few (fake) seconds later: next() waits for it.
	p := c.nextPush(t)
	rows = apply(rows, p["delta"].(map[string]any))
	if got := fmt.Sprint(rows); got != "[[a 1] [b 2] [c 1] [d 1]]" {
		t.Fatalf("after the held-back refresh came due: %s", got)
	}
}
