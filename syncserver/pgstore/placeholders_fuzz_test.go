package pgstore

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzPlaceholders checks the rewrite of invariant SQL from SQLite's ?
// and ?NNN parameters to PostgreSQL's $n: the output is the input with
// each rewritten parameter replaced by $n, numbered as SQLite numbers it
// (?NNN is NNN, ? is one more than the largest so far) within the range
// both databases accept; quoted text and comments pass through whole,
// and a second rewrite changes nothing (no ? was left outside them).
func FuzzPlaceholders(f *testing.F) {
	for _, sql := range []string{
		`SELECT ? , ?`,
		`SELECT ?2, ?1, ?`,
		`SELECT '?', "a?b", ? -- ?` + "\n?",
		`SELECT 'it''s ?', /* ? */ ?`,
		`SELECT x FROM t WHERE a = ?1 OR b = ?1`,
		`SELECT count(*) FROM tasks WHERE board = ?1 AND status = 'done' AND id <> ?2`,
		`SELECT 'open`,
		`SELECT ?32766, ?`,
	} {
		f.Add(sql)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		out, err := placeholders(sql)
		if err != nil {
			return
		}
		checkRewrite(t, sql, out)
		if again, err := placeholders(out); err != nil || again != out {
			t.Fatalf("%q: rewrote to %q, and that to %q (%v)", sql, out, again, err)
		}
		for _, quoted := range []string{
			`'` + strings.ReplaceAll(sql, `'`, `''`) + `'`,
			`"` + strings.ReplaceAll(sql, `"`, `""`) + `"`,
			`/*` + strings.ReplaceAll(sql, `*/`, `* /`) + `*/`,
			`--` + strings.ReplaceAll(sql, "\n", " "),
		} {
			if got, err := placeholders(quoted); err != nil || got != quoted {
				t.Fatalf("%q: rewrote to %q (%v)", quoted, got, err)
			}
		}
	})
}

// checkRewrite walks in and out side by side: equal bytes must match,
// and where in has a ? and out a $, the parameter's number is checked.
func checkRewrite(t *testing.T, in, out string) {
	t.Helper()
	next := 1
	i, j := 0, 0
	for i < len(in) && j < len(out) {
		if in[i] != '?' || out[j] != '$' {
			if in[i] != out[j] {
				t.Fatalf("%q rewrote to %q: differs at bytes %d and %d", in, out, i, j)
			}
			i, j = i+1, j+1
			continue
		}
		numbered := asciiDigits(in, i+1)
		digits := asciiDigits(out, j+1)
		n, err := strconv.Atoi(out[j+1 : digits])
		if err != nil || n < 1 || n > maxParameter {
			t.Fatalf("%q rewrote to %q: parameter %q out of range", in, out, out[j:digits])
		}
		want := next
		if numbered > i+1 {
			want, err = strconv.Atoi(in[i+1 : numbered])
			if err != nil {
				t.Fatalf("%q rewrote to %q: %v", in, out, err)
			}
		}
		if n != want {
			t.Fatalf("%q rewrote %q as %q", in, in[i:numbered], out[j:digits])
		}
		next = max(next, n+1)
		i, j = numbered, digits
	}
	if i != len(in) || j != len(out) {
		t.Fatalf("%q rewrote to %q: lengths differ", in, out)
	}
}

// asciiDigits returns the end of the run of ASCII digits starting at i.
func asciiDigits(s string, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}
