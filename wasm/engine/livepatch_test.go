package engine

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/hearthdb/hearth/codec"
)

// patchWatch is one watched query and the page's copy of its result.
type patchWatch struct {
	sql    string
	params any
	// ties: the ORDER BY does not fix every row's place; the copy is then
	// compared as a set, and checked to be in order by column orderCol.
	ties     bool
	orderCol int
	// patchable: the plan must patch it; else it must say why not.
	patchable bool
	rows      []any
}

// Patched live results must equal the query's own, whatever the commit:
// in-place edits, moves, rows entering and leaving, inserts, deletes (one,
// many, all), a key changed, INSERT OR REPLACE deleting another row through
// a UNIQUE column, an upsert, writes made by a trigger and by a foreign
// key's cascade, rolled-back transactions, mixed types and NULLs in the
// ORDER BY columns, a NOCASE column and an RTRIM term, positional and named
// parameters, an alias, an unordered result, a LIMIT that cuts the result
// and one that (mostly) does not. Every commit is checked
// against a fresh run of each query; and the patchable queries must have
// been patched, not re-run, on most commits.
func TestPatchedLiveResultsStayExact(t *testing.T) {
	c := newClient(t)
	db := c.open("patch")
	c.ok("exec", map[string]any{"db": db, "sql": `
		CREATE TABLE p(id TEXT PRIMARY KEY);
		CREATE TABLE t(id TEXT PRIMARY KEY, title TEXT COLLATE NOCASE, pos, n INTEGER, project, tag TEXT UNIQUE,
			pid TEXT REFERENCES p(id) ON DELETE CASCADE ON UPDATE CASCADE);
		CREATE TABLE u(id INTEGER PRIMARY KEY, v TEXT, w INTEGER);
		CREATE TABLE log(task TEXT, pos);
		CREATE TRIGGER log_moves AFTER INSERT ON log BEGIN UPDATE t SET pos = NEW.pos WHERE id = NEW.task; END;
		PRAGMA foreign_keys = ON;
		INSERT INTO p VALUES ('p0'), ('p1'), ('p2');`})
	r := rand.New(rand.NewPCG(11, 12))
	value := func() any {
		switch r.IntN(6) {
		case 0:
			return nil
		case 1:
			return int64(r.IntN(20))
		case 2:
			return fmt.Sprintf("s%d", r.IntN(20))
		default:
			return float64(r.IntN(400)) / 4
		}
	}
	titles := []string{"alpha", "Alpha", "beta", "BETA", "gamma", "b", "B "}
	var stmts []any
	for i := range 120 {
		stmts = append(stmts, map[string]any{"sql": "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?)", "params": []any{
			fmt.Sprintf("t%03d", i), titles[r.IntN(len(titles))], value(), int64(r.IntN(10)), []any{"a", "b", int64(1), nil}[r.IntN(4)],
			nil, fmt.Sprintf("p%d", r.IntN(3))}})
	}
	for i := range 60 {
		stmts = append(stmts, map[string]any{"sql": "INSERT INTO u VALUES (?, ?, ?)", "params": []any{int64(i), titles[r.IntN(len(titles))], int64(r.IntN(5))}})
	}
	c.ok("batch", map[string]any{"db": db, "statements": stmts})

	watches := []*patchWatch{
		{sql: "SELECT id, title, pos FROM t WHERE project = 'a' ORDER BY pos, id", patchable: true},
		{sql: "SELECT id, title FROM t ORDER BY title, id DESC", patchable: true},
		{sql: "SELECT id, n, pos FROM t WHERE n > ? ORDER BY n DESC NULLS FIRST, pos NULLS LAST, 1", params: []any{int64(3)}, patchable: true},
		{sql: "select x.id, x.title as name, x.pos from t as x where x.pos is not null order by 3 desc, name, x.id -- a comment", patchable: true},
		{sql: "SELECT id, title FROM t WHERE project = :p", params: map[string]any{":p": "b"}, patchable: true, ties: true, orderCol: -1},
		{sql: "SELECT id, project, n FROM t ORDER BY project", patchable: true, ties: true, orderCol: 1},
		{sql: "SELECT id, v FROM u WHERE w % 2 = 0 ORDER BY v COLLATE RTRIM, id", patchable: true},
		{sql: "SELECT id, pos FROM t ORDER BY pos, id LIMIT 10", patchable: true},
		{sql: "SELECT id, title, n FROM t WHERE project = 'a' ORDER BY n DESC, id LIMIT 40", patchable: true},
		{sql: "SELECT id, pos FROM t ORDER BY pos, id LIMIT 10 OFFSET 5"},
		{sql: "SELECT id, upper(title) AS up FROM t ORDER BY up, id"},
	}
	subs := map[int64]*patchWatch{}
	for _, w := range watches {
		f := map[string]any{"db": db, "sql": w.sql}
		if w.params != nil {
			f["params"] = w.params
		}
		res := c.ok("watch", f)
		w.rows = res["result"].(map[string]any)["rows"].([]any)
		subs[res["sub"].(int64)] = w
	}
	byQuery := map[string]map[string]any{}
	for _, s := range info(c, db)["liveQueryStats"].([]any) {
		byQuery[s.(map[string]any)["sql"].(string)] = s.(map[string]any)
	}
	for _, w := range watches {
		why := byQuery[w.sql]["whyRerun"].(string)
		if w.patchable != (why == "") {
			t.Errorf("%s: patchable %v, but why re-run: %q", w.sql, w.patchable, why)
		}
	}
	if why := byQuery[watches[9].sql]["whyRerun"].(string); !strings.Contains(why, "LIMIT") {
		t.Errorf("an OFFSET query re-runs because %q; want LIMIT named", why)
	}

	id := func() string { return fmt.Sprintf("t%03d", r.IntN(140)) }
	for step := range 600 {
		var sql string
		var params []any
		switch op := r.IntN(20); {
		case op < 5:
			col := []string{"title", "pos", "n", "project"}[r.IntN(4)]
			var v any = value()
			if col == "title" {
				v = titles[r.IntN(len(titles))]
			}
			sql, params = "UPDATE t SET "+col+" = ? WHERE id = ?", []any{v, id()}
		case op < 7:
			sql, params = "INSERT OR IGNORE INTO t(id, title, pos, n, project) VALUES (?, ?, ?, ?, ?)", []any{id(), titles[r.IntN(len(titles))], value(), int64(r.IntN(10)), "a"}
		case op == 7:
			sql, params = "DELETE FROM t WHERE id = ?", []any{id()}
		case op == 8:
			sql, params = "UPDATE OR IGNORE t SET id = ? WHERE id = ?", []any{id(), id()}
		case op == 9:
			// Takes the tag of whichever row holds it: REPLACE deletes that row.
			sql, params = "INSERT OR REPLACE INTO t(id, title, pos, n, project, tag) VALUES (?, 'replaced', ?, 5, 'a', ?)", []any{id(), value(), fmt.Sprint("tag", r.IntN(4))}
		case op == 10:
			sql, params = "INSERT INTO t(id, title, pos, project) VALUES (?, 'upsert', ?, 'a') ON CONFLICT(id) DO UPDATE SET pos = excluded.pos, n = n + 1", []any{id(), value()}
		case op == 11:
			sql, params = "INSERT INTO log VALUES (?, ?)", []any{id(), value()}
		case op == 12:
			sql, params = "UPDATE t SET n = n + 1 WHERE project = ?", []any{[]any{"a", "b"}[r.IntN(2)]}
		case op == 13:
			sql, params = "UPDATE p SET id = ? WHERE id = ?", []any{fmt.Sprintf("p%d", r.IntN(4)), fmt.Sprintf("p%d", r.IntN(4))}
			sql = strings.Replace(sql, "UPDATE", "UPDATE OR IGNORE", 1)
		case op == 14 && r.IntN(4) == 0:
			sql, params = "DELETE FROM p WHERE id = ?", []any{fmt.Sprintf("p%d", r.IntN(4))}
		case op == 15:
			sql, params = "UPDATE u SET v = ?, w = ? WHERE id = ?", []any{titles[r.IntN(len(titles))], int64(r.IntN(5)), int64(r.IntN(70))}
		case op == 16:
			sql, params = "INSERT OR REPLACE INTO u VALUES (?, ?, ?)", []any{int64(r.IntN(70)), titles[r.IntN(len(titles))], int64(r.IntN(5))}
		case step == 300:
			sql = "DELETE FROM u; INSERT INTO u VALUES (1, 'a', 0), (2, 'b', 2)"
		case op == 18:
			// A transaction that is rolled back changes nothing.
			tx := c.ok("begin", map[string]any{"db": db})["tx"]
			c.ok("exec", map[string]any{"db": db, "tx": tx, "sql": "UPDATE t SET pos = -5, project = 'a' WHERE id = ?", "params": []any{id()}})
			c.ok("rollback", map[string]any{"db": db, "tx": tx})
			continue
		default:
			sql, params = "UPDATE t SET pos = ?, project = ?, title = ? WHERE id = ?", []any{value(), "a", titles[r.IntN(len(titles))], id()}
		}
		fields := map[string]any{"db": db, "sql": sql}
		if params != nil {
			fields["params"] = params
		}
		c.ok("exec", fields)
		checkPatchWatches(t, c, db, watches, subs, fmt.Sprintf("step %d (%s %v)", step, sql, params))
	}
	c.noPush(t)
	stats := info(c, db)["liveQueryStats"].([]any)
	for _, s := range stats {
		s := s.(map[string]any)
		for _, w := range watches {
			t.Logf("%s: patched %d, re-run %d", s["sql"], s["patches"], s["runs"])
			if w.sql == s["sql"] && w.patchable && s["patches"].(int64) < 2*s["runs"].(int64) {
				t.Errorf("%s: patched %d times, re-run %d: the patch path was not taken", w.sql, s["patches"], s["runs"])
			}
		}
	}
}

