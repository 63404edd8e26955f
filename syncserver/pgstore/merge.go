package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/hearthdb/hearth/codec"
	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/merge"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The merge rule itself is merge.Resolve, the pure function clients run;
// this file keeps its metadata (_hearth_rows, _hearth_fields, the same
// layout as merge.MetaDDL) and carries its effects out on PostgreSQL.

// checkChange is the strict server validation of merge.Check.
func checkChange(info *schema.Info, c *change.Change) *merge.Refusal {
	err := merge.Check(info, c)
	if err == nil {
		return nil
	}
	var r *merge.Refusal
	if errors.As(err, &r) {
		return r
	}
	return &merge.Refusal{Code: merge.CodeBadChange, Message: err.Error()}
}

// merge applies one change under the merge rule: the table row, then
// the metadata. In a careful push the table write runs in a savepoint,
// so that a row the database refuses (NOT NULL, UNIQUE) leaves the
// metadata and the push transaction as they were; an optimistic push
// has the whole push run again carefully instead (see Store.Push).
//
// Round trips dominate a push's cost, so they are pipelined: the rows'
// metadata is read for the whole push up front (see prepare), and writes
// are queued and go out together, before anything reads through the
// transaction and at the end. A careful push (see Store.Push) spends one
// round trip per table write on its savepoint.
func (ps *pushState) merge(ctx context.Context, c *change.Change) error {
	return ps.mergeInto(ctx, c, true)
}

// mergeInto is merge, with the table write left out when materialize is
// false: the table already holds the change (see externalWriter).
func (ps *pushState) mergeInto(ctx context.Context, c *change.Change, materialize bool) error {
	sh := ps.tables[c.Table]
	if sh == nil {
		return &merge.Refusal{Code: merge.CodeUnknownTable, Message: fmt.Sprintf("table %q is not synced", c.Table)}
	}
	if r := ps.check(c); r != nil {
		return r
	}
	cur, err := ps.loadRow(ctx, c.Table, c.Key)
	if err != nil {
		return err
	}
	out, err := merge.ResolveTable(cur, c, sh.info)
	if err != nil {
		return err
	}
	if !out.Changed {
		return nil
	}
	if out.Effect.Kind != merge.Keep && materialize {
		sql, args, err := materializeSQL(sh, c.Key, out.Effect)
		if err != nil {
			return err
		}
		switch {
		case sql == "":
		case ps.careful:
			if err := ps.writeRow(ctx, sh, sql, args); err != nil {
				return err
			}
		default:
			ps.queue(sql, args...)
		}
	}
	if err := saveRow(ps.queue, c.Table, c.Key, out); err != nil {
		return err
	}
	k := rowCacheKey(c.Table, c.Key)
	ps.rows[k] = out.Row
	if v, ok := ps.values[k]; ok || out.Effect.Kind == merge.Write && ps.values != nil {
		// A Write is a whole row (devices and backend writes insert
		// every column): known without reading it back.
		v.values, v.found = store.ValuesAfter(v.values, v.found, out.Effect)
		ps.values[k] = v
	}
	return nil
}

// queued is a write waiting to go out with the next round trip.
type queued struct {
	sql  string
	args []any
}

func (ps *pushState) queue(sql string, args ...any) {
	ps.pending = append(ps.pending, queued{sql, args})
}

// batch starts a batch with the pending writes.
func (ps *pushState) batch() *pgx.Batch {
	b := &pgx.Batch{}
	for _, q := range ps.pending {
		b.Queue(q.sql, q.args...)
	}
	ps.pending = nil
	return b
}

// flush sends the pending writes, before anything reads through the
// transaction directly.
func (ps *pushState) flush(ctx context.Context) error {
	if len(ps.pending) == 0 {
		return nil
	}
	return ps.tx.SendBatch(ctx, ps.batch()).Close()
}

// loadRow returns a row's merge metadata: from the push's cache, else
// read (with the pending writes sent first, in the same round trip).
func (ps *pushState) loadRow(ctx context.Context, table string, key []byte) (merge.Row, error) {
	if r, ok := ps.rows[rowCacheKey(table, key)]; ok {
		return r, nil
	}
	var r merge.Row
	b := ps.batch()
	b.Queue(pgMeta.ReadRow, table, key).QueryRow(func(row pgx.Row) error { return scanRowMeta(row, &r) })
	b.Queue(pgMeta.ReadFields, table, key).Query(func(rows pgx.Rows) error { return scanFields(rows, table, &r) })
	if err := ps.tx.SendBatch(ctx, b).Close(); err != nil {
		return r, fmt.Errorf("read merge metadata of %s: %w", table, err)
	}
	return r, nil
}

