package merge

import (
	"sort"
	"strconv"
	"strings"

	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/schema"
)

// The parts of carrying merges out on a database that do not depend on
// the database: which columns a write touches, the SQL of table writes
// and reads (in the placeholder style the database takes), and a row's
// state as changes. The Applier uses them on SQLite, the PostgreSQL store
// on PostgreSQL.

// Placeholder writes the SQL parameter for the n-th argument (from 1).
type Placeholder func(n int) string

// SQLiteParam is SQLite's ?NNN parameter.
func SQLiteParam(n int) string { return "?" + strconv.Itoa(n) }

// MetaSQL is the SQL that reads and writes a row's merge metadata
// (MetaDDL's tables, which every database lays out alike). Each
// statement's parameters are (table, key) first.
type MetaSQL struct {
	// ReadRow selects ins_hlc, ins_node, del_hlc, del_node.
	ReadRow string
	// ReadFields selects col, hlc, node, val.
	ReadFields string
	// SaveRow upserts (table, key, ins_hlc, ins_node, del_hlc, del_node).
	SaveRow string
	// TouchRow gives the row an entry if it has none, so snapshots find
	// rows that so far only have updates.
	TouchRow string
	// SaveField upserts (table, key, col, hlc, node, val).
	SaveField string
}

// NewMetaSQL writes the metadata statements with a placeholder style.
func NewMetaSQL(param Placeholder) MetaSQL {
	p := func(from, n int) string {
		ps := make([]string, n)
		for i := range ps {
			ps[i] = param(from + i)
		}
		return strings.Join(ps, ", ")
	}
	byKey := " WHERE tbl = " + param(1) + " AND pk = " + param(2)
	return MetaSQL{
		ReadRow:    `SELECT ins_hlc, ins_node, del_hlc, del_node FROM _hearth_rows` + byKey,
		ReadFields: `SELECT col, hlc, node, val FROM _hearth_fields` + byKey,
		SaveRow: `INSERT INTO _hearth_rows(tbl, pk, ins_hlc, ins_node, del_hlc, del_node) VALUES (` + p(1, 6) + `)
			ON CONFLICT (tbl, pk) DO UPDATE SET ins_hlc = excluded.ins_hlc, ins_node = excluded.ins_node, del_hlc = excluded.del_hlc, del_node = excluded.del_node`,
		TouchRow: `INSERT INTO _hearth_rows(tbl, pk) VALUES (` + p(1, 2) + `) ON CONFLICT DO NOTHING`,
		SaveField: `INSERT INTO _hearth_fields(tbl, pk, col, hlc, node, val) VALUES (` + p(1, 6) + `)
			ON CONFLICT (tbl, pk, col) DO UPDATE SET hlc = excluded.hlc, node = excluded.node, val = excluded.val`,
	}
}

// Check validates a change against a synced table's description without
// applying it; t is nil when the table is not synced. It returns a
// *Refusal for a change that can never apply there.
func Check(t *schema.Info, ch *change.Change) error {
	if t == nil {
		return refuse(CodeUnknownTable, "table %q is not synced", ch.Table)
	}
	key, err := change.DecodeKey(ch.Key)
	if err != nil {
		return refuse(CodeBadKey, "%s: %v", ch.Table, err)
	}
	if len(key) != len(t.Key) {
		return refuse(CodeBadKey, "%s: the key has %d values, the primary key %d columns", ch.Table, len(key), len(t.Key))
	}
	for i, v := range key {
		c, _ := t.Column(t.Key[i])
		if err := c.Accepts(v); err != nil {
			return refuse(CodeTypeMismatch, "%s key: %v", ch.Table, err)
		}
	}
	// Every op is stamped: a delete's stamp decides against writes as
	// surely as an update's does (and the clock-skew bound reads it).
	if ch.Stamp.TS <= 0 || ch.Stamp.Node == "" {
		return refuse(CodeBadChange, "%s: the change has no timestamp or node", ch.Table)
	}
	if ch.Schema < 0 {
		return refuse(CodeBadChange, "%s: schema version %d", ch.Table, ch.Schema)
	}
	switch ch.Op {
	case change.Insert, change.Update:
	case change.Delete:
		if len(ch.Values) > 0 {
			return refuse(CodeBadChange, "%s: a delete carries no column values", ch.Table)
		}
		return nil
	default:
		return refuse(CodeBadChange, "%s: unknown op %v", ch.Table, ch.Op)
	}
	for name, v := range ch.Values {
		// PostgreSQL cannot store a NUL in text; refusing it on every
		// store keeps the two stores' verdicts the same.
		if s, ok := v.(string); ok && strings.IndexByte(s, 0) >= 0 {
			return refuse(CodeTypeMismatch, "%s: column %q: text with a NUL character is not stored", ch.Table, name)
		}
		c, ok := t.Column(name)
		if !ok {
			return refuse(CodeUnknownColumn, "table %q has no column %q", ch.Table, name)
		}
		if c.KeyPosition > 0 {
			return refuse(CodeBadChange, "%s: column %q is part of the primary key, which the key carries", ch.Table, name)
		}
		if t.IsText(name) {
			if err := checkText(t, name, v); err != errNotOps {
				if err != nil {
					return err
				}
				continue
			}
		}
		if err := c.Accepts(v); err != nil {
			return refuse(CodeTypeMismatch, "%s: %v", ch.Table, err)
		}
	}
	return nil
}

