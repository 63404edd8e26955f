// Package merge is Hearth's conflict resolution: field-level
// last-writer-wins by (hybrid logical clock, node id), with deletes as
// tombstones.
//
// The rule is a pure function, Resolve, of a row's merge metadata and one
// incoming change. The metadata records, per row, the greatest full-row
// write (insert) and the greatest delete seen, and per field the greatest
// update seen together with its value. Because each of those is a maximum
// under a total order, applying the same set of changes in any order, any
// number of times, gives the same metadata and so the same row: replicas
// that have seen the same changes hold the same data.
//
// The materialized row follows from the metadata:
//   - the row exists when it has an insert and no delete, or, for tables
//     that allow resurrection, when its newest insert is newer than its
//     newest delete;
//   - a column holds the value of the newest write to it: an update newer
//     than the newest insert, else the insert's value.
//
// Applier carries the rule out on a SQLite database (the client's and the
// server's alike), keeping the metadata in _hearth_rows and _hearth_fields.
package merge

import (
	"fmt"

	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/hlc"
)

// Field is the newest update seen for one column of one row.
type Field struct {
	Stamp hlc.Stamp
	Value any
}

// Row is the merge metadata of one row.
type Row struct {
	// Inserted is the newest full-row write seen, zero if none.
	Inserted hlc.Stamp
	// Deleted is the newest delete seen (the tombstone), zero if none.
	Deleted hlc.Stamp
	// Fields holds the newest update seen per column.
	Fields map[string]Field
}

// Alive reports whether the row exists under the rule.
func (r Row) Alive(resurrect bool) bool {
	if r.Inserted.IsZero() {
		return false
	}
	if r.Deleted.IsZero() {
		return true
	}
	return resurrect && r.Inserted.After(r.Deleted)
}

// EffectKind says what happens to the materialized row.
type EffectKind int

const (
	// Keep leaves the table row as it is.
	Keep EffectKind = iota
	// Write stores the row with Effect.Values (insert or overwrite).
	Write
	// Set updates Effect.Values on the existing row.
	Set
	// Remove deletes the row.
	Remove
)

func (k EffectKind) String() string {
	switch k {
	case Keep:
		return "keep"
	case Write:
		return "write"
	case Set:
		return "set"
	case Remove:
		return "remove"
	}
	return fmt.Sprintf("effect(%d)", int(k))
}

// Effect is the change to make to the app's table.
type Effect struct {
	Kind   EffectKind
	Values map[string]any
}

// Outcome is what Resolve decided.
type Outcome struct {
	// Row is the metadata after the change.
	Row Row
	// Effect is what to do to the table row.
	Effect Effect
	// Changed reports whether the change was new information: false for
	// a duplicate, or a write older than what the row already holds.
	Changed bool
	// InsertedChanged and DeletedChanged say which row stamps moved;
	// FieldsChanged which fields, so the metadata can be written back
	// minimally.
	InsertedChanged bool
	DeletedChanged  bool
	FieldsChanged   []string
}

// Resolve applies the merge rule to one change. It does not modify cur.
// For an Insert, cur.Fields must hold every field of the row; for an
// Update, at least the fields the change writes.
func Resolve(cur Row, ch *change.Change, resurrect bool) Outcome {
	out := Outcome{Row: cur}
	switch ch.Op {
	case change.Insert:
		if !ch.Stamp.After(cur.Inserted) {
			return out
		}
		out.Row.Inserted = ch.Stamp
		out.Changed, out.InsertedChanged = true, true
		if out.Row.Alive(resurrect) {
			values := make(map[string]any, len(ch.Values))
			for col, v := range ch.Values {
				values[col] = v
			}
			// Updates newer than this insert still win their fields.
			for col, f := range cur.Fields {
				if f.Stamp.After(ch.Stamp) {
					values[col] = f.Value
				}
			}
			out.Effect = Effect{Kind: Write, Values: values}
		}
	case change.Update:
		alive := cur.Alive(resurrect)
		var fields map[string]Field
		var set map[string]any
		for col, v := range ch.Values {
			if !ch.Stamp.After(cur.Fields[col].Stamp) {
				continue
			}
			if fields == nil {
				fields = make(map[string]Field, len(cur.Fields)+len(ch.Values))
				for k, f := range cur.Fields {
					fields[k] = f
				}
			}
			fields[col] = Field{Stamp: ch.Stamp, Value: v}
			out.FieldsChanged = append(out.FieldsChanged, col)
			// An update older than the newest insert is recorded but
			// hidden: the insert wrote that field later.
			if alive && ch.Stamp.After(cur.Inserted) {
				if set == nil {
					set = make(map[string]any, len(ch.Values))
				}
				set[col] = v
			}
		}
		if fields != nil {
			out.Row.Fields = fields
			out.Changed = true
		}
		if set != nil {
			out.Effect = Effect{Kind: Set, Values: set}
		}
	case change.Delete:
		if !ch.Stamp.After(cur.Deleted) {
			return out
		}
		out.Row.Deleted = ch.Stamp
		out.Changed, out.DeletedChanged = true, true
		if cur.Alive(resurrect) && !out.Row.Alive(resurrect) {
			out.Effect = Effect{Kind: Remove}
		}
	}
	return out
}