// checkPatchWatches applies the pushes of the last commit to each watch's
// copy, then compares every copy with the query run afresh.
func checkPatchWatches(t *testing.T, c *client, db int64, watches []*patchWatch, subs map[int64]*patchWatch, what string) {
	t.Helper()
	fresh := make([]int64, len(watches))
	for i, w := range watches {
		f := map[string]any{"db": db, "sql": w.sql}
		if w.params != nil {
			f["params"] = w.params
		}
		fresh[i] = c.send("query", f)
	}
	got := 0
	for got < len(watches) {
		p := c.next()
		if sub, ok := p["sub"].(int64); ok {
			w := subs[sub]
			switch {
			case p["delta"] != nil:
				w.rows = apply(w.rows, p["delta"].(map[string]any))
			case p["full"] != nil:
				w.rows = p["full"].(map[string]any)["rows"].([]any)
			default:
				t.Fatalf("%s: push %v", what, p)
			}
			continue
		}
		i := 0
		for i < len(fresh) && fresh[i] != p["id"] {
			i++
		}
		if i == len(fresh) || p["ok"] == nil {
			t.Fatalf("%s: message %v", what, p)
		}
		want := p["ok"].(map[string]any)["rows"].([]any)
		w := watches[i]
		gotRows, wantRows := fmt.Sprint(w.rows), fmt.Sprint(want)
		if w.ties {
			gotRows, wantRows = sortedRows(w.rows), sortedRows(want)
			if w.orderCol >= 0 {
				for j := 1; j < len(w.rows); j++ {
					a, b := w.rows[j-1].([]any)[w.orderCol], w.rows[j].([]any)[w.orderCol]
					if compareValues2(a, b) > 0 {
						t.Fatalf("%s: %s: the copy is out of order at %d: %v after %v", what, w.sql, j, b, a)
					}
				}
			}
		}
		if gotRows != wantRows {
			t.Fatalf("%s: %s: the page's copy diverged:\n got %v\nwant %v", what, w.sql, gotRows, wantRows)
		}
		got++
	}
}

