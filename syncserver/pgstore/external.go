package pgstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/merge"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/jackc/pgx/v5"
)

// External writes: rows another program writes to the synced tables
// (psql, the app's ORM) sync like pushed changes.
//
// Capture (see layoutDDL, installTriggers): on every synced table, a
// BEFORE ... FOR EACH STATEMENT trigger takes the write lock every push
// holds, so an external transaction is serialized with pushes and with
// the other external transactions; an AFTER ... FOR EACH ROW trigger
// records the row's old and new values (to_jsonb) in _hearth_inbox and
// NOTIFYs the schema's inbox channel. Hearth's own transactions mark
// themselves (markWriter) and the triggers skip them.
//
// Ingestion (here), under the write lock: each inbox entry becomes an
// ordinary change (an UPDATE its changed columns only, an UPDATE of the
// key a delete and an insert), stamped by the server's clock, and goes
// through store.ApplyExternal like a pushed change through ApplyPushed:
// merged, scope recorded, logged with client "", invariants run. The
// entries are deleted in the same transaction, so each is ingested once
// whichever instance ingests it. It runs when the server is notified (see
// store.ExternalWriter) and at the start of every push, so a pushed
// change always merges against the latest external state.

// markWriter marks the transaction as Hearth's own (see writerSetting).
const markWriter = `SELECT set_config('` + writerSetting + `', 'on', true)`

// inboxEntry is one captured row write; old and new hold its columns'
// values as the store reads them (nil when there is no such row).
type inboxEntry struct {
	id       int64
	tbl, op  string
	old, new map[string]any
}

// inboxBatch bounds how many inbox entries are held in memory at once.
const inboxBatch = 500

// ingestBatchesInPush bounds the external writes a push ingests in its
// own transaction; a larger backlog is ingested in transactions of its
// own first (errInboxBacklog), so that a bulk load committed elsewhere
// never makes one transaction (and the push waiting on it) unbounded.
const ingestBatchesInPush = 1

// errInboxBacklog: more external writes wait than a push ingests itself.
var errInboxBacklog = errors.New("external writes wait to be ingested")

