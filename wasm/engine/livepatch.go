package engine

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/hearthdb/hearth/codec"
	"github.com/hearthdb/hearth/codec/sqlcodec"
	"github.com/hearthdb/hearth/internal/sqlshape"
	"github.com/ncruces/go-sqlite3"
)

// A live query over one table whose rows belong to the result, and take
// their place in it, by their own values alone (sqlshape says which) is
// patched after a commit instead of re-run: the connection records the keys
// of the rows each commit changed in that table (a pre-update hook, which
// sees every row change, triggers', foreign-key actions' and REPLACE's
// included), the query is re-read for those keys only, and each row found
// is put where the ORDER BY puts it. A 500-row result touched by one write
// costs one indexed row read instead of a 500-row query, sort and encode.

// maxPatchKeys bounds the changed rows of a table a commit records for
// patches; a commit that changed more re-runs the queries over it. A
// patch re-reads each changed row by its key, so one query is patched
// only while its changed rows are at most patchShare of its result (and
// at least minPatchKeys are always allowed): past that, one pass over
// the query costs less than the lookups. A commit of hundreds or
// thousands of rows (an initial sync's chunk, an import) then patches a
// large list instead of re-running it: BenchmarkLiveBulkCommit, 1,000 new
// rows seen by a list of 20,000 and more, 17–20 ms against 28–32 ms.
const (
	maxPatchKeys = 8192
	minPatchKeys = 64
	patchShare   = 4 // a patch re-reads at most 1/patchShare of the rows
)

// changedKeys is the keys (encoded as in results) of one table's rows
// changed since the last TakeChanges: before and after an update, so a row
// whose key changed is both removed and re-read.
type changedKeys struct {
	keys map[string]struct{}
	// overflow: more than maxPatchKeys rows, or rows not recorded (the
	// table became tracked mid-way): re-run.
	overflow bool
}

// preupdate records the key of each row about to change in a tracked table.
func (c *Conn) preupdate(d sqlite3.PreUpdateData) {
	col, ok := c.tracked[d.Table]
	if !ok || d.Schema != "main" {
		return
	}
	ck := c.rowChanges[d.Table]
	if ck == nil {
		ck = &changedKeys{keys: map[string]struct{}{}}
		c.rowChanges[d.Table] = ck
	}
	if ck.overflow {
		return
	}
	if d.Op != sqlite3.AUTH_INSERT {
		v, err := d.Old(col)
		c.noteKey(ck, v, err)
	}
	if d.Op != sqlite3.AUTH_DELETE {
		v, err := d.New(col)
		c.noteKey(ck, v, err)
	}
}

func (c *Conn) noteKey(ck *changedKeys, v sqlite3.Value, err error) {
	if ck.overflow {
		return
	}
	if err != nil || len(ck.keys) == maxPatchKeys {
		ck.overflow, ck.keys = true, nil
		return
	}
	c.keyEnc.Reset()
	sqlcodec.WriteValue(&c.keyEnc, v)
	ck.keys[string(c.keyEnc.Bytes())] = struct{}{}
}

// track sets the tables whose changed rows are recorded. A table newly
// tracked may have changed already since the last TakeChanges, unseen: its
// changes count as unknown until then.
func (c *Conn) track(tables map[string]int) {
	for t := range tables {
		if _, was := c.tracked[t]; !was {
			c.rowChanges[t] = &changedKeys{overflow: true}
		}
	}
	c.tracked = tables
}

// patchPlan is how to patch one live query.
type patchPlan struct {
	table  string // as declared, as the hook names it
	keyCol int    // the table's column holding the key (for the hook)
	// rowSQL is the query restricted to one key (its last parameter),
	// without its ORDER BY.
	rowSQL string
	order  []sortKey
	// limit is the query's LIMIT, 0 when none.
	limit int
}

type sortKey struct {
	col              int // result column
	desc, nullsFirst bool
	coll             collation
}

type collation uint8

const (
	collBinary collation = iota
	collNoCase
	collRTrim
)

func collationNamed(name string) (collation, bool) {
	switch strings.ToUpper(name) {
	case "", "BINARY":
		return collBinary, true
	case "NOCASE":
		return collNoCase, true
	case "RTRIM":
		return collRTrim, true
	}
	return 0, false
}

