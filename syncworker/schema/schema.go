// Package schema describes the tables an app syncs: which tables, their
// columns and primary keys as SQLite reports them, and the app's schema
// version. The journal builds its triggers from it, the merge its
// statements, the server its validation.
package schema

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hearthdb/hearth/codec"
	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/ncruces/go-sqlite3"
)

// ReservedPrefix starts the names of Hearth's own tables and triggers.
const ReservedPrefix = "_hearth"

// ErrNoTable is wrapped when a declared table does not exist.
var ErrNoTable = errors.New("no such table")

// Affinity is SQLite's column type affinity.
type Affinity int

const (
	AffinityBlob Affinity = iota // no declared type, or BLOB
	AffinityText
	AffinityNumeric
	AffinityInteger
	AffinityReal
)

// AffinityOf applies SQLite's rules (section 3.1 of "Datatypes In SQLite")
// to a declared column type.
func AffinityOf(declared string) Affinity {
	t := strings.ToUpper(declared)
	switch {
	case strings.Contains(t, "INT"):
		return AffinityInteger
	case strings.Contains(t, "CHAR"), strings.Contains(t, "CLOB"), strings.Contains(t, "TEXT"):
		return AffinityText
	case t == "" || strings.Contains(t, "BLOB"):
		return AffinityBlob
	case strings.Contains(t, "REAL"), strings.Contains(t, "FLOA"), strings.Contains(t, "DOUB"):
		return AffinityReal
	}
	return AffinityNumeric
}

// Column is one column of a synced table.
type Column struct {
	Name     string
	Type     string // as declared
	Affinity Affinity
	NotNull  bool
	// KeyPosition is the column's 1-based position in the primary key, or
	// 0 when it is not part of it.
	KeyPosition int
}

