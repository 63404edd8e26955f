package engine

import (
	"bytes"
	"slices"
	"sort"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/hearthdb/hearth/codec"
	"github.com/hearthdb/hearth/codec/sqlcodec"
	"github.com/hearthdb/hearth/wasm/protocol"
	"github.com/ncruces/go-sqlite3"
)

// liveQuery is one evaluated (SQL, params) pair and the subscriptions that
// share it: however many pages watch the same query, it runs once per commit.
type liveQuery struct {
	sql    string
	params any
	tables map[string]struct{}
	// columns is what it names of each table it reads, when its result is
	// decided by those columns; nil when any write to tables re-runs it
	// (livecolumns.go).
	columns map[string]map[string]struct{}
	subs    map[int64]struct{}
	result  evaluation
	// spare is the result before result: no longer read, its storage is
	// where the next evaluation writes (a 500-row result re-run on every
	// commit would otherwise be ~100 KB of garbage per write, and the
	// worker's collector runs on the thread that delivers the updates).
	spare evaluation
	// keyCol is the result column identifying rows (keyColumn), found
	// once per prepared statement: keyStmt is the statement it was found
	// for, and a schema change finds it again.
	keyCol  int
	keyStmt *sqlite3.Stmt
	// plan patches the result after a commit instead of re-running the
	// query (livepatch.go); nil when it cannot, and whyFull says why.
	plan    *patchPlan
	whyFull string
	patches int64
	// spared counts the commits to tables it reads that it was not
	// refreshed after: they updated only columns it does not name.
	spared int64
	// runs, last and total time its evaluations, for db.info() and the
	// inspector (a slow live query is a slow page).
	runs        int64
	last, total time.Duration
	// cost is what its last refresh took (evaluation or patch, and the
	// delta sent), refreshed when that refresh ended; due, when set, is
	// when a refresh held back after the sync client's commits runs
	// (liveSet.refresh): until then the result is behind the database.
	cost      time.Duration
	refreshed time.Time
	due       time.Time
}

// A live query that is slow to refresh is not refreshed after every one
// of the sync client's commits: an initial sync of 100,000 rows commits
// them in tens of chunks, and a list of all of them, refreshed after
// each chunk (re-run whole, or patched, which still rebuilds the whole
// result), costs more with every chunk: the total grows with the square
// of the rows. After such a commit the query waits until deferFactor
// times its last refresh's cost has passed since that refresh, so it
// takes at most about a quarter of the worker's time while rows stream
// in, and the page still sees them arrive. The page's own writes, a new
// watcher of the query and a schema change refresh it at once; queries
// cheaper than minDeferredCost are never held back.
const (
	deferFactor     = 3
	minDeferredCost = 5 * time.Millisecond
)

// evaluation is a query result kept in encoded form: each row's bytes are
// what the page receives, so comparing bytes is comparing values exactly.
type evaluation struct {
	columns []string
	// buf holds the rows back to back; rows and keys point into it.
	buf  []byte
	rows [][]byte
	// keys[i] is row i's identity (the encoded key column, a view of buf),
	// when keyed.
	keys  []string
	keyed bool
}

// liveSet is the live queries of one database.
type liveSet struct {
	queries map[string]*liveQuery // by SQL + encoded params
	bySub   map[int64]*liveQuery
	// nextSub is shared by every database of the engine: the page routes
	// pushes by subscription id alone, so ids must be unique per worker.
	nextSub *atomic.Int64
	// runs counts evaluations, for db.info() and the tests that prove an
	// unrelated write re-runs nothing.
	runs int64
	// patches counts results patched instead of re-run.
	patches int64
	// ends is evaluate's scratch: where each row's bytes end; rowEnc,
	// patchRows and mergeRows are patch's: the re-read rows, and the
	// result's rows in their new order.
	ends      []int
	rowEnc    codec.Encoder
	patchRows [][]byte
	mergeRows [][]byte
	// now is the clock refreshes are timed and held back by (tests set
	// their own).
	now func() time.Time
}

func newLiveSet(nextSub *atomic.Int64) *liveSet {
	return &liveSet{queries: map[string]*liveQuery{}, bySub: map[int64]*liveQuery{}, nextSub: nextSub, now: time.Now}
}

