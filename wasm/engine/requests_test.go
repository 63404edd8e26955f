package engine

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hearthdb/hearth/codec"
	"github.com/ncruces/go-sqlite3"
)

func countT(p *page, db int64) string {
	return fmt.Sprint(p.call("query", map[string]any{"db": db, "sql": "SELECT count(*), group_concat(v) FROM t"})["rows"])
}

// TestRetriedWriteAppliesOnce: an exec and a batch carrying a write id
// apply once; their retries answer the recorded result and change nothing;
// a retry whose first attempt never arrived applies.
func TestRetriedWriteAppliesOnce(t *testing.T) {
	p, db := openTxTest(t)
	ins := map[string]any{"db": db, "sql": "INSERT INTO t(v) VALUES ('a')", "wid": "tab1.1"}
	first := p.call("exec", ins)
	ins["retry"] = true
	again := p.call("exec", ins)
	if fmt.Sprint(first) != fmt.Sprint(again) || first["lastInsertRowid"] != int64(1) {
		t.Fatalf("retry answered %v, first attempt %v", again, first)
	}
	batch := map[string]any{"db": db, "wid": "tab1.2", "statements": []any{
		map[string]any{"sql": "INSERT INTO t(v) VALUES ('b')"},
		map[string]any{"sql": "SELECT count(*) FROM t"},
	}}
	firstBatch := p.call("batch", batch)
	batch["retry"] = true
	if againBatch := p.call("batch", batch); fmt.Sprint(againBatch) != fmt.Sprint(firstBatch) {
		t.Fatalf("batch retry answered %v, first attempt %v", againBatch, firstBatch)
	}
	// Lost before it reached the old leader: the retry is its first run.
	p.call("exec", map[string]any{"db": db, "sql": "INSERT INTO t(v) VALUES ('c')", "wid": "tab1.3", "retry": true})
	if got := countT(p, db); got != "[[3 a,b,c]]" {
		t.Fatalf("rows: %s", got)
	}
}

// TestFailedWriteIsNotRecorded: a write that fails leaves no record, so its
// retry runs (and fails or succeeds on its own merits).
func TestFailedWriteIsNotRecorded(t *testing.T) {
	p, db := openTxTest(t)
	p.call("exec", map[string]any{"db": db, "sql": "INSERT INTO t VALUES (1, 'a')"})
	dup := map[string]any{"db": db, "sql": "INSERT INTO t VALUES (1, 'again')", "wid": "w1"}
	p.fail("exec", dup, "SQLITE_CONSTRAINT_PRIMARYKEY")
	dup["retry"] = true
	p.fail("exec", dup, "SQLITE_CONSTRAINT_PRIMARYKEY")
	p.call("exec", map[string]any{"db": db, "sql": "DELETE FROM t"})
	p.call("exec", dup)
	if got := countT(p, db); got != "[[1 again]]" {
		t.Fatalf("rows: %s", got)
	}
	p.fail("exec", map[string]any{"db": db, "sql": "SELECT 1", "wid": int64(3)}, "BAD_REQUEST")
	p.fail("exec", map[string]any{"db": db, "sql": "SELECT 1", "wid": ""}, "BAD_REQUEST")
}

// TestRetriedCommit: a commit carrying a write id records it with the
// transaction; a retry naming a transaction that is not open (its leader
// died) succeeds when that transaction committed and fails with
// TX_FINISHED when it was rolled back — never applying anything.
func TestRetriedCommit(t *testing.T) {
	p, db := openTxTest(t)
	tx := p.call("begin", map[string]any{"db": db})["tx"].(int64)
	p.call("exec", map[string]any{"db": db, "tx": tx, "sql": "INSERT INTO t(v) VALUES ('committed')"})
	p.call("commit", map[string]any{"db": db, "tx": tx, "wid": "c1"})
	p.call("commit", map[string]any{"db": db, "tx": int64(-1), "wid": "c1", "retry": true})

	rolled := p.call("begin", map[string]any{"db": db})["tx"].(int64)
	p.call("exec", map[string]any{"db": db, "tx": rolled, "sql": "INSERT INTO t(v) VALUES ('lost')"})
	p.call("rollback", map[string]any{"db": db, "tx": rolled})
	p.fail("commit", map[string]any{"db": db, "tx": int64(-1), "wid": "c2", "retry": true}, "TX_FINISHED")
	// A retry never ends another transaction that happens to be open.
	other := p.call("begin", map[string]any{"db": db})["tx"].(int64)
	p.fail("commit", map[string]any{"db": db, "tx": int64(-1), "wid": "c3", "retry": true}, "TX_FINISHED")
	p.call("exec", map[string]any{"db": db, "tx": other, "sql": "INSERT INTO t(v) VALUES ('other')"})
	p.call("commit", map[string]any{"db": db, "tx": other})
	if got := countT(p, db); got != "[[2 committed,other]]" {
		t.Fatalf("rows: %s", got)
	}
	last := p.call("begin", map[string]any{"db": db})["tx"].(int64)
	p.fail("exec", map[string]any{"db": db, "tx": last, "sql": "SELECT 1", "wid": "x"}, "BAD_REQUEST")
	p.call("rollback", map[string]any{"db": db, "tx": last})
}

