package schema

import (
	"strings"
	"testing"

	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/ncruces/go-sqlite3"
	_ "github.com/ncruces/go-sqlite3/vfs/memdb"
)

func TestAffinityAndAccepts(t *testing.T) {
	for decl, want := range map[string]Affinity{
		"INTEGER": AffinityInteger, "bigint": AffinityInteger, "VARCHAR(10)": AffinityText, "TEXT": AffinityText,
		"": AffinityBlob, "BLOB": AffinityBlob, "REAL": AffinityReal, "DOUBLE PRECISION": AffinityReal,
		"NUMERIC": AffinityNumeric, "BOOLEAN": AffinityNumeric, "DATETIME": AffinityNumeric,
	} {
		if got := AffinityOf(decl); got != want {
			t.Errorf("%q: %v, want %v", decl, got, want)
		}
	}
	col := func(decl string, notNull bool) Column {
		return Column{Name: "c", Type: decl, Affinity: AffinityOf(decl), NotNull: notNull}
	}
	ok := []struct {
		c Column
		v any
	}{{col("INTEGER", false), int64(1)}, {col("INTEGER", false), nil}, {col("REAL", true), int64(2)}, {col("REAL", true), 2.5},
		{col("TEXT", true), "x"}, {col("", true), []byte{1}}, {col("", true), 1.5}, {col("NUMERIC", false), int64(3)}}
	for _, x := range ok {
		if err := x.c.Accepts(x.v); err != nil {
			t.Errorf("%s accepts %#v: %v", x.c.Type, x.v, err)
		}
	}
	bad := []struct {
		c Column
		v any
	}{{col("INTEGER", false), "1"}, {col("INTEGER", false), 1.5}, {col("TEXT", false), []byte("x")}, {col("TEXT", true), nil},
		{col("REAL", false), "x"}, {col("NUMERIC", false), "x"}, {col("", false), true}}
	for _, x := range bad {
		if err := x.c.Accepts(x.v); err == nil {
			t.Errorf("%s must refuse %#v", x.c.Type, x.v)
		}
	}
}

func TestDescribe(t *testing.T) {
	conn, err := sqlite3.Open("file:/schema-test?vfs=memdb")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Exec(`PRAGMA user_version = 7;
		CREATE TABLE pairs(b INTEGER, "we""ird" TEXT NOT NULL, a TEXT, PRIMARY KEY (a, b)) WITHOUT ROWID;
		CREATE TABLE nokey(x)`); err != nil {
		t.Fatal(err)
	}
	info, err := Describe(conn, appschema.Table{Name: "pairs"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(info.Key, ",") != "a,b" || strings.Join(info.Values, ",") != `we"ird` {
		t.Fatalf("key %v values %v", info.Key, info.Values)
	}
	if c, ok := info.Column(`we"ird`); !ok || !c.NotNull || c.Affinity != AffinityText {
		t.Fatalf("%+v", c)
	}
	if _, err := Describe(conn, appschema.Table{Name: "nokey"}); err == nil || !strings.Contains(err.Error(), "PRIMARY KEY") {
		t.Fatalf("no key: %v", err)
	}
	if _, err := Describe(conn, appschema.Table{Name: "missing"}); err == nil {
		t.Fatal("missing table")
	}
	if v, err := Version(conn); err != nil || v != 7 {
		t.Fatalf("version %d %v", v, err)
	}
	for _, name := range []string{"", "_hearth_x", "_HEARTH_y", "sqlite_master"} {
		if ValidateName(name) == nil {
			t.Errorf("%q should be refused", name)
		}
	}
	if Quote(`a"b`) != `"a""b"` || Literal("it's") != `'it''s'` {
		t.Fatal("quoting")
	}
}