func queryKey(sql string, params any) (string, error) {
	var enc codec.Encoder
	enc.Text(sql)
	if err := enc.Value(canonicalParams(params)); err != nil {
		return "", protocol.Errorf(protocol.CodeBadRequest, "params: %v", err)
	}
	return string(enc.Bytes()), nil
}

// canonicalParams orders named params so that equal maps give equal keys.
func canonicalParams(params any) any {
	m, ok := params.(map[string]any)
	if !ok {
		return params
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		out = append(out, k, m[k])
	}
	return out
}

// watch subscribes to a query, evaluating it unless an identical one is
// already live. It returns the subscription id and the current result.
func (ls *liveSet) watch(c *Conn, sql string, params any, push func(sub int64, write func(*codec.Encoder))) (int64, *liveQuery, error) {
	key, err := queryKey(sql, params)
	if err != nil {
		return 0, nil, err
	}
	q := ls.queries[key]
	if q == nil {
		q = &liveQuery{sql: sql, params: params, subs: map[int64]struct{}{}}
		started := ls.now()
		if err := ls.evaluate(c, q, false); err != nil {
			return 0, nil, err
		}
		ls.timed(q, started)
		ls.queries[key] = q
	} else if !q.due.IsZero() {
		// Held back: the new watcher gets the database as it is, and
		// the others the same change.
		ls.rerun(c, q, false, push)
	}
	sub := ls.nextSub.Add(1)
	q.subs[sub] = struct{}{}
	ls.bySub[sub] = q
	ls.track(c)
	return sub, q, nil
}

func (ls *liveSet) unwatch(sub int64) bool {
	q, ok := ls.bySub[sub]
	if !ok {
		return false
	}
	delete(ls.bySub, sub)
	delete(q.subs, sub)
	if len(q.subs) == 0 {
		for k, v := range ls.queries {
			if v == q {
				delete(ls.queries, k)
			}
		}
	}
	return true
}

// evaluate runs q and stores its result and the tables it reads, writing
// into the storage of q's spare result. schemaChanged makes it look for the
// key column again.
func (ls *liveSet) evaluate(c *Conn, q *liveQuery, schemaChanged bool) error {
	ls.runs++
	q.runs++
	started := time.Now()
	defer func() {
		q.last = time.Since(started)
		q.total += q.last
	}()
	s, t, cached, err := c.prepareOne(q.sql)
	if err != nil {
		return err
	}
	defer c.release(s, cached)
	if !s.ReadOnly() {
		return protocol.Errorf(protocol.CodeBadRequest, "only read-only statements can be watched")
	}
	if err := bindParams(s, q.params); err != nil {
		return err
	}
	n := s.ColumnCount()
	ev := q.spare
	q.spare = evaluation{}
	ev.columns = make([]string, n)
	for i := range n {
		ev.columns[i] = s.ColumnName(i)
	}
	if schemaChanged || q.keyStmt != s {
		q.keyCol, q.keyStmt = keyColumn(c, s), s
		q.plan, q.whyFull = nil, "its statement is not kept prepared"
		if cached {
			q.plan, q.whyFull = planPatch(c, s, q.sql, q.keyCol, t.reads)
		} else {
			q.keyStmt = nil // closed on release: never the same statement again
		}
	}
	var enc codec.Encoder
	enc.Reuse(ev.buf)
	ends := ls.ends[:0]
	for s.Step() {
		sqlcodec.WriteRow(&enc, s, n)
		ends = append(ends, len(enc.Bytes()))
	}
	ls.ends = ends
	if err := s.Err(); err != nil {
		return sqlError(err)
	}
	ev.buf = enc.Bytes()
	ev.rows = ev.rows[:0]
	start := 0
	for _, end := range ends {
		ev.rows = append(ev.rows, ev.buf[start:end:end])
		start = end
	}
	ev.keys = ev.keys[:0]
	ev.keyed = q.keyCol >= 0
	if ev.keyed {
		for _, row := range ev.rows {
			k := rowField(row, q.keyCol)
			ev.keys = append(ev.keys, unsafe.String(unsafe.SliceData(k), len(k)))
		}
		if !uniqueKeys(q.result, ev) {
			ev.keyed, ev.keys = false, ev.keys[:0]
		}
	}
	q.columns = t.namedColumns(q.sql)
	q.tables = t.reads
	q.result = ev
	return nil
}