// planPatch works out whether the query prepared as s can be patched and
// how; when it cannot, it says why (db.info() shows it).
func planPatch(c *Conn, s *sqlite3.Stmt, sql string, keyCol int, reads map[string]struct{}) (*patchPlan, string) {
	if keyCol < 0 {
		return nil, "no result column is its table's single-column primary key"
	}
	shape, err := sqlshape.Parse(sql)
	if err != nil {
		return nil, err.Error()
	}
	table, origin := s.ColumnTableName(keyCol), s.ColumnOriginName(keyCol)
	if !strings.EqualFold(table, shape.Table) || s.ColumnDatabaseName(keyCol) != "main" {
		return nil, "the key column is not of the table in FROM"
	}
	if _, ok := reads[strings.ToLower(table)]; !ok || len(reads) != 1 {
		return nil, "it reads more than one table or view"
	}
	kind, keyAt, err := tableFacts(c, table, origin)
	if err != nil {
		return nil, err.Error()
	}
	if kind != "table" {
		return nil, fmt.Sprintf("its table is a %s", kind)
	}
	if aggregates(c, sql) {
		return nil, "it aggregates rows"
	}
	p := &patchPlan{table: table, keyCol: keyAt, limit: shape.Limit}
	for _, term := range shape.OrderBy {
		k, why := sortKeyFor(c, s, table, shape, term)
		if why != "" {
			return nil, why
		}
		p.order = append(p.order, k)
	}
	where := ""
	if shape.Where != "" {
		where = "(" + shape.Where + ") AND "
	}
	p.rowSQL = shape.Head + " WHERE " + where + shape.Qualifier + "." + quoteIdent(origin) + " = ?"
	rs, _, err := c.db.Prepare(p.rowSQL)
	if err != nil || rs == nil {
		return nil, "its single-row form does not compile"
	}
	defer rs.Close()
	if rs.BindCount() != s.BindCount()+1 || rs.BindName(rs.BindCount()) != "" || rs.ColumnCount() != s.ColumnCount() {
		return nil, "its single-row form does not take the same parameters"
	}
	return p, ""
}