// Accepts checks that v is a value this column can hold without SQLite
// converting it: the server refuses a change that fails this, rather than
// storing a value other replicas would read differently.
func (c Column) Accepts(v any) error {
	if err := change.CheckValue(v); err != nil {
		return err
	}
	if v == nil {
		if c.NotNull || c.KeyPosition > 0 {
			return fmt.Errorf("column %q is NOT NULL", c.Name)
		}
		return nil
	}
	ok := true
	switch c.Affinity {
	case AffinityInteger:
		_, ok = v.(int64)
	case AffinityReal:
		switch v.(type) {
		case int64, float64:
		default:
			ok = false
		}
	case AffinityText:
		_, ok = v.(string)
	case AffinityNumeric:
		switch v.(type) {
		case int64, float64:
		default:
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("column %q (%s) cannot hold a %s", c.Name, c.typeName(), codec.TypeName(v))
	}
	return nil
}

func (c Column) typeName() string {
	if c.Type == "" {
		return "untyped"
	}
	return c.Type
}

// Info is a synced table as the database describes it.
type Info struct {
	appschema.Table
	// Columns in table order.
	Columns []Column
	// Key names the primary key columns in key order.
	Key []string
	// Values names the other columns, in table order.
	Values []string

	byName map[string]int
}

// Column looks a column up by name (exact, as SQLite reports it).
func (t *Info) Column(name string) (Column, bool) {
	i, ok := t.byName[name]
	if !ok {
		return Column{}, false
	}
	return t.Columns[i], true
}

// ColumnIndex is a column's position in Columns, by name.
func (t *Info) ColumnIndex(name string) (int, bool) {
	i, ok := t.byName[name]
	return i, ok
}

// ValidateName checks a table name an app declares.
func ValidateName(name string) error {
	if name == "" || len(name) > 128 {
		return fmt.Errorf("table name must be 1 to 128 bytes, got %q", name)
	}
	if strings.HasPrefix(strings.ToLower(name), ReservedPrefix) || strings.HasPrefix(strings.ToLower(name), "sqlite_") {
		return fmt.Errorf("table name %q is reserved (names starting with %s or sqlite_)", name, ReservedPrefix)
	}
	if strings.ContainsAny(name, "\x00") {
		return fmt.Errorf("table name %q contains NUL", name)
	}
	return nil
}

// Describe reads a table's columns and primary key from the database. A
// synced table must have a declared PRIMARY KEY: rows are identified by
// it on every replica (text or UUID ids avoid collisions between devices).
func Describe(conn *sqlite3.Conn, t appschema.Table) (*Info, error) {
	stmt, _, err := conn.Prepare(`SELECT name, type, "notnull", pk FROM pragma_table_info(?) ORDER BY cid`)
	if err != nil {
		return nil, fmt.Errorf("describe %q: %w", t.Name, err)
	}
	defer stmt.Close()
	if err := stmt.BindText(1, t.Name); err != nil {
		return nil, fmt.Errorf("describe %q: %w", t.Name, err)
	}
	info := &Info{Table: t, byName: map[string]int{}}
	keyAt := map[int]string{}
	for stmt.Step() {
		c := Column{
			Name:        stmt.ColumnText(0),
			Type:        stmt.ColumnText(1),
			NotNull:     stmt.ColumnInt(2) != 0,
			KeyPosition: stmt.ColumnInt(3),
		}
		c.Affinity = AffinityOf(c.Type)
		info.byName[c.Name] = len(info.Columns)
		info.Columns = append(info.Columns, c)
		if c.KeyPosition > 0 {
			keyAt[c.KeyPosition] = c.Name
		} else {
			info.Values = append(info.Values, c.Name)
		}
	}
	if err := stmt.Err(); err != nil {
		return nil, fmt.Errorf("describe %q: %w", t.Name, err)
	}
	if len(info.Columns) == 0 {
		return nil, fmt.Errorf("describe %q: %w", t.Name, ErrNoTable)
	}
	if len(keyAt) == 0 {
		return nil, fmt.Errorf("synced table %q has no PRIMARY KEY; declare one (a TEXT or UUID id is recommended)", t.Name)
	}
	for i := 1; i <= len(keyAt); i++ {
		info.Key = append(info.Key, keyAt[i])
	}
	for _, name := range t.Text {
		c, ok := info.Column(name)
		switch {
		case !ok:
			return nil, fmt.Errorf("synced table %q: collaborative text column %q does not exist", t.Name, name)
		case c.KeyPosition > 0:
			return nil, fmt.Errorf("synced table %q: collaborative text column %q is part of the primary key", t.Name, name)
		case c.Affinity != AffinityText || !c.NotNull:
			// NULL is not a text to merge: a NULL here and an empty
			// text there would read differently on two replicas.
			return nil, fmt.Errorf("synced table %q: collaborative text column %q must be declared TEXT NOT NULL (it is %s%s)", t.Name, name, c.Type, map[bool]string{true: " NOT NULL"}[c.NotNull])
		}
	}
	return info, nil
}

// DescribeAll describes each declared table, plus the violations table
// when it exists.
func DescribeAll(conn *sqlite3.Conn, tables []appschema.Table) ([]*Info, error) {
	out := make([]*Info, 0, len(tables)+1)
	for _, t := range tables {
		info, err := Describe(conn, t)
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	if v, err := Describe(conn, appschema.Violations); err == nil {
		out = append(out, v)
	} else if !errors.Is(err, ErrNoTable) {
		return nil, err
	}
	return out, nil
}

// Version returns the app's schema version, PRAGMA user_version.
func Version(conn *sqlite3.Conn) (int64, error) {
	stmt, _, err := conn.Prepare(`PRAGMA user_version`)
	if err != nil {
		return 0, fmt.Errorf("read user_version: %w", err)
	}
	defer stmt.Close()
	if !stmt.Step() {
		return 0, fmt.Errorf("read user_version: %w", stmt.Err())
	}
	return stmt.ColumnInt64(0), nil
}

// Quote quotes an SQL identifier.
func Quote(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// Literal quotes an SQL text literal.
func Literal(s string) string {
	return `'` + strings.ReplaceAll(s, `'`, `''`) + `'`
}