func sortedRows(rows []any) string {
	s := make([]string, len(rows))
	for i, r := range rows {
		s[i] = fmt.Sprint(r)
	}
	sort.Strings(s)
	return fmt.Sprint(s)
}

// compareValues2 compares decoded values with NULLs first, as ORDER BY.
func compareValues2(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	return compareValues(a, b, collBinary)
}

// The comparison agrees with SQLite's ORDER BY on values of every type
// (the patch places rows with it): random values sorted by both.
func TestCompareValuesAgreesWithSQLite(t *testing.T) {
	c := newClient(t)
	db := c.open("compare")
	c.ok("exec", map[string]any{"db": db, "sql": "CREATE TABLE v(id INTEGER PRIMARY KEY, x, y TEXT)"})
	r := rand.New(rand.NewPCG(7, 8))
	var stmts []any
	for i := range 400 {
		var x any
		switch r.IntN(6) {
		case 0:
			x = nil
		case 1:
			x = r.Int64N(1<<62) - 1<<61
		case 2:
			x = float64(r.Int64N(1<<62)-1<<61) + r.Float64()
		case 3:
			x = []byte{byte(r.IntN(4)), byte(r.IntN(4))}
		case 4:
			x = int64(r.IntN(5))
		default:
			x = []string{"a", "A", "b", "B", "a ", "ab", "", "Ä"}[r.IntN(8)]
		}
		y := []string{"a", "A", "b", "B", "a ", "ab", "", "Ä", "a  "}[r.IntN(9)]
		stmts = append(stmts, map[string]any{"sql": "INSERT INTO v VALUES (?, ?, ?)", "params": []any{int64(i), x, y}})
	}
	c.ok("batch", map[string]any{"db": db, "statements": stmts})
	for _, tc := range []struct {
		order string
		col   int
		coll  collation
		desc  bool
	}{
		{"x", 1, collBinary, false}, {"x DESC", 1, collBinary, true},
		{"y COLLATE NOCASE", 2, collNoCase, false}, {"y COLLATE RTRIM DESC", 2, collRTrim, true},
	} {
		rows := c.ok("query", map[string]any{"db": db, "sql": "SELECT id, x, y FROM v ORDER BY " + tc.order + ", id"})["rows"].([]any)
		p := &patchPlan{order: []sortKey{{col: tc.col, desc: tc.desc, nullsFirst: !tc.desc, coll: tc.coll}, {col: 0}}}
		for i := 1; i < len(rows); i++ {
			a, _ := codec.Encode(rows[i-1])
			b, _ := codec.Encode(rows[i])
			if p.compare(a, b) >= 0 {
				t.Fatalf("ORDER BY %s: SQLite puts %v before %v; compare says %d", tc.order, rows[i-1], rows[i], p.compare(a, b))
			}
		}
	}
}

