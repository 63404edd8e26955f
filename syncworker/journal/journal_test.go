package journal

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/merge"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/ncruces/go-sqlite3"
	_ "github.com/ncruces/go-sqlite3/vfs/memdb"
)

var dbSeq atomic.Int64

func openDB(t *testing.T) *sqlite3.Conn {
	t.Helper()
	conn, err := sqlite3.Open(fmt.Sprintf("file:/journal-test-%d?vfs=memdb", dbSeq.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func exec(t *testing.T, conn *sqlite3.Conn, sql string) {
	t.Helper()
	if err := conn.Exec(sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func setup(t *testing.T, tables ...appschema.Table) (*sqlite3.Conn, *Journal) {
	t.Helper()
	conn := openDB(t)
	exec(t, conn, `PRAGMA user_version = 3;
		CREATE TABLE tasks(id TEXT PRIMARY KEY, title TEXT NOT NULL, done INTEGER, score REAL, data BLOB);
		CREATE TABLE notes(id TEXT PRIMARY KEY, body TEXT)`)
	if tables == nil {
		tables = []appschema.Table{{Name: "tasks"}, {Name: "notes", Resurrect: true}}
	}
	j, err := Prepare(conn, Config{Clock: hlc.NewClock(nil), Tables: tables})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Install(conn); err != nil {
		t.Fatal(err)
	}
	return conn, j
}

func entries(t *testing.T, conn *sqlite3.Conn, j *Journal) []Entry {
	t.Helper()
	es, err := j.Entries(conn, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func TestTriggersJournalInsertChangedColumnsAndDelete(t *testing.T) {
	conn, j := setup(t)
	exec(t, conn, `INSERT INTO tasks VALUES ('t1', 'Write', 0, 1.5, x'00ff')`)
	exec(t, conn, `UPDATE tasks SET done = 1 WHERE id = 't1'`)
	exec(t, conn, `UPDATE tasks SET done = 1 WHERE id = 't1'`) // no change: nothing journaled
	exec(t, conn, `UPDATE tasks SET title = 'Write more', score = NULL WHERE id = 't1'`)
	exec(t, conn, `DELETE FROM tasks WHERE id = 't1'`)

	es := entries(t, conn, j)
	if len(es) != 4 {
		t.Fatalf("want 4 entries, got %d: %+v", len(es), es)
	}
	key, _ := change.EncodeKey("t1")
	want := []struct {
		op     change.Op
		values map[string]any
	}{
		{change.Insert, map[string]any{"title": "Write", "done": int64(0), "score": 1.5, "data": []byte{0, 0xff}}},
		{change.Update, map[string]any{"done": int64(1)}},
		{change.Update, map[string]any{"title": "Write more", "score": nil}},
		{change.Delete, map[string]any{}},
	}
	var prev hlc.Timestamp
	for i, w := range want {
		e := es[i]
		if e.Op != w.op || e.Table != "tasks" || string(e.Key) != string(key) || e.State != Pending || e.Schema != 3 {
			t.Fatalf("entry %d: %+v", i, e)
		}
		if len(e.Values) != len(w.values) {
			t.Fatalf("entry %d values: got %v want %v", i, e.Values, w.values)
		}
		for k, v := range w.values {
			if !change.Equal(e.Values[k], v) {
				t.Fatalf("entry %d column %s: got %#v want %#v", i, k, e.Values[k], v)
			}
		}
		if e.Stamp.TS <= prev || e.Stamp.Node != j.Node() {
			t.Fatalf("entry %d stamp %v after %v", i, e.Stamp, prev)
		}
		prev = e.Stamp.TS
	}
	// The merge metadata follows the local writes.
	a := merge.NewApplier(conn, describe(t, conn, j), false)
	defer a.Close()
	row, err := a.LoadRow("tasks", key)
	if err != nil {
		t.Fatal(err)
	}
	if row.Inserted.TS != es[0].Stamp.TS || row.Deleted.TS != es[3].Stamp.TS || row.Fields["title"].Stamp.TS != es[2].Stamp.TS || row.Fields["done"].Value != int64(1) {
		t.Fatalf("metadata: %+v", row)
	}
}

func describe(t *testing.T, conn *sqlite3.Conn, j *Journal) []*schema.Info {
	t.Helper()
	infos, err := schema.DescribeAll(conn, j.Tables())
	if err != nil {
		t.Fatal(err)
	}
	return infos
}

func TestUpdateDetectsTypeAndCaseChanges(t *testing.T) {
	conn := openDB(t)
	exec(t, conn, `CREATE TABLE n(id TEXT PRIMARY KEY COLLATE NOCASE, v, name TEXT COLLATE NOCASE)`)
	j, err := Prepare(conn, Config{Clock: hlc.NewClock(nil), Tables: []appschema.Table{{Name: "n", Resurrect: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Install(conn); err != nil {
		t.Fatal(err)
	}
	exec(t, conn, `INSERT INTO n VALUES ('a', 0, 'x')`)
	exec(t, conn, `UPDATE n SET v = 0.0`)    // integer 0 becomes real 0.0
	exec(t, conn, `UPDATE n SET name = 'X'`) // equal under NOCASE, not equal bytes
	exec(t, conn, `UPDATE n SET id = 'A'`)   // a re-key, though NOCASE-equal
	exec(t, conn, `UPDATE n SET v = 0.0`)    // truly unchanged
	es := entries(t, conn, j)
	if len(es) != 5 {
		t.Fatalf("want insert, 2 updates, delete+insert; got %d: %+v", len(es), es)
	}
	if v, ok := es[1].Values["v"].(float64); !ok || v != 0 {
		t.Fatalf("type change: %#v", es[1].Values)
	}
	if es[2].Values["name"] != "X" || es[3].Op != change.Delete || es[4].Op != change.Insert {
		t.Fatalf("%+v", es)
	}
}

func TestNothingJournaledWhileApplying(t *testing.T) {
	conn, j := setup(t)
	a := merge.NewApplier(conn, describe(t, conn, j), false)
	defer a.Close()
	key, _ := change.EncodeKey("r1")
	err := j.Applying(func() error {
		_, err := a.Apply(&change.Change{Table: "tasks", Key: key, Op: change.Insert,
			Values: map[string]any{"title": "remote", "done": int64(0)}, Stamp: hlc.Stamp{TS: hlc.Make(time.Now().UnixMilli(), 0), Node: "other"}})
		if err != nil {
			return err
		}
		return conn.Exec(`UPDATE tasks SET title = 'also remote' WHERE id = 'r1'`)
	})
	if err != nil {
		t.Fatal(err)
	}
	if es := entries(t, conn, j); len(es) != 0 {
		t.Fatalf("applying remote changes journaled %d entries", len(es))
	}
	// Journaling resumes afterwards.
	exec(t, conn, `UPDATE tasks SET done = 1 WHERE id = 'r1'`)
	if es := entries(t, conn, j); len(es) != 1 || es[0].Op != change.Update {
		t.Fatalf("local write after applying: %+v", es)
	}
}

func TestRolledBackWriteLeavesNoEntry(t *testing.T) {
	conn, j := setup(t)
	exec(t, conn, `BEGIN; INSERT INTO tasks(id, title) VALUES ('a', 'x'); UPDATE tasks SET title = 'y'; ROLLBACK`)
	// A failing statement inside a committed transaction rolls back its
	// own entry too.
	exec(t, conn, `BEGIN; INSERT INTO tasks(id, title) VALUES ('b', 'x')`)
	if err := conn.Exec(`INSERT INTO tasks(id, title) VALUES ('c', NULL)`); err == nil {
		t.Fatal("NOT NULL should fail")
	}
	exec(t, conn, `COMMIT`)
	es := entries(t, conn, j)
	if len(es) != 1 {
		t.Fatalf("want only b's insert, got %+v", es)
	}
	if k, _ := change.DecodeKey(es[0].Key); k[0] != "b" {
		t.Fatalf("got %v", k)
	}
}

func TestRekeyIsDeleteAndInsert(t *testing.T) {
	conn, j := setup(t)
	exec(t, conn, `INSERT INTO notes VALUES ('n1', 'hello')`)
	exec(t, conn, `UPDATE notes SET id = 'n2' WHERE id = 'n1'`)
	es := entries(t, conn, j)
	if len(es) != 3 || es[1].Op != change.Delete || es[2].Op != change.Insert || es[2].Values["body"] != "hello" {
		t.Fatalf("%+v", es)
	}
}

func TestDeletedKeyCannotBeReusedWithoutResurrection(t *testing.T) {
	conn, _ := setup(t)
	exec(t, conn, `INSERT INTO tasks(id, title) VALUES ('t', 'a'); DELETE FROM tasks WHERE id = 't'`)
	err := conn.Exec(`INSERT INTO tasks(id, title) VALUES ('t', 'again')`)
	if err == nil || !strings.Contains(err.Error(), "does not allow resurrection") {
		t.Fatalf("re-insert of a deleted key: %v", err)
	}
	// notes allows resurrection.
	exec(t, conn, `INSERT INTO notes VALUES ('n', 'a'); DELETE FROM notes WHERE id = 'n'; INSERT INTO notes VALUES ('n', 'back')`)
}

func TestInstallAdoptsExistingRowsOnce(t *testing.T) {
	conn := openDB(t)
	exec(t, conn, `CREATE TABLE tasks(id TEXT PRIMARY KEY, title TEXT); INSERT INTO tasks VALUES ('old1', 'a'), ('old2', 'b')`)
	j, err := Prepare(conn, Config{Clock: hlc.NewClock(nil), Tables: []appschema.Table{{Name: "tasks"}}})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := j.Install(conn); err != nil {
			t.Fatal(err)
		}
	}
	es := entries(t, conn, j)
	if len(es) != 2 || es[0].Op != change.Insert || es[1].Values["title"] != "b" {
		t.Fatalf("%+v", es)
	}
}

func TestLifecycle(t *testing.T) {
	conn, j := setup(t)
	for i := range 5 {
		exec(t, conn, fmt.Sprintf(`INSERT INTO notes VALUES ('n%d', 'x')`, i))
	}
	un, err := j.Unsent(conn, 3, 1<<20)
	if err != nil || len(un) != 3 {
		t.Fatalf("%v %d", err, len(un))
	}
	if err := MarkSent(conn, un[0].Seq, un[2].Seq); err != nil {
		t.Fatal(err)
	}
	if d, _ := Depth(conn); d != 5 {
		t.Fatalf("depth %d", d)
	}
	err = j.Settle(conn, []Settlement{
		{Seq: un[0].Seq, State: Acknowledged, Pos: 10},
		{Seq: un[1].Seq, State: Flagged, Pos: 11, Detail: "too many notes"},
		{Seq: un[2].Seq, State: Refused, Code: "FORBIDDEN", Detail: "read-only"},
	})
	if err != nil {
		t.Fatal(err)
	}
	// A second verdict for a settled entry is ignored.
	if err := j.Settle(conn, []Settlement{{Seq: un[0].Seq, State: Refused}}); err != nil {
		t.Fatal(err)
	}
	es := entries(t, conn, j)
	if es[0].State != Acknowledged || es[0].Pos != 10 || es[1].State != Flagged || es[1].Detail != "too many notes" || es[2].State != Refused || es[2].Code != "FORBIDDEN" || es[3].State != Pending {
		t.Fatalf("%+v", es)
	}
	if d, _ := Depth(conn); d != 2 {
		t.Fatalf("depth %d", d)
	}
	if err := j.Prune(conn, 0); err != nil {
		t.Fatal(err)
	}
	if es := entries(t, conn, j); len(es) != 4 || es[0].State != Flagged {
		t.Fatalf("prune must remove only acknowledged entries: %+v", es)
	}
}

func TestByteBudget(t *testing.T) {
	conn, j := setup(t)
	exec(t, conn, `INSERT INTO notes VALUES ('a', hex(randomblob(600))), ('b', hex(randomblob(600))), ('c', 'x')`)
	un, err := j.Unsent(conn, 100, 1000)
	if err != nil || len(un) != 1 {
		t.Fatalf("a 1000-byte budget holds one 1200-byte entry: %v %d", err, len(un))
	}
}

func TestReplayQuarantinesDroppedColumnsAndMapsRenames(t *testing.T) {
	conn := openDB(t)
	exec(t, conn, `PRAGMA user_version = 1; CREATE TABLE tasks(id TEXT PRIMARY KEY, title TEXT, owner TEXT, legacy TEXT)`)
	cfg := Config{Clock: hlc.NewClock(nil), Tables: []appschema.Table{{Name: "tasks"}},
		MapColumn: func(table, column string, from int64) (string, bool) {
			if table == "tasks" && column == "owner" && from == 1 {
				return "assignee", true
			}
			return "", false
		}}
	j, err := Prepare(conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Install(conn); err != nil {
		t.Fatal(err)
	}
	exec(t, conn, `INSERT INTO tasks VALUES ('t1', 'a', 'ann', NULL)`)
	exec(t, conn, `UPDATE tasks SET legacy = 'old stuff' WHERE id = 't1'`)
	exec(t, conn, `UPDATE tasks SET owner = 'bob' WHERE id = 't1'`)

	// The app upgrades: triggers off, migrate, triggers on.
	if err := DropTriggers(conn); err != nil {
		t.Fatal(err)
	}
	exec(t, conn, `ALTER TABLE tasks RENAME COLUMN owner TO assignee; ALTER TABLE tasks DROP COLUMN legacy; PRAGMA user_version = 2`)
	if err := j.Install(conn); err != nil {
		t.Fatal(err)
	}
	n, err := j.Replay(conn)
	if err != nil {
		t.Fatal(err)
	}
	// The update of the dropped column cannot be replayed; the insert's
	// NULL in it is dropped with the column; owner maps to assignee.
	if n != 1 {
		t.Fatalf("quarantined %d, want 1 (the legacy update)", n)
	}
	es := entries(t, conn, j)
	if len(es) != 2 || es[0].Values["assignee"] != "ann" || len(es[0].Values) != 2 || es[1].Values["assignee"] != "bob" || es[1].Schema != 1 {
		t.Fatalf("remaining entries: %+v", es)
	}
	q, err := ListQuarantine(conn)
	if err != nil || len(q) != 1 || q[0].Code != CodeColumnDropped || !strings.Contains(q[0].Reason, "legacy") {
		t.Fatalf("%v %+v", err, q)
	}
	// The app retries it into another column; then quarantines nothing.
	seq, err := j.Retry(conn, q[0].ID, map[string]string{"legacy": "title"})
	if err != nil {
		t.Fatal(err)
	}
	es = entries(t, conn, j)
	if len(es) != 3 || es[2].Seq != seq || es[2].Schema != 2 || es[2].Values["title"] != "old stuff" || es[2].Stamp != q[0].Stamp {
		t.Fatalf("retried: %+v", es)
	}
	if q, _ := ListQuarantine(conn); len(q) != 0 {
		t.Fatalf("quarantine should be empty: %+v", q)
	}
	exec(t, conn, `UPDATE tasks SET title = 'gone' WHERE id = 't1'`)
	es = entries(t, conn, j)
	if err := j.Quarantine(conn, es[3], CodeTooLarge, "test"); err != nil {
		t.Fatal(err)
	}
	q, _ = ListQuarantine(conn)
	if err := Discard(conn, q[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := Discard(conn, 999); err == nil {
		t.Fatal("discard of a missing id")
	}
}

func TestNodeAndClockSurviveReopen(t *testing.T) {
	conn, j := setup(t)
	exec(t, conn, `INSERT INTO notes VALUES ('a', 'x')`)
	last := j.Clock().Last()
	// A fresh journal on the same database, with a wall clock an hour
	// behind, keeps the node id and sorts new writes after old ones.
	behind := func() time.Time { return time.Now().Add(-time.Hour) }
	j2, err := Prepare(conn, Config{Clock: hlc.NewClock(behind), Tables: j.Tables()})
	if err != nil {
		t.Fatal(err)
	}
	if err := j2.Install(conn); err != nil {
		t.Fatal(err)
	}
	if j2.Node() != j.Node() {
		t.Fatal("node id changed")
	}
	exec(t, conn, `INSERT INTO notes VALUES ('b', 'x')`)
	es := entries(t, conn, j2)
	if es[1].Stamp.TS <= last {
		t.Fatalf("new write %v must sort after %v", es[1].Stamp.TS, last)
	}
}

func TestRejectsBadDeclarations(t *testing.T) {
	conn := openDB(t)
	exec(t, conn, `CREATE TABLE nokey(a, b)`)
	for _, tables := range [][]appschema.Table{{{Name: "_hearth_x"}}, {{Name: "a"}, {Name: "A"}}} {
		if _, err := Prepare(conn, Config{Clock: hlc.NewClock(nil), Tables: tables}); err == nil {
			t.Fatalf("%v should be refused", tables)
		}
	}
	j, err := Prepare(conn, Config{Clock: hlc.NewClock(nil), Tables: []appschema.Table{{Name: "nokey"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Install(conn); err == nil || !strings.Contains(err.Error(), "PRIMARY KEY") {
		t.Fatalf("table without primary key: %v", err)
	}
}

func TestAnUnchangedReopenKeepsTheTriggersAndWritesNothing(t *testing.T) {
	conn := openDB(t)
	exec(t, conn, `CREATE TABLE tasks(id TEXT PRIMARY KEY, title TEXT); CREATE TABLE notes(id TEXT PRIMARY KEY, body TEXT);
		INSERT INTO tasks VALUES ('t1', 'a'); INSERT INTO notes VALUES ('n1', 'x')`)
	open := func(tables ...appschema.Table) *Journal {
		t.Helper()
		j, err := Prepare(conn, Config{Clock: hlc.NewClock(nil), Tables: tables, KeepTriggers: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := j.Install(conn); err != nil {
			t.Fatal(err)
		}
		return j
	}
	schemaVersion := func() int64 {
		t.Helper()
		v, err := queryInt(conn, `PRAGMA schema_version`)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	j := open(appschema.Table{Name: "tasks"})
	if es := entries(t, conn, j); len(es) != 1 || es[0].Op != change.Insert || es[0].Values["title"] != "a" {
		t.Fatalf("first open: the existing task adopted: %+v", es)
	}
	installed := schemaVersion()

	j = open(appschema.Table{Name: "tasks"})
	if v := schemaVersion(); v != installed {
		t.Fatalf("an unchanged reopen rewrote the schema (version %d → %d)", installed, v)
	}
	exec(t, conn, `UPDATE tasks SET title = 'b' WHERE id = 't1'`)
	if es := entries(t, conn, j); len(es) != 2 || es[1].Op != change.Update {
		t.Fatalf("after the reopen a write is journaled by the kept triggers: %+v", es)
	}

	// Another set of synced tables: the triggers are made again, and the
	// newly synced table's rows adopted.
	j = open(appschema.Table{Name: "tasks"}, appschema.Table{Name: "notes"})
	if v := schemaVersion(); v == installed {
		t.Fatal("a new synced table installed no trigger")
	}
	es := entries(t, conn, j)
	if len(es) != 3 || es[2].Table != "notes" || es[2].Op != change.Insert {
		t.Fatalf("the newly synced table's row adopted: %+v", es)
	}
	exec(t, conn, `DELETE FROM notes WHERE id = 'n1'`)
	if es := entries(t, conn, j); len(es) != 4 || es[3].Op != change.Delete {
		t.Fatalf("%+v", es)
	}
}
