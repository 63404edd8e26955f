package store

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/merge"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/ncruces/go-sqlite3"
)

// TestAfterPredictsTheMerge: the row RowData.After predicts, and so the
// weight the row cap and quotas judge a change by, is the row the merge
// then stores, over random inserts, updates and deletes in random stamp
// order, for tables with and without resurrection.
func TestAfterPredictsTheMerge(t *testing.T) {
	for _, resurrect := range []bool{false, true} {
		conn, err := sqlite3.Open(":memory:")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := conn.Exec(`CREATE TABLE t(id TEXT PRIMARY KEY, a TEXT, b BLOB, c INTEGER)`); err != nil {
			t.Fatal(err)
		}
		if err := merge.EnsureMeta(conn); err != nil {
			t.Fatal(err)
		}
		tables, err := schema.DescribeAll(conn, []appschema.Table{{Name: "t", Resurrect: resurrect}})
		if err != nil {
			t.Fatal(err)
		}
		a := merge.NewApplier(conn, tables, true)
		defer a.Close()
		rng := rand.New(rand.NewPCG(1, 2))
		keys := make([][]byte, 3)
		for i := range keys {
			keys[i], _ = change.EncodeKey(string(rune('x' + i)))
		}
		value := func() any {
			if rng.IntN(4) == 0 {
				return nil
			}
			return strings.Repeat("v", rng.IntN(50))
		}
		for step := range 2000 {
			key := keys[rng.IntN(len(keys))]
			c := change.Change{Table: "t", Key: key, Stamp: hlc.Stamp{TS: hlc.Timestamp(rng.IntN(400) + 1), Node: []string{"n1", "n2"}[rng.IntN(2)]}, Schema: 1}
			switch rng.IntN(3) {
			case 0:
				c.Op, c.Values = change.Insert, map[string]any{"a": value(), "b": []byte(strings.Repeat("b", rng.IntN(30))), "c": int64(step)}
			case 1:
				c.Op, c.Values = change.Update, map[string]any{[]string{"a", "b", "c"}[rng.IntN(3)]: value()}
				if _, ok := c.Values["b"]; ok {
					c.Values["b"] = []byte("bb")
				}
				if _, ok := c.Values["c"]; ok {
					c.Values["c"] = int64(step)
				}
			default:
				c.Op = change.Delete
			}
			before := rowData(t, a, key, resurrect)
			predicted, _ := before.After(&c)
			if _, err := a.Apply(&c); err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			stored := rowData(t, a, key, resurrect)
			if p, s := predicted.Weight("t", key), stored.Weight("t", key); p != s {
				t.Fatalf("resurrect %v, step %d, %v %v: predicted weight %d, stored %d", resurrect, step, c.Op, c.Values, p, s)
			}
			if p, s := predicted.LiveWeight("t", key), stored.LiveWeight("t", key); p != s {
				t.Fatalf("resurrect %v, step %d: predicted live weight %d, stored %d", resurrect, step, p, s)
			}
		}
	}
}

// rowData reads a row as the stores' RowData do.
func rowData(t *testing.T, a *merge.Applier, key []byte, resurrect bool) RowData {
	t.Helper()
	meta, err := a.LoadRow("t", key)
	if err != nil {
		t.Fatal(err)
	}
	d := RowData{Meta: meta, Table: a.Table("t")}
	row, err := a.RowChanges("t", key, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(row) > 0 && row[0].Op == change.Insert {
		d.Values, d.Found = row[0].Values, true
	}
	return d
}
