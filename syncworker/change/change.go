// Package change defines the unit of replication: one write to one row of
// a synced table, as the journal records it, the merge applies it and the
// wire carries it.
//
// Values are the five SQLite storage classes as Go values: nil, int64,
// float64, string and []byte. They are encoded with Hearth's tagged binary
// codec (wasm/protocol), which keeps every one of them exact.
package change

import (
	"bytes"
	"fmt"
	"sort"

	"github.com/hearthdb/hearth/codec"
	"github.com/hearthdb/hearth/syncworker/hlc"
)

// Op is what a change does to its row.
type Op byte

const (
	// Insert writes every column of the row (a full-row write).
	Insert Op = 'I'
	// Update writes the columns it names.
	Update Op = 'U'
	// Delete removes the row and leaves a tombstone.
	Delete Op = 'D'
)

func (o Op) String() string {
	switch o {
	case Insert:
		return "insert"
	case Update:
		return "update"
	case Delete:
		return "delete"
	}
	return fmt.Sprintf("op(%q)", byte(o))
}

// Code is the one-letter form stored in journals and sent on the wire.
func (o Op) Code() string { return string(rune(o)) }

// ParseOp reads the one-letter form.
func ParseOp(s string) (Op, error) {
	if len(s) == 1 {
		switch op := Op(s[0]); op {
		case Insert, Update, Delete:
			return op, nil
		}
	}
	return 0, fmt.Errorf("unknown change op %q (want I, U or D)", s)
}

// Change is one write to one row.
type Change struct {
	// Table is the synced table's name.
	Table string
	// Key is the row's primary key, encoded with EncodeKey. Equal keys
	// are equal bytes on every replica.
	Key []byte
	Op  Op
	// Values holds the columns written, primary key columns excluded:
	// every other column for an Insert, the changed ones for an Update,
	// nothing for a Delete.
	Values map[string]any
	// Stamp orders the change against every other write to the same
	// fields: its hybrid logical clock reading and the id of the node
	// that made it.
	Stamp hlc.Stamp
	// Schema is the app's schema version (PRAGMA user_version) the change
	// was written under.
	Schema int64
}

// Columns returns the names in Values, sorted, for deterministic output.
func (c *Change) Columns() []string {
	names := make([]string, 0, len(c.Values))
	for name := range c.Values {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func (c *Change) String() string {
	return fmt.Sprintf("%s %s %x %v by %s", c.Op, c.Table, c.Key, c.Columns(), c.Stamp)
}

// CheckValue reports whether v is one of the five storable value types.
func CheckValue(v any) error {
	switch v.(type) {
	case nil, int64, float64, string, []byte:
		return nil
	}
	return fmt.Errorf("a %s is not a storable value (want null, integer, real, text or blob)", codec.TypeName(v))
}

// EncodeKey encodes primary key values, in primary key order, as a
// protocol array.
func EncodeKey(values ...any) ([]byte, error) {
	var enc codec.Encoder
	enc.Array(len(values))
	for i, v := range values {
		if err := CheckValue(v); err != nil {
			return nil, fmt.Errorf("key column %d: %w", i, err)
		}
		if err := enc.Value(v); err != nil {
			return nil, fmt.Errorf("key column %d: %w", i, err)
		}
	}
	return enc.Bytes(), nil
}

// DecodeKey decodes a key made by EncodeKey (or by the hearth_key SQL
// function, which writes the same bytes).
func DecodeKey(key []byte) ([]any, error) {
	v, err := codec.Decode(key)
	if err != nil {
		return nil, fmt.Errorf("row key: %w", err)
	}
	values, ok := v.([]any)
	if !ok || len(values) == 0 {
		return nil, fmt.Errorf("row key must be a non-empty array, got %s", codec.TypeName(v))
	}
	for i, x := range values {
		if err := CheckValue(x); err != nil {
			return nil, fmt.Errorf("row key column %d: %w", i, err)
		}
	}
	// The codec also reads an int64 that fits in int32 and a NaN of any
	// bits; such a key names the same row as EncodeKey's bytes for its
	// values, but stores compare keys as bytes, so it would split the row.
	if canonical, err := EncodeKey(values...); err != nil || !bytes.Equal(canonical, key) {
		return nil, fmt.Errorf("row key %x is not as EncodeKey writes it (%x)", key, canonical)
	}
	return values, nil
}

// EncodeValues writes a column map with its keys in sorted order, so the
// same map always gives the same bytes.
func EncodeValues(enc *codec.Encoder, values map[string]any) error {
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	sort.Strings(names)
	enc.Map(len(names))
	for _, name := range names {
		enc.Key(name)
		v := values[name]
		if err := CheckValue(v); err != nil {
			return fmt.Errorf("column %q: %w", name, err)
		}
		if err := enc.Value(v); err != nil {
			return fmt.Errorf("column %q: %w", name, err)
		}
	}
	return nil
}

// DecodeValues decodes a column map (as written by EncodeValues or the
// hearth_pack SQL function). A nil or empty input is an empty map.
func DecodeValues(b []byte) (map[string]any, error) {
	if len(b) == 0 {
		return map[string]any{}, nil
	}
	v, err := codec.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("column values: %w", err)
	}
	return ValuesFrom(v)
}

// ValuesFrom checks a decoded protocol value as a column map.
func ValuesFrom(v any) (map[string]any, error) {
	if v == nil {
		return map[string]any{}, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("column values must be a map, got %s", codec.TypeName(v))
	}
	for name, x := range m {
		if err := CheckValue(x); err != nil {
			return nil, fmt.Errorf("column %q: %w", name, err)
		}
	}
	return m, nil
}

// Equal reports whether two values are the same value of the same type.
func Equal(a, b any) bool {
	switch a := a.(type) {
	case nil:
		return b == nil
	case int64:
		bv, ok := b.(int64)
		return ok && a == bv
	case float64:
		bv, ok := b.(float64)
		return ok && (a == bv || (a != a && bv != bv))
	case string:
		bv, ok := b.(string)
		return ok && a == bv
	case []byte:
		bv, ok := b.([]byte)
		return ok && bytes.Equal(a, bv)
	}
	return false
}