// A DELETE without WHERE is compiled by SQLite to a truncation that no
// update hook sees; with the pre-update hook set it is not, and its rows
// are patched out like any others.
func TestPatchSeesADeleteOfEveryRow(t *testing.T) {
	c := newClient(t)
	db := c.open("truncate")
	c.ok("exec", map[string]any{"db": db, "sql": "CREATE TABLE x(id INTEGER PRIMARY KEY, v); INSERT INTO x VALUES (1, 'a'), (2, 'b'), (3, 'c')"})
	rows := c.ok("watch", map[string]any{"db": db, "sql": "SELECT id, v FROM x ORDER BY v"})["result"].(map[string]any)["rows"].([]any)
	c.ok("exec", map[string]any{"db": db, "sql": "DELETE FROM x"})
	p := c.nextPush(t)
	rows = apply(rows, p["delta"].(map[string]any))
	if len(rows) != 0 {
		t.Fatalf("after DELETE FROM x the copy holds %v", rows)
	}
	s := info(c, db)["liveQueryStats"].([]any)[0].(map[string]any)
	if s["patches"] != int64(1) || s["runs"] != int64(1) {
		t.Fatalf("patched %v, re-run %v; want the delete patched", s["patches"], s["runs"])
	}
}

// A page write's live update is pushed before the write's reply, which
// waits for the commit; a commit that then fails (here a deferred foreign
// key) takes the update back with a second push, and the reply is the
// commit's error. Alone or in a group, the same.
func TestLiveUpdateComesBeforeTheCommitAndAFailedCommitTakesItBack(t *testing.T) {
	c := newClient(t)
	db := c.open("early")
	c.ok("exec", map[string]any{"db": db, "sql": "PRAGMA foreign_keys = ON"})
	c.ok("exec", map[string]any{"db": db, "sql": "CREATE TABLE p(id TEXT PRIMARY KEY); CREATE TABLE t(id TEXT PRIMARY KEY, pid TEXT REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED, pos); INSERT INTO p VALUES ('p1')"})
	rows := c.ok("watch", map[string]any{"db": db, "sql": "SELECT id, pos FROM t ORDER BY pos"})["result"].(map[string]any)["rows"].([]any)
	expect := func(what string, id int64, code string, want string) {
		t.Helper()
		pushes := 0
		for {
			m := c.receive()
			if _, push := m["sub"]; push {
				rows = apply(rows, m["delta"].(map[string]any))
				pushes++
				continue
			}
			if m["id"] != id {
				t.Fatalf("%s: message %v", what, m)
			}
			e, failed := m["error"].(map[string]any)
			switch {
			case code == "" && failed:
				t.Fatalf("%s: %v", what, e)
			case code != "" && (!failed || !strings.Contains(e["code"].(string), code)):
				t.Fatalf("%s: reply %v, want %s", what, m, code)
			case pushes != 1:
				t.Fatalf("%s: %d pushes before the reply, want 1", what, pushes)
			}
			break
		}
		if code != "" {
			p := c.nextPush(t) // the take-back
			rows = apply(rows, p["delta"].(map[string]any))
		}
		if fmt.Sprint(rows) != want {
			t.Fatalf("%s: the page's copy is %v, want %v", what, rows, want)
		}
	}
	expect("a write", c.send("exec", map[string]any{"db": db, "sql": "INSERT INTO t VALUES ('a', 'p1', 1)"}), "", "[[a 1]]")
	expect("a write whose commit fails", c.send("exec", map[string]any{"db": db, "sql": "INSERT INTO t VALUES ('b', 'nope', 2)"}), "CONSTRAINT", "[[a 1]]")
	// Two writes sent together: one group when the engine takes both in
	// one sweep (its commit fails, and each write, run again alone, gets
	// its own outcome), else two writes alone: the outcome is the same.
	good := c.send("exec", map[string]any{"db": db, "sql": "INSERT INTO t VALUES ('c', 'p1', 3)"})
	bad := c.send("exec", map[string]any{"db": db, "sql": "INSERT INTO t VALUES ('d', 'nope', 4)"})
	got := map[int64]any{}
	for len(got) < 2 {
		m := c.receive()
		if _, push := m["sub"]; push {
			rows = apply(rows, m["delta"].(map[string]any))
			continue
		}
		got[m["id"].(int64)] = m
	}
	for len(c.pushes) > 0 || len(c.replies) > 0 {
		rows = apply(rows, c.next()["delta"].(map[string]any))
	}
	c.ok("query", map[string]any{"db": db, "sql": "SELECT 1"}) // pushes of the last sweep come before this reply
	for len(c.pushes) > 0 {
		rows = apply(rows, c.next()["delta"].(map[string]any))
	}
	if got[good].(map[string]any)["error"] != nil || got[bad].(map[string]any)["error"] == nil {
		t.Fatalf("group replies: %v", got)
	}
	want := c.ok("query", map[string]any{"db": db, "sql": "SELECT id, pos FROM t ORDER BY pos"})["rows"].([]any)
	if fmt.Sprint(rows) != fmt.Sprint(want) || fmt.Sprint(want) != "[[a 1] [c 3]]" {
		t.Fatalf("after the group: copy %v, table %v", rows, want)
	}
}

