package merge_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/collabtext"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/journal"
	"github.com/hearthdb/hearth/syncworker/merge"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/ncruces/go-sqlite3"
)

// TestPreloadMatchesRowByRow: merging a snapshot with Preload and
// ApplyAll (rows without metadata merged without reading it, inserted many
// per statement) leaves a replica in exactly the state Apply row by row
// does: the same table rows (rowids
// included), the same per-row and per-field stamps and values, the same
// journal. The replicas start alike with local writes, some unsent and
// newer than the snapshot's stamps, some older; the snapshot holds
// inserts, updates and deletes, a row's changes sometimes split across
// chunks, duplicates, and changes to tables and columns the replica does
// not have.
func TestPreloadMatchesRowByRow(t *testing.T) {
	for _, text := range []bool{false, true} {
		t.Run(fmt.Sprintf("text=%v", text), func(t *testing.T) { preloadMatchesRowByRow(t, text) })
	}
}

// preloadMatchesRowByRow: with text, the tasks' description is a
// collaborative text column, as the board declares it.
func preloadMatchesRowByRow(t *testing.T, text bool) {
	for seed := range uint64(6) {
		rng := rand.New(rand.NewPCG(seed, 15))
		chs := mixedSnapshot(t, rng, 400, text)
		slow, fast := localReplica(t, "slow", text), localReplica(t, "fast", text)
		chunk := 1 + rng.IntN(120)
		var rejectedSlow, rejectedFast []int
		for from := 0; from < len(chs); from += chunk {
			part := chs[from:min(from+chunk, len(chs))]
			for _, i := range applyChunk(t, slow, part, false) {
				rejectedSlow = append(rejectedSlow, from+i)
			}
			for _, i := range applyChunk(t, fast, part, true) {
				rejectedFast = append(rejectedFast, from+i)
			}
		}
		if fmt.Sprint(rejectedFast) != fmt.Sprint(rejectedSlow) || len(rejectedSlow) == 0 {
			t.Fatalf("seed %d: rejected %v preloaded, %v row by row (some must be)", seed, rejectedFast, rejectedSlow)
		}
		if got, want := dumpAll(t, fast.conn), dumpAll(t, slow.conn); got != want {
			t.Fatalf("seed %d, chunks of %d: the preloaded replica differs\npreloaded:\n%s\nrow by row:\n%s", seed, chunk, got, want)
		}
		if n := strings.Count(dumpAll(t, slow.conn), "\n"); n < 400 {
			t.Fatalf("seed %d: only %d rows dumped", seed, n)
		}
		slow.conn.Close()
		fast.conn.Close()
	}
}

type testReplica struct {
	conn  *sqlite3.Conn
	j     *journal.Journal
	infos []*schema.Info
}

