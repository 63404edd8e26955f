package pgstore

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/merge"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/ncruces/go-sqlite3"
)

// The app's schema is SQLite SQL (the same migrations its clients run),
// and PostgreSQL does not speak SQLite. Rather than translate SQL, the
// store runs the migrations on a scratch in-memory SQLite database and
// reads back what they made: each synced table's columns, declared types,
// primary key, literal defaults and unique indexes. From that shape it
// creates typed PostgreSQL tables, one PostgreSQL type per SQLite
// affinity, so that a value stored and read back is the value SQLite
// would have returned: the checksums the server computes then match the
// ones clients compute on SQLite.

// tableShape is a synced table as the scratch SQLite database describes
// it, plus what PostgreSQL needs beyond schema.Info.
type tableShape struct {
	info *schema.Info
	// defaults holds each column's DEFAULT as PostgreSQL SQL ("" for
	// none, or a default this store cannot translate).
	defaults map[string]string
	// uniques lists the column sets of the table's unique indexes.
	uniques []uniqueIndex
}

type uniqueIndex struct {
	name    string
	columns []string
}

// pgType is the PostgreSQL column type for a SQLite affinity.
func pgType(a schema.Affinity) string {
	switch a {
	case schema.AffinityInteger:
		return "bigint"
	case schema.AffinityReal:
		return "double precision"
	case schema.AffinityText:
		return "text"
	case schema.AffinityNumeric:
		// numeric keeps every int64 exact, which double would not.
		return "numeric"
	}
	return "bytea"
}

// describeMigrations applies the migrations (and Hearth's violations
// table) to a scratch SQLite database and describes the synced tables.
func describeMigrations(migrations []appschema.Migration, tables []appschema.Table) ([]*tableShape, error) {
	conn, err := sqlite3.Open(":memory:")
	if err != nil {
		return nil, fmt.Errorf("scratch sqlite: %w", err)
	}
	defer conn.Close()
	for _, m := range migrations {
		if err := conn.Exec(m.SQL); err != nil {
			return nil, fmt.Errorf("migration %d on scratch sqlite: %w", m.Version, err)
		}
	}
	if err := conn.Exec(appschema.ViolationsDDL); err != nil {
		return nil, fmt.Errorf("violations table on scratch sqlite: %w", err)
	}
	infos, err := schema.DescribeAll(conn, tables)
	if err != nil {
		return nil, err
	}
	shapes := make([]*tableShape, 0, len(infos))
	for _, info := range infos {
		sh := &tableShape{info: info, defaults: map[string]string{}}
		if err := readDefaults(conn, sh); err != nil {
			return nil, err
		}
		if err := readUniques(conn, sh); err != nil {
			return nil, err
		}
		shapes = append(shapes, sh)
	}
	return shapes, nil
}

func readDefaults(conn *sqlite3.Conn, sh *tableShape) error {
	st, _, err := conn.Prepare(`SELECT name, dflt_value FROM pragma_table_info(?)`)
	if err != nil {
		return err
	}
	defer st.Close()
	st.BindText(1, sh.info.Name)
	for st.Step() {
		if st.ColumnType(1) == sqlite3.NULL {
			continue
		}
		c, ok := sh.info.Column(st.ColumnText(0))
		if !ok {
			continue
		}
		sh.defaults[c.Name] = pgDefault(c.Affinity, st.ColumnText(1))
	}
	return st.Err()
}

// pgDefault translates a literal SQLite default (number, string, NULL);
// expressions are left out: PostgreSQL would read them differently.
func pgDefault(a schema.Affinity, lit string) string {
	lit = strings.TrimSpace(lit)
	if strings.EqualFold(lit, "NULL") {
		return ""
	}
	if _, err := strconv.ParseFloat(strings.TrimPrefix(strings.TrimPrefix(lit, "+"), "-"), 64); err == nil {
		switch a {
		case schema.AffinityInteger, schema.AffinityReal, schema.AffinityNumeric:
			return lit
		case schema.AffinityText:
			// SQLite stores a number default in a TEXT column as its text.
			return schema.Literal(strings.TrimPrefix(lit, "+"))
		}
		return ""
	}
	if len(lit) >= 2 && lit[0] == '\'' && lit[len(lit)-1] == '\'' && a == schema.AffinityText {
		return lit
	}
	return ""
}

func readUniques(conn *sqlite3.Conn, sh *tableShape) error {
	st, _, err := conn.Prepare(`SELECT name FROM pragma_index_list(?) WHERE "unique" AND origin IN ('c', 'u') AND NOT partial`)
	if err != nil {
		return err
	}
	var names []string
	st.BindText(1, sh.info.Name)
	for st.Step() {
		names = append(names, st.ColumnText(0))
	}
	err = st.Err()
	st.Close()
	if err != nil {
		return err
	}
	for _, name := range names {
		cols, _, err := conn.Prepare(`SELECT cid, name FROM pragma_index_info(?) ORDER BY seqno`)
		if err != nil {
			return err
		}
		cols.BindText(1, name)
		u := uniqueIndex{name: name}
		expr := false
		for cols.Step() {
			if cols.ColumnInt(0) < 0 {
				expr = true // an expression index: not portable
			}
			u.columns = append(u.columns, cols.ColumnText(1))
		}
		err = cols.Err()
		cols.Close()
		if err != nil {
			return err
		}
		if !expr && len(u.columns) > 0 {
			sh.uniques = append(sh.uniques, u)
		}
	}
	return nil
}