// A WITHOUT ROWID table whose key is not its first column: the hook
// reports its rows by their columns, not by a rowid.
func TestPatchOfAWithoutRowidTable(t *testing.T) {
	c := newClient(t)
	db := c.open("without-rowid")
	c.ok("exec", map[string]any{"db": db, "sql": "CREATE TABLE w(v TEXT, k TEXT PRIMARY KEY, n INTEGER) WITHOUT ROWID; INSERT INTO w VALUES ('a', 'k1', 1), ('b', 'k2', 2), ('c', 'k3', 3)"})
	const sql = "SELECT k, v, n FROM w WHERE n < 10 ORDER BY v DESC, k"
	rows := c.ok("watch", map[string]any{"db": db, "sql": sql})["result"].(map[string]any)["rows"].([]any)
	for _, write := range []string{
		"UPDATE w SET v = 'z' WHERE k = 'k1'",
		"INSERT INTO w VALUES ('m', 'k4', 4)",
		"UPDATE w SET n = 20 WHERE k = 'k2'",
		"UPDATE w SET k = 'k0' WHERE k = 'k3'",
		"DELETE FROM w WHERE k = 'k4'",
	} {
		c.ok("exec", map[string]any{"db": db, "sql": write})
		rows = apply(rows, c.nextPush(t)["delta"].(map[string]any))
		want := c.ok("query", map[string]any{"db": db, "sql": sql})["rows"].([]any)
		if fmt.Sprint(rows) != fmt.Sprint(want) {
			t.Fatalf("%s: copy %v, want %v", write, rows, want)
		}
	}
	s := info(c, db)["liveQueryStats"].([]any)[0].(map[string]any)
	if s["patches"] != int64(5) || s["whyRerun"] != "" {
		t.Fatalf("stats %v: want 5 patches", s)
	}
}

