// Package history answers "who won this row, and what lost?" for one row
// of a synced table on a replica: each field's current value and the
// write (device and hybrid logical clock) that put it there, the values
// that lost to it (merge.LostTable), and the journal entries and
// quarantined changes that touched the row. It backs db.history and the
// inspector; it reads only.
package history

import (
	"bytes"
	"fmt"
	"time"

	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/journal"
	"github.com/hearthdb/hearth/syncworker/merge"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/ncruces/go-sqlite3"
)

// Stamp is a write's place in the merge order: its hybrid logical clock
// reading (HLC; At is its wall-clock part) and the device that made it.
type Stamp struct {
	HLC  int64
	At   time.Time
	Node string
}

func stampOf(s hlc.Stamp) *Stamp {
	if s.IsZero() {
		return nil
	}
	return &Stamp{HLC: int64(s.TS), At: s.TS.Time().UTC(), Node: s.Node}
}

// Field is one column's current value and the write that won it.
type Field struct {
	Column string
	Value  any
	// Writer is the winning write: the newest update of the field, or
	// the row's newest full-row write (insert) when that is newer. Nil
	// when the replica has no merge metadata for the row (never synced).
	Writer *Stamp
	// ByInsert says the winner is the full-row write.
	ByInsert bool
	// Merged says the column is collaborative text: every writer's
	// characters are in it; Writer is the newest of them.
	Merged bool
}

// Lost is a value that lost a merge on this replica.
type Lost struct {
	Column string
	Value  any
	Writer Stamp
	// LostTo is the write that beat it, and LostToOp its kind: "insert",
	// "update" or "delete".
	LostTo   Stamp
	LostToOp string
	// Recorded is when this replica saw it happen.
	Recorded time.Time
}

// Entry is a journal entry or a quarantined change that touched the row.
type Entry struct {
	// Seq is the journal sequence number (0 for an incoming change set
	// aside).
	Seq int64
	Op  string
	// State is pending, sent, acknowledged, flagged, refused, or
	// quarantined.
	State  string
	Code   string
	Detail string
	Stamp  Stamp
	// Values are the columns the entry wrote (a collaborative text
	// column's are its character ops, as bytes).
	Values map[string]any
	// QuarantineID names a quarantined change (for retry or discard).
	QuarantineID int64
	// Direction is "outgoing" or "incoming" for a quarantined change.
	Direction string
}

// Row is one row's history on this replica.
type Row struct {
	Table string
	Key   []any
	// Exists says the row is in the table now.
	Exists bool
	// Inserted and Deleted are the newest full-row write and delete the
	// replica knows of.
	Inserted, Deleted *Stamp
	Fields            []Field
	// Lost are the values that lost here, newest first.
	Lost []Lost
	// Journal are the row's journal entries and quarantined changes,
	// newest first.
	Journal []Entry
}

// MaxEntries bounds the journal entries and lost values one answer
// carries.
const MaxEntries = 200

