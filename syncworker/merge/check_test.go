package merge

import (
	"errors"
	"fmt"
	"testing"

	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/ncruces/go-sqlite3"
)

// TestCheckRefuses: what the server's strict check refuses, deletes
// included (a review found deletes skipped the timestamp check).
func TestCheckRefuses(t *testing.T) {
	conn, err := sqlite3.Open(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Exec(`CREATE TABLE t(id TEXT PRIMARY KEY, v TEXT)`); err != nil {
		t.Fatal(err)
	}
	info, err := schema.Describe(conn, appschema.Table{Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := change.EncodeKey("a")
	for _, tc := range []struct {
		name string
		ch   change.Change
		code string
	}{
		{"unstamped delete", change.Change{Table: "t", Key: key, Op: change.Delete}, CodeBadChange},
		{"delete without node", change.Change{Table: "t", Key: key, Op: change.Delete, Stamp: stamp(5, "")}, CodeBadChange},
		{"negative schema", change.Change{Table: "t", Key: key, Op: change.Delete, Stamp: stamp(5, "n"), Schema: -1}, CodeBadChange},
		{"NUL text", change.Change{Table: "t", Key: key, Op: change.Insert, Stamp: stamp(5, "n"), Values: map[string]any{"v": "a\x00b"}}, CodeTypeMismatch},
		{"good delete", change.Change{Table: "t", Key: key, Op: change.Delete, Stamp: stamp(5, "n")}, ""},
	} {
		err := Check(info, &tc.ch)
		var r *Refusal
		switch {
		case tc.code == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.code != "" && (!errors.As(err, &r) || r.Code != tc.code):
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
}

// TestStatementCacheIsBounded: writing many different column sets keeps
// the applier's prepared statements under its bound, and every write
// still applies.
func TestStatementCacheIsBounded(t *testing.T) {
	conn, err := sqlite3.Open(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ddl := "CREATE TABLE w(id TEXT PRIMARY KEY"
	for i := range 12 {
		ddl += fmt.Sprintf(", c%d INTEGER", i)
	}
	if err := conn.Exec(ddl + ");" + MetaDDL); err != nil {
		t.Fatal(err)
	}
	info, err := schema.Describe(conn, appschema.Table{Name: "w"})
	if err != nil {
		t.Fatal(err)
	}
	a := NewApplier(conn, []*schema.Info{info}, true)
	defer a.Close()
	for set := 1; set < 1<<12; set += 3 { // 1,365 column sets
		vals := map[string]any{}
		for i := range 12 {
			if set&(1<<i) != 0 {
				vals[fmt.Sprintf("c%d", i)] = int64(set)
			}
		}
		key, _ := change.EncodeKey(fmt.Sprintf("r%d", set%50))
		if _, err := a.Apply(&change.Change{Table: "w", Key: key, Op: change.Insert, Values: vals, Stamp: stamp(int64(set), "n")}); err != nil {
			t.Fatal(err)
		}
		if len(a.stmts) > maxCachedStmts+8 {
			t.Fatalf("%d cached statements after %d column sets", len(a.stmts), set)
		}
	}
}
