package journal

import (
	"errors"
	"testing"

	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/collabtext"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/ncruces/go-sqlite3"
)

func setupText(t *testing.T) (*sqlite3.Conn, *Journal) {
	t.Helper()
	return setup(t, appschema.Table{Name: "tasks", Text: []string{"title"}}, appschema.Table{Name: "notes"})
}

func queryText(t *testing.T, conn *sqlite3.Conn, sql string) string {
	t.Helper()
	s, _, err := conn.Prepare(sql)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.Step() {
		t.Fatalf("%s: no row (%v)", sql, s.Err())
	}
	return s.ColumnText(0)
}

// fieldState loads the stored collabtext state of tasks.title of t1.
func fieldState(t *testing.T, conn *sqlite3.Conn) *collabtext.Doc {
	t.Helper()
	s, _, err := conn.Prepare(`SELECT val FROM _hearth_fields WHERE tbl = 'tasks' AND col = 'title'`)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.Step() {
		t.Fatalf("no stored state (%v)", s.Err())
	}
	doc, err := collabtext.Load("reader", s.ColumnRawBlob(0))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// lastOps decodes the text ops of the newest journal entry.
func lastOps(t *testing.T, conn *sqlite3.Conn, j *Journal) []collabtext.Op {
	t.Helper()
	es := entries(t, conn, j)
	raw, ok := es[len(es)-1].Values["title"].([]byte)
	if !ok {
		t.Fatalf("newest entry %+v carries no title ops", es[len(es)-1])
	}
	ops, err := collabtext.DecodeOps(raw)
	if err != nil {
		t.Fatal(err)
	}
	return ops
}

// TestEditTextJournalsEachEditAtItsPosition: typing "a" at 0 of "aa"
// journals a character hung before the first "a" (where the user typed
// it); the same text written by UPDATE is a diff, which puts it after
// the last. The value, the journal and the stored state agree.
func TestEditTextJournalsEachEditAtItsPosition(t *testing.T) {
	conn, j := setupText(t)
	exec(t, conn, `INSERT INTO tasks(id, title) VALUES ('t1', 'aa')`)
	first := fieldState(t, conn).IDs()

	text, err := j.EditText(conn, "tasks", []any{"t1"}, "title", []collabtext.Edit{{At: 0, Insert: "a"}}, nil)
	if err != nil || text != "aaa" {
		t.Fatalf("EditText: %q, %v", text, err)
	}
	if v := queryText(t, conn, `SELECT title FROM tasks WHERE id = 't1'`); v != "aaa" {
		t.Fatalf("column reads %q", v)
	}
	ops := lastOps(t, conn, j)
	if len(ops) != 1 || ops[0].Kind != collabtext.Insert || ops[0].Parent != first[0] || ops[0].Side != collabtext.Left {
		t.Fatalf("ops %+v, want one insert on the left of the first character %v", ops, first[0])
	}
	if es := entries(t, conn, j); len(es) != 2 || es[1].Op.String() != "update" {
		t.Fatalf("journal %+v, want the insert and one update", es)
	}
	state := fieldState(t, conn)
	if ids := state.IDs(); state.String() != "aaa" || ids[0] != ops[0].ID || ids[1] != first[0] {
		t.Fatalf("stored state %q %v", state.String(), ids)
	}

	// The diff of the same texts cannot know: it appends.
	exec(t, conn, `UPDATE tasks SET title = 'aaaa' WHERE id = 't1'`)
	diffed := lastOps(t, conn, j)
	if len(diffed) != 1 || diffed[0].Parent != first[1] || diffed[0].Side != collabtext.Right {
		t.Fatalf("UPDATE's ops %+v", diffed)
	}

	// Several edits in order; deletes too.
	text, err = j.EditText(conn, "TASKS", []any{"t1"}, "title", []collabtext.Edit{{At: 0, Delete: 4}, {At: 0, Insert: "héllo"}, {At: 5, Insert: " 👋"}, {At: 1, Delete: 1}, {At: 1, Insert: "e"}}, nil)
	if err != nil || text != "hello 👋" {
		t.Fatalf("EditText: %q, %v", text, err)
	}
	if v := fieldState(t, conn).String(); v != "hello 👋" {
		t.Fatalf("stored state %q", v)
	}
	// Edits that change nothing write nothing.
	before := len(entries(t, conn, j))
	if text, err = j.EditText(conn, "tasks", []any{"t1"}, "title", []collabtext.Edit{{At: 0, Insert: ""}, {At: 2, Delete: 0}}, nil); err != nil || text != "hello 👋" {
		t.Fatalf("no-op edit: %q, %v", text, err)
	}
	if n := len(entries(t, conn, j)); n != before {
		t.Fatalf("a no-op edit journaled %d entries", n-before)
	}
}

// TestEditTextRefusesAndLeavesNothing: bad requests get their errors, and
// a failing edit anywhere in the list writes none of them.
func TestEditTextRefusesAndLeavesNothing(t *testing.T) {
	conn, j := setupText(t)
	exec(t, conn, `INSERT INTO tasks(id, title) VALUES ('t1', 'abc')`)
	exec(t, conn, `INSERT INTO notes(id, body) VALUES ('n1', 'x')`)
	exec(t, conn, `CREATE TABLE plain(id TEXT PRIMARY KEY, body TEXT)`)
	before := len(entries(t, conn, j))
	stateBefore := fieldState(t, conn).State()

	tooMany := make([]collabtext.Edit, collabtext.MaxEdits+1)
	cases := []struct {
		name   string
		table  string
		key    []any
		column string
		edits  []collabtext.Edit
		want   error
	}{
		{"a plain column", "tasks", []any{"t1"}, "done", []collabtext.Edit{{Insert: "x"}}, ErrNotText},
		{"an unsynced table", "plain", []any{"p1"}, "body", []collabtext.Edit{{Insert: "x"}}, ErrNotText},
		{"a synced table without text columns", "notes", []any{"n1"}, "body", []collabtext.Edit{{Insert: "x"}}, ErrNotText},
		{"a key too long", "tasks", []any{"t1", "x"}, "title", []collabtext.Edit{{Insert: "x"}}, ErrNotText},
		{"a key value that is no SQL value", "tasks", []any{true}, "title", []collabtext.Edit{{Insert: "x"}}, ErrNotText},
		{"no such table", "nope", []any{"t1"}, "title", []collabtext.Edit{{Insert: "x"}}, ErrNoRow},
		{"no such row", "tasks", []any{"t2"}, "title", []collabtext.Edit{{Insert: "x"}}, ErrNoRow},
		{"past the end", "tasks", []any{"t1"}, "title", []collabtext.Edit{{At: 4, Insert: "x"}}, collabtext.ErrOutOfRange},
		{"before the start", "tasks", []any{"t1"}, "title", []collabtext.Edit{{At: -1, Insert: "x"}}, collabtext.ErrOutOfRange},
		{"a delete past the end", "tasks", []any{"t1"}, "title", []collabtext.Edit{{At: 1, Delete: 3}}, collabtext.ErrOutOfRange},
		{"a good edit, then one out of range", "tasks", []any{"t1"}, "title", []collabtext.Edit{{At: 0, Insert: "zz"}, {At: 0, Delete: 5}, {At: 6, Insert: "!"}}, collabtext.ErrOutOfRange},
		{"insert and delete at once", "tasks", []any{"t1"}, "title", []collabtext.Edit{{At: 0, Insert: "x", Delete: 1}}, collabtext.ErrInvalid},
		{"a negative delete", "tasks", []any{"t1"}, "title", []collabtext.Edit{{At: 0, Delete: -1}}, collabtext.ErrInvalid},
		{"text that is not UTF-8", "tasks", []any{"t1"}, "title", []collabtext.Edit{{At: 0, Insert: "\xff"}}, collabtext.ErrInvalid},
		{"too many edits", "tasks", []any{"t1"}, "title", tooMany, collabtext.ErrTooLarge},
	}
	for _, c := range cases {
		text, err := j.EditText(conn, c.table, c.key, c.column, c.edits, nil)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %q, %v; want %v", c.name, text, err, c.want)
		}
	}
	if v := queryText(t, conn, `SELECT title FROM tasks WHERE id = 't1'`); v != "abc" {
		t.Fatalf("title %q after refused edits", v)
	}
	if n := len(entries(t, conn, j)); n != before {
		t.Fatalf("refused edits journaled %d entries", n-before)
	}
	if got := fieldState(t, conn).State(); len(got) != len(stateBefore) {
		t.Fatalf("refused edits changed the state: %d ops, was %d", len(got), len(stateBefore))
	}
	// A write the database refuses (an app trigger's RAISE) leaves
	// nothing either, and the next plain UPDATE is a diff again.
	exec(t, conn, `CREATE TRIGGER no_x BEFORE UPDATE ON tasks WHEN new.title LIKE '%x%' BEGIN SELECT RAISE(ABORT, 'no x'); END`)
	if _, err := j.EditText(conn, "tasks", []any{"t1"}, "title", []collabtext.Edit{{At: 0, Insert: "x"}}, nil); err == nil {
		t.Fatal("the app trigger's refusal was lost")
	}
	if n := len(entries(t, conn, j)); n != before {
		t.Fatalf("a refused write journaled %d entries", n-before)
	}
	exec(t, conn, `UPDATE tasks SET title = 'abcd' WHERE id = 't1'`)
	if ops := lastOps(t, conn, j); len(ops) != 1 || fieldState(t, conn).String() != "abcd" {
		t.Fatalf("the UPDATE after a refused edit: %+v", ops)
	}
}

// TestEditTextOnAnAdoptedRow: a row written before its table was synced
// gets its text state when it is adopted; the edit lands on it. (A field
// with no state at all: TestFieldWithoutStateStartsFromItsText.)
func TestEditTextOnAnAdoptedRow(t *testing.T) {
	conn := openDB(t)
	exec(t, conn, `CREATE TABLE tasks(id TEXT PRIMARY KEY, title TEXT NOT NULL);
		INSERT INTO tasks VALUES ('t1', 'hello')`)
	j, err := Prepare(conn, Config{Clock: hlc.NewClock(nil), Tables: []appschema.Table{{Name: "tasks", Text: []string{"title"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Install(conn); err != nil {
		t.Fatal(err)
	}
	text, err := j.EditText(conn, "tasks", []any{"t1"}, "title", []collabtext.Edit{{At: 5, Insert: "!"}}, nil)
	if err != nil || text != "hello!" {
		t.Fatalf("EditText: %q, %v", text, err)
	}
	if v := fieldState(t, conn).String(); v != "hello!" {
		t.Fatalf("stored state %q", v)
	}
}
