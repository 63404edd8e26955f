package sqlseries

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/ncruces/go-sqlite3"
)

// The native build's SQLite (go-sqlite3-wasm) has SQLite's own C
// generate_series; a connection with Register runs this package's in its
// place. Every query must give both the same rows, or both an error.

func open(t *testing.T, ours bool) *sqlite3.Conn {
	t.Helper()
	db, err := sqlite3.Open(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if ours {
		if err := Register(db); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// rows runs sql and returns its rows, or the error's text.
func rows(db *sqlite3.Conn, sql string) (out [][]any, errText string) {
	stmt, _, err := db.Prepare(sql)
	if err != nil {
		return nil, err.Error()
	}
	defer stmt.Close()
	for stmt.Step() {
		row := make([]any, stmt.ColumnCount())
		for i := range row {
			switch stmt.ColumnType(i) {
			case sqlite3.INTEGER:
				row[i] = stmt.ColumnInt64(i)
			case sqlite3.FLOAT:
				row[i] = stmt.ColumnFloat(i)
			case sqlite3.NULL:
				row[i] = nil
			default:
				row[i] = stmt.ColumnText(i)
			}
		}
		out = append(out, row)
		if len(out) > 10000 {
			return out, "more than 10,000 rows"
		}
	}
	if err := stmt.Err(); err != nil {
		return nil, err.Error()
	}
	return out, ""
}

func same(t *testing.T, c, ours *sqlite3.Conn, sql string) {
	t.Helper()
	want, wantErr := rows(c, sql)
	got, gotErr := rows(ours, sql)
	if gotErr != wantErr || !reflect.DeepEqual(got, want) {
		t.Errorf("%s\n  C:  %v %q\n  Go: %v %q", sql, trim(want), wantErr, trim(got), gotErr)
	}
}

func trim(r [][]any) string {
	s := fmt.Sprint(r)
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

func TestSameAsSQLitesOwn(t *testing.T) {
	c, ours := open(t, false), open(t, true)
	for _, sql := range []string{
		`SELECT * FROM generate_series(0,100,5)`,
		`SELECT value, start, stop, step, rowid FROM generate_series(0,100)`,
		`SELECT * FROM generate_series(20) LIMIT 10`,
		`SELECT * FROM generate_series(0,-100,-5)`,
		`SELECT * FROM generate_series(0,-1)`,
		`SELECT * FROM generate_series(1,10,0)`,
		`SELECT * FROM generate_series(10,1,-3)`,
		`SELECT * FROM generate_series(1,10,-3)`,
		`SELECT * FROM generate_series(1,15,3) ORDER BY value DESC`,
		`SELECT * FROM generate_series(15,1,-3) ORDER BY value`,
		`SELECT * FROM generate_series(1,15,3) ORDER BY value DESC, step`,
		`SELECT * FROM generate_series(NULL)`,
		`SELECT * FROM generate_series(1,NULL)`,
		`SELECT * FROM generate_series(1,5,NULL)`,
		`SELECT * FROM generate_series('3','7')`,
		`SELECT * FROM generate_series(2.7, 6.2)`,
		`SELECT * FROM generate_series(1e30, 5) LIMIT 3`,
		`SELECT * FROM generate_series`,
		`SELECT * FROM generate_series()`,
		`SELECT * FROM generate_series WHERE start = 3 AND stop = 6`,
		`SELECT * FROM generate_series WHERE stop = 6`,
		`SELECT value FROM generate_series WHERE value BETWEEN 3 AND 8`,
		`SELECT value FROM generate_series WHERE value = 5`,
		`SELECT value FROM generate_series WHERE value = 5.5`,
		`SELECT value FROM generate_series WHERE rowid BETWEEN -2 AND 2`,
		`SELECT value FROM generate_series WHERE value > 2.5 AND value < 6.5`,
		`SELECT value FROM generate_series WHERE value >= 9223372036854775800`,
		`SELECT value FROM generate_series WHERE value > 9223372036854775807`,
		`SELECT value FROM generate_series WHERE value > 1e19`,
		`SELECT value FROM generate_series WHERE value < -9223372036854775800 LIMIT 3`,
		`SELECT value FROM generate_series WHERE value <= -1e19`,
		`SELECT value FROM generate_series(1,11,2) WHERE value BETWEEN 4 AND 8`,
		`SELECT value FROM generate_series(11,1,-2) WHERE value BETWEEN 4 AND 8`,
		`SELECT value FROM generate_series(1,100,7) WHERE value > 30 AND value <= 60 ORDER BY value DESC`,
		`SELECT value FROM generate_series(9223372036854775807, -9223372036854775808, -9223372036854775808) ORDER BY value`,
		`SELECT value FROM generate_series(-9223372036854775808, 9223372036854775807, 9223372036854775807)`,
		`SELECT value FROM generate_series(9223372036854775800, 9223372036854775807)`,
		`SELECT value FROM generate_series(-9223372036854775807, -9223372036854775808, -1)`,
		`SELECT a.value, b.value FROM generate_series(1,3) a, generate_series(a.value, 4) b`,
		`SELECT a.value, b.value FROM generate_series(1,3) a JOIN generate_series(1, 10) b ON b.value = a.value * 3`,
		`SELECT count(*), sum(value) FROM generate_series(1, 100000)`,
		`SELECT value FROM generate_series(1, 20) LIMIT 4 OFFSET 5`,
		`SELECT value FROM generate_series(1, 20) ORDER BY value DESC LIMIT 4 OFFSET 5`,
	} {
		same(t, c, ours, sql)
	}
}

// Every combination of a few edges of the 64-bit range, in both orders,
// with and without bounds on the value (LIMIT keeps the long ones short).
func TestSameAsSQLitesOwnAtTheEdges(t *testing.T) {
	c, ours := open(t, false), open(t, true)
	ends := []int64{math.MinInt64, math.MinInt64 + 1, -10, -3, 0, 1, 7, math.MaxInt64 - 1, math.MaxInt64}
	steps := []int64{math.MinInt64, -7, -1, 0, 1, 3, math.MaxInt64}
	bounds := []string{"", " WHERE value > -5", " WHERE value BETWEEN -4 AND 6.5", " WHERE value < 0", " WHERE value >= 9223372036854775806"}
	n := 0
	for _, start := range ends {
		for _, stop := range ends {
			for _, step := range steps {
				for _, where := range bounds {
					for _, order := range []string{"", " ORDER BY value DESC", " ORDER BY value"} {
						same(t, c, ours, fmt.Sprintf(`SELECT value, start, stop, step FROM generate_series(%d, %d, %d)%s%s LIMIT 5`, start, stop, step, where, order))
						n++
					}
				}
			}
		}
	}
	if testing.Verbose() {
		t.Logf("%d queries", n)
	}
}

func TestUsableInAnUntrustedSchema(t *testing.T) {
	ours := open(t, true)
	if err := ours.Exec(`PRAGMA trusted_schema = OFF; CREATE VIEW v AS SELECT value FROM generate_series(1, 3)`); err != nil {
		t.Fatal(err)
	}
	got, errText := rows(ours, `SELECT group_concat(value) FROM v`)
	if errText != "" || len(got) != 1 || got[0][0] != "1,2,3" {
		t.Errorf("the view gave %v %q", got, errText)
	}
}

func TestNoStartIsAnError(t *testing.T) {
	_, errText := rows(open(t, true), `SELECT * FROM generate_series`)
	if !strings.Contains(errText, `first argument to "generate_series()" missing or unusable`) {
		t.Errorf("error %q", errText)
	}
}
