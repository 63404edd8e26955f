// Package sqlshape recognizes the SELECT statements whose result a live
// query can patch row by row: one table, a WHERE clause that looks at one
// row at a time, an ORDER BY over the result's own columns, and at most a
// LIMIT of a number. Whether a
// row belongs to such a result, and where, depends on that row alone, so a
// write that changed a few rows changes only those rows' entries.
//
// It reads the statement's tokens, not a full SQL grammar: anything it does
// not recognize is refused (with the reason), and a refused statement is
// simply re-run whole, so the parser need only be sure of what it accepts.
package sqlshape

import (
	"errors"
	"fmt"
)

// Select is the shape of an accepted statement.
type Select struct {
	// Table is the table read (unquoted), Schema its schema when written.
	Table, Schema string
	// Qualifier is how the statement's text names the table's rows (its
	// alias, else the table name), exactly as written (quotes included):
	// a condition appended to the WHERE clause uses it.
	Qualifier string
	// Head is the text up to the end of the FROM clause; Where is the WHERE
	// clause's expression ("" when there is none).
	Head, Where string
	// OrderBy lists the ORDER BY terms; empty when the order is unspecified.
	OrderBy []OrderTerm
	// Limit is the LIMIT (a number, after an ORDER BY), 0 when none.
	Limit int
}

// OrderTerm is one ORDER BY term: a result column by number, or a column
// by name.
type OrderTerm struct {
	// Index is the 1-based result column, when the term is a number.
	Index int
	// Column is the name (unquoted) when the term is a name; Qualified
	// when it was written table.column (then it cannot be an alias).
	Column    string
	Qualified bool
	// Collate is the term's COLLATE name, "" when none.
	Collate string
	Desc    bool
	// NullsFirst is where NULLs go, with SQLite's default applied (first
	// ascending, last descending).
	NullsFirst bool
}

// ErrNotSimple wraps every refusal.
var ErrNotSimple = errors.New("not a single-table row-by-row query")

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrNotSimple, fmt.Sprintf(format, args...))
}

// refused are words whose presence lets one row's place or presence
// depend on other rows (and, with notOfTheRows, on something other than
// the rows). Matched on bare words only: a quoted identifier is never a
// keyword.
var refused = map[string]string{
	"DISTINCT": "DISTINCT", "GROUP": "GROUP BY", "HAVING": "HAVING", "WINDOW": "a window", "OVER": "a window function",
	"FILTER": "an aggregate FILTER", "LIMIT": "LIMIT", "OFFSET": "OFFSET", "UNION": "a compound SELECT",
	"INTERSECT": "a compound SELECT", "EXCEPT": "a compound SELECT", "WITH": "a WITH clause", "JOIN": "a join",
	"NATURAL": "a join", "VALUES": "VALUES", "MATCH": "MATCH",
}

// notOfTheRows are the functions and keywords whose value depends on
// something other than the rows: the time, chance, the connection's state.
var notOfTheRows = map[string]string{
	"RANDOM": "random()", "RANDOMBLOB": "randomblob()", "DATE": "a date function", "TIME": "a date function",
	"DATETIME": "a date function", "JULIANDAY": "a date function", "UNIXEPOCH": "a date function",
	"STRFTIME": "a date function", "TIMEDIFF": "a date function", "CURRENT_DATE": "CURRENT_DATE",
	"CURRENT_TIME": "CURRENT_TIME", "CURRENT_TIMESTAMP": "CURRENT_TIMESTAMP", "CHANGES": "changes()",
	"TOTAL_CHANGES": "total_changes()", "LAST_INSERT_ROWID": "last_insert_rowid()",
}

