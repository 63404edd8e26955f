package syncserver

import (
	"fmt"
	"testing"

	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/ncruces/go-sqlite3"
)

// TestRowDefaults: the columns an insert does not name get what a
// device's INSERT would store: the declared default converted by the
// column's affinity, an expression evaluated, or NULL.
func TestRowDefaults(t *testing.T) {
	migrations := []appschema.Migration{
		{Version: 1, SQL: `CREATE TABLE items(id TEXT PRIMARY KEY, n INTEGER NOT NULL DEFAULT '7', label TEXT DEFAULT 'it''s', score REAL DEFAULT 1, made TEXT DEFAULT CURRENT_DATE, sum INTEGER DEFAULT (2 + 3), note BLOB)`},
		{Version: 2, SQL: `ALTER TABLE items ADD COLUMN extra TEXT NOT NULL DEFAULT 'x'`},
	}
	conn, err := sqlite3.Open(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, m := range migrations {
		if err := conn.Exec(m.SQL); err != nil {
			t.Fatal(err)
		}
	}
	info, err := schema.Describe(conn, appschema.Table{Name: "items"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := newRowDefaults(migrations, []*schema.Info{info})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for range 2 { // the shadow table is emptied after each use
		values := map[string]any{"label": "mine", "note": nil}
		if err := d.fill(info, values); err != nil {
			t.Fatal(err)
		}
		made, _ := values["made"].(string)
		delete(values, "made")
		if got, want := fmt.Sprintf("%#v", values), `map[string]interface {}{"extra":"x", "label":"mine", "n":7, "note":interface {}(nil), "score":1, "sum":5}`; got != want {
			t.Fatalf("filled\n %s\nwant\n %s", got, want)
		}
		if len(made) != len("2006-01-02") {
			t.Fatalf("CURRENT_DATE gave %q", made)
		}
		if _, ok := values["score"].(float64); !ok {
			t.Fatalf("REAL default is a %T", values["score"])
		}
	}
}