// uniqueKeys reports whether cur's keys identify its rows. When they are
// those of prev (the result cur replaces), in the same order, and prev's
// were unique, so are cur's (the usual commit: rows changed in place), and
// nothing is built.
func uniqueKeys(prev, cur evaluation) bool {
	if prev.keyed && slices.Equal(prev.keys, cur.keys) {
		return true
	}
	seen := make(map[string]struct{}, len(cur.keys))
	for _, k := range cur.keys {
		if _, dup := seen[k]; dup {
			return false
		}
		seen[k] = struct{}{}
	}
	return true
}

// keyColumn finds a result column that identifies rows: one whose origin is
// its table's single-column primary key (a rowid alias included), or the
// rowid itself. -1 when the result has none (aggregates, expressions).
func keyColumn(c *Conn, s *sqlite3.Stmt) int {
	for i := range s.ColumnCount() {
		table, origin := s.ColumnTableName(i), s.ColumnOriginName(i)
		if table == "" || origin == "" {
			continue
		}
		_, _, _, pk, _, err := c.db.TableColumnMetadata(s.ColumnDatabaseName(i), table, origin)
		if err == nil && pk && singlePrimaryKey(c, s.ColumnDatabaseName(i), table) {
			return i
		}
	}
	return -1
}

func singlePrimaryKey(c *Conn, schema, table string) bool {
	st, _, err := c.db.Prepare("SELECT count(*) FROM pragma_table_info(?, ?) WHERE pk > 0")
	if err != nil {
		return false
	}
	defer st.Close()
	st.BindText(1, table)
	st.BindText(2, schema)
	return st.Step() && st.ColumnInt(0) == 1
}

// rowField returns the encoded bytes of field i of an encoded row array.
func rowField(row []byte, i int) []byte {
	v, err := codec.ArrayElement(row, i)
	if err != nil {
		return nil
	}
	return v
}

// delta is how a page turns the previous result into the new one: remove
// the rows at removed (indices into the previous result), then insert each
// of inserted at its index (ascending), then replace the rows at changed.
type delta struct {
	removed  []int
	inserted []int // indices into the new result
	changed  []int // indices into the new result
}

func (d delta) empty() bool { return len(d.removed)+len(d.inserted)+len(d.changed) == 0 }

// diff computes the delta between two keyed results. Rows present in both
// keep their place unless their order relative to each other changed; those
// that moved are removed and re-inserted (a longest increasing subsequence
// keeps the most rows in place).
func diff(old, cur evaluation) delta {
	var d delta
	if slices.Equal(old.keys, cur.keys) {
		// The same rows in the same order (a commit that changed rows in
		// place, or none of them): only their bytes can differ.
		for i := range cur.rows {
			if !bytes.Equal(old.rows[i], cur.rows[i]) {
				d.changed = append(d.changed, i)
			}
		}
		return d
	}
	newIndex := make(map[string]int, len(cur.keys))
	for i, k := range cur.keys {
		newIndex[k] = i
	}
	oldIndex := make(map[string]int, len(old.keys))
	for i, k := range old.keys {
		oldIndex[k] = i
		if _, ok := newIndex[k]; !ok {
			d.removed = append(d.removed, i)
		}
	}
	// Survivors in new order, by their old positions.
	var survivorsNew []int // new indices
	var survivorsOld []int // matching old indices
	for i, k := range cur.keys {
		if oi, ok := oldIndex[k]; ok {
			survivorsNew = append(survivorsNew, i)
			survivorsOld = append(survivorsOld, oi)
		}
	}
	stay := longestIncreasing(survivorsOld)
	moved := make(map[int]bool)
	for j, ni := range survivorsNew {
		if !stay[j] {
			moved[ni] = true
			d.removed = append(d.removed, survivorsOld[j])
		} else if !bytes.Equal(old.rows[survivorsOld[j]], cur.rows[ni]) {
			d.changed = append(d.changed, ni)
		}
	}
	for i, k := range cur.keys {
		if _, ok := oldIndex[k]; !ok || moved[i] {
			d.inserted = append(d.inserted, i)
		}
	}
	sort.Ints(d.removed)
	return d
}