// TestACommitOfHundredsOfRowsPatchesALargeResult: a commit that inserts,
// moves and deletes hundreds of rows (an initial sync's chunk) patches a
// list of thousands instead of re-running it, while its changed rows are
// at most a quarter of the list; past that it re-runs. Both stay exact.
func TestACommitOfHundredsOfRowsPatchesALargeResult(t *testing.T) {
	c := newClient(t)
	db := c.open("patch-large")
	c.ok("exec", map[string]any{"db": db, "sql": `CREATE TABLE big(id TEXT PRIMARY KEY, pos REAL, v TEXT);
		WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 1999)
		INSERT INTO big SELECT printf('r%05d', i), i * 2, 'row ' || i FROM n`})
	const list = "SELECT id, pos, v FROM big ORDER BY pos"
	rows := c.ok("watch", map[string]any{"db": db, "sql": list})["result"].(map[string]any)["rows"].([]any)
	counts := func() (runs, patches int64) {
		in := info(c, db)
		return in["liveQueryRuns"].(int64), in["liveQueryPatches"].(int64)
	}
	check := func(what string) {
		t.Helper()
		rows = c.applyNextDelta(t, db, list, rows, what)
	}
	runs, patches := counts()
	// 400 new rows between the old ones, 50 moved, 30 deleted: 480 keys,
	// under a quarter of 2,000.
	c.ok("exec", map[string]any{"db": db, "sql": `
		WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 399)
		INSERT INTO big SELECT printf('n%05d', i), i * 10 + 1, 'new ' || i FROM n;
		UPDATE big SET pos = 5000 - pos WHERE id IN (SELECT id FROM big WHERE id LIKE 'r%' ORDER BY id LIMIT 50 OFFSET 100);
		DELETE FROM big WHERE id IN (SELECT id FROM big WHERE id LIKE 'r%' ORDER BY id LIMIT 30 OFFSET 1000)`})
	check("a commit of 480 rows")
	if r, p := counts(); r != runs || p != patches+1 {
		t.Fatalf("a commit of 480 rows of 2,000: %d runs and %d patches more, want 0 and 1", r-runs, p-patches)
	}
	runs, patches = counts()
	// 700 more: over a quarter of the 2,370 rows: one pass over them.
	c.ok("exec", map[string]any{"db": db, "sql": `
		WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 699)
		INSERT INTO big SELECT printf('m%05d', i), i * 5 + 0.5, 'more ' || i FROM n`})
	check("a commit of 700 rows")
	if r, p := counts(); r != runs+1 || p != patches {
		t.Fatalf("a commit of 700 rows of 2,370: %d runs and %d patches more, want 1 and 0", r-runs, p-patches)
	}
}
