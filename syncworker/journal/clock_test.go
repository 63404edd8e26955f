package journal

import (
	"encoding/hex"
	"strconv"
	"testing"
	"time"

	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/merge"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/ncruces/go-sqlite3"
)

// serverTime is the server's (fake) time in these tests.
var serverTime = time.Date(2030, 3, 1, 12, 0, 0, 0, time.UTC)

type fakeWall struct{ t time.Time }

func (f *fakeWall) now() time.Time { return f.t }

func skewedJournal(t *testing.T, conn *sqlite3.Conn, w *fakeWall) *Journal {
	t.Helper()
	j, err := Prepare(conn, Config{Clock: hlc.NewClock(w.now), Tables: []appschema.Table{{Name: "tasks"}, {Name: "notes", Resurrect: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Install(conn); err != nil {
		t.Fatal(err)
	}
	return j
}

func correct(t *testing.T, conn *sqlite3.Conn, j *Journal, offset, bound, margin time.Duration) int {
	t.Helper()
	exec(t, conn, `BEGIN IMMEDIATE`)
	n, err := j.Correct(conn, offset, bound, margin)
	if err != nil {
		t.Fatal(err)
	}
	exec(t, conn, `COMMIT`)
	return n
}

func stamps(t *testing.T, conn *sqlite3.Conn, sql string) []int64 {
	t.Helper()
	s, _, err := conn.Prepare(sql)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out []int64
	for s.Step() {
		out = append(out, s.ColumnInt64(0))
	}
	return out
}

// TestCorrectRestampsEntriesWrittenAhead: a device two hours fast edits
// offline, over a row another replica wrote; once it learns the offset,
// its unacknowledged entries and their metadata carry stamps within the
// server's bound, in the same order, still after the remote write, and the
// clock and its saved state follow.
func TestCorrectRestampsEntriesWrittenAhead(t *testing.T) {
	conn := openDB(t)
	exec(t, conn, `PRAGMA user_version = 3;
		CREATE TABLE tasks(id TEXT PRIMARY KEY, title TEXT NOT NULL, done INTEGER, score REAL, data BLOB);
		CREATE TABLE notes(id TEXT PRIMARY KEY, body TEXT)`)
	w := &fakeWall{t: serverTime.Add(2 * time.Hour)}
	j := skewedJournal(t, conn, w)

	// A remote insert, stamped by an honest device a minute ahead of the
	// server, arrives first.
	tables, err := schema.DescribeAll(conn, j.Tables())
	if err != nil {
		t.Fatal(err)
	}
	remote := hlc.Stamp{TS: hlc.Make(serverTime.Add(time.Minute).UnixMilli(), 0), Node: "other"}
	key, _ := change.EncodeKey("r")
	a := merge.NewApplier(conn, tables, false)
	err = j.Applying(func() error {
		_, err := a.Apply(&change.Change{Table: "tasks", Key: key, Op: change.Insert, Values: map[string]any{"title": "theirs", "done": int64(0), "score": nil, "data": nil}, Stamp: remote, Schema: 3})
		return err
	})
	a.Close()
	if err != nil {
		t.Fatal(err)
	}
	j.Observe(remote.TS)

	// Offline edits with the clock two hours fast.
	exec(t, conn, `INSERT INTO tasks(id, title) VALUES ('a', 'mine')`)
	exec(t, conn, `UPDATE tasks SET title = 'mine too' WHERE id = 'r'`)
	exec(t, conn, `UPDATE tasks SET done = 1 WHERE id = 'a'`)
	exec(t, conn, `INSERT INTO notes VALUES ('n', 'x'); DELETE FROM notes WHERE id = 'n'`)
	before := entries(t, conn, j)
	if len(before) != 5 {
		t.Fatalf("want 5 entries, got %d", len(before))
	}

	bound := 5 * time.Minute
	if n := correct(t, conn, j, -2*time.Hour, bound, time.Second); n != 5 {
		t.Fatalf("restamped %d entries, want 5", n)
	}
	limit := hlc.Make(serverTime.Add(bound).UnixMilli(), 0)
	after := entries(t, conn, j)
	for i, e := range after {
		if e.Seq != before[i].Seq || e.Stamp.TS > limit || e.Stamp.TS <= remote.TS {
			t.Fatalf("entry %d: stamp %v, want after the remote %v and within %v", e.Seq, e.Stamp.TS, remote.TS, limit)
		}
		if i > 0 && e.Stamp.TS <= after[i-1].Stamp.TS {
			t.Fatalf("restamping changed the order: %v then %v", after[i-1].Stamp.TS, e.Stamp.TS)
		}
	}
	// The metadata names the new stamps only.
	if got := stamps(t, conn, `SELECT hlc FROM _hearth_fields WHERE hlc > `+itoa(int64(limit))+` UNION ALL
		SELECT ins_hlc FROM _hearth_rows WHERE ins_hlc > `+itoa(int64(limit))+` UNION ALL
		SELECT del_hlc FROM _hearth_rows WHERE del_hlc > `+itoa(int64(limit))); len(got) != 0 {
		t.Fatalf("metadata still stamped ahead: %v", got)
	}
	fields := stamps(t, conn, `SELECT hlc FROM _hearth_fields WHERE tbl = 'tasks' AND col = 'title' AND pk = x'`+hexKey("r")+`'`)
	if len(fields) != 1 || fields[0] != int64(after[1].Stamp.TS) {
		t.Fatalf("the update's field stamp %v, want %v", fields, after[1].Stamp.TS)
	}
	del := stamps(t, conn, `SELECT del_hlc FROM _hearth_rows WHERE tbl = 'notes'`)
	if len(del) != 1 || del[0] != int64(after[4].Stamp.TS) {
		t.Fatalf("the delete's tombstone %v, want %v", del, after[4].Stamp.TS)
	}
	// The clock stamps in the server's time now, and so does a reload.
	exec(t, conn, `INSERT INTO tasks(id, title) VALUES ('b', 'later')`)
	es := entries(t, conn, j)
	last := es[len(es)-1].Stamp.TS
	if last <= after[4].Stamp.TS || last > limit {
		t.Fatalf("a write after the correction is stamped %v", last)
	}
	j2 := skewedJournal(t, conn, w)
	if j2.Clock().Offset() != -2*time.Hour || j2.Clock().Last() > limit {
		t.Fatalf("a reload lost the correction: offset %v, clock at %v", j2.Clock().Offset(), j2.Clock().Last())
	}
	exec(t, conn, `INSERT INTO tasks(id, title) VALUES ('c', 'after reload')`)
	es = entries(t, conn, j2)
	if got := es[len(es)-1].Stamp.TS; got <= last || got > limit {
		t.Fatalf("a write after a reload is stamped %v", got)
	}
}

// TestCorrectWithinTheBoundKeepsStamps: a device three minutes fast is
// within a five-minute bound: nothing is restamped, and the corrected
// clock, behind its last stamp, advances the counter instead of going
// back.
func TestCorrectWithinTheBoundKeepsStamps(t *testing.T) {
	conn := openDB(t)
	exec(t, conn, `PRAGMA user_version = 3;
		CREATE TABLE tasks(id TEXT PRIMARY KEY, title TEXT NOT NULL, done INTEGER, score REAL, data BLOB);
		CREATE TABLE notes(id TEXT PRIMARY KEY, body TEXT)`)
	w := &fakeWall{t: serverTime.Add(3 * time.Minute)}
	j := skewedJournal(t, conn, w)
	exec(t, conn, `INSERT INTO tasks(id, title) VALUES ('a', 'x')`)
	before := entries(t, conn, j)[0].Stamp.TS
	if n := correct(t, conn, j, -3*time.Minute, 5*time.Minute, time.Second); n != 0 {
		t.Fatalf("restamped %d entries within the bound", n)
	}
	exec(t, conn, `UPDATE tasks SET title = 'y' WHERE id = 'a'`)
	es := entries(t, conn, j)
	if es[0].Stamp.TS != before || es[1].Stamp.TS <= before {
		t.Fatalf("stamps went back: %v then %v", es[0].Stamp.TS, es[1].Stamp.TS)
	}
	// No bound (a server that sends none): the offset alone.
	if n := correct(t, conn, j, -3*time.Minute, 0, 0); n != 0 {
		t.Fatal("no bound, nothing to restamp")
	}
}

// TestObserveIsBoundOnceTheServerSaysSo: a remote stamp from far ahead
// (stored before the bound was tightened) moves the clock only up to the
// corrected wall plus the bound.
func TestObserveIsBoundOnceTheServerSaysSo(t *testing.T) {
	conn := openDB(t)
	exec(t, conn, `PRAGMA user_version = 3;
		CREATE TABLE tasks(id TEXT PRIMARY KEY, title TEXT NOT NULL, done INTEGER, score REAL, data BLOB);
		CREATE TABLE notes(id TEXT PRIMARY KEY, body TEXT)`)
	w := &fakeWall{t: serverTime}
	j := skewedJournal(t, conn, w)
	correct(t, conn, j, 0, 5*time.Minute, 0)
	j.Observe(hlc.Make(serverTime.Add(23*time.Hour).UnixMilli(), 0))
	if got := j.Clock().Last(); got > hlc.Make(serverTime.Add(5*time.Minute).UnixMilli(), 0xffff) {
		t.Fatalf("the clock moved to %v", got)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func hexKey(v ...any) string {
	k, err := change.EncodeKey(v...)
	if err != nil {
		panic(err)
	}
	return hex.EncodeToString(k)
}