// longestIncreasing marks the elements of a that form one longest strictly
// increasing subsequence (patience sorting, O(n log n)).
func longestIncreasing(a []int) []bool {
	tails := []int{} // index into a of the smallest tail of each length
	prev := make([]int, len(a))
	for i, v := range a {
		j := sort.Search(len(tails), func(k int) bool { return a[tails[k]] >= v })
		if j > 0 {
			prev[i] = tails[j-1]
		} else {
			prev[i] = -1
		}
		if j == len(tails) {
			tails = append(tails, i)
		} else {
			tails[j] = i
		}
	}
	keep := make([]bool, len(a))
	if len(tails) == 0 {
		return keep
	}
	for i := tails[len(tails)-1]; i >= 0; i = prev[i] {
		keep[i] = true
	}
	return keep
}

// refresh re-runs the live queries that read a changed table (all of them
// after a schema change) and pushes what changed to their subscribers.
// mayHold lets it hold back slow queries (the sync client's commits: see
// deferFactor); refreshDue runs them later.
func (ls *liveSet) refresh(c *Conn, changed changes, push func(sub int64, write func(*codec.Encoder)), mayHold bool) {
	defer ls.track(c)
	for _, q := range ls.queries {
		if may, spared := mayChange(c, q, changed); !may {
			if spared {
				q.spared++
			}
			continue
		}
		if mayHold && !changed.schema {
			if !q.due.IsZero() {
				if ls.now().Before(q.due) {
					continue
				}
			} else if q.cost >= minDeferredCost {
				if due := q.refreshed.Add(deferFactor * q.cost); ls.now().Before(due) {
					q.due = due
					continue
				}
			}
		}
		if !q.due.IsZero() {
			// Commits it did not see came before this one: only a
			// re-run knows what they changed.
			ls.rerun(c, q, changed.schema, push)
			continue
		}
		started := ls.now()
		if !changed.schema && q.plan != nil {
			ok, unchanged, old, err := ls.patch(c, q, changed.rows[q.plan.table])
			if err != nil {
				// Not the app's error (its query ran before): the patch's
				// own. The re-run below gives the result, or the app's error.
				q.plan, q.whyFull = nil, "patching failed: "+err.Error()
			}
			if ok && unchanged {
				ls.timed(q, started)
				continue
			}
			if ok {
				ls.deliver(q, old, push)
				q.spare = old
				ls.timed(q, started)
				continue
			}
		}
		ls.rerun(c, q, changed.schema, push)
	}
}

// rerun evaluates q again and pushes what changed to its subscribers.
func (ls *liveSet) rerun(c *Conn, q *liveQuery, schemaChanged bool, push func(sub int64, write func(*codec.Encoder))) {
	started := ls.now()
	defer ls.timed(q, started)
	old := q.result
	if err := ls.evaluate(c, q, schemaChanged); err != nil {
		for sub := range q.subs {
			push(sub, func(enc *codec.Encoder) { writeSubError(enc, err) })
		}
		return
	}
	ls.deliver(q, old, push)
	// Nothing reads the replaced result any more (push encodes before
	// it returns): the next evaluation writes over it.
	q.spare = old
}

// timed records a refresh of q that began at started: q is current.
func (ls *liveSet) timed(q *liveQuery, started time.Time) {
	q.refreshed = ls.now()
	q.cost = q.refreshed.Sub(started)
	q.due = time.Time{}
}

// nextDue is when the first held-back refresh is due; zero when none is.
func (ls *liveSet) nextDue() time.Time {
	var first time.Time
	for _, q := range ls.queries {
		if !q.due.IsZero() && (first.IsZero() || q.due.Before(first)) {
			first = q.due
		}
	}
	return first
}

// refreshDue runs the held-back refreshes that are due.
func (ls *liveSet) refreshDue(c *Conn, push func(sub int64, write func(*codec.Encoder))) {
	defer ls.track(c)
	for _, q := range ls.queries {
		if !q.due.IsZero() && !ls.now().Before(q.due) {
			ls.rerun(c, q, false, push)
		}
	}
}

