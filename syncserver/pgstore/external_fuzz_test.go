package pgstore

import (
	"math"
	"testing"

	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/change"
)

// FuzzEntryChanges checks how a row another program wrote becomes
// changes (entryChanges), for any values it may hold: an insert carries
// every value column and the new key; a delete the old key; an update
// that keeps the key carries exactly the columns that differ, and
// applying them to the old row gives the new one; an update of the key is
// a delete of the old key then an insert of the whole new row.
func FuzzEntryChanges(f *testing.F) {
	shapes, err := describeMigrations([]appschema.Migration{testV1, testV2}, testTables)
	if err != nil {
		f.Fatal(err)
	}
	var items *tableShape
	for _, sh := range shapes {
		if sh.info.Name == "items" {
			items = sh
		}
	}
	f.Add(uint8(2), "a", "a", int64(1), int64(2), "x", "x", []byte{1}, []byte{1}, 0.5, 0.5, true)
	f.Add(uint8(2), "a", "b", int64(1), int64(1), "", "y", []byte(nil), []byte{}, 1.0, 2.0, false)
	f.Add(uint8(0), "", "k", int64(0), int64(-1), "t", "t", []byte{}, []byte{0}, 0.0, math.Copysign(0, -1), true)
	f.Add(uint8(1), "k", "", int64(5), int64(5), "", "", []byte{9}, []byte{9}, 3.0, 3.0, false)
	f.Fuzz(func(t *testing.T, op uint8, oldID, newID string, oldN, newN int64, oldT, newT string, oldB, newB []byte, oldR, newR float64, nulls bool) {
		row := func(id string, n int64, text string, b []byte, r float64) map[string]any {
			m := map[string]any{"id": id, "n": n, "t": text, "b": b, "r": r, "num": r, "code": text, "extra": n}
			if nulls {
				m["code"], m["num"] = nil, nil
			}
			return m
		}
		e := &inboxEntry{id: 1, tbl: "items", op: []string{"INSERT", "DELETE", "UPDATE", "MERGE"}[op%4]}
		e.old, e.new = row(oldID, oldN, oldT, oldB, oldR), row(newID, newN, newT, newB, newR)
		oldKey, _ := change.EncodeKey(oldID)
		newKey, _ := change.EncodeKey(newID)
		cs, err := entryChanges(items, e)
		if e.op == "MERGE" {
			if err == nil {
				t.Fatal("an unknown operation must fail")
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		wholeRow := func(c change.Change, key []byte) {
			t.Helper()
			if c.Op != change.Insert || string(c.Key) != string(key) || len(c.Values) != len(items.info.Values) {
				t.Fatalf("%s: want an insert of the whole row, got %v", e.op, c)
			}
			for col, v := range c.Values {
				if !change.Equal(v, e.new[col]) {
					t.Fatalf("%s: %s = %v, the row holds %v", e.op, col, v, e.new[col])
				}
			}
		}
		switch {
		case e.op == "INSERT":
			if len(cs) != 1 {
				t.Fatalf("insert: %v", cs)
			}
			wholeRow(cs[0], newKey)
		case e.op == "DELETE":
			if len(cs) != 1 || cs[0].Op != change.Delete || string(cs[0].Key) != string(oldKey) || len(cs[0].Values) != 0 {
				t.Fatalf("delete: %v", cs)
			}
		case oldID != newID:
			if len(cs) != 2 || cs[0].Op != change.Delete || string(cs[0].Key) != string(oldKey) {
				t.Fatalf("key update: %v", cs)
			}
			wholeRow(cs[1], newKey)
		default:
			applied := map[string]any{}
			for k, v := range e.old {
				applied[k] = v
			}
			if len(cs) > 1 || (len(cs) == 1 && (cs[0].Op != change.Update || string(cs[0].Key) != string(newKey))) {
				t.Fatalf("update: %v", cs)
			}
			if len(cs) == 1 {
				for col, v := range cs[0].Values {
					if change.Equal(v, e.old[col]) {
						t.Fatalf("update carries %s, which did not change", col)
					}
					applied[col] = v
				}
			}
			for col := range e.new {
				if !change.Equal(applied[col], e.new[col]) {
					t.Fatalf("update: %s is %v after applying %v, the row holds %v", col, applied[col], cs, e.new[col])
				}
			}
		}
	})
}