// createTableSQL is the PostgreSQL DDL for a table shape.
func createTableSQL(sh *tableShape) string {
	var b strings.Builder
	b.WriteString("CREATE TABLE IF NOT EXISTS ")
	b.WriteString(schema.Quote(sh.info.Name))
	b.WriteString("(")
	for i, c := range sh.info.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(columnSQL(sh, c))
	}
	b.WriteString(", PRIMARY KEY (")
	for i, k := range sh.info.Key {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(schema.Quote(k))
	}
	b.WriteString("))")
	return b.String()
}

func columnSQL(sh *tableShape, c schema.Column) string {
	s := schema.Quote(c.Name) + " " + pgType(c.Affinity)
	if d := sh.defaults[c.Name]; d != "" {
		s += " DEFAULT " + d
	}
	if c.NotNull {
		s += " NOT NULL"
	}
	return s
}

// pgValue converts a storable value for a column of the given affinity
// the way SQLite would store it, or refuses one PostgreSQL cannot hold
// as SQLite would (text with NUL or invalid UTF-8, non-blobs in a
// bytea column).
func pgValue(c schema.Column, v any) (any, *merge.Refusal) {
	if v == nil {
		return nil, nil
	}
	mismatch := func(why string) *merge.Refusal {
		return &merge.Refusal{Code: merge.CodeTypeMismatch, Message: fmt.Sprintf("column %q: %s", c.Name, why)}
	}
	switch c.Affinity {
	case schema.AffinityInteger:
		return v, nil
	case schema.AffinityReal:
		switch x := v.(type) {
		case int64:
			return float64(x), nil
		case float64:
			if math.IsNaN(x) {
				return nil, nil // SQLite stores NaN as NULL
			}
		}
		return v, nil
	case schema.AffinityText:
		s, _ := v.(string)
		if err := textOK(s); err != "" {
			return nil, mismatch(err)
		}
		return v, nil
	case schema.AffinityNumeric:
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			// SQLite stores a real that is exactly an integer as an
			// integer in a NUMERIC column.
			if math.IsNaN(x) {
				return nil, nil
			}
			if x == math.Trunc(x) && x >= -(1<<63) && x < 1<<63 {
				return int64(x), nil
			}
			switch {
			case math.IsInf(x, 1):
				return "Infinity", nil
			case math.IsInf(x, -1):
				return "-Infinity", nil
			}
			return strconv.FormatFloat(x, 'g', -1, 64), nil
		}
		return v, nil
	}
	if _, ok := v.([]byte); !ok {
		return nil, mismatch(fmt.Sprintf("this store keeps untyped and BLOB columns as PostgreSQL bytea, which holds blobs only, not a %T", v))
	}
	return v, nil
}

// textOK says why a string cannot be PostgreSQL text ("" if it can).
func textOK(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		return "PostgreSQL text cannot hold a NUL character"
	}
	if !utf8.ValidString(s) {
		return "PostgreSQL text must be valid UTF-8"
	}
	return ""
}

// storable converts a value PostgreSQL returned to one of the five
// storable types, as SQLite would have returned it.
func storable(v any) any {
	switch x := v.(type) {
	case nil, int64, float64, string:
		return v
	case []byte:
		return append([]byte{}, x...)
	case int32:
		return int64(x)
	case int16:
		return int64(x)
	case int8:
		return int64(x)
	case float32:
		return float64(x)
	case bool:
		if x {
			return int64(1)
		}
		return int64(0)
	case pgtype.Numeric:
		if !x.Valid {
			return nil
		}
		if x.NaN {
			return nil
		}
		if x.InfinityModifier == pgtype.Infinity {
			return math.Inf(1)
		}
		if x.InfinityModifier == pgtype.NegativeInfinity {
			return math.Inf(-1)
		}
		dv, err := x.Value()
		if s, ok := dv.(string); ok && err == nil {
			return numericText(s)
		}
		f, _ := x.Float64Value()
		return f.Float64
	case time.Time:
		return x.UTC().Format("2006-01-02 15:04:05.999999999")
	case fmt.Stringer:
		return x.String()
	}
	return fmt.Sprint(v)
}

// numericText reads numeric's text as SQLite reads a NUMERIC column: an
// integer when it is one that fits, else a real.
func numericText(s string) any {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return s
	}
	if f == math.Trunc(f) && f >= -(1<<63) && f < 1<<63 && !strings.ContainsAny(s, "eE") {
		return int64(f)
	}
	return f
}