// track has the connection record the changed rows' keys of the tables
// that patchable live queries read.
func (ls *liveSet) track(c *Conn) {
	tables := map[string]int{}
	for _, q := range ls.queries {
		if q.plan != nil {
			tables[q.plan.table] = q.plan.keyCol
		}
	}
	c.track(tables)
}

// deliver pushes to q's subscribers what turns old into q's result: a
// delta when both are keyed by the same columns, else the full result;
// nothing when nothing changed.
func (ls *liveSet) deliver(q *liveQuery, old evaluation, push func(sub int64, write func(*codec.Encoder))) {
	cur := q.result
	if old.keyed && cur.keyed && equalStrings(old.columns, cur.columns) {
		d := diff(old, cur)
		if d.empty() {
			return
		}
		for sub := range q.subs {
			push(sub, func(enc *codec.Encoder) { writeDelta(enc, cur, d) })
		}
		return
	}
	if sameRows(old, cur) {
		return
	}
	for sub := range q.subs {
		push(sub, func(enc *codec.Encoder) { writeFull(enc, "full", cur) })
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func sameRows(a, b evaluation) bool {
	if !equalStrings(a.columns, b.columns) || len(a.rows) != len(b.rows) {
		return false
	}
	for i := range a.rows {
		if !bytes.Equal(a.rows[i], b.rows[i]) {
			return false
		}
	}
	return true
}

// writeFull writes {<field>: {columns, rows, keyed}}' inner map.
func writeFull(enc *codec.Encoder, field string, ev evaluation) {
	enc.Key(field)
	enc.Map(3)
	enc.Key("columns")
	enc.Array(len(ev.columns))
	for _, c := range ev.columns {
		enc.Text(c)
	}
	enc.Key("rows")
	enc.Array(len(ev.rows))
	for _, r := range ev.rows {
		enc.Raw(r)
	}
	enc.Key("keyed")
	enc.Bool(ev.keyed)
}

func writeDelta(enc *codec.Encoder, cur evaluation, d delta) {
	enc.Key("delta")
	enc.Map(3)
	enc.Key("removed")
	enc.Array(len(d.removed))
	for _, i := range d.removed {
		enc.Int(int64(i))
	}
	for _, part := range []struct {
		name string
		idx  []int
	}{{"inserted", d.inserted}, {"changed", d.changed}} {
		enc.Key(part.name)
		enc.Array(len(part.idx))
		for _, i := range part.idx {
			enc.Array(2)
			enc.Int(int64(i))
			enc.Raw(cur.rows[i])
		}
	}
}

func writeSubError(enc *codec.Encoder, err error) {
	perr := asProtocolError(err)
	enc.Key("error")
	enc.Map(2)
	enc.Key("code")
	enc.Text(perr.Code)
	enc.Key("message")
	enc.Text(perr.Message)
}

// writeLiveStats encodes each live query's SQL, subscribers, evaluations
// and their last and total time (ms), slowest total first.
func writeLiveStats(enc *codec.Encoder, ls *liveSet) {
	qs := make([]*liveQuery, 0, len(ls.queries))
	for _, q := range ls.queries {
		qs = append(qs, q)
	}
	sort.Slice(qs, func(i, j int) bool {
		if qs[i].total != qs[j].total {
			return qs[i].total > qs[j].total
		}
		return qs[i].sql < qs[j].sql
	})
	enc.Array(len(qs))
	for _, q := range qs {
		m := enc.BeginMap()
		m.Key("sql")
		enc.Text(q.sql)
		m.Key("subscribers")
		enc.Int(int64(len(q.subs)))
		m.Key("runs")
		enc.Int(q.runs)
		m.Key("patches")
		enc.Int(q.patches)
		m.Key("spared")
		enc.Int(q.spared)
		m.Key("whyRerun")
		enc.Text(q.whyFull)
		m.Key("lastMs")
		enc.Float(float64(q.last.Microseconds()) / 1000)
		m.Key("totalMs")
		enc.Float(float64(q.total.Microseconds()) / 1000)
		m.End()
	}
}
