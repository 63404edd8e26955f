package sqlshape

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseAccepts(t *testing.T) {
	for _, c := range []struct {
		sql  string
		want Select
	}{
		{"SELECT id, title, pos FROM tasks WHERE project = 'a' ORDER BY pos", Select{
			Table: "tasks", Qualifier: "tasks", Head: "SELECT id, title, pos FROM tasks", Where: "project = 'a'",
			OrderBy: []OrderTerm{{Column: "pos", NullsFirst: true}},
		}},
		{"select * from main.\"My Tasks\" AS t where (t.a > ?1 or b in (1, 2)) order by 2 desc, t.\"x\" collate nocase asc nulls last;  -- done\n", Select{
			Table: "My Tasks", Schema: "main", Qualifier: "t", Head: "select * from main.\"My Tasks\" AS t",
			Where: "(t.a > ?1 or b in (1, 2))",
			OrderBy: []OrderTerm{
				{Index: 2, Desc: true},
				{Column: "x", Qualified: true, Collate: "nocase"},
			},
		}},
		{"SELECT a FROM [t] x INDEXED BY t_a ORDER BY a DESC NULLS FIRST", Select{
			Table: "t", Qualifier: "x", Head: "SELECT a FROM [t] x INDEXED BY t_a",
			OrderBy: []OrderTerm{{Column: "a", Desc: true, NullsFirst: true}},
		}},
		{"SELECT a FROM t WHERE b ORDER BY a DESC LIMIT 50;", Select{
			Table: "t", Qualifier: "t", Head: "SELECT a FROM t", Where: "b",
			OrderBy: []OrderTerm{{Column: "a", Desc: true}}, Limit: 50,
		}},
		{"SELECT a, 'SELECT' AS \"limit\" FROM t /* ORDER BY x LIMIT 1 */", Select{
			Table: "t", Qualifier: "t", Head: "SELECT a, 'SELECT' AS \"limit\" FROM t",
		}},
	} {
		got, err := Parse(c.sql)
		if c.want.Table == "" {
			if err == nil {
				t.Errorf("Parse(%q) = %+v, want a refusal", c.sql, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", c.sql, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Parse(%q)\n got %+v\nwant %+v", c.sql, got, c.want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for sql, why := range map[string]string{
		"INSERT INTO t VALUES (1)":                          "not a SELECT",
		"SELECT 1":                                          "no FROM",
		"SELECT a FROM t LIMIT 10":                          "LIMIT without ORDER BY",
		"SELECT a FROM t ORDER BY a LIMIT 1 OFFSET 2":       "LIMIT",
		"SELECT a FROM t ORDER BY a LIMIT 5, 10":            "LIMIT",
		"SELECT a FROM t ORDER BY a LIMIT ?":                "LIMIT",
		"SELECT a FROM t ORDER BY a LIMIT 0":                "LIMIT 0",
		"SELECT DISTINCT a FROM t":                          "DISTINCT",
		"SELECT a, count(*) FROM t GROUP BY a":              "GROUP BY",
		"SELECT a FROM t WHERE b IN (SELECT b FROM u)":      "subquery",
		"SELECT a FROM t, u":                                "after the FROM clause",
		"SELECT a FROM t JOIN u USING (a)":                  "join",
		"SELECT a FROM t UNION SELECT a FROM u":             "compound",
		"WITH x AS (SELECT 1) SELECT * FROM x":              "not a SELECT",
		"SELECT a, row_number() OVER () FROM t":             "window",
		"SELECT a FROM json_each(?)":                        "after the FROM clause",
		"SELECT a FROM t WHERE due < date('now')":           "date",
		"SELECT a FROM t ORDER BY random()":                 "random",
		"SELECT a FROM t ORDER BY a + 1":                    "not a column",
		"SELECT a FROM t ORDER BY ?":                        "not a column",
		"SELECT a FROM t ORDER BY 0":                        "ORDER BY 0",
		"SELECT a FROM t WHERE":                             "empty WHERE",
		"SELECT a FROM t; SELECT b FROM u":                  "more than one",
		"SELECT a FROM t WHERE b = 'open":                   "unterminated",
		"SELECT a FROM t WHERE b = 1 /* open":               "unterminated",
		"SELECT a FROM (SELECT a FROM t)":                   "subquery",
		"SELECT a FROM t ORDER BY a COLLATE":                "not a column",
		"SELECT a FROM t WHERE b = CURRENT_TIMESTAMP":       "CURRENT_TIMESTAMP",
		"SELECT a FROM t WHERE rowid > last_insert_rowid()": "last_insert_rowid",
	} {
		_, err := Parse(sql)
		if err == nil || !errors.Is(err, ErrNotSimple) || !strings.Contains(err.Error(), why) {
			t.Errorf("Parse(%q) = %v, want a refusal naming %q", sql, err, why)
		}
	}
}

// FuzzParse: any text parses or is refused without a panic, and what is
// accepted keeps its parts within the statement.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"SELECT id, title FROM tasks WHERE project = ? ORDER BY pos DESC NULLS LAST, 1",
		"select * from main.\"a\"\"b\" as [c] indexed by i where x = 'y''z' order by `q` collate nocase",
		"SELECT a FROM t WHERE b = 1 -- c\n;",
		"SELECT a FROM t /* x */ ORDER BY a.b.c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		s, err := Parse(sql)
		if err != nil {
			if !errors.Is(err, ErrNotSimple) {
				t.Fatalf("an error that is not a refusal: %v", err)
			}
			return
		}
		if !strings.HasPrefix(sql, s.Head) || !strings.Contains(sql, s.Where) || !strings.Contains(s.Head, s.Qualifier) || s.Table == "" {
			t.Fatalf("parts outside the statement: %+v", s)
		}
		for _, o := range s.OrderBy {
			if (o.Index == 0) == (o.Column == "") {
				t.Fatalf("a term that is neither a number nor a name: %+v", o)
			}
		}
	})
}