// Ingest implements store.ExternalWriter.
func (s *Store) Ingest(ctx context.Context, stamp func() hlc.Stamp, check store.Checker) (int64, error) {
	info, tables, err := s.ready()
	if err != nil {
		return 0, err
	}
	if stamp == nil {
		return 0, errors.New("pgstore: ingest needs the server's stamp")
	}
	// Cheap when nothing waits, which is the common case: no lock.
	var waiting bool
	var head int64
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM _hearth_inbox), (SELECT head FROM _hearth_head)`).Scan(&waiting, &head); err != nil {
		return 0, fmt.Errorf("pgstore: ingest: %w", err)
	}
	if !waiting {
		return head, nil
	}
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	return s.ingest(ctx, info, tables, stamp, check)
}

var _ store.ExternalWriter = (*Store)(nil)

// ingest drains the inbox, one transaction per batch of entries, each
// committed (and its head announced) on its own, so that a backlog of any
// size makes progress. The caller holds pushMu.
func (s *Store) ingest(ctx context.Context, info store.Info, tables map[string]*tableShape, stamp func() hlc.Stamp, check store.Checker) (int64, error) {
	var head int64
	for more := true; more; {
		var err error
		for _, careful := range []bool{false, true} {
			err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
				ps := &pushState{tx: tx, info: info, tables: tables, scopes: s.scoping(), p: &store.Push{Stamp: stamp}, careful: careful, headChannel: s.headChannel()}
				b := &pgx.Batch{}
				b.Queue("SELECT pg_advisory_xact_lock($1)", writeLock)
				b.Queue(markWriter)
				b.Queue(`SELECT head FROM _hearth_head`).QueryRow(func(row pgx.Row) error { return row.Scan(&ps.head) })
				if err := tx.SendBatch(ctx, b).Close(); err != nil {
					return err
				}
				var err error
				if more, err = ps.ingest(ctx, check, 1); err != nil {
					return err
				}
				head = ps.head
				return nil
			})
			if err == nil || ctx.Err() != nil {
				break
			}
		}
		if err != nil {
			return 0, fmt.Errorf("pgstore: ingest: %w", err)
		}
	}
	return head, nil
}

// ingest ingests up to batches batches of inbox entries inside ps's
// transaction, which holds the write lock, and leaves the log head (in
// _hearth_head and ps.head) after the changes it logged, announced on
// commit. more says entries are left.
func (ps *pushState) ingest(ctx context.Context, check store.Checker, batches int) (more bool, err error) {
	ext := &pushState{tx: ps.tx, info: ps.info, tables: ps.tables, scopes: ps.scopes,
		p: &store.Push{Stamp: ps.p.Stamp}, careful: ps.careful, head: ps.head,
		rows: map[string]merge.Row{}, rowScopes: map[string]store.Scope{}, seen: map[int64]seenSeq{}}
	start := ps.head
	for range batches {
		entries, err := ext.readInbox(ctx)
		if err != nil {
			return false, fmt.Errorf("read inbox: %w", err)
		}
		more = len(entries) == inboxBatch
		if len(entries) == 0 {
			break
		}
		if err := ext.ingestEntries(ctx, entries, check); err != nil {
			return false, err
		}
		if !more {
			break
		}
	}
	if ext.head != start {
		ext.queue(`UPDATE _hearth_head SET head = $1`, ext.head)
		ext.queue(`SELECT pg_notify($1, $2)`, ps.headChannel, fmt.Sprint(ext.head))
	}
	if err := ext.flush(ctx); err != nil {
		return false, err
	}
	ps.head = ext.head
	return more, nil
}

// readInbox reads the next inbox entries, oldest first, with their rows'
// values read back into the table's own column types
// (jsonb_populate_record) and converted as the store reads its rows.
func (ps *pushState) readInbox(ctx context.Context) ([]*inboxEntry, error) {
	if err := ps.flush(ctx); err != nil {
		return nil, err
	}
	rows, err := ps.tx.Query(ctx, `SELECT id, tbl, op FROM _hearth_inbox ORDER BY id LIMIT $1`, inboxBatch)
	if err != nil {
		return nil, err
	}
	var entries []*inboxEntry
	byID := map[int64]*inboxEntry{}
	ids := map[string][]int64{}
	for rows.Next() {
		e := &inboxEntry{}
		if err := rows.Scan(&e.id, &e.tbl, &e.op); err != nil {
			rows.Close()
			return nil, err
		}
		entries = append(entries, e)
		byID[e.id] = e
		ids[e.tbl] = append(ids[e.tbl], e.id)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	b := &pgx.Batch{}
	for tbl, list := range ids {
		sh := ps.tables[tbl]
		if sh == nil {
			continue // no longer synced: dropped with the rest
		}
		cols := make([]string, 0, 2*len(sh.info.Columns))
		for _, side := range []string{"o", "n"} {
			for _, c := range sh.info.Columns {
				cols = append(cols, side+"."+schema.Quote(c.Name))
			}
		}
		t := schema.Quote(sh.info.Name)
		b.Queue(`SELECT i.id, i.old IS NOT NULL, i.new IS NOT NULL, `+strings.Join(cols, ", ")+`
			FROM _hearth_inbox i, jsonb_populate_record(NULL::`+t+`, coalesce(i.old, '{}')) o, jsonb_populate_record(NULL::`+t+`, coalesce(i.new, '{}')) n
			WHERE i.id = ANY($1)`, list).Query(func(rows pgx.Rows) error {
			defer rows.Close()
			n := len(sh.info.Columns)
			for rows.Next() {
				vals, err := rows.Values()
				if err != nil {
					return err
				}
				id, _ := vals[0].(int64)
				hasOld, _ := vals[1].(bool)
				hasNew, _ := vals[2].(bool)
				e := byID[id]
				if e == nil {
					continue
				}
				if hasOld {
					e.old = columnValues(sh, vals[3:3+n])
				}
				if hasNew {
					e.new = columnValues(sh, vals[3+n:3+2*n])
				}
			}
			return rows.Err()
		})
	}
	if b.Len() > 0 {
		if err := ps.tx.SendBatch(ctx, b).Close(); err != nil {
			return nil, err
		}
	}
	return entries, nil
}

func columnValues(sh *tableShape, vals []any) map[string]any {
	out := make(map[string]any, len(vals))
	for i, c := range sh.info.Columns {
		out[c.Name] = storable(vals[i])
	}
	return out
}

// entryChanges turns a captured row write into changes (unstamped): an
// insert with every column, an update with the columns it changed (none:
// no change), a delete; an update that changed the key is a delete of
// the old key and an insert of the new.
func entryChanges(sh *tableShape, e *inboxEntry) ([]change.Change, error) {
	keyOf := func(row map[string]any) ([]byte, error) {
		if row == nil {
			return nil, fmt.Errorf("inbox entry %d (%s on %s) has no row", e.id, e.op, sh.info.Name)
		}
		vals := make([]any, len(sh.info.Key))
		for i, k := range sh.info.Key {
			vals[i] = row[k]
		}
		return change.EncodeKey(vals...)
	}
	insert := func(key []byte) change.Change {
		return change.Change{Table: sh.info.Name, Key: key, Op: change.Insert, Values: valueColumns(sh, e.new, nil)}
	}
	switch e.op {
	case "INSERT":
		key, err := keyOf(e.new)
		if err != nil {
			return nil, err
		}
		return []change.Change{insert(key)}, nil
	case "DELETE":
		key, err := keyOf(e.old)
		if err != nil {
			return nil, err
		}
		return []change.Change{{Table: sh.info.Name, Key: key, Op: change.Delete}}, nil
	case "UPDATE":
		oldKey, err := keyOf(e.old)
		if err != nil {
			return nil, err
		}
		newKey, err := keyOf(e.new)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(oldKey, newKey) {
			return []change.Change{{Table: sh.info.Name, Key: oldKey, Op: change.Delete}, insert(newKey)}, nil
		}
		set := valueColumns(sh, e.new, e.old)
		if len(set) == 0 {
			return nil, nil
		}
		return []change.Change{{Table: sh.info.Name, Key: newKey, Op: change.Update, Values: set}}, nil
	}
	return nil, fmt.Errorf("inbox entry %d: unknown operation %q", e.id, e.op)
}

// valueColumns are row's non-key columns, only those that differ from
// old's when old is given.
func valueColumns(sh *tableShape, row, old map[string]any) map[string]any {
	out := map[string]any{}
	for _, c := range sh.info.Values {
		v := row[c]
		if old != nil && change.Equal(v, old[c]) {
			continue
		}
		out[c] = v
	}
	return out
}

// after is a stamp for an external write to a row: the server's, or just
// after the newest the row holds should that be later (a device clock
// ahead of the server's). The write is already in the table, so it must
// win every field it wrote, or the table and the merge metadata would
// disagree.
func after(st hlc.Stamp, r merge.Row) hlc.Stamp {
	newest := r.Inserted
	if r.Deleted.After(newest) {
		newest = r.Deleted
	}
	for _, f := range r.Fields {
		if f.Stamp.After(newest) {
			newest = f.Stamp
		}
	}
	if st.After(newest) {
		return st
	}
	return hlc.Stamp{TS: newest.TS + 1, Node: st.Node}
}

// ingestEntries ingests one batch of inbox entries and deletes them.
func (ps *pushState) ingestEntries(ctx context.Context, entries []*inboxEntry, check store.Checker) error {
	type pending struct {
		id int64
		c  change.Change
	}
	var list []pending
	var tbls []string
	var pks [][]byte
	ids := make([]int64, len(entries))
	for i, e := range entries {
		ids[i] = e.id
		sh := ps.tables[e.tbl]
		if sh == nil {
			continue
		}
		cs, err := entryChanges(sh, e)
		if err != nil {
			return err
		}
		for _, c := range cs {
			list = append(list, pending{e.id, c})
			k := rowCacheKey(c.Table, c.Key)
			if _, ok := ps.rows[k]; !ok {
				ps.rows[k] = merge.Row{}
				tbls, pks = append(tbls, c.Table), append(pks, c.Key)
			}
		}
	}
	if len(tbls) > 0 {
		b := ps.batch()
		ps.queueRowReads(b, tbls, pks)
		if err := ps.tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("read merge metadata: %w", err)
		}
	}
	q := &txQuerier{ps: ps}
	for _, pc := range list {
		c := pc.c
		sh := ps.tables[c.Table]
		r := ps.rows[rowCacheKey(c.Table, c.Key)]
		if c.Op == change.Update && r.Inserted.IsZero() && r.Deleted.IsZero() {
			// A row Hearth never saw inserted (written before it synced
			// the table): sync it whole.
			e := findEntry(entries, pc.id)
			c.Op, c.Values = change.Insert, valueColumns(sh, e.new, nil)
		}
		c.Stamp, c.Schema = after(ps.p.Stamp(), r), ps.info.Version
		// Collaborative text: the program wrote the new text; devices
		// merge the characters it changed. The server is the edit's
		// origin, writing as the entry's own replica name. A field with
		// no state yet starts from the text the row held before the
		// program's write.
		fields := r.Fields
		e := findEntry(entries, pc.id)
		start := func(col string) ([]byte, string) {
			held, _ := e.old[col].(string)
			return merge.TextState(fields[col]), held
		}
		if err := merge.TextEdits(sh.info, &c, start, fmt.Sprintf("%s/ext-%d", c.Stamp.Node, pc.id)); err != nil {
			return fmt.Errorf("ingest inbox entry %d: %w", pc.id, err)
		}
		pushed := store.Pushed{Seq: pc.id, Change: c}
		w := externalWriter{writer: writer{ps}, written: &pushed.Change}
		if _, err := store.ApplyExternal(ctx, w, ps.scopes, ps.info.Version, q, ps.p, &pushed, check); err != nil {
			return fmt.Errorf("ingest inbox entry %d: %w", pc.id, err)
		}
	}
	ps.queue(`DELETE FROM _hearth_inbox WHERE id = ANY($1)`, ids)
	return ps.flush(ctx)
}

func findEntry(entries []*inboxEntry, id int64) *inboxEntry {
	i := sort.Search(len(entries), func(i int) bool { return entries[i].id >= id })
	return entries[i]
}

// externalWriter is the ingestion's side of store.ApplyExternal: a push's
// writer whose merge of the external change itself (written) records the
// merge metadata only, since the table already holds the row; rows the
// server writes (violations) merge as in a push. The other program's row
// is still rewritten where the table must change to match the merged
// state clients reach:
//   - a value the store would not have stored so (NaN, which SQLite and
//     so every client stores as NULL);
//   - a key the merge rule keeps deleted (a tombstone in a table without
//     resurrection): the row is removed, and reported as rejected, which
//     flags it.
//
// Writing only metadata also keeps a batch of entries from replaying
// intermediate row states against the table's final one (an insert of a
// row since deleted, whose unique value another row now holds).
type externalWriter struct {
	writer
	written *change.Change
}

func (w externalWriter) Merge(ctx context.Context, c *change.Change) error {
	if c != w.written {
		return w.ps.merge(ctx, c)
	}
	sh := w.ps.tables[c.Table]
	if err := w.ps.mergeInto(ctx, c, sh != nil && storedOtherwise(sh, c)); err != nil {
		return err
	}
	if c.Op == change.Delete || sh == nil || w.ps.rows[rowCacheKey(c.Table, c.Key)].Alive(sh.info.Resurrect) {
		return nil
	}
	sql, args, err := materializeSQL(sh, c.Key, merge.Effect{Kind: merge.Remove})
	if err != nil || sql == "" {
		return err
	}
	if w.ps.careful {
		if err := w.ps.writeRow(ctx, sh, sql, args); err != nil {
			return err
		}
	} else {
		w.ps.queue(sql, args...)
	}
	// Not logged (no client would apply it) but flagged, so it shows.
	return fmt.Errorf("%w: a row with this primary key was deleted from %s, which does not allow resurrection; the external write was undone", merge.ErrRowRejected, c.Table)
}

// storedOtherwise says whether the store would have stored one of the
// change's values differently from how PostgreSQL holds it now.
func storedOtherwise(sh *tableShape, c *change.Change) bool {
	for name, v := range c.Values {
		col, ok := sh.info.Column(name)
		if !ok {
			continue
		}
		if stored, r := pgValue(col, v); r == nil && stored == nil && v != nil {
			return true
		}
	}
	return false
}