// Read builds the history of the row of t with primary key values key.
// j is the database's journal (nil when it does not sync: then only the
// row's values are known).
func Read(conn *sqlite3.Conn, t *schema.Info, j *journal.Journal, key []any) (Row, error) {
	out := Row{Table: t.Name, Key: key}
	if len(key) != len(t.Key) {
		return out, fmt.Errorf("history: %s has a %d-column primary key, got %d values", t.Name, len(t.Key), len(key))
	}
	pk, err := change.EncodeKey(key...)
	if err != nil {
		return out, fmt.Errorf("history: %s key: %w", t.Name, err)
	}
	values, err := readValues(conn, t, key)
	if err != nil {
		return out, err
	}
	out.Exists = values != nil
	if j == nil {
		for _, c := range t.Values {
			if out.Exists {
				out.Fields = append(out.Fields, Field{Column: c, Value: values[c]})
			}
		}
		return out, nil
	}
	a := merge.NewApplier(conn, []*schema.Info{t}, false)
	meta, err := a.LoadRow(t.Name, pk)
	if cerr := a.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return out, err
	}
	out.Inserted, out.Deleted = stampOf(meta.Inserted), stampOf(meta.Deleted)
	for _, c := range t.Values {
		f := Field{Column: c, Merged: t.IsText(c)}
		if out.Exists {
			f.Value = values[c]
		}
		if u, ok := meta.Fields[c]; ok && (u.Stamp.After(meta.Inserted) || f.Merged) {
			f.Writer = stampOf(u.Stamp)
		} else if !meta.Inserted.IsZero() {
			f.Writer, f.ByInsert = stampOf(meta.Inserted), true
		}
		out.Fields = append(out.Fields, f)
	}
	if out.Lost, err = readLost(conn, t.Name, pk); err != nil {
		return out, err
	}
	entries, err := j.RowEntries(conn, t.Name, pk, MaxEntries)
	if err != nil {
		return out, err
	}
	for _, e := range entries {
		out.Journal = append(out.Journal, Entry{Seq: e.Seq, Op: e.Op.String(), State: string(e.State), Code: e.Code, Detail: e.Detail,
			Stamp: *stampOf(e.Stamp), Values: e.Values})
	}
	quarantined, err := journal.ListQuarantine(conn)
	if err != nil {
		return out, err
	}
	for i := len(quarantined) - 1; i >= 0; i-- {
		q := quarantined[i]
		if q.Table != t.Name || !bytes.Equal(q.Key, pk) {
			continue
		}
		out.Journal = append(out.Journal, Entry{Seq: q.Seq, Op: q.Op.String(), State: "quarantined", Code: q.Code, Detail: q.Reason,
			Stamp: *stampOf(q.Stamp), Values: q.Values, QuarantineID: q.ID, Direction: q.Direction})
	}
	return out, nil
}

// readValues reads the row's columns (nil when the row is not there).
func readValues(conn *sqlite3.Conn, t *schema.Info, key []any) (map[string]any, error) {
	where := ""
	for i, k := range t.Key {
		if i > 0 {
			where += " AND "
		}
		where += fmt.Sprintf("%s IS ?%d", schema.Quote(k), i+1)
	}
	cols := ""
	for i, c := range t.Values {
		if i > 0 {
			cols += ", "
		}
		cols += schema.Quote(c)
	}
	if cols == "" {
		cols = "1"
	}
	s, _, err := conn.Prepare(`SELECT ` + cols + ` FROM ` + schema.Quote(t.Name) + ` WHERE ` + where)
	if err != nil {
		return nil, fmt.Errorf("history: read %s: %w", t.Name, err)
	}
	defer s.Close()
	for i, v := range key {
		if err := merge.BindValue(s, i+1, v); err != nil {
			return nil, err
		}
	}
	if !s.Step() {
		return nil, s.Err()
	}
	out := make(map[string]any, len(t.Values))
	for i, c := range t.Values {
		out[c] = merge.ColumnValue(s, i)
	}
	return out, s.Err()
}

func readLost(conn *sqlite3.Conn, table string, pk []byte) ([]Lost, error) {
	if !tableExists(conn, merge.LostTable) {
		return nil, nil
	}
	s, _, err := conn.Prepare(`SELECT col, val, hlc, node, won_hlc, won_node, won_op, at FROM _hearth_lost WHERE tbl = ?1 AND pk = ?2 ORDER BY at DESC, id DESC LIMIT ?3`)
	if err != nil {
		return nil, fmt.Errorf("history: read lost values: %w", err)
	}
	defer s.Close()
	s.BindText(1, table)
	s.BindBlob(2, pk)
	s.BindInt64(3, MaxEntries)
	var out []Lost
	for s.Step() {
		op, _ := change.ParseOp(s.ColumnText(6))
		out = append(out, Lost{
			Column:   s.ColumnText(0),
			Value:    merge.ColumnValue(s, 1),
			Writer:   *stampOf(hlc.Stamp{TS: hlc.Timestamp(s.ColumnInt64(2)), Node: s.ColumnText(3)}),
			LostTo:   *stampOf(hlc.Stamp{TS: hlc.Timestamp(s.ColumnInt64(4)), Node: s.ColumnText(5)}),
			LostToOp: op.String(),
			Recorded: time.UnixMilli(s.ColumnInt64(7)).UTC(),
		})
	}
	return out, s.Err()
}

func tableExists(conn *sqlite3.Conn, name string) bool {
	s, _, err := conn.Prepare(`SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?`)
	if err != nil {
		return false
	}
	defer s.Close()
	s.BindText(1, name)
	return s.Step()
}