// KeyValues decodes a row key into the values of the table's primary key
// columns, in order.
func KeyValues(t *schema.Info, key []byte) ([]any, error) {
	vals, err := change.DecodeKey(key)
	if err != nil {
		return nil, refuse(CodeBadKey, "%s: %v", t.Name, err)
	}
	if len(vals) != len(t.Key) {
		return nil, refuse(CodeBadKey, "%s: the key has %d values, the primary key %d columns", t.Name, len(vals), len(t.Key))
	}
	return vals, nil
}

// TableWrite is the statement that carries an effect out on the app's
// table. Args[i] is the value for Columns[i], so a database that must
// convert values knows each one's column.
type TableWrite struct {
	SQL     string
	Columns []string
	Args    []any
}

// Materialize builds the table write of an effect; ok is false when there
// is nothing to write (Keep, or a Set of no column the table has).
func Materialize(t *schema.Info, key []byte, eff Effect, param Placeholder) (w TableWrite, ok bool, err error) {
	if eff.Kind == Keep {
		return w, false, nil
	}
	keyVals, err := KeyValues(t, key)
	if err != nil {
		return w, false, err
	}
	// Only columns the table has now: stored field values may name
	// columns a migration has since dropped.
	cols := make([]string, 0, len(eff.Values))
	for name := range eff.Values {
		if c, ok := t.Column(name); ok && c.KeyPosition == 0 {
			cols = append(cols, name)
		}
	}
	sort.Strings(cols)
	var sql strings.Builder
	add := func(col string, v any) string {
		w.Columns = append(w.Columns, col)
		w.Args = append(w.Args, v)
		return param(len(w.Args))
	}
	table := schema.Quote(t.Name)
	switch eff.Kind {
	case Write:
		keys := quoteAll(t.Key)
		names := append(append([]string{}, keys...), quoteAll(cols)...)
		params := make([]string, 0, len(names))
		for i, k := range t.Key {
			params = append(params, add(k, keyVals[i]))
		}
		for _, c := range cols {
			params = append(params, add(c, eff.Values[c]))
		}
		sql.WriteString("INSERT INTO " + table + "(" + strings.Join(names, ", ") + ") VALUES (" + strings.Join(params, ", ") + ") ON CONFLICT (" + strings.Join(keys, ", ") + ") ")
		if len(cols) == 0 {
			sql.WriteString("DO NOTHING")
		} else {
			sets := make([]string, len(cols))
			for i, c := range cols {
				sets[i] = schema.Quote(c) + " = excluded." + schema.Quote(c)
			}
			sql.WriteString("DO UPDATE SET " + strings.Join(sets, ", "))
		}
	case Set:
		if len(cols) == 0 {
			return w, false, nil
		}
		sets := make([]string, len(cols))
		for i, c := range cols {
			sets[i] = schema.Quote(c) + " = " + add(c, eff.Values[c])
		}
		sql.WriteString("UPDATE " + table + " SET " + strings.Join(sets, ", "))
		sql.WriteString(keyWhere(t, keyVals, add))
	case Remove:
		sql.WriteString("DELETE FROM " + table)
		sql.WriteString(keyWhere(t, keyVals, add))
	default:
		return w, false, nil
	}
	w.SQL = sql.String()
	return w, true, nil
}

// RowSQL selects a row's value columns (t.Values, or 1 when it has none)
// by its key, whose values bind in key order from parameter 1.
func RowSQL(t *schema.Info, param Placeholder) string {
	cols := "1"
	if len(t.Values) > 0 {
		cols = strings.Join(quoteAll(t.Values), ", ")
	}
	n := 0
	return "SELECT " + cols + " FROM " + schema.Quote(t.Name) + keyWhere(t, make([]any, len(t.Key)), func(string, any) string {
		n++
		return param(n)
	})
}

func keyWhere(t *schema.Info, keyVals []any, add func(col string, v any) string) string {
	conds := make([]string, len(t.Key))
	for i, k := range t.Key {
		conds[i] = schema.Quote(k) + " = " + add(k, keyVals[i])
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

func quoteAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = schema.Quote(n)
	}
	return out
}

// ChangesOf describes a row's merged state as changes: an insert with its
// current values (when found alive in the table), the updates newer than
// that insert, and its tombstone. Applying them to any replica brings
// that replica's row up to (at least) this state; this is how snapshots
// and refusals ship a row. A collaborative text column travels as its
// whole state, whatever its stamp: states merge, they never hide.
func ChangesOf(t *schema.Info, key []byte, r Row, values map[string]any, found bool, schemaVersion int64) []change.Change {
	table := t.Name
	var out []change.Change
	shipped := map[string]bool{}
	if found {
		for _, col := range t.Text {
			if state := TextState(r.Fields[col]); state != nil {
				if _, ok := values[col]; ok {
					values[col] = state
					shipped[col] = true
				}
			}
		}
		out = append(out, change.Change{Table: table, Key: key, Op: change.Insert, Values: values, Stamp: r.Inserted, Schema: schemaVersion})
	}
	cols := make([]string, 0, len(r.Fields))
	for col := range r.Fields {
		cols = append(cols, col)
	}
	sort.Strings(cols)
	for _, col := range cols {
		f := r.Fields[col]
		if shipped[col] {
			continue
		}
		if !f.Stamp.After(r.Inserted) && (TextState(f) == nil || !t.IsText(col)) {
			continue // hidden for good by the insert
		}
		out = append(out, change.Change{Table: table, Key: key, Op: change.Update, Values: map[string]any{col: f.Value}, Stamp: f.Stamp, Schema: schemaVersion})
	}
	if !r.Deleted.IsZero() {
		out = append(out, change.Change{Table: table, Key: key, Op: change.Delete, Stamp: r.Deleted, Schema: schemaVersion})
	}
	return out
}