// TestWriteIDsArePruned: the table keeps only the newest ids.
func TestWriteIDsArePruned(t *testing.T) {
	c, err := OpenConn(Location{URI: "file:prune?mode=memory"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 10 {
		if err := c.RecordWriteID(fmt.Sprintf("w%d", i), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.PruneWriteIDs(3); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		result, found, err := c.RecordedResult(fmt.Sprintf("w%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if want := i >= 7; found != want || (found && result[0] != byte(i)) {
			t.Fatalf("w%d: found %v (%v), want %v", i, found, result, want)
		}
	}
}

// TestRetriedWritesInAGroupCommit: writes with ids that arrive together
// share one group commit (each in its own savepoint); their retries, also
// grouped, apply nothing again, and a failing one is not recorded.
func TestRetriedWritesInAGroupCommit(t *testing.T) {
	p, db := openTxTest(t)
	send := func(retry bool) []int64 {
		var ids []int64
		for i := range 20 {
			f := map[string]any{"db": db, "sql": "INSERT INTO t(id, v) VALUES (?, 'x')", "params": []any{int64(i % 19)}, "wid": fmt.Sprintf("g%d", i)}
			if retry {
				f["retry"] = true
			}
			ids = append(ids, p.post("exec", f))
		}
		return ids
	}
	first := send(false)
	for i, id := range first[:19] {
		if r := p.await(id); r["lastInsertRowid"] != int64(i) {
			t.Fatalf("write %d: %v", i, r)
		}
	}
	var dup map[string]any
	p.waitUntil("the duplicate's reply", func() bool { dup = p.reply[first[19]]; return dup != nil })
	if dup["error"] == nil {
		t.Fatalf("the duplicate key was written: %v", dup)
	}
	for _, id := range send(true)[:19] {
		p.await(id)
	}
	if got := fmt.Sprint(p.call("query", map[string]any{"db": db, "sql": "SELECT count(*) FROM t"})["rows"]); got != "[[19]]" {
		t.Fatalf("rows after retries: %s", got)
	}
	p.fail("exec", map[string]any{"db": db, "sql": "INSERT INTO t(id, v) VALUES (0, 'x')", "wid": "g19", "retry": true}, "SQLITE_CONSTRAINT_PRIMARYKEY")
}

// TestAWriteWhoseRecordFailsLeavesTheWriteIDTableUsable: the first write
// with an id creates the write-id table inside its savepoint; when its
// record then fails, the rollback takes the table away, and the next
// write with an id makes it again instead of failing on its absence.
func TestAWriteWhoseRecordFailsLeavesTheWriteIDTableUsable(t *testing.T) {
	c, err := OpenConn(MemoryLocation("record-fails", "test"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.db.Exec("CREATE TABLE t(v)"); err != nil {
		t.Fatal(err)
	}
	write := func(v int, result string) func(*codec.Encoder) error {
		return func(enc *codec.Encoder) error {
			enc.Text(result)
			return c.db.Exec(fmt.Sprintf("INSERT INTO t VALUES (%d)", v))
		}
	}
	// A record longer than SQLite then takes: its insert fails.
	// The table's schema row fits in 300 bytes, the record does not.
	old := c.db.Limit(sqlite3.LIMIT_LENGTH, 300)
	if _, err := c.RunOnce("w1", false, write(1, strings.Repeat("x", 1000))); err == nil {
		t.Fatal("a record over SQLite's length limit was taken")
	}
	c.db.Limit(sqlite3.LIMIT_LENGTH, old)
	if _, err := c.RunOnce("w2", false, write(2, "ok")); err != nil {
		t.Fatalf("the next write with an id: %v", err)
	}
	s, _, err := c.db.Prepare("SELECT (SELECT group_concat(v) FROM t), (SELECT group_concat(id) FROM " + requestsTable + ")")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.Step() || s.ColumnText(0) != "2" || s.ColumnText(1) != "w2" {
		t.Fatalf("rows %q, records %q: want the second write alone", s.ColumnText(0), s.ColumnText(1))
	}
}