// localReplica is a replica of the board's tasks table with the same node
// id and clock whatever its name, holding the same local writes: stamps
// at 1,800,000,000,000 ms, between the snapshot's older and newer ones.
func localReplica(t *testing.T, name string, text bool) *testReplica {
	conn := openMem(t)
	// The unique index rejects some of the snapshot's rows.
	if err := conn.Exec(boardTasksDDL + `CREATE UNIQUE INDEX tasks_one_unique ON tasks(description) WHERE description = 'unique'`); err != nil {
		t.Fatal(err)
	}
	tables := []appschema.Table{{Name: "tasks"}}
	if text {
		tables[0].Text = []string{"description"}
	}
	now := func() time.Time { return time.UnixMilli(1_800_000_000_000) }
	if _, err := journal.Prepare(conn, journal.Config{Clock: hlc.NewClock(now), Tables: tables}); err != nil {
		t.Fatal(err)
	}
	if err := conn.Exec(`UPDATE _hearth_meta SET v = 'device' WHERE k = 'node'`); err != nil {
		t.Fatal(err)
	}
	j, err := journal.Prepare(conn, journal.Config{Clock: hlc.NewClock(now), Tables: tables})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Install(conn); err != nil {
		t.Fatal(err)
	}
	infos, err := schema.DescribeAll(conn, tables)
	if err != nil {
		t.Fatal(err)
	}
	// Local writes: new rows, and rows the snapshot also carries.
	for i := 0; i < 400; i += 7 {
		if err := conn.Exec(fmt.Sprintf(`INSERT INTO tasks(id, title, status) VALUES ('t-%05d', 'local %d', 'todo')`, i, i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 400; i += 21 {
		if err := conn.Exec(fmt.Sprintf(`UPDATE tasks SET title = 'edited %d' WHERE id = 't-%05d'`, i, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := conn.Exec(`DELETE FROM tasks WHERE id = 't-00014'`); err != nil {
		t.Fatal(err)
	}
	return &testReplica{conn: conn, j: j, infos: infos}
}

// mixedSnapshot is n rows' worth of changes as a server could send them,
// stamped around the replicas' local writes, in key order with a few
// shuffled.
func mixedSnapshot(t *testing.T, rng *rand.Rand, n int, text bool) []change.Change {
	local := hlc.Make(1_800_000_000_000, 0)
	stamp := func() hlc.Stamp {
		// Half older than the local writes, half newer.
		d := hlc.Timestamp(1 + rng.IntN(1<<20))
		if rng.IntN(2) == 0 {
			return hlc.Stamp{TS: local - d, Node: "server"}
		}
		return hlc.Stamp{TS: local + d, Node: "server"}
	}
	var chs []change.Change
	for i := range n {
		key, err := change.EncodeKey(fmt.Sprintf("t-%05d", i))
		if err != nil {
			t.Fatal(err)
		}
		ins := change.Change{Table: "tasks", Key: key, Op: change.Insert, Schema: 1, Stamp: stamp(),
			Values: map[string]any{"title": fmt.Sprintf("server %d", i), "status": "doing", "position": float64(i), "priority": int64(i % 3), "gone": "a column this replica lacks"}}
		description := ""
		switch {
		case rng.IntN(40) == 0:
			description = "unique"
		case text && rng.IntN(2) == 0:
			description = fmt.Sprintf("about task %d", i)
		}
		if description != "" {
			ins.Values["description"] = description
			if text {
				// A snapshot ships a text column's whole state.
				doc, _, err := collabtext.FromText("server", description)
				if err != nil {
					t.Fatal(err)
				}
				state, _ := doc.MarshalBinary()
				switch rng.IntN(30) {
				case 0:
					// Not a state at all: refused (TEXT_INVALID).
					state = state[:len(state)-1]
				case 1:
					// Valid ops, not in a state's canonical order:
					// merged the long way, to the same state.
					ops := doc.State()
					slices.Reverse(ops)
					state = collabtext.EncodeOps(ops)
				}
				ins.Values["description"] = state
			}
		}
		chs = append(chs, ins)
		if rng.IntN(4) == 0 {
			chs = append(chs, change.Change{Table: "tasks", Key: key, Op: change.Update, Schema: 1, Stamp: stamp(), Values: map[string]any{"title": fmt.Sprintf("updated %d", i)}})
		}
		if rng.IntN(8) == 0 {
			chs = append(chs, change.Change{Table: "tasks", Key: key, Op: change.Delete, Schema: 1, Stamp: stamp()})
		}
		if rng.IntN(16) == 0 {
			chs = append(chs, ins) // a duplicate
		}
		if rng.IntN(50) == 0 {
			chs = append(chs, change.Change{Table: "elsewhere", Key: key, Op: change.Insert, Schema: 1, Stamp: stamp(), Values: map[string]any{"x": int64(1)}})
		}
	}
	for range len(chs) / 20 {
		i, j := rng.IntN(len(chs)), rng.IntN(len(chs))
		chs[i], chs[j] = chs[j], chs[i]
	}
	return chs
}

// applyChunk merges one chunk in a transaction as the client does,
// skipping what the replica refuses (unknown tables) and returning the
// changes its table rejected.
func applyChunk(t *testing.T, r *testReplica, chs []change.Change, preload bool) (rejected []int) {
	if err := r.conn.Exec("BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	a := merge.NewApplier(r.conn, r.infos, false)
	defer a.Close()
	err := r.j.Applying(func() error {
		if !preload {
			for i := range chs {
				_, err := a.Apply(&chs[i])
				if errors.Is(err, merge.ErrRowRejected) || refusedText(err) {
					rejected = append(rejected, i)
				} else if err != nil && !strings.Contains(err.Error(), merge.CodeUnknownTable) {
					return err
				}
			}
			return nil
		}
		if err := a.Preload(chs); err != nil {
			return err
		}
		_, errs, err := a.ApplyAll(chs)
		if err != nil {
			return err
		}
		for i, err := range errs {
			if errors.Is(err, merge.ErrRowRejected) || refusedText(err) {
				rejected = append(rejected, i)
			} else if err != nil && !strings.Contains(err.Error(), merge.CodeUnknownTable) {
				return fmt.Errorf("change %d: %w", i, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.conn.Exec("COMMIT"); err != nil {
		t.Fatal(err)
	}
	return rejected
}

// refusedText reports whether err refused a malformed text state.
func refusedText(err error) bool {
	var r *merge.Refusal
	return errors.As(err, &r) && r.Code == merge.CodeTextInvalid
}

// dumpAll is a replica's whole state: table rows with their rowids, merge
// metadata and journal.
func dumpAll(t *testing.T, conn *sqlite3.Conn) string {
	return dumpQueries(t, conn, func(q string) string { return q[7:22] },
		`SELECT rowid, * FROM tasks ORDER BY rowid`,
		`SELECT * FROM _hearth_rows ORDER BY tbl, pk`,
		`SELECT * FROM _hearth_fields ORDER BY tbl, pk, col`,
		`SELECT * FROM _hearth_journal ORDER BY seq`)
}

// TestApplyAllKeepsForeignKeysRowByRow: SQLite checks an immediate
// foreign key at the end of a statement, so a row referring to a later
// row of the same batch would pass in a multi-row insert and fail alone.
// ApplyAll rejects exactly what Apply does, on the referring table and
// on the table it refers to.
func TestApplyAllKeepsForeignKeysRowByRow(t *testing.T) {
	const ddl = `
CREATE TABLE folders(id TEXT PRIMARY KEY, name TEXT);
CREATE TABLE docs(id TEXT PRIMARY KEY, parent TEXT REFERENCES docs(id), folder TEXT REFERENCES folders(id), title TEXT);`
	tables := []appschema.Table{{Name: "docs"}, {Name: "folders"}}
	var chs []change.Change
	add := func(table, id string, values map[string]any) {
		key, err := change.EncodeKey(id)
		if err != nil {
			t.Fatal(err)
		}
		chs = append(chs, change.Change{Table: table, Key: key, Op: change.Insert, Schema: 1,
			Stamp: hlc.Stamp{TS: hlc.Make(1_800_000_000_000, uint16(len(chs))), Node: "server"}, Values: values})
	}
	// In snapshot order: docs before folders, a child before its parent.
	add("docs", "d1", map[string]any{"parent": "d2", "title": "child first"})
	add("docs", "d2", map[string]any{"parent": nil, "title": "parent"})
	add("docs", "d3", map[string]any{"parent": "d2", "folder": "f1", "title": "in a folder not there yet"})
	add("docs", "d4", map[string]any{"parent": "d2", "title": "fine"})
	add("folders", "f1", map[string]any{"name": "folder"})
	add("folders", "f2", map[string]any{"name": "another"})
	rejected := map[bool][]int{}
	dumps := map[bool]string{}
	for _, batched := range []bool{false, true} {
		conn, a := newApplierDB(t, ddl, tables, false)
		if err := conn.Exec("BEGIN IMMEDIATE"); err != nil {
			t.Fatal(err)
		}
		if batched {
			if err := a.Preload(chs); err != nil {
				t.Fatal(err)
			}
			_, errs, err := a.ApplyAll(chs)
			if err != nil {
				t.Fatal(err)
			}
			for i, err := range errs {
				if errors.Is(err, merge.ErrRowRejected) {
					rejected[batched] = append(rejected[batched], i)
				}
			}
		} else {
			for i := range chs {
				if _, err := a.Apply(&chs[i]); errors.Is(err, merge.ErrRowRejected) {
					rejected[batched] = append(rejected[batched], i)
				} else if err != nil {
					t.Fatal(err)
				}
			}
		}
		a.Close()
		if err := conn.Exec("COMMIT"); err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		for _, q := range []string{`SELECT id, parent, folder, title FROM docs ORDER BY rowid`, `SELECT id FROM folders ORDER BY rowid`, `SELECT tbl, pk, ins_hlc FROM _hearth_rows ORDER BY tbl, pk`} {
			s, _, err := conn.Prepare(q)
			if err != nil {
				t.Fatal(err)
			}
			for s.Step() {
				for i := range s.ColumnCount() {
					fmt.Fprintf(&out, "%v ", merge.ColumnValue(s, i))
				}
				out.WriteString("\n")
			}
			s.Close()
		}
		dumps[batched] = out.String()
		conn.Close()
	}
	if fmt.Sprint(rejected[true]) != fmt.Sprint(rejected[false]) || fmt.Sprint(rejected[false]) != "[0 2]" {
		t.Fatalf("rejected %v by ApplyAll, %v by Apply (want [0 2])", rejected[true], rejected[false])
	}
	if dumps[true] != dumps[false] {
		t.Fatalf("ApplyAll left\n%s\nApply\n%s", dumps[true], dumps[false])
	}
}

// TestAKeptApplierPreloadsEachBatchAnew: an applier kept across
// transactions (the sync client keeps one for its session) knows a row
// Preload found without metadata only for that batch. Here the row's
// change in the first batch is not merged (as one refused is not); the
// app then writes the row; a second batch's older change to it must read
// the metadata the app's write left and lose to it.
func TestAKeptApplierPreloadsEachBatchAnew(t *testing.T) {
	r := localReplica(t, "kept", false)
	a := merge.NewApplier(r.conn, r.infos, false)
	defer a.Close()
	key, err := change.EncodeKey("t-99001")
	if err != nil {
		t.Fatal(err)
	}
	older := hlc.Stamp{TS: hlc.Make(1_800_000_000_000, 0) - 1000, Node: "server"}
	insert := change.Change{Table: "tasks", Key: key, Op: change.Insert, Schema: 1, Stamp: older,
		Values: map[string]any{"title": "from the server", "status": "doing", "position": float64(1), "priority": int64(0)}}
	inTx := func(fn func() error) {
		t.Helper()
		if err := r.conn.Exec("BEGIN IMMEDIATE"); err != nil {
			t.Fatal(err)
		}
		if err := r.j.Applying(fn); err != nil {
			t.Fatal(err)
		}
		if err := r.conn.Exec("COMMIT"); err != nil {
			t.Fatal(err)
		}
		if err := a.Rest(); err != nil {
			t.Fatal(err)
		}
	}
	inTx(func() error { return a.Preload([]change.Change{insert}) })
	if err := r.conn.Exec(`INSERT INTO tasks(id, title, status) VALUES ('t-99001', 'the app''s, newer', 'todo')`); err != nil {
		t.Fatal(err)
	}
	inTx(func() error {
		if err := a.Preload([]change.Change{insert}); err != nil {
			return err
		}
		_, errs, err := a.ApplyAll([]change.Change{insert})
		if err != nil {
			return err
		}
		return errs[0]
	})
	s, _, err := r.conn.Prepare(`SELECT title FROM tasks WHERE id = 't-99001'`)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.Step() || s.ColumnText(0) != "the app's, newer" {
		t.Fatalf("title %q: the older server insert must lose to the app's write", s.ColumnText(0))
	}
}