// writeRow runs a table write in a savepoint (one round trip with the
// pending writes); a write the database refuses is rolled back to the
// savepoint and reported as merge.ErrRowRejected.
func (ps *pushState) writeRow(ctx context.Context, sh *tableShape, sql string, args []any) error {
	b := ps.batch()
	savepointTaken := false
	b.Queue("SAVEPOINT hearth_row").Exec(func(pgconn.CommandTag) error { savepointTaken = true; return nil })
	b.Queue(sql, args...)
	b.Queue("RELEASE SAVEPOINT hearth_row")
	err := ps.tx.SendBatch(ctx, b).Close()
	if err == nil {
		return nil
	}
	if !savepointTaken {
		return err // a pending write failed: not the row's fault
	}
	if _, rerr := ps.tx.Exec(ctx, "ROLLBACK TO SAVEPOINT hearth_row; RELEASE SAVEPOINT hearth_row"); rerr != nil {
		return errors.Join(err, rerr)
	}
	return fmt.Errorf("%w: %s: %w", merge.ErrRowRejected, sh.info.Name, err)
}

// pgMeta is the merge metadata SQL with PostgreSQL's parameters.
var pgMeta = merge.NewMetaSQL(pgParam)

func scanRowMeta(row pgx.Row, r *merge.Row) error {
	var insTS, delTS *int64
	var insNode, delNode []byte
	err := row.Scan(&insTS, &insNode, &delTS, &delNode)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	if insTS != nil {
		r.Inserted = hlc.Stamp{TS: hlc.Timestamp(*insTS), Node: string(insNode)}
	}
	if delTS != nil {
		r.Deleted = hlc.Stamp{TS: hlc.Timestamp(*delTS), Node: string(delNode)}
	}
	return nil
}

func scanFields(rows pgx.Rows, table string, r *merge.Row) error {
	defer rows.Close()
	for rows.Next() {
		var col string
		var ts int64
		var node, val []byte
		if err := rows.Scan(&col, &ts, &node, &val); err != nil {
			return err
		}
		v, err := decodeField(val)
		if err != nil {
			return fmt.Errorf("field %s.%s: %w", table, col, err)
		}
		if r.Fields == nil {
			r.Fields = map[string]merge.Field{}
		}
		r.Fields[col] = merge.Field{Stamp: hlc.Stamp{TS: hlc.Timestamp(ts), Node: string(node)}, Value: v}
	}
	return rows.Err()
}

func loadRow(ctx context.Context, q querier, table string, key []byte) (merge.Row, error) {
	var r merge.Row
	if err := scanRowMeta(q.QueryRow(ctx, pgMeta.ReadRow, table, key), &r); err != nil {
		return r, fmt.Errorf("read row metadata of %s: %w", table, err)
	}
	rows, err := q.Query(ctx, pgMeta.ReadFields, table, key)
	if err != nil {
		return r, fmt.Errorf("read field metadata of %s: %w", table, err)
	}
	if err := scanFields(rows, table, &r); err != nil {
		return r, fmt.Errorf("read field metadata of %s: %w", table, err)
	}
	return r, nil
}

// Field values keep their exact type whatever the column's: they are
// stored in Hearth's tagged encoding, as SQLite's untyped val column
// keeps them.
func encodeField(v any) ([]byte, error) {
	var enc codec.Encoder
	if err := enc.Value(v); err != nil {
		return nil, err
	}
	return enc.Bytes(), nil
}

func decodeField(b []byte) (any, error) {
	v, err := codec.Decode(b)
	if err != nil {
		return nil, err
	}
	if err := change.CheckValue(v); err != nil {
		return nil, err
	}
	if x, ok := v.([]byte); ok && x == nil {
		v = []byte{}
	}
	return v, nil
}

func stampArgs(st hlc.Stamp) (any, any) {
	if st.IsZero() {
		return nil, nil
	}
	return int64(st.TS), []byte(st.Node)
}

