package store

import (
	"maps"

	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/merge"
	"github.com/hearthdb/hearth/syncworker/schema"
)

// EntryOverhead is what one change costs on the wire beyond its table,
// key and values (op, stamp, position, schema, framing).
const EntryOverhead = 64

// ValueWeight is what a stored value weighs on the wire (integers and
// floats at most 9 bytes with their tag).
func ValueWeight(v any) int {
	switch x := v.(type) {
	case string:
		return len(x) + 5
	case []byte:
		return len(x) + 5
	}
	return 9
}

// ChangeWeight is what a change weighs on the wire, near enough to bound
// a frame by.
func ChangeWeight(c *change.Change) int {
	n := EntryOverhead + len(c.Table) + len(c.Key)
	for col, v := range c.Values {
		n += len(col) + ValueWeight(v)
	}
	return n
}

// RowData is a row as the store holds it: its merge metadata and, when
// the table holds the row (Found), its values.
type RowData struct {
	Meta   merge.Row
	Values map[string]any
	Found  bool
	// Table describes the row's table: its merge options (Resurrect,
	// collaborative Text columns).
	Table *schema.Info
}

// Weight is what the row weighs as snapshots and refusals ship it (the
// changes merge.ChangesOf describes it by): the unit of the row cap.
func (d RowData) Weight(table string, key []byte) int {
	n := 0
	t := d.Table
	if t == nil {
		t = &schema.Info{Table: appschema.Table{Name: table}}
	}
	for _, c := range merge.ChangesOf(t, key, d.Meta, d.Values, d.Found, 0) {
		n += ChangeWeight(&c)
	}
	return n
}

// LiveWeight is Weight for a row the table holds, 0 for a deleted or
// never inserted one: the unit of principals' storage quotas, so that a
// delete frees what the row counted.
func (d RowData) LiveWeight(table string, key []byte) int {
	if !d.Found {
		return 0
	}
	return d.Weight(table, key)
}

// After is the row as it would be once c merged, by the merge rule
// itself (merge.ResolveTable), without writing anything, and whether c
// changes it at all. A change the rule refuses changes nothing here: the
// merge refuses it.
func (d RowData) After(c *change.Change) (RowData, bool) {
	out, err := merge.ResolveTable(d.Meta, c, d.Table)
	if err != nil || !out.Changed {
		return d, false
	}
	values, found := ValuesAfter(d.Values, d.Found, out.Effect)
	return RowData{Meta: out.Row, Values: values, Found: found, Table: d.Table}, true
}

// ValuesAfter is a row's table values (and whether the table holds it)
// once a merge's effect is applied: a Write replaces them, a Set updates
// a copy, a Remove deletes the row, a Keep leaves it.
func ValuesAfter(values map[string]any, found bool, e merge.Effect) (map[string]any, bool) {
	switch e.Kind {
	case merge.Write:
		return e.Values, true
	case merge.Set:
		next := maps.Clone(values)
		if next == nil {
			next = map[string]any{}
		}
		maps.Copy(next, e.Values)
		return next, found
	case merge.Remove:
		return nil, false
	}
	return values, found
}
