package syncserver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/schema"
)

// SQLInvariant is an invariant written as one SELECT: it runs after each
// insert or update of Table, inside the push's transaction, and the change
// violates it when the query returns a row (the first column of the first
// row is the message). Zero rows: it holds.
//
// The query names the changed row with named parameters: :<column> for
// each primary-key column of Table (e.g. :id), and :scope for the row's
// scope (NULL when Table has no scope rule). It sees only the changed
// row's scope: every table with a scope rule is shadowed by its rows of
// that scope (rows of tables without a rule are all visible), so a
// violation message cannot quote another scope's data — the violation row
// syncs to the changed row's scope.
//
// Write it in the SQL both stores run (SQLite's, which PostgreSQL also
// accepts for plain SELECTs). WITH RECURSIVE is refused.
type SQLInvariant struct {
	Name  string
	Table string
	SQL   string
}

// CompiledInvariant is a SQLInvariant checked against the schema: its
// query with positional parameters, ready to run on either store.
type CompiledInvariant struct {
	Name, Table string
	// shadows are the scoped tables, in order; each takes the scope as
	// a parameter.
	shadows []shadow
	// ctes is the user's own WITH list ("" when none), body the rest.
	ctes, body string
	// params name the body's parameters in order: a key position (>= 0)
	// or -1 for the scope.
	params []int
}

// shadow is a scoped table and the condition selecting one scope's rows.
type shadow struct {
	table, where string
}

// scopeParam marks :scope in CompiledInvariant.params.
const scopeParam = -1

// Compile checks the invariant against the synced tables and scope rules
// (table -> scope column) and rewrites its named parameters.
func (inv SQLInvariant) Compile(tables []*schema.Info, scopes map[string]string) (*CompiledInvariant, error) {
	var target *schema.Info
	for _, t := range tables {
		if t.Name == inv.Table {
			target = t
		}
	}
	if target == nil {
		return nil, fmt.Errorf("invariant %q: table %q is not a synced table", inv.Name, inv.Table)
	}
	sql, names, err := NamedParams(inv.SQL)
	if err != nil {
		return nil, fmt.Errorf("invariant %q: %w", inv.Name, err)
	}
	c := &CompiledInvariant{Name: inv.Name, Table: inv.Table}
	for _, name := range names {
		switch pos := slices.Index(target.Key, name); {
		case pos >= 0:
			c.params = append(c.params, pos)
		case name == "scope":
			c.params = append(c.params, scopeParam)
		default:
			return nil, fmt.Errorf("invariant %q: parameter :%s is neither :scope nor a primary-key column of %s (%s)", inv.Name, name, inv.Table, strings.Join(target.Key, ", "))
		}
	}
	c.ctes, c.body, err = splitWith(sql)
	if err != nil {
		return nil, fmt.Errorf("invariant %q: %w", inv.Name, err)
	}
	for _, t := range tables {
		col, ok := scopes[t.Name]
		if !ok {
			continue
		}
		// The scope is compared as text, as the store records it: a
		// text column as it is (its index serves), any other cast, which
		// both SQLite and PostgreSQL spell alike.
		where := schema.Quote(col) + " = ?"
		if info, ok := t.Column(col); ok && info.Affinity != schema.AffinityText {
			where = "CAST(" + schema.Quote(col) + " AS TEXT) = ?"
		}
		c.shadows = append(c.shadows, shadow{table: t.Name, where: where})
	}
	return c, nil
}

// SQL is the query to run: the user's, after CTEs that shadow each scoped
// table with its rows of one scope. base names a table itself from inside
// a CTE of the same name (SQLite needs main.t; PostgreSQL's plain name
// already means the table there, as a CTE does not see itself).
func (c *CompiledInvariant) SQL(base func(table string) string) string {
	var sb strings.Builder
	for i, sh := range c.shadows {
		if i == 0 {
			sb.WriteString("WITH ")
		} else {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "%s AS NOT MATERIALIZED (SELECT * FROM %s WHERE %s)", schema.Quote(sh.table), base(sh.table), sh.where)
	}
	switch {
	case c.ctes != "" && len(c.shadows) > 0:
		sb.WriteString(", " + c.ctes + " ")
	case c.ctes != "":
		sb.WriteString("WITH " + c.ctes + " ")
	case len(c.shadows) > 0:
		sb.WriteString(" ")
	}
	sb.WriteString(c.body)
	return sb.String()
}

// Args are the query's arguments for a change: the scope once per
// shadowed table, then the named parameters.
func (c *CompiledInvariant) Args(ch Change) []any {
	var scope any
	if ch.Scope.Known {
		scope = ch.Scope.Value
	}
	args := make([]any, 0, len(c.shadows)+len(c.params))
	for range c.shadows {
		args = append(args, scope)
	}
	for _, p := range c.params {
		if p == scopeParam || p >= len(ch.Key) {
			args = append(args, scope)
			continue
		}
		args = append(args, ch.Key[p])
	}
	return args
}

// baseNamer is implemented by a store.Querier whose SQL must qualify a
// table to name it from inside a CTE of the same name.
type baseNamer interface{ BaseTable(name string) string }