// Parse returns the shape of sql (one statement) or why it has none.
func Parse(sql string) (Select, error) {
	toks, err := tokenize(sql)
	if err != nil {
		return Select{}, err
	}
	for len(toks) > 0 && toks[len(toks)-1].is(";") {
		toks = toks[:len(toks)-1]
	}
	// LIMIT n last, after an ORDER BY: the result is the first n rows. Any
	// other LIMIT (an expression, an OFFSET, in a subquery) is refused below.
	limit := 0
	if n := len(toks); n >= 2 && toks[n-2].keyword("LIMIT") && toks[n-1].kind == number {
		for _, c := range toks[n-1].text() {
			if c < '0' || c > '9' || limit > 1<<30 {
				return Select{}, refuse("LIMIT %s", toks[n-1].text())
			}
			limit = limit*10 + int(c-'0')
		}
		if limit == 0 {
			return Select{}, refuse("LIMIT 0")
		}
		toks = toks[:n-2]
	}
	if len(toks) == 0 || !toks[0].keyword("SELECT") {
		return Select{}, refuse("not a SELECT")
	}
	from := -1
	depth := 0
	for i, t := range toks {
		switch {
		case t.is("("):
			depth++
		case t.is(")"):
			depth--
		case t.is(";"):
			return Select{}, refuse("more than one statement")
		case t.kind == bare:
			w := t.upper()
			if w == "SELECT" && i > 0 {
				return Select{}, refuse("a subquery")
			}
			if why, ok := refused[w]; ok {
				return Select{}, refuse("%s", why)
			}
			if why, ok := notOfTheRows[w]; ok {
				return Select{}, refuse("%s", why)
			}
			if w == "FROM" && depth == 0 && from < 0 {
				from = i
			}
		}
	}
	if from < 2 {
		return Select{}, refuse("no FROM clause")
	}
	var s Select
	i := from + 1
	name := func() (string, bool) {
		if i < len(toks) && (toks[i].kind == bare || toks[i].kind == quoted) && toks[i].name() != "" {
			i++
			return toks[i-1].name(), true
		}
		return "", false
	}
	tableAt := i
	if s.Table, _ = name(); s.Table == "" {
		return Select{}, refuse("FROM names no table")
	}
	if i < len(toks) && toks[i].is(".") {
		i++
		s.Schema = s.Table
		tableAt = i
		if s.Table, _ = name(); s.Table == "" {
			return Select{}, refuse("FROM names no table")
		}
	}
	s.Qualifier = toks[tableAt].text()
	if i < len(toks) && toks[i].keyword("AS") {
		i++
		if i >= len(toks) || (toks[i].kind != bare && toks[i].kind != quoted) {
			return Select{}, refuse("AS names nothing")
		}
		s.Qualifier = toks[i].text()
		i++
	} else if i < len(toks) && (toks[i].kind == quoted || toks[i].kind == bare && !toks[i].keyword("WHERE", "ORDER", "INDEXED", "NOT")) {
		s.Qualifier = toks[i].text()
		i++
	}
	switch {
	case i+2 < len(toks) && toks[i].keyword("INDEXED") && toks[i+1].keyword("BY"):
		i += 3
	case i+1 < len(toks) && toks[i].keyword("NOT") && toks[i+1].keyword("INDEXED"):
		i += 2
	}
	s.Head = sql[:toks[i-1].end]
	if i < len(toks) && toks[i].keyword("WHERE") {
		start := i + 1
		depth := 0
		for i++; i < len(toks); i++ {
			if toks[i].is("(") {
				depth++
			} else if toks[i].is(")") {
				depth--
			} else if depth == 0 && toks[i].keyword("ORDER") {
				break
			}
		}
		if i == start {
			return Select{}, refuse("an empty WHERE clause")
		}
		s.Where = sql[toks[start].start:toks[i-1].end]
	}
	if i < len(toks) {
		if !toks[i].keyword("ORDER") || i+1 >= len(toks) || !toks[i+1].keyword("BY") {
			return Select{}, refuse("%q after the FROM clause", toks[i].text())
		}
		terms, err := orderTerms(sql, toks[i+2:])
		if err != nil {
			return Select{}, err
		}
		s.OrderBy = terms
	}
	if limit > 0 && len(s.OrderBy) == 0 {
		return Select{}, refuse("LIMIT without ORDER BY")
	}
	s.Limit = limit
	return s, nil
}

// orderTerms reads ORDER BY's terms: each a column number or a (qualified)
// column name, with COLLATE, ASC or DESC and NULLS FIRST or LAST.
func orderTerms(sql string, toks []token) ([]OrderTerm, error) {
	var terms []OrderTerm
	i := 0
	for {
		var t OrderTerm
		switch {
		case i < len(toks) && toks[i].kind == number:
			n := 0
			for _, c := range toks[i].text() {
				if c < '0' || c > '9' || n > 1<<20 {
					return nil, refuse("ORDER BY %s", toks[i].text())
				}
				n = n*10 + int(c-'0')
			}
			if n == 0 {
				return nil, refuse("ORDER BY 0")
			}
			t.Index = n
			i++
		case i < len(toks) && (toks[i].kind == bare || toks[i].kind == quoted) && toks[i].name() != "":
			t.Column = toks[i].name()
			i++
			if i < len(toks) && toks[i].is(".") {
				if i+1 >= len(toks) || (toks[i+1].kind != bare && toks[i+1].kind != quoted) || toks[i+1].name() == "" {
					return nil, refuse("an ORDER BY term that is not a column")
				}
				t.Column, t.Qualified = toks[i+1].name(), true
				i += 2
			}
		default:
			return nil, refuse("an ORDER BY term that is not a column")
		}
		if i+1 < len(toks) && toks[i].keyword("COLLATE") && (toks[i+1].kind == bare || toks[i+1].kind == quoted) {
			t.Collate = toks[i+1].name()
			i += 2
		}
		if i < len(toks) && toks[i].keyword("ASC", "DESC") {
			t.Desc = toks[i].keyword("DESC")
			i++
		}
		t.NullsFirst = !t.Desc
		if i+1 < len(toks) && toks[i].keyword("NULLS") && toks[i+1].keyword("FIRST", "LAST") {
			t.NullsFirst = toks[i+1].keyword("FIRST")
			i += 2
		}
		terms = append(terms, t)
		if i == len(toks) {
			return terms, nil
		}
		if !toks[i].is(",") {
			return nil, refuse("an ORDER BY term that is not a column")
		}
		i++
	}
}