func quoteIdent(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// tableFacts returns the table's type ('table', 'view', 'virtual', …) and
// the index of column among its columns (hidden and generated included, as
// the pre-update hook counts them).
func tableFacts(c *Conn, table, column string) (kind string, col int, err error) {
	st, _, err := c.db.Prepare(`SELECT (SELECT type FROM pragma_table_list(?1) WHERE schema = 'main'),
		(SELECT cid FROM pragma_table_xinfo(?1, 'main') WHERE name = ?2 COLLATE NOCASE)`)
	if err != nil {
		return "", 0, err
	}
	defer st.Close()
	st.BindText(1, table)
	st.BindText(2, column)
	if !st.Step() || st.ColumnType(1) != sqlite3.INTEGER {
		return "", 0, errors.New("its key column is not found among its table's columns")
	}
	return st.ColumnText(0), st.ColumnInt(1), nil
}

// aggregates reports whether sql's program folds rows together (an
// aggregate function anywhere, which sqlshape's words do not reveal).
func aggregates(c *Conn, sql string) bool {
	st, _, err := c.db.Prepare("EXPLAIN " + sql)
	if err != nil {
		return true
	}
	defer st.Close()
	for st.Step() {
		if strings.HasPrefix(st.ColumnText(1), "Agg") {
			return true
		}
	}
	return st.Err() != nil
}

// sortKeyFor maps an ORDER BY term to the result column it sorts by, as
// SQLite resolves it (a number, else an output column's name, else a
// column of the table), and finds its collation. The column must be one
// of the table's own, unchanged: the patch compares result values.
func sortKeyFor(c *Conn, s *sqlite3.Stmt, table string, shape sqlshape.Select, term sqlshape.OrderTerm) (sortKey, string) {
	k := sortKey{col: -1, desc: term.Desc, nullsFirst: term.NullsFirst}
	n := s.ColumnCount()
	switch {
	case term.Index > 0:
		if term.Index <= n {
			k.col = term.Index - 1
		}
	case !term.Qualified:
		for j := range n {
			if strings.EqualFold(s.ColumnName(j), term.Column) {
				if k.col >= 0 {
					return k, "an ORDER BY name shared by two result columns"
				}
				k.col = j
			}
		}
	}
	if k.col < 0 && term.Column != "" {
		for j := range n {
			if strings.EqualFold(s.ColumnOriginName(j), term.Column) && strings.EqualFold(s.ColumnTableName(j), table) {
				k.col = j
				break
			}
		}
	}
	if k.col < 0 {
		return k, "it is ordered by something that is not a result column"
	}
	origin := s.ColumnOriginName(k.col)
	if origin == "" || !strings.EqualFold(s.ColumnTableName(k.col), table) {
		return k, "it is ordered by a result column that is not a plain column"
	}
	name := term.Collate
	if name == "" {
		_, declared, _, _, _, err := c.db.TableColumnMetadata("main", table, origin)
		if err != nil {
			return k, "it is ordered by a column without metadata"
		}
		name = declared
	}
	coll, ok := collationNamed(name)
	if !ok {
		return k, "it is ordered with the collation " + name
	}
	k.coll = coll
	return k, ""
}

// compare orders two encoded result rows as the plan's ORDER BY does.
func (p *patchPlan) compare(a, b []byte) int {
	for _, k := range p.order {
		va, vb := fieldValue(a, k.col), fieldValue(b, k.col)
		var r int
		switch {
		case va == nil && vb == nil:
		case va == nil || vb == nil:
			r = 1
			if (va == nil) == k.nullsFirst {
				r = -1
			}
		default:
			r = compareValues(va, vb, k.coll)
			if k.desc {
				r = -r
			}
		}
		if r != 0 {
			return r
		}
	}
	return 0
}

func fieldValue(row []byte, col int) any {
	v, err := codec.Decode(rowField(row, col))
	if err != nil {
		return nil
	}
	return v
}

// compareValues compares two non-NULL values as SQLite does: numbers before
// text before blobs, integers and reals by value, text by collation.
func compareValues(a, b any, coll collation) int {
	ra, rb := valueRank(a), valueRank(b)
	if ra != rb {
		return ra - rb
	}
	switch x := a.(type) {
	case int64:
		if y, ok := b.(int64); ok {
			return cmpOrdered(x, y)
		}
		return intFloatCompare(x, b.(float64))
	case float64:
		if y, ok := b.(int64); ok {
			return -intFloatCompare(y, x)
		}
		return cmpOrdered(x, b.(float64))
	case string:
		return compareText(x, b.(string), coll)
	case []byte:
		return bytes.Compare(x, b.([]byte))
	}
	return 0
}

func valueRank(v any) int {
	switch v.(type) {
	case int64, float64:
		return 1
	case string:
		return 2
	}
	return 3
}

func cmpOrdered[T int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// intFloatCompare compares an integer with a real exactly (a float64 cannot
// hold every int64).
func intFloatCompare(i int64, r float64) int {
	if r < -9223372036854775808.0 {
		return 1
	}
	if r >= 9223372036854775808.0 {
		return -1
	}
	if c := cmpOrdered(i, int64(r)); c != 0 {
		return c
	}
	return cmpOrdered(float64(i), r)
}

// compareText is SQLite's three built-in collations: BINARY (bytes),
// NOCASE (ASCII letters folded) and RTRIM (trailing spaces ignored).
func compareText(a, b string, coll collation) int {
	switch coll {
	case collNoCase:
		n := min(len(a), len(b))
		for i := range n {
			ca, cb := a[i], b[i]
			if 'A' <= ca && ca <= 'Z' {
				ca += 'a' - 'A'
			}
			if 'A' <= cb && cb <= 'Z' {
				cb += 'a' - 'A'
			}
			if ca != cb {
				return int(ca) - int(cb)
			}
		}
		return len(a) - len(b)
	case collRTrim:
		a, b = strings.TrimRight(a, " "), strings.TrimRight(b, " ")
	}
	return strings.Compare(a, b)
}

// patch brings q's result up to date after a commit that changed the rows
// with the keys in ck, reading only those rows. It returns false (and
// changes nothing) when a re-run is needed: the rows are unknown or too
// many, or a row entered or left a result with no order to place it by.
// On true, q.result is current and old is what it replaced, or unchanged
// is set when the commit changed nothing in it.
func (ls *liveSet) patch(c *Conn, q *liveQuery, ck *changedKeys) (ok, unchanged bool, old evaluation, err error) {
	if ck == nil || !ck.overflow && len(ck.keys) == 0 {
		// The table was written, but none of its rows changed.
		return true, true, evaluation{}, nil
	}
	if ck.overflow || !q.result.keyed || len(ck.keys) > max(minPatchKeys, len(q.result.rows)/patchShare) {
		return false, false, evaluation{}, nil
	}
	started := time.Now()
	p := q.plan
	s, _, cached, err := c.prepareOne(p.rowSQL)
	if err != nil {
		return false, false, evaluation{}, err
	}
	defer c.release(s, cached)
	n := s.BindCount()
	if err := bindParamsN(s, q.params, n-1); err != nil {
		return false, false, evaluation{}, err
	}
	// The changed keys in a fixed order (map order is random), each with
	// its row as the query now sees it, if it is in the result.
	keys := make([]string, 0, len(ck.keys))
	for k := range ck.keys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	enc := &ls.rowEnc
	enc.Reset()
	found := make([][2]int, len(keys)) // where each key's row is in enc; [0,0] when none
	for i, k := range keys {
		v, err := codec.Decode([]byte(k))
		if err != nil {
			return false, false, evaluation{}, err
		}
		if err := bindValue(s, n, v); err != nil {
			return false, false, evaluation{}, err
		}
		start := len(enc.Bytes())
		if s.Step() {
			sqlcodec.WriteRow(enc, s, len(q.result.columns))
			found[i] = [2]int{start, len(enc.Bytes())}
		}
		if err := s.Err(); err != nil {
			return false, false, evaluation{}, sqlError(err)
		}
		s.Reset()
	}
	cur := q.result
	fresh := map[string][]byte{}
	for i, k := range keys {
		if found[i][1] > 0 {
			fresh[k] = enc.Bytes()[found[i][0]:found[i][1]]
		}
	}
	rows := ls.patchRows[:0]
	defer func() { ls.patchRows = rows[:0] }()
	// A result cut by its LIMIT does not hold the rows that would take the
	// place of one that leaves it or moves down: those commits re-run.
	full := p.limit > 0 && len(cur.rows) >= p.limit
	var moving [][]byte
	same := true
	for i, row := range cur.rows {
		k := cur.keys[i]
		if _, changed := ck.keys[k]; !changed {
			rows = append(rows, row)
			continue
		}
		now, in := fresh[k]
		switch {
		case !in:
			if len(p.order) == 0 || full {
				return false, false, evaluation{}, nil
			}
			same = false
		case len(p.order) == 0 || p.compare(row, now) == 0:
			rows = append(rows, now)
			same = same && bytes.Equal(row, now)
		default:
			if full {
				return false, false, evaluation{}, nil
			}
			moving = append(moving, now)
			same = false
		}
		delete(fresh, k)
	}
	for _, k := range keys {
		if now, in := fresh[k]; in {
			switch {
			case len(p.order) == 0:
				return false, false, evaluation{}, nil
			case full && p.compare(now, cur.rows[len(cur.rows)-1]) > 0:
				continue // sorts after the last row shown: stays out
			case full:
				return false, false, evaluation{}, nil
			}
			moving = append(moving, now)
			same = false
		}
	}
	ls.patches++
	q.patches++
	q.last = time.Since(started)
	q.total += q.last
	if same {
		return true, true, evaluation{}, nil
	}
	// Each moved or new row goes after the rows that sort equal to it, the
	// moving ones in a fixed order (the result's, then the keys'): the same
	// commit always gives the same result. One merge of the two sorted
	// lists places them all (a chunk of an initial sync brings thousands).
	slices.SortStableFunc(moving, p.compare)
	if len(moving) > 0 {
		merged := ls.mergeRows[:0]
		i := 0
		for _, row := range moving {
			for i < len(rows) && p.compare(rows[i], row) <= 0 {
				merged = append(merged, rows[i])
				i++
			}
			merged = append(merged, row)
		}
		merged = append(merged, rows[i:]...)
		// The two scratch lists trade places: rows is returned to
		// ls.patchRows by the deferred reset.
		ls.mergeRows, rows = rows[:0], merged
	}
	if p.limit > 0 && len(rows) > p.limit {
		// The result held every matching row (it was not full): the rows
		// past the limit are the ones the query would cut.
		rows = rows[:p.limit]
	}
	ev := q.spare
	q.spare = evaluation{}
	ev.columns = cur.columns
	var out codec.Encoder
	out.Reuse(ev.buf)
	for _, row := range rows {
		out.Raw(row)
	}
	ev.buf = out.Bytes()
	ev.rows, ev.keys = ev.rows[:0], ev.keys[:0]
	start := 0
	for _, row := range rows {
		end := start + len(row)
		r := ev.buf[start:end:end]
		ev.rows = append(ev.rows, r)
		k := rowField(r, q.keyCol)
		ev.keys = append(ev.keys, unsafe.String(unsafe.SliceData(k), len(k)))
		start = end
	}
	ev.keyed = true
	q.result = ev
	return true, false, cur, nil
}