// saveRow queues the metadata writes of a merge outcome.
func saveRow(queue func(sql string, args ...any), table string, key []byte, out merge.Outcome) error {
	if out.InsertedChanged || out.DeletedChanged {
		insTS, insNode := stampArgs(out.Row.Inserted)
		delTS, delNode := stampArgs(out.Row.Deleted)
		queue(pgMeta.SaveRow, table, key, insTS, insNode, delTS, delNode)
	} else {
		// Every row touched gets a _hearth_rows entry, so snapshots find
		// rows that so far only have updates.
		queue(pgMeta.TouchRow, table, key)
	}
	for _, col := range out.FieldsChanged {
		f := out.Row.Fields[col]
		val, err := encodeField(f.Value)
		if err != nil {
			return fmt.Errorf("field %s.%s: %w", table, col, err)
		}
		queue(pgMeta.SaveField, table, key, col, int64(f.Stamp.TS), []byte(f.Stamp.Node), val)
	}
	return nil
}

// pgParam is PostgreSQL's $n parameter.
func pgParam(n int) string { return "$" + strconv.Itoa(n) }

// pgArgs converts a statement's arguments, each for its column, into
// what PostgreSQL stores for them (see pgValue).
func pgArgs(sh *tableShape, columns []string, args []any) ([]any, error) {
	out := make([]any, len(args))
	for i, v := range args {
		col, _ := sh.info.Column(columns[i])
		a, r := pgValue(col, v)
		if r != nil {
			return nil, r
		}
		out[i] = a
	}
	return out, nil
}

// keyArgs decodes a row key into PostgreSQL arguments for the key columns.
func keyArgs(sh *tableShape, key []byte) ([]any, error) {
	vals, err := merge.KeyValues(sh.info, key)
	if err != nil {
		return nil, err
	}
	return pgArgs(sh, sh.info.Key, vals)
}

// materializeSQL is merge.Materialize with PostgreSQL's parameters and
// values; "" when there is nothing to write.
func materializeSQL(sh *tableShape, key []byte, eff merge.Effect) (string, []any, error) {
	w, ok, err := merge.Materialize(sh.info, key, eff, pgParam)
	if !ok || err != nil {
		return "", nil, err
	}
	args, err := pgArgs(sh, w.Columns, w.Args)
	if err != nil {
		return "", nil, err
	}
	return w.SQL, args, nil
}

// readRowSQL selects a row's value columns by key.
func readRowSQL(sh *tableShape) string { return merge.RowSQL(sh.info, pgParam) }

func scanRowValues(sh *tableShape, rows pgx.Rows) (map[string]any, bool, error) {
	defer rows.Close()
	if !rows.Next() {
		return nil, false, rows.Err()
	}
	vals, err := rows.Values()
	if err != nil {
		return nil, false, err
	}
	values := make(map[string]any, len(sh.info.Values))
	for i, c := range sh.info.Values {
		values[c] = storable(vals[i])
	}
	rows.Close()
	return values, true, rows.Err()
}

// rowChanges is merge.Applier.RowChanges: a row's merged state as
// changes (its insert with current values, newer updates, tombstone).
func rowChanges(ctx context.Context, q querier, sh *tableShape, key []byte, version int64) ([]change.Change, error) {
	r, err := loadRow(ctx, q, sh.info.Name, key)
	if err != nil {
		return nil, err
	}
	var values map[string]any
	found := false
	if r.Alive(sh.info.Resurrect) {
		args, err := keyArgs(sh, key)
		if err != nil {
			return nil, err
		}
		rows, err := q.Query(ctx, readRowSQL(sh), args...)
		if err != nil {
			return nil, err
		}
		if values, found, err = scanRowValues(sh, rows); err != nil {
			return nil, fmt.Errorf("read %s row: %w", sh.info.Name, err)
		}
	}
	return merge.ChangesOf(sh.info, key, r, values, found, version), nil
}