// Invariant is the compiled invariant as a Config.Invariants hook.
func (c *CompiledInvariant) Invariant() Invariant {
	return func(ctx context.Context, q store.Querier, ch Change) (string, error) {
		if ch.Table != c.Table || ch.Op == "delete" {
			return "", nil
		}
		base := schema.Quote
		if b, ok := q.(baseNamer); ok {
			base = b.BaseTable
		}
		rows, err := q.Query(ctx, c.SQL(base), c.Args(ch)...)
		if err != nil {
			return "", fmt.Errorf("invariant %q: %w", c.Name, err)
		}
		if len(rows) == 0 {
			return "", nil
		}
		if len(rows[0]) == 0 {
			return "", fmt.Errorf("invariant %q: the query returned no columns", c.Name)
		}
		msg := store.ScopeText(rows[0][0])
		if msg == "" {
			// A row is a violation even when its message is empty or NULL.
			msg = fmt.Sprintf("invariant %s violated", c.Name)
		}
		return msg, nil
	}
}

// splitWith splits a query that starts with WITH into its CTE list and
// the statement after it, so that the shadowing CTEs can go first in one
// WITH clause. A query without WITH is all body.
func splitWith(sql string) (ctes, body string, err error) {
	start := skipSpace(sql, 0)
	word, end := wordAt(sql, start)
	if !strings.EqualFold(word, "with") {
		return "", strings.TrimSpace(sql), nil
	}
	next := skipSpace(sql, end)
	if w, _ := wordAt(sql, next); strings.EqualFold(w, "recursive") {
		return "", "", errors.New("WITH RECURSIVE is not supported in invariants")
	}
	// The CTE list ends at the first top-level keyword that starts the
	// statement: SELECT (or VALUES) outside parentheses.
	depth := 0
	for i := next; i < len(sql); {
		switch c := sql[i]; {
		case c == '(':
			depth++
			i++
		case c == ')':
			depth--
			i++
		case c == '\'' || c == '"' || c == '`' || c == '[':
			j, err := skipQuoted(sql, i)
			if err != nil {
				return "", "", err
			}
			i = j
		case c == '-' && strings.HasPrefix(sql[i:], "--"), c == '/' && strings.HasPrefix(sql[i:], "/*"):
			j, err := skipComment(sql, i)
			if err != nil {
				return "", "", err
			}
			i = j
		case isWordByte(c):
			w, j := wordAt(sql, i)
			if depth == 0 && (strings.EqualFold(w, "select") || strings.EqualFold(w, "values")) {
				return strings.TrimSpace(sql[next:i]), strings.TrimSpace(sql[i:]), nil
			}
			i = j
		default:
			i++
		}
	}
	return "", "", errors.New("WITH without a SELECT after it")
}

func skipSpace(s string, i int) int {
	for i < len(s) {
		switch {
		case s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r':
			i++
		case strings.HasPrefix(s[i:], "--") || strings.HasPrefix(s[i:], "/*"):
			j, err := skipComment(s, i)
			if err != nil {
				return len(s)
			}
			i = j
		default:
			return i
		}
	}
	return i
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

func wordAt(s string, i int) (string, int) {
	j := i
	for j < len(s) && isWordByte(s[j]) {
		j++
	}
	return s[i:j], j
}

// skipQuoted returns the index after the quoted string, identifier or
// bracketed name at i (a doubled quote stays inside).
func skipQuoted(s string, i int) (int, error) {
	closer := s[i]
	switch closer {
	case '[':
		closer = ']'
	}
	for j := i + 1; j < len(s); j++ {
		if s[j] != closer {
			continue
		}
		if closer != ']' && j+1 < len(s) && s[j+1] == closer {
			j++
			continue
		}
		return j + 1, nil
	}
	return 0, fmt.Errorf("unterminated %c", s[i])
}

func skipComment(s string, i int) (int, error) {
	if strings.HasPrefix(s[i:], "--") {
		if j := strings.IndexByte(s[i:], '\n'); j >= 0 {
			return i + j + 1, nil
		}
		return len(s), nil
	}
	if j := strings.Index(s[i+2:], "*/"); j >= 0 {
		return i + 2 + j + 2, nil
	}
	return 0, errors.New("unterminated /* comment")
}

// NamedParams rewrites :name parameters as ? and returns the names in
// order of appearance. Quoted strings and identifiers, comments and
// PostgreSQL's :: casts are left alone. Positional parameters (?, ?NNN,
// $N) and SQLite's @name and $name are refused: their order would not
// match the arguments.
func NamedParams(sql string) (string, []string, error) {
	var sb strings.Builder
	var names []string
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == '\'' || c == '"' || c == '`' || c == '[':
			j, err := skipQuoted(sql, i)
			if err != nil {
				return "", nil, err
			}
			sb.WriteString(sql[i:j])
			i = j
		case c == '-' && strings.HasPrefix(sql[i:], "--"), c == '/' && strings.HasPrefix(sql[i:], "/*"):
			j, err := skipComment(sql, i)
			if err != nil {
				return "", nil, err
			}
			sb.WriteString(sql[i:j])
			i = j
		case c == ':' && strings.HasPrefix(sql[i:], "::"):
			sb.WriteString("::")
			i += 2
		case c == ':':
			name, j := wordAt(sql, i+1)
			if name == "" || name[0] >= '0' && name[0] <= '9' {
				return "", nil, fmt.Errorf("a lone ':' at offset %d (parameters are :name)", i)
			}
			names = append(names, name)
			sb.WriteByte('?')
			i = j
		case c == '?' || c == '@' || c == '$':
			return "", nil, fmt.Errorf("parameter %q at offset %d: use :name parameters (:scope or a primary-key column)", c, i)
		case isWordByte(c):
			// A whole word, so that a ':' inside none is misread.
			_, j := wordAt(sql, i)
			sb.WriteString(sql[i:j])
			i = j
		default:
			sb.WriteByte(c)
			i++
		}
	}
	return sb.String(), names, nil
}
