package journal

import (
	"slices"
	"testing"

	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/collabtext"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/ncruces/go-sqlite3"
)

// journaledTitleOps decodes the title ops of every journal entry of
// tasks, oldest first: what the replica sends for the field.
func journaledTitleOps(t *testing.T, conn *sqlite3.Conn, j *Journal) []collabtext.Op {
	t.Helper()
	var all []collabtext.Op
	for _, e := range entries(t, conn, j) {
		raw, ok := e.Values["title"].([]byte)
		if e.Table != "tasks" || !ok {
			continue
		}
		ops, err := collabtext.DecodeOps(raw)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ops...)
	}
	return all
}

// replay applies ops to an empty field, as the server does, and returns
// its text.
func replay(t *testing.T, ops []collabtext.Op) string {
	t.Helper()
	doc := collabtext.New("server")
	if err := doc.Apply(ops...); err != nil {
		t.Fatalf("the journaled ops do not apply: %v", err)
	}
	return doc.String()
}

// TestInstallKeepsTheTextStateOfAdoptedRows: a row from before the table
// was synced is journaled with its text as characters named after the
// text (collabtext.FromText), and the field keeps that state, so an
// UPDATE, even of the text's first character, journals ops that hang
// from those characters and apply on top of the insert's.
func TestInstallKeepsTheTextStateOfAdoptedRows(t *testing.T) {
	conn := openDB(t)
	exec(t, conn, `CREATE TABLE tasks(id TEXT PRIMARY KEY, title TEXT NOT NULL); INSERT INTO tasks VALUES ('t1', 'hello')`)
	j, err := Prepare(conn, Config{Clock: hlc.NewClock(nil), Tables: []appschema.Table{{Name: "tasks", Text: []string{"title"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Install(conn); err != nil {
		t.Fatal(err)
	}
	_, base, err := collabtext.FromText(j.Node(), "hello")
	if err != nil {
		t.Fatal(err)
	}
	if ops := journaledTitleOps(t, conn, j); !slices.Equal(ops, base) {
		t.Fatalf("the adopted insert journaled %v, want the text's own characters %v", ops, base)
	}
	if got := fieldState(t, conn); got.String() != "hello" || !slices.Equal(got.IDs(), idsOf(base)) {
		t.Fatalf("the adopted field's state reads %q with %v", got.String(), got.IDs())
	}
	exec(t, conn, `UPDATE tasks SET title = 'jello!' WHERE id = 't1'`)
	if got := replay(t, journaledTitleOps(t, conn, j)); got != "jello!" {
		t.Fatalf("the insert and the update replay as %q", got)
	}
	for _, op := range lastOps(t, conn, j) {
		if op.Kind == collabtext.Insert && op.ID.Replica != j.Node() {
			t.Fatalf("the update typed %v, not as this replica", op.ID)
		}
	}
	if got := fieldState(t, conn).String(); got != "jello!" {
		t.Fatalf("the state after the update reads %q", got)
	}
}

func idsOf(ops []collabtext.Op) []collabtext.ID {
	var ids []collabtext.ID
	for _, op := range ops {
		ids = append(ids, op.ID)
	}
	return ids
}

// declaredTextLater is a replica whose synced tasks table held a title
// (hello) as an ordinary column, then declares it collaborative: the
// row has merge metadata (it is not adopted again) but the field no
// text state.
func declaredTextLater(t *testing.T) (*sqlite3.Conn, *Journal) {
	t.Helper()
	conn := openDB(t)
	exec(t, conn, `CREATE TABLE tasks(id TEXT PRIMARY KEY, title TEXT NOT NULL)`)
	j, err := Prepare(conn, Config{Clock: hlc.NewClock(nil), Tables: []appschema.Table{{Name: "tasks"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Install(conn); err != nil {
		t.Fatal(err)
	}
	exec(t, conn, `INSERT INTO tasks VALUES ('t1', 'hello')`)
	j, err = Prepare(conn, Config{Clock: hlc.NewClock(nil), Tables: []appschema.Table{{Name: "tasks", Text: []string{"title"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Install(conn); err != nil {
		t.Fatal(err)
	}
	if n := len(entries(t, conn, j)); n != 1 {
		t.Fatalf("%d entries: the row was adopted again", n)
	}
	return conn, j
}

// TestFieldWithoutStateStartsFromItsText: two replicas whose title held
// hello before it was declared collaborative edit it, one by UPDATE, one
// by EditText; their ops carry hello's characters, the same on both, so
// merged they read hello once with both edits.
func TestFieldWithoutStateStartsFromItsText(t *testing.T) {
	connA, ja := declaredTextLater(t)
	connB, jb := declaredTextLater(t)
	exec(t, connA, `UPDATE tasks SET title = 'Oh, hello' WHERE id = 't1'`)
	text, err := jb.EditText(connB, "tasks", []any{"t1"}, "title", []collabtext.Edit{{At: 5, Insert: "!"}}, nil)
	if err != nil || text != "hello!" {
		t.Fatalf("EditText: %q, %v", text, err)
	}
	opsA, opsB := lastOps(t, connA, ja), lastOps(t, connB, jb)
	if got := replay(t, opsA); got != "Oh, hello" {
		t.Fatalf("a's update alone replays as %q", got)
	}
	if got := replay(t, append(opsA, opsB...)); got != "Oh, hello!" {
		t.Fatalf("a's and b's edits merge into %q", got)
	}
	if got := replay(t, append(opsB, opsA...)); got != "Oh, hello!" {
		t.Fatalf("b's and a's edits merge into %q", got)
	}
	if got := fieldState(t, connB).String(); got != "hello!" {
		t.Fatalf("b's stored state reads %q", got)
	}
}