// snapshotPage is merge.Applier.Snapshot in a constant number of round
// trips: the page's row metadata and fields in two range queries, and
// the live rows' values in one pipelined batch.
func snapshotPage(ctx context.Context, tx pgx.Tx, tables map[string]*tableShape, after merge.Cursor, limit int, version int64, filter viewFilter) (merge.SnapshotPage, error) {
	page := merge.SnapshotPage{Next: after}
	afterKey := after.Key
	if afterKey == nil {
		afterKey = []byte{}
	}
	query := `SELECT tbl, pk, ins_hlc, ins_node, del_hlc, del_node FROM _hearth_rows WHERE (tbl, pk) > ($1, $2) ORDER BY tbl, pk LIMIT $3`
	if !filter.all {
		// The fields query below reads the page's key range whole; the
		// fields of rows the view leaves out find no page row and are
		// skipped.
		query = `SELECT r.tbl, r.pk, r.ins_hlc, r.ins_node, r.del_hlc, r.del_node
			FROM (SELECT * FROM (` + filter.rows(4) + `) v WHERE (v.tbl, v.pk) > ($1, $2) ORDER BY v.tbl COLLATE "C", v.pk LIMIT $3) p
			JOIN _hearth_rows r ON r.tbl = p.tbl AND r.pk = p.pk ORDER BY r.tbl, r.pk`
	}
	rows, err := tx.Query(ctx, query, append([]any{after.Table, afterKey, limit}, filter.args()...)...)
	if err != nil {
		return page, err
	}
	type pageRow struct {
		cur merge.Cursor
		row merge.Row
	}
	var list []*pageRow
	for rows.Next() {
		pr := &pageRow{}
		var insTS, delTS *int64
		var insNode, delNode []byte
		if err := rows.Scan(&pr.cur.Table, &pr.cur.Key, &insTS, &insNode, &delTS, &delNode); err != nil {
			rows.Close()
			return page, err
		}
		if pr.cur.Key == nil {
			pr.cur.Key = []byte{}
		}
		if insTS != nil {
			pr.row.Inserted = hlc.Stamp{TS: hlc.Timestamp(*insTS), Node: string(insNode)}
		}
		if delTS != nil {
			pr.row.Deleted = hlc.Stamp{TS: hlc.Timestamp(*delTS), Node: string(delNode)}
		}
		list = append(list, pr)
	}
	if err := rows.Err(); err != nil {
		return page, err
	}
	page.Rows = len(list)
	page.Done = len(list) < limit
	if len(list) == 0 {
		return page, nil
	}
	last := list[len(list)-1].cur
	page.Next = last
	byKey := make(map[string]*pageRow, len(list))
	for _, pr := range list {
		byKey[pr.cur.Table+"\x00"+string(pr.cur.Key)] = pr
	}
	rows, err = tx.Query(ctx, `SELECT tbl, pk, col, hlc, node, val FROM _hearth_fields WHERE (tbl, pk) > ($1, $2) AND (tbl, pk) <= ($3, $4)`, after.Table, afterKey, last.Table, last.Key)
	if err != nil {
		return page, err
	}
	for rows.Next() {
		var tbl, col string
		var pk, node, val []byte
		var ts int64
		if err := rows.Scan(&tbl, &pk, &col, &ts, &node, &val); err != nil {
			rows.Close()
			return page, err
		}
		pr := byKey[tbl+"\x00"+string(pk)]
		if pr == nil {
			continue
		}
		v, err := decodeField(val)
		if err != nil {
			rows.Close()
			return page, fmt.Errorf("field %s.%s: %w", tbl, col, err)
		}
		if pr.row.Fields == nil {
			pr.row.Fields = map[string]merge.Field{}
		}
		pr.row.Fields[col] = merge.Field{Stamp: hlc.Stamp{TS: hlc.Timestamp(ts), Node: string(node)}, Value: v}
	}
	if err := rows.Err(); err != nil {
		return page, err
	}
	// Live rows' values, pipelined.
	var batch pgx.Batch
	type liveRow struct {
		pr     *pageRow
		values map[string]any
		found  bool
	}
	var live []*liveRow
	for _, pr := range list {
		sh := tables[pr.cur.Table]
		if sh == nil || !pr.row.Alive(sh.info.Resurrect) {
			continue
		}
		args, err := keyArgs(sh, pr.cur.Key)
		if err != nil {
			return page, err
		}
		lr := &liveRow{pr: pr}
		live = append(live, lr)
		batch.Queue(readRowSQL(sh), args...).Query(func(rows pgx.Rows) error {
			var err error
			lr.values, lr.found, err = scanRowValues(sh, rows)
			return err
		})
	}
	if len(live) > 0 {
		if err := tx.SendBatch(ctx, &batch).Close(); err != nil {
			return page, fmt.Errorf("read snapshot rows: %w", err)
		}
	}
	found := make(map[*pageRow]*liveRow, len(live))
	for _, lr := range live {
		found[lr.pr] = lr
	}
	for _, pr := range list {
		sh := tables[pr.cur.Table]
		if sh == nil {
			continue
		}
		var values map[string]any
		ok := false
		if lr := found[pr]; lr != nil {
			values, ok = lr.values, lr.found
		}
		page.Changes = append(page.Changes, merge.ChangesOf(sh.info, pr.cur.Key, pr.row, values, ok, version)...)
	}
	return page, nil
}
