package store

import (
	"fmt"
	"strconv"

	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/schema"
)

// Scope is the scope a row belongs to (e.g. its workspace): the value of
// the table's scope column, as text.
//
// A store tracks each row's scope itself, in its own table, rather than
// reading the app's table: a deleted row keeps the scope it had (its
// tombstone must reach exactly the clients that had the row), and a
// snapshot can select a scope's rows with an index instead of decoding
// every row of every other scope.
type Scope struct {
	Value string
	// Stamp is the write that set Value (zero for a key column, which
	// never changes).
	Stamp hlc.Stamp
	// Known is false for a row the store has not seen set its scope.
	Known bool
}

// ScopeRules says which column holds each scoped table's scope.
type ScopeRules struct {
	tables map[string]scopeColumn
}

type scopeColumn struct {
	// name is "" for a table whose rows take the scope of the row they
	// are about (_hearth_violations): the store sets it.
	name string
	// key is the position of the column in the primary key plus one,
	// or 0 for a value column.
	key int
}

// NewScopeRules checks that every named column exists in its table.
func NewScopeRules(columns map[string]string, tables []*schema.Info) (*ScopeRules, error) {
	r := &ScopeRules{tables: map[string]scopeColumn{}}
	byName := map[string]*schema.Info{}
	for _, t := range tables {
		byName[t.Name] = t
	}
	for table, col := range columns {
		t := byName[table]
		if t == nil {
			return nil, fmt.Errorf("scope rule for %q: not a synced table", table)
		}
		c, ok := t.Column(col)
		if !ok {
			return nil, fmt.Errorf("scope rule for %q: no column %q", table, col)
		}
		r.tables[table] = scopeColumn{name: col, key: c.KeyPosition}
	}
	if len(r.tables) > 0 {
		// A violation quotes the row it is about (an invariant's message
		// may name its title): it belongs to that row's scope. One about
		// a row without a scope has none and reaches everyone.
		r.tables[appschema.Violations.Name] = scopeColumn{}
	}
	return r, nil
}

// Derived reports whether a table's rows take their scope from the row
// they are about (_hearth_violations): such a row without a scope is
// read by everyone.
func (r *ScopeRules) Derived(table string) bool {
	if r == nil {
		return false
	}
	col, ok := r.tables[table]
	return ok && col.name == ""
}

// Scoped reports whether a table has a scope rule.
func (r *ScopeRules) Scoped(table string) bool {
	if r == nil {
		return false
	}
	_, ok := r.tables[table]
	return ok
}

// Tables lists the scoped tables.
func (r *ScopeRules) Tables() []string {
	if r == nil {
		return nil
	}
	out := make([]string, 0, len(r.tables))
	for t := range r.tables {
		out = append(out, t)
	}
	return out
}

// Column is the scope column of a table ("" without a rule).
func (r *ScopeRules) Column(table string) string {
	if r == nil {
		return ""
	}
	return r.tables[table].name
}

// Next is a row's scope after a change, given its scope before. The
// scope column merges like any field (the write with the greatest stamp
// wins, an insert writing every field), so a change that loses the merge
// leaves the scope as it was, and every store and replica agrees on it
// whatever the order changes arrive in. A delete keeps the scope.
func (r *ScopeRules) Next(prev Scope, c *change.Change) Scope {
	col, ok := r.tables[c.Table]
	if !ok {
		return Scope{}
	}
	if col.name == "" {
		return prev
	}
	if col.key > 0 {
		key, err := change.DecodeKey(c.Key)
		if err != nil || len(key) < col.key {
			return prev
		}
		return Scope{Value: ScopeText(key[col.key-1]), Known: true}
	}
	if c.Op == change.Delete {
		return prev
	}
	v, ok := c.Values[col.name]
	if !ok || (prev.Known && !c.Stamp.After(prev.Stamp)) {
		return prev
	}
	return Scope{Value: ScopeText(v), Stamp: c.Stamp, Known: true}
}

// OfRow is the scope of a row given as changes (a snapshot's or a
// refusal's), and whether they set one.
func (r *ScopeRules) OfRow(table string, key []byte, row []change.Change) Scope {
	var s Scope
	if col, ok := r.tables[table]; ok && col.key > 0 {
		return r.Next(s, &change.Change{Table: table, Key: key})
	}
	for i := range row {
		s = r.Next(s, &row[i])
	}
	return s
}

// ScopeText is a scope value as text: identities list scopes as strings,
// whatever type the column has. NULL is "", which no scope grant names.
func ScopeText(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []byte:
		return string(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

// View restricts what a snapshot returns: rows of scoped tables whose
// scope is listed (tables without a scope rule are read whole). A nil
// view reads everything.
type View struct {
	Scopes []string
	// ScopedOnly leaves out the tables without a scope rule too (a client
	// adding scopes holds them already).
	ScopedOnly bool
}
