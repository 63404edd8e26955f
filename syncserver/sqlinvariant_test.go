package syncserver

import (
	"strings"
	"testing"
)

func TestNamedParams(t *testing.T) {
	for _, tc := range []struct{ in, out, names, err string }{
		{in: "SELECT 1 FROM t WHERE id = :id AND w = :scope", out: "SELECT 1 FROM t WHERE id = ? AND w = ?", names: "id,scope"},
		{in: "SELECT ':id', \":id\", [:id], `:id` -- :id\n/* :id */ FROM t", out: "SELECT ':id', \":id\", [:id], `:id` -- :id\n/* :id */ FROM t"},
		{in: "SELECT x::text FROM t WHERE k=:k", out: "SELECT x::text FROM t WHERE k=?", names: "k"},
		{in: "SELECT 'it''s' || :a || :a", out: "SELECT 'it''s' || ? || ?", names: "a,a"},
		{in: "SELECT ?", err: "use :name"},
		{in: "SELECT $1", err: "use :name"},
		{in: "SELECT @a", err: "use :name"},
		{in: "SELECT : x", err: "lone ':'"},
		{in: "SELECT :1", err: "lone ':'"},
		{in: "SELECT 'open", err: "unterminated '"},
		{in: "SELECT 1 /* open", err: "unterminated /*"},
	} {
		out, names, err := NamedParams(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || out != tc.out || strings.Join(names, ",") != tc.names {
			t.Errorf("%q: got %q %v %v, want %q %s", tc.in, out, names, err, tc.out, tc.names)
		}
	}
}

func TestSplitWith(t *testing.T) {
	for _, tc := range []struct{ in, ctes, body, err string }{
		{in: "SELECT 1", body: "SELECT 1"},
		{in: " -- c\n with x AS (SELECT (1)), y(a) AS (VALUES (2)) SELECT * FROM x, y", ctes: "x AS (SELECT (1)), y(a) AS (VALUES (2))", body: "SELECT * FROM x, y"},
		{in: "WITH \"select\" AS (SELECT 1) SELECT * FROM \"select\"", ctes: "\"select\" AS (SELECT 1)", body: "SELECT * FROM \"select\""},
		{in: "WITH RECURSIVE r(n) AS (SELECT 1) SELECT n FROM r", err: "RECURSIVE"},
		{in: "WITH x AS (SELECT 1)", err: "without a SELECT"},
	} {
		ctes, body, err := splitWith(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || ctes != tc.ctes || body != tc.body {
			t.Errorf("%q: got %q | %q | %v", tc.in, ctes, body, err)
		}
	}
}

// FuzzNamedParams: the rewrite never panics, replaces exactly one ':name'
// per name it returns, and leaves the SQL otherwise as it was.
func FuzzNamedParams(f *testing.F) {
	for _, s := range []string{"SELECT :id", "SELECT x::int, ':a', \"b\" FROM t WHERE c = :scope -- :z", "WITH a AS (SELECT 1) SELECT :k", "[", "'", "/*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		out, names, err := NamedParams(sql)
		if err != nil || strings.ContainsAny(sql, "\x00?") {
			return // the checks below mark parameters with these
		}
		if strings.Count(out, "?") != strings.Count(sql, "?")+len(names) {
			t.Fatalf("%q -> %q with %v: placeholders do not match the names", sql, out, names)
		}
		back := out
		for _, n := range names {
			back = strings.Replace(back, "?", "\x00"+n, 1)
		}
		if strings.ReplaceAll(back, "\x00", ":") != sql {
			t.Fatalf("%q -> %q: the rest of the SQL changed", sql, out)
		}
		splitWith(out)
	})
}
