package sqlshape

import (
	"errors"
	"strings"
	"testing"
)

func TestNamedColumnsOnly(t *testing.T) {
	for _, sql := range []string{
		"SELECT id, title FROM tasks WHERE project = ? ORDER BY pos",
		`SELECT p.id, p.name, (SELECT count(*) FROM tasks t WHERE t.project_id = p.id AND t.archived = 0) AS n FROM projects p ORDER BY p.name`,
		"SELECT status, count(*), sum(points), max(pos) FROM tasks GROUP BY status",
		"SELECT DISTINCT a FROM t JOIN u USING (a) UNION SELECT b FROM v",
		"WITH x AS (SELECT a FROM t) SELECT * FROM x",
		"SELECT 'LIMIT', \"offset\" FROM t", // a string and a quoted name are not keywords
		"SELECT a FROM t -- LIMIT 1",
	} {
		if err := NamedColumnsOnly(sql); err != nil {
			t.Errorf("NamedColumnsOnly(%q) = %v, want nil", sql, err)
		}
	}
	for sql, why := range map[string]string{
		"SELECT a FROM t ORDER BY a LIMIT 10":                  "LIMIT",
		"SELECT a FROM t WHERE b IN (SELECT b FROM u LIMIT 3)": "LIMIT",
		"SELECT a FROM t ORDER BY a LIMIT -1 OFFSET 5":         "LIMIT",
		"SELECT a, row_number() OVER (ORDER BY b) FROM t":      "window",
		"SELECT group_concat(title) FROM tasks":                "group_concat",
		"SELECT string_agg(title, ',') FROM tasks":             "string_agg",
		"SELECT json_group_array(title) FROM tasks":            "json_group_array",
		"SELECT jsonb_group_object(id, title) FROM tasks":      "jsonb_group_object",
		"SELECT a FROM t WHERE due < date('now')":              "date",
		"SELECT a FROM t WHERE b = CURRENT_TIMESTAMP":          "CURRENT_TIMESTAMP",
		"SELECT a, random() FROM t":                            "random",
		"SELECT a FROM t WHERE rowid > last_insert_rowid()":    "last_insert_rowid",
		"SELECT a FROM t WHERE b = 'open":                      "unterminated",
	} {
		err := NamedColumnsOnly(sql)
		if err == nil || !errors.Is(err, ErrNotSimple) || !strings.Contains(err.Error(), why) {
			t.Errorf("NamedColumnsOnly(%q) = %v, want a refusal naming %q", sql, err, why)
		}
	}
}
