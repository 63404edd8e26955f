package client

import (
	"context"
	"fmt"
	"time"

	"github.com/hearthdb/hearth/wasm/protocol"
)

// WriteStamp is a write's place in the merge order: its hybrid logical
// clock reading, that reading's wall-clock part and the device (replica
// id) that made it.
type WriteStamp struct {
	HLC  int64
	At   time.Time
	Node string
}

// FieldHistory is one column's current value and the write that won it.
type FieldHistory struct {
	Column string
	Value  any
	// Writer is nil when the replica holds no merge metadata for it.
	Writer *WriteStamp
	// ByInsert: the winner is the row's full-row write (insert).
	ByInsert bool
	// Merged: a collaborative text column, which keeps every writer's
	// characters; Writer is the newest.
	Merged bool
}

// LostValue is a value that lost a merge on this replica.
type LostValue struct {
	Column   string
	Value    any
	Writer   WriteStamp
	LostTo   WriteStamp
	LostToOp string // insert, update or delete
	Recorded time.Time
}

// HistoryEntry is a journal entry or quarantined change of the row.
type HistoryEntry struct {
	Seq          int64
	Op, State    string
	Code, Detail string
	Stamp        WriteStamp
	Values       map[string]any
	QuarantineID int64
	Direction    string
}

// RowHistory is DB.History's answer.
type RowHistory struct {
	Table             string
	Key               []any
	Exists            bool
	Inserted, Deleted *WriteStamp
	Fields            []FieldHistory
	Lost              []LostValue
	Journal           []HistoryEntry
}

// History tells who won each field of one row, the values that lost a
// merge on this replica, and the journal entries that touched the row.
// key holds the primary key's values in key order.
func (db *DB) History(ctx context.Context, table string, key ...any) (RowHistory, error) {
	out := RowHistory{Table: table, Key: key}
	reply, err := db.c.request(ctx, protocol.OpHistory, map[string]any{"db": db.handle, "table": table, "key": key})
	if err != nil {
		return out, err
	}
	m, ok := reply.(map[string]any)
	if !ok {
		return out, fmt.Errorf("hearth: history: unexpected reply %T", reply)
	}
	out.Exists, _ = m["exists"].(bool)
	out.Inserted, out.Deleted = stampOf(m["inserted"]), stampOf(m["deleted"])
	for _, f := range list(m["fields"]) {
		byInsert, _ := f["byInsert"].(bool)
		merged, _ := f["merged"].(bool)
		column, _ := f["column"].(string)
		out.Fields = append(out.Fields, FieldHistory{Column: column, Value: f["value"], Writer: stampOf(f["writer"]), ByInsert: byInsert, Merged: merged})
	}
	for _, l := range list(m["lost"]) {
		v := LostValue{Value: l["value"], Writer: deref(stampOf(l["writer"])), LostTo: deref(stampOf(l["lostTo"]))}
		v.Column, _ = l["column"].(string)
		v.LostToOp, _ = l["lostToOp"].(string)
		if ms, ok := l["recordedAt"].(int64); ok {
			v.Recorded = time.UnixMilli(ms).UTC()
		}
		out.Lost = append(out.Lost, v)
	}
	for _, e := range list(m["journal"]) {
		h := HistoryEntry{Stamp: deref(stampOf(e["stamp"]))}
		h.Seq, _ = e["seq"].(int64)
		h.Op, _ = e["op"].(string)
		h.State, _ = e["state"].(string)
		h.Code, _ = e["code"].(string)
		h.Detail, _ = e["detail"].(string)
		h.Values, _ = e["values"].(map[string]any)
		h.QuarantineID, _ = e["quarantineId"].(int64)
		h.Direction, _ = e["direction"].(string)
		out.Journal = append(out.Journal, h)
	}
	return out, nil
}

func list(v any) []map[string]any {
	items, _ := v.([]any)
	out := make([]map[string]any, 0, len(items))
	for _, it := range items {
		if m, ok := it.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func stampOf(v any) *WriteStamp {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	s := &WriteStamp{}
	s.HLC, _ = m["hlc"].(int64)
	s.Node, _ = m["node"].(string)
	if ms, ok := m["at"].(int64); ok {
		s.At = time.UnixMilli(ms).UTC()
	}
	return s
}

func deref(s *WriteStamp) WriteStamp {
	if s == nil {
		return WriteStamp{}
	}
	return *s
}
