package checksum

import (
	"testing"

	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/ncruces/go-sqlite3"
	_ "github.com/ncruces/go-sqlite3/vfs/memdb"
)

func sumOf(t *testing.T, name, script string) Sum {
	t.Helper()
	conn, err := sqlite3.Open("file:/" + name + "?vfs=memdb")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Exec(script); err != nil {
		t.Fatal(err)
	}
	info, err := schema.Describe(conn, appschema.Table{Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	sums, err := Tables(conn, []*schema.Info{info})
	if err != nil {
		t.Fatal(err)
	}
	return sums["t"]
}

func TestSumIgnoresOrderNotValues(t *testing.T) {
	a := sumOf(t, "a", `CREATE TABLE t(id TEXT PRIMARY KEY, v); INSERT INTO t VALUES ('x', 1), ('y', 'two'), ('z', x'00')`)
	b := sumOf(t, "b", `CREATE TABLE t(v, id TEXT PRIMARY KEY); INSERT INTO t VALUES (x'00', 'z'), ('two', 'y'), (1, 'x')`)
	if a != b || a.Rows != 3 {
		t.Fatalf("same rows in another order and column order: %+v vs %+v", a, b)
	}
	c := sumOf(t, "c", `CREATE TABLE t(id TEXT PRIMARY KEY, v); INSERT INTO t VALUES ('x', 1.0), ('y', 'two'), ('z', x'00')`)
	if c == a {
		t.Fatal("1 and 1.0 are different values")
	}
	d := sumOf(t, "d", `CREATE TABLE t(id TEXT PRIMARY KEY, v); INSERT INTO t VALUES ('x', 1), ('y', 'two')`)
	if d == a {
		t.Fatal("a missing row must change the sum")
	}
}
