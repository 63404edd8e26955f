package merge

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/ncruces/go-sqlite3"
)

// Names of the metadata tables.
const (
	RowsTable   = "_hearth_rows"
	FieldsTable = "_hearth_fields"
)

// MetaDDL creates the merge metadata tables. _hearth_rows holds each row's
// newest insert and delete stamps (a row with a del_hlc is a tombstone);
// _hearth_fields the newest update per field, with its value, so that an
// update that arrives before its row's insert, or while the row is
// deleted, is not lost. val has no declared type, so SQLite stores every
// value exactly as given.
const MetaDDL = `
CREATE TABLE IF NOT EXISTS _hearth_rows(
	tbl TEXT NOT NULL,
	pk BLOB NOT NULL,
	ins_hlc INTEGER,
	ins_node TEXT,
	del_hlc INTEGER,
	del_node TEXT,
	PRIMARY KEY (tbl, pk)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS _hearth_fields(
	tbl TEXT NOT NULL,
	pk BLOB NOT NULL,
	col TEXT NOT NULL,
	hlc INTEGER NOT NULL,
	node TEXT NOT NULL,
	val,
	PRIMARY KEY (tbl, pk, col)
) WITHOUT ROWID;
`

// EnsureMeta creates the metadata tables if they do not exist.
func EnsureMeta(conn *sqlite3.Conn) error {
	if err := conn.Exec(MetaDDL); err != nil {
		return fmt.Errorf("create merge metadata tables: %w", err)
	}
	return nil
}

// Refusal codes: why a change cannot be applied at all.
const (
	CodeUnknownTable  = "UNKNOWN_TABLE"
	CodeUnknownColumn = "UNKNOWN_COLUMN"
	CodeTypeMismatch  = "TYPE_MISMATCH"
	CodeBadKey        = "BAD_KEY"
	CodeBadChange     = "BAD_CHANGE"
)

// ErrRowRejected is wrapped when the database refused the table write a
// change called for (a constraint of the app's schema). Nothing of the
// change was applied.
var ErrRowRejected = errors.New("row rejected by the database")

// Refusal is a change that is invalid for this database's schema.
type Refusal struct {
	Code    string
	Message string
}

func (r *Refusal) Error() string { return r.Code + ": " + r.Message }

func refuse(code, format string, args ...any) *Refusal {
	return &Refusal{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Applier applies changes to a SQLite database under the merge rule. The
// client and the server use it alike. It is not safe for concurrent use;
// it belongs to the goroutine that owns the connection. Apply does not
// open transactions: the caller groups changes into its own.
type Applier struct {
	conn   *sqlite3.Conn
	tables map[string]*schema.Info
	strict bool
	stmts  map[string]*sqlite3.Stmt
	// shapes remembers the SQL of each table write already built, by
	// what decides it (table, kind, written columns), so a row whose
	// write has the shape of an earlier one builds no SQL.
	shapes map[writeShape]shapedWrite
	// batches remembers multi-row writes' SQL, by shape and rows.
	batches map[batchShape]string
	// keyed caches, per table, whether a foreign key refers to it or
	// from it: such a table's rows are not written many per statement.
	keyed map[string]bool
	// absent holds rows (table NUL key) Preload found without metadata:
	// Apply merges into them without reading it.
	absent map[string]struct{}
	// fieldBatches and metaBatches cache multiRowFieldSQL and
	// multiRowMetaSQL by their number of rows.
	fieldBatches, metaBatches map[int]string
	// local and now are set by RecordLosses.
	local string
	now   func() time.Time
}

// writeShape is what decides a table write's SQL: the table, the kind of
// effect and the set of columns written (bit i: Columns[i]).
type writeShape struct {
	table string
	kind  EffectKind
	cols  uint64
}

type batchShape struct {
	writeShape
	rows int
}

// shapedWrite is a table write's SQL and where each parameter's value
// comes from: keyPos[i] > 0 is key value keyPos[i]-1, else
// Effect.Values[columns[i]].
type shapedWrite struct {
	sql     string
	columns []string
	keyPos  []int
}

// NewApplier returns an Applier for the described tables. A strict
// applier (the server) refuses changes naming unknown columns or holding
// values a column cannot hold; a lenient one (a client) applies the
// columns it knows and skips the rest, since a newer server schema may
// send columns an older client does not have yet.
func NewApplier(conn *sqlite3.Conn, tables []*schema.Info, strict bool) *Applier {
	a := &Applier{conn: conn, tables: make(map[string]*schema.Info, len(tables)), strict: strict, stmts: map[string]*sqlite3.Stmt{}, shapes: map[writeShape]shapedWrite{}}
	for _, t := range tables {
		a.tables[t.Name] = t
	}
	return a
}

// Conn is the connection the applier writes to.
func (a *Applier) Conn() *sqlite3.Conn { return a.conn }

// Table returns a synced table's description, or nil.
func (a *Applier) Table(name string) *schema.Info { return a.tables[name] }

// Close finalizes the cached statements.
func (a *Applier) Close() error {
	var errs []error
	for sql, s := range a.stmts {
		if err := s.Close(); err != nil {
			errs = append(errs, err)
		}
		delete(a.stmts, sql)
	}
	return errors.Join(errs...)
}

// Rest resets every cached statement. A statement stepped and not reset
// holds a read of the database open, which keeps a WAL checkpoint from
// finishing: an applier kept between transactions rests after each.
func (a *Applier) Rest() error {
	var errs []error
	for _, s := range a.stmts {
		if err := s.Reset(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// maxCachedStmts bounds the prepared statements an Applier keeps. Each
// distinct set of written columns is a statement of its own, so a peer
// writing every subset of a wide table's columns would otherwise grow the
// cache without end (a security review's finding on the server).
const maxCachedStmts = 256

// trimCache drops every cached statement once there are too many. It runs
// where no statement is in use: at the start of Apply.
func (a *Applier) trimCache() error {
	if len(a.shapes) >= maxCachedStmts {
		clear(a.shapes)
	}
	if len(a.batches) >= maxCachedStmts {
		clear(a.batches)
	}
	if len(a.fieldBatches)+len(a.metaBatches) >= maxCachedStmts {
		clear(a.fieldBatches)
		clear(a.metaBatches)
	}
	if len(a.stmts) < maxCachedStmts {
		return nil
	}
	return a.Close()
}

func (a *Applier) stmt(sql string) (*sqlite3.Stmt, error) {
	if s, ok := a.stmts[sql]; ok {
		return s, nil
	}
	s, _, err := a.conn.Prepare(sql)
	if err != nil {
		return nil, fmt.Errorf("prepare %q: %w", sql, err)
	}
	a.stmts[sql] = s
	return s, nil
}

// Check validates a change against the schema without applying it (see
// Check).
func (a *Applier) Check(ch *change.Change) error { return Check(a.tables[ch.Table], ch) }

// Result reports what applying one change did.
type Result struct {
	Outcome
	// Applied is the number of table rows written or removed (0 or 1).
	Applied int
}

// Apply merges one change into the database: metadata and table row. A
// strict applier refuses invalid changes with a *Refusal; a lenient one
// drops columns it does not know and refuses only changes to unknown
// tables or with malformed keys.
func (a *Applier) Apply(ch *change.Change) (Result, error) {
	if err := a.trimCache(); err != nil {
		return Result{}, err
	}
	t, ch, _, err := a.admit(ch)
	if err != nil {
		return Result{}, err
	}
	return a.merge(t, ch)
}

// admit checks a change before it is merged; it returns the change as
// merged (a lenient applier drops the columns it does not know) and, if
// it decoded it, the key's values (not checked against the table's key:
// KeyValues does).
func (a *Applier) admit(ch *change.Change) (*schema.Info, *change.Change, []any, error) {
	t := a.tables[ch.Table]
	if t == nil {
		return nil, nil, nil, refuse(CodeUnknownTable, "table %q is not synced", ch.Table)
	}
	if a.strict {
		if err := a.Check(ch); err != nil {
			return nil, nil, nil, err
		}
		return t, ch, nil, nil
	}
	keyVals, err := change.DecodeKey(ch.Key)
	if err != nil {
		return nil, nil, nil, refuse(CodeBadKey, "%s: %v", ch.Table, err)
	}
	return t, known(t, ch), keyVals, nil
}

// merge merges an admitted change: metadata and table row.
func (a *Applier) merge(t *schema.Info, ch *change.Change) (Result, error) {
	var res Result
	var cur Row
	var err error
	if id := rowID(ch.Table, ch.Key); a.isAbsent(id) {
		// Known to have no metadata: what loadRow would read. Once
		// merged, the row has some.
		delete(a.absent, id)
	} else if cur, err = a.loadRow(ch.Table, ch.Key); err != nil {
		return res, err
	}
	out, err := ResolveTable(cur, ch, t)
	if err != nil {
		return res, err
	}
	res.Outcome = out
	var lost []loss
	if a.now != nil {
		lost = a.losses(cur, ch, out)
	}
	if !out.Changed {
		return res, a.recordLosses(ch, lost)
	}
	// The table row first: if the app's constraints reject it (a UNIQUE
	// index, a CHECK), the metadata stays as it was and the caller can
	// set the change aside without undoing anything.
	n, err := a.materialize(t, ch.Key, out.Effect)
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrRowRejected, err)
	}
	res.Applied = n
	if err := a.saveRow(ch.Table, ch.Key, out); err != nil {
		return res, err
	}
	return res, a.recordLosses(ch, lost)
}

// maxBatchRows bounds the rows of one multi-row write: a row binds at
// most 65 parameters (a 64-column table), SQLite allows 32,766.
const maxBatchRows = 64

// ApplyAll merges changes in order and leaves the database exactly as
// Apply, change by change, would; results[i] and errs[i] are what Apply
// returned for chs[i] (errs[i] a *Refusal or ErrRowRejected: the change
// was set aside). Rows Preload found without metadata that a change
// inserts are written many per statement, in order, so the table rows
// get the same rowids. Any other failure stops it and is returned; later
// changes are not applied.
func (a *Applier) ApplyAll(chs []change.Change) (results []Result, errs []error, err error) {
	results, errs = make([]Result, len(chs)), make([]error, len(chs))
	var fresh freshRows
	for i := range chs {
		if err := a.trimCache(); err != nil {
			return results, errs, err
		}
		t, ch, keyVals, err := a.admit(&chs[i])
		if err != nil {
			errs[i] = err
			continue
		}
		// A collaborative text column's state is field metadata, which
		// writeFresh writes too; a change ResolveTable refuses goes the
		// row-by-row path, which refuses it the same way.
		if id := rowID(ch.Table, ch.Key); ch.Op == change.Insert && a.isAbsent(id) && !a.foreignKeyed(t.Name) {
			out, err := ResolveTable(Row{}, ch, t)
			shape, ok := shapeOf(t, out.Effect)
			if err == nil && ok && shape.cols != 0 && out.Effect.Kind == Write && out.InsertedChanged && !out.DeletedChanged {
				if len(fresh.rows) > 0 && (shape != fresh.shape || len(fresh.rows) == maxBatchRows) {
					if err := a.writeFresh(&fresh, results, errs); err != nil {
						return results, errs, err
					}
				}
				delete(a.absent, id)
				fresh.t, fresh.shape = t, shape
				fresh.rows = append(fresh.rows, freshRow{i: i, key: ch.Key, keyVals: keyVals, out: out})
				continue
			}
		}
		if err := a.writeFresh(&fresh, results, errs); err != nil {
			return results, errs, err
		}
		res, err := a.merge(t, ch)
		results[i] = res
		var refusal *Refusal
		switch {
		case err == nil:
		case errors.As(err, &refusal), errors.Is(err, ErrRowRejected):
			errs[i] = err
		default:
			return results, errs, err
		}
	}
	return results, errs, a.writeFresh(&fresh, results, errs)
}

// foreignKeyed reports whether a foreign key refers to the table or from
// it. SQLite checks an immediate foreign key at the end of each
// statement: in one multi-row insert, a row may refer to a later one
// that, inserted row by row, it could not; such tables are merged row by
// row, so the outcome stays Apply's.
func (a *Applier) foreignKeyed(table string) bool {
	if v, ok := a.keyed[table]; ok {
		return v
	}
	keyed := true // if it cannot be read, row by row is always right
	s, err := a.stmt(`SELECT EXISTS (SELECT 1 FROM pragma_foreign_key_list(?1))
		OR EXISTS (SELECT 1 FROM sqlite_schema AS m, pragma_foreign_key_list(m.name) AS f WHERE m.type = 'table' AND f."table" = ?1 COLLATE NOCASE)`)
	if err == nil {
		s.BindText(1, table)
		if s.Step() {
			keyed = s.ColumnBool(0)
		}
		if s.Reset() != nil {
			keyed = true
		}
	}
	if a.keyed == nil {
		a.keyed = map[string]bool{}
	}
	a.keyed[table] = keyed
	return keyed
}

// freshRows are inserts of rows without metadata, of one write shape,
// waiting to be written together.
type freshRows struct {
	t     *schema.Info
	shape writeShape
	rows  []freshRow
}

type freshRow struct {
	i       int
	key     []byte
	keyVals []any // the key's values, if admit decoded them
	out     Outcome
}

// writeFresh writes the waiting rows: the table rows in one statement,
// then their metadata in another. If the table refuses the statement (a
// row breaks a constraint), nothing of it was written: the rows are
// merged one by one instead, and only those the table refuses are
// rejected, as Apply would.
func (a *Applier) writeFresh(f *freshRows, results []Result, errs []error) error {
	rows := f.rows
	f.rows = f.rows[:0]
	if len(rows) == 0 {
		return nil
	}
	t := f.t
	w, _, _, err := a.shaped(t, rows[0].key, rows[0].out.Effect)
	if err != nil {
		return err
	}
	if a.batches == nil {
		a.batches = map[batchShape]string{}
	}
	bs := batchShape{f.shape, len(rows)}
	sql, ok := a.batches[bs]
	if !ok {
		sql = multiRowSQL(t, w, len(rows))
		a.batches[bs] = sql
	}
	table, err := a.stmt(sql)
	if err != nil {
		return err
	}
	bind := func() error {
		n := 0
		for _, r := range rows {
			keyVals := r.keyVals
			if len(keyVals) != len(t.Key) {
				var err error
				if keyVals, err = KeyValues(t, r.key); err != nil {
					return err
				}
			}
			for i, name := range w.columns {
				n++
				v := r.out.Effect.Values[name]
				if p := w.keyPos[i]; p > 0 {
					v = keyVals[p-1]
				}
				if err := BindValue(table, n, v); err != nil {
					return err
				}
			}
		}
		return table.Exec()
	}
	if err := bind(); err != nil {
		// One by one, as Apply: the rows' metadata is still absent.
		for _, r := range rows {
			results[r.i].Outcome = r.out
			n, err := a.materialize(t, r.key, r.out.Effect)
			if err != nil {
				errs[r.i] = fmt.Errorf("%w: %w", ErrRowRejected, err)
				continue
			}
			results[r.i].Applied = n
			if err := a.saveRow(t.Name, r.key, r.out); err != nil {
				return err
			}
		}
		return nil
	}
	meta, err := a.stmt(batchSQL(&a.metaBatches, len(rows), multiRowMetaSQL))
	if err != nil {
		return err
	}
	for j, r := range rows {
		results[r.i] = Result{Outcome: r.out, Applied: 1}
		meta.BindText(6*j+1, t.Name)
		meta.BindBlob(6*j+2, r.key)
		bindStamp(meta, 6*j+3, r.out.Row.Inserted)
		bindStamp(meta, 6*j+5, r.out.Row.Deleted)
	}
	if err := meta.Exec(); err != nil {
		return fmt.Errorf("write row metadata of %s: %w", t.Name, err)
	}
	return a.writeFreshFields(t, rows)
}

// writeFreshFields writes the field metadata of fresh rows (their
// collaborative text states), as saveRow would row by row, in as few
// statements as a statement's parameters allow.
func (a *Applier) writeFreshFields(t *schema.Info, rows []freshRow) error {
	const perStatement = maxBatchRows
	type entry struct {
		key []byte
		col string
		f   Field
	}
	var entries []entry
	for _, r := range rows {
		for _, col := range r.out.FieldsChanged {
			entries = append(entries, entry{r.key, col, r.out.Row.Fields[col]})
		}
	}
	for len(entries) > 0 {
		n := min(len(entries), perStatement)
		s, err := a.stmt(batchSQL(&a.fieldBatches, n, multiRowFieldSQL))
		if err != nil {
			return err
		}
		for j, e := range entries[:n] {
			s.BindText(6*j+1, t.Name)
			s.BindBlob(6*j+2, e.key)
			s.BindText(6*j+3, e.col)
			s.BindInt64(6*j+4, int64(e.f.Stamp.TS))
			s.BindText(6*j+5, e.f.Stamp.Node)
			if err := BindValue(s, 6*j+6, e.f.Value); err != nil {
				s.ClearBindings()
				return fmt.Errorf("field %s.%s: %w", t.Name, e.col, err)
			}
		}
		if err := s.Exec(); err != nil {
			return fmt.Errorf("write field metadata of %s: %w", t.Name, err)
		}
		entries = entries[n:]
	}
	return nil
}

// placeholderRows is n rows of width parameters each, numbered from 1:
// "(?1, ?2), (?3, ?4)" for n 2, width 2.
func placeholderRows(n, width int) string {
	rows := make([]string, n)
	for r := range rows {
		p := make([]string, width)
		for i := range p {
			p[i] = SQLiteParam(width*r + i + 1)
		}
		rows[r] = "(" + strings.Join(p, ", ") + ")"
	}
	return strings.Join(rows, ", ")
}

// multiRowFieldSQL is MetaSQL.SaveField for n fields.
func multiRowFieldSQL(n int) string {
	return `INSERT INTO _hearth_fields(tbl, pk, col, hlc, node, val) VALUES ` + placeholderRows(n, 6) + `
			ON CONFLICT (tbl, pk, col) DO UPDATE SET hlc = excluded.hlc, node = excluded.node, val = excluded.val`
}

// multiRowSQL is a Write shape's statement for n rows: Materialize's
// insert with n rows of values.
func multiRowSQL(t *schema.Info, w shapedWrite, n int) string {
	var sql strings.Builder
	sql.WriteString("INSERT INTO " + schema.Quote(t.Name) + "(" + strings.Join(quoteAll(w.columns), ", ") + ") VALUES ")
	sql.WriteString(placeholderRows(n, len(w.columns)))
	var sets []string
	for i, c := range w.columns {
		if w.keyPos[i] == 0 {
			sets = append(sets, schema.Quote(c)+" = excluded."+schema.Quote(c))
		}
	}
	sql.WriteString(" ON CONFLICT (" + strings.Join(quoteAll(t.Key), ", ") + ") DO UPDATE SET " + strings.Join(sets, ", "))
	return sql.String()
}

// batchSQL is build(n), built once per n into cache: the text of a
// multi-row statement is the key of its prepared statement, and a long one
// to build for every batch.
func batchSQL(cache *map[int]string, n int, build func(int) string) string {
	sql, ok := (*cache)[n]
	if !ok {
		if *cache == nil {
			*cache = map[int]string{}
		}
		sql = build(n)
		(*cache)[n] = sql
	}
	return sql
}

// multiRowMetaSQL is MetaSQL.SaveRow for n rows.
func multiRowMetaSQL(n int) string {
	return `INSERT INTO _hearth_rows(tbl, pk, ins_hlc, ins_node, del_hlc, del_node) VALUES ` + placeholderRows(n, 6) + `
			ON CONFLICT (tbl, pk) DO UPDATE SET ins_hlc = excluded.ins_hlc, ins_node = excluded.ins_node, del_hlc = excluded.del_hlc, del_node = excluded.del_node`
}

// known drops the columns a table does not have (and key columns).
func known(t *schema.Info, ch *change.Change) *change.Change {
	for name := range ch.Values {
		if c, ok := t.Column(name); !ok || c.KeyPosition > 0 {
			cp := *ch
			cp.Values = make(map[string]any, len(ch.Values))
			for n, v := range ch.Values {
				if c, ok := t.Column(n); ok && c.KeyPosition == 0 {
					cp.Values[n] = v
				}
			}
			return &cp
		}
	}
	return ch
}

// preloadSlack bounds Preload's scan: it reads at most this many times
// the number of rows asked about before giving up (a replica holding many
// rows between the batch's keys reads faster row by row).
const preloadSlack = 4

// Preload finds, in one scan of the metadata per table, which rows of a
// batch of changes have no merge metadata yet, so that Apply merges them
// without reading it: a fresh device's initial sync reads nothing per
// row. It must run in the transaction that applies the batch, before
// anything else writes metadata there. What it found holds until the next
// Preload: an applier kept across transactions (the sync client keeps one
// for its session) forgets the last batch's rows, which later writes may
// have given metadata.
func (a *Applier) Preload(chs []change.Change) error {
	clear(a.absent)
	type span struct {
		lo, hi []byte
		keys   map[string]struct{}
	}
	spans := map[string]*span{}
	for i := range chs {
		ch := &chs[i]
		if a.tables[ch.Table] == nil {
			continue
		}
		sp := spans[ch.Table]
		if sp == nil {
			sp = &span{lo: ch.Key, hi: ch.Key, keys: map[string]struct{}{}}
			spans[ch.Table] = sp
		}
		if bytes.Compare(ch.Key, sp.lo) < 0 {
			sp.lo = ch.Key
		}
		if bytes.Compare(ch.Key, sp.hi) > 0 {
			sp.hi = ch.Key
		}
		sp.keys[string(ch.Key)] = struct{}{}
	}
	for table, sp := range spans {
		limit := preloadSlack * len(sp.keys)
		present := map[string]struct{}{}
		complete := true
		for _, sql := range []string{
			`SELECT pk FROM _hearth_rows WHERE tbl = ?1 AND pk >= ?2 AND pk <= ?3 LIMIT ?4`,
			`SELECT DISTINCT pk FROM _hearth_fields WHERE tbl = ?1 AND pk >= ?2 AND pk <= ?3 LIMIT ?4`,
		} {
			s, err := a.stmt(sql)
			if err != nil {
				return err
			}
			s.BindText(1, table)
			s.BindBlob(2, sp.lo)
			s.BindBlob(3, sp.hi)
			s.BindInt(4, limit+1)
			n := 0
			for s.Step() {
				n++
				present[string(s.ColumnRawBlob(0))] = struct{}{}
			}
			if err := s.Reset(); err != nil {
				return fmt.Errorf("preload metadata of %s: %w", table, err)
			}
			if n > limit {
				complete = false
				break
			}
		}
		if !complete {
			continue
		}
		if a.absent == nil {
			a.absent = map[string]struct{}{}
		}
		for k := range sp.keys {
			if _, ok := present[k]; !ok {
				a.absent[rowID(table, []byte(k))] = struct{}{}
			}
		}
	}
	return nil
}

func rowID(table string, key []byte) string { return table + "\x00" + string(key) }

func (a *Applier) isAbsent(id string) bool {
	_, ok := a.absent[id]
	return ok
}

// LoadRow reads a row's merge metadata.
func (a *Applier) LoadRow(table string, key []byte) (Row, error) { return a.loadRow(table, key) }

// sqliteMeta is the metadata SQL as the Applier runs it.
var sqliteMeta = NewMetaSQL(SQLiteParam)

// readRowStamps sets r's insert and delete stamps from columns i to i+3
// (ins_hlc, ins_node, del_hlc, del_node).
func readRowStamps(s *sqlite3.Stmt, i int, r *Row) {
	if s.ColumnType(i) != sqlite3.NULL {
		r.Inserted = hlc.Stamp{TS: hlc.Timestamp(s.ColumnInt64(i)), Node: s.ColumnText(i + 1)}
	}
	if s.ColumnType(i+2) != sqlite3.NULL {
		r.Deleted = hlc.Stamp{TS: hlc.Timestamp(s.ColumnInt64(i + 2)), Node: s.ColumnText(i + 3)}
	}
}

// readField adds to r the field in columns i to i+3 (col, hlc, node,
// val).
func readField(s *sqlite3.Stmt, i int, r *Row) {
	if r.Fields == nil {
		r.Fields = map[string]Field{}
	}
	r.Fields[s.ColumnText(i)] = Field{
		Stamp: hlc.Stamp{TS: hlc.Timestamp(s.ColumnInt64(i + 1)), Node: s.ColumnText(i + 2)},
		Value: ColumnValue(s, i+3),
	}
}

func (a *Applier) loadRow(table string, key []byte) (Row, error) {
	var r Row
	s, err := a.stmt(sqliteMeta.ReadRow)
	if err != nil {
		return r, err
	}
	s.BindText(1, table)
	s.BindBlob(2, key)
	if s.Step() {
		readRowStamps(s, 0, &r)
	}
	if err := s.Reset(); err != nil {
		return r, fmt.Errorf("read row metadata of %s: %w", table, err)
	}
	f, err := a.stmt(sqliteMeta.ReadFields)
	if err != nil {
		return r, err
	}
	f.BindText(1, table)
	f.BindBlob(2, key)
	for f.Step() {
		readField(f, 0, &r)
	}
	if err := f.Reset(); err != nil {
		return r, fmt.Errorf("read field metadata of %s: %w", table, err)
	}
	return r, nil
}

func (a *Applier) saveRow(table string, key []byte, out Outcome) error {
	if out.InsertedChanged || out.DeletedChanged {
		s, err := a.stmt(sqliteMeta.SaveRow)
		if err != nil {
			return err
		}
		s.BindText(1, table)
		s.BindBlob(2, key)
		bindStamp(s, 3, out.Row.Inserted)
		bindStamp(s, 5, out.Row.Deleted)
		if err := s.Exec(); err != nil {
			return fmt.Errorf("write row metadata of %s: %w", table, err)
		}
	} else {
		// Every row touched gets a _hearth_rows entry, so snapshots find
		// rows that so far only have updates.
		s, err := a.stmt(sqliteMeta.TouchRow)
		if err != nil {
			return err
		}
		s.BindText(1, table)
		s.BindBlob(2, key)
		if err := s.Exec(); err != nil {
			return fmt.Errorf("write row metadata of %s: %w", table, err)
		}
	}
	if len(out.FieldsChanged) == 0 {
		return nil
	}
	s, err := a.stmt(sqliteMeta.SaveField)
	if err != nil {
		return err
	}
	for _, col := range out.FieldsChanged {
		f := out.Row.Fields[col]
		s.BindText(1, table)
		s.BindBlob(2, key)
		s.BindText(3, col)
		s.BindInt64(4, int64(f.Stamp.TS))
		s.BindText(5, f.Stamp.Node)
		if err := BindValue(s, 6, f.Value); err != nil {
			return fmt.Errorf("field %s.%s: %w", table, col, err)
		}
		if err := s.Exec(); err != nil {
			return fmt.Errorf("write field metadata %s.%s: %w", table, col, err)
		}
	}
	return nil
}

func bindStamp(s *sqlite3.Stmt, i int, st hlc.Stamp) {
	if st.IsZero() {
		s.BindNull(i)
		s.BindNull(i + 1)
		return
	}
	s.BindInt64(i, int64(st.TS))
	s.BindText(i+1, st.Node)
}

// materialize carries an effect out on the app's table. The SQL is
// Materialize's, built once per write shape.
func (a *Applier) materialize(t *schema.Info, key []byte, eff Effect) (int, error) {
	if eff.Kind == Keep {
		return 0, nil
	}
	w, args, ok, err := a.shaped(t, key, eff)
	if !ok || err != nil {
		return 0, err
	}
	s, err := a.stmt(w.sql)
	if err != nil {
		return 0, err
	}
	for i, v := range args {
		if err := BindValue(s, i+1, v); err != nil {
			s.Reset()
			return 0, fmt.Errorf("%s: %w", t.Name, err)
		}
	}
	if err := s.Exec(); err != nil {
		return 0, fmt.Errorf("%s %s: %w", eff.Kind, t.Name, err)
	}
	return int(a.conn.Changes()), nil
}

// shaped is an effect's table write (ok false: nothing to write) and its
// arguments.
func (a *Applier) shaped(t *schema.Info, key []byte, eff Effect) (w shapedWrite, args []any, ok bool, err error) {
	shape, cacheable := shapeOf(t, eff)
	w, ok = a.shapes[shape]
	if !ok || !cacheable {
		built, ok, err := Materialize(t, key, eff, SQLiteParam)
		if !ok || err != nil {
			return w, nil, false, err
		}
		w = shapedWrite{sql: built.SQL, columns: built.Columns, keyPos: make([]int, len(built.Columns))}
		for i, name := range built.Columns {
			if c, _ := t.Column(name); c.KeyPosition > 0 {
				w.keyPos[i] = c.KeyPosition
			}
		}
		if cacheable {
			a.shapes[shape] = w
		}
		return w, built.Args, true, nil
	}
	keyVals, err := KeyValues(t, key)
	if err != nil {
		return w, nil, false, err
	}
	args = make([]any, len(w.columns))
	for i, name := range w.columns {
		if p := w.keyPos[i]; p > 0 {
			args[i] = keyVals[p-1]
		} else {
			args[i] = eff.Values[name]
		}
	}
	return w, args, true, nil
}

// shapeOf is an effect's write shape; false when it cannot be one (a
// table of more than 64 columns).
func shapeOf(t *schema.Info, eff Effect) (writeShape, bool) {
	shape := writeShape{table: t.Name, kind: eff.Kind}
	if len(t.Columns) > 64 {
		return shape, false
	}
	for name := range eff.Values {
		// Columns the table no longer has, and key columns, are left
		// out of the write (Materialize): the same shape either way.
		if i, ok := t.ColumnIndex(name); ok && t.Columns[i].KeyPosition == 0 {
			shape.cols |= 1 << i
		}
	}
	return shape, true
}

// RowChanges describes a row's merged state as changes: an insert with
// its current values (if it exists), the updates newer than that insert,
// and its tombstone. Applying them to any replica brings that replica's
// row up to (at least) this state; this is how snapshots and refusals
// ship a row.
func (a *Applier) RowChanges(table string, key []byte, schemaVersion int64) ([]change.Change, error) {
	t := a.tables[table]
	if t == nil {
		return nil, refuse(CodeUnknownTable, "table %q is not synced", table)
	}
	r, err := a.loadRow(table, key)
	if err != nil {
		return nil, err
	}
	var values map[string]any
	found := false
	if r.Alive(t.Resurrect) {
		if values, found, err = a.readRow(t, key); err != nil {
			return nil, err
		}
	}
	return ChangesOf(t, key, r, values, found, schemaVersion), nil
}

// RowValues reads a table row's value columns, and whether the table
// holds the row.
func (a *Applier) RowValues(table string, key []byte) (map[string]any, bool, error) {
	t := a.tables[table]
	if t == nil {
		return nil, false, refuse(CodeUnknownTable, "table %q is not synced", table)
	}
	return a.readRow(t, key)
}

// readRow reads a table row's value columns.
func (a *Applier) readRow(t *schema.Info, key []byte) (map[string]any, bool, error) {
	keyVals, err := KeyValues(t, key)
	if err != nil {
		return nil, false, refuse(CodeBadKey, "%s: malformed key", t.Name)
	}
	s, err := a.stmt(RowSQL(t, SQLiteParam))
	if err != nil {
		return nil, false, err
	}
	for i, v := range keyVals {
		if err := BindValue(s, i+1, v); err != nil {
			s.Reset()
			return nil, false, err
		}
	}
	values := make(map[string]any, len(t.Values))
	found := s.Step()
	if found {
		for i, c := range t.Values {
			values[c] = ColumnValue(s, i)
		}
	}
	if err := s.Reset(); err != nil {
		return nil, false, fmt.Errorf("read %s row: %w", t.Name, err)
	}
	return values, found, nil
}

// ResetRow forgets a row entirely: its table row and its metadata. The
// client uses it to roll a row back to the server's state after the
// server refused a local change.
func (a *Applier) ResetRow(table string, key []byte) error {
	t := a.tables[table]
	if t == nil {
		return refuse(CodeUnknownTable, "table %q is not synced", table)
	}
	if _, err := a.materialize(t, key, Effect{Kind: Remove}); err != nil {
		return err
	}
	for _, sql := range []string{
		`DELETE FROM _hearth_rows WHERE tbl = ?1 AND pk = ?2`,
		`DELETE FROM _hearth_fields WHERE tbl = ?1 AND pk = ?2`,
	} {
		s, err := a.stmt(sql)
		if err != nil {
			return err
		}
		s.BindText(1, table)
		s.BindBlob(2, key)
		if err := s.Exec(); err != nil {
			return fmt.Errorf("reset %s row: %w", table, err)
		}
	}
	return nil
}

// Cursor is a position in a snapshot: the last row sent.
type Cursor struct {
	Table string
	Key   []byte
}

// SnapshotPage is one chunk of a snapshot.
type SnapshotPage struct {
	Changes []change.Change
	// Rows is the number of rows the page covers.
	Rows int
	// Next is where the following page starts.
	Next Cursor
	// Done reports that no rows follow.
	Done bool
}

// Snapshot reads up to limit rows after the cursor, in (table, key)
// order, as changes. Every row that ever held data has a _hearth_rows
// entry, tombstones included, so a replica that applies every page holds
// the merged state of the database as of the pages' reads.
//
// The rows' metadata and their fields are read for the whole page at
// once, by key range (two statements), then each live row's values: row
// by row, as RowChanges reads them, a server read a snapshot about as
// slowly as the client merged it.
func (a *Applier) Snapshot(after Cursor, limit int, schemaVersion int64) (SnapshotPage, error) {
	var page SnapshotPage
	s, err := a.stmt(`SELECT tbl, pk, ins_hlc, ins_node, del_hlc, del_node FROM _hearth_rows WHERE (tbl, pk) > (?1, ?2) ORDER BY tbl, pk LIMIT ?3`)
	if err != nil {
		return page, err
	}
	s.BindText(1, after.Table)
	key := after.Key
	if key == nil {
		key = []byte{}
	}
	s.BindBlob(2, key)
	s.BindInt(3, limit)
	type pageRow struct {
		Cursor
		meta Row
	}
	var rows []pageRow
	for s.Step() {
		r := pageRow{Cursor: Cursor{Table: s.ColumnText(0), Key: s.ColumnBlob(1, nil)}}
		readRowStamps(s, 2, &r.meta)
		rows = append(rows, r)
	}
	if err := s.Reset(); err != nil {
		return page, fmt.Errorf("read snapshot rows: %w", err)
	}
	if len(rows) > 0 {
		type rowID struct{ table, key string }
		at := make(map[rowID]int, len(rows))
		for i, r := range rows {
			at[rowID{r.Table, string(r.Key)}] = i
		}
		last := rows[len(rows)-1]
		f, err := a.stmt(`SELECT tbl, pk, col, hlc, node, val FROM _hearth_fields WHERE (tbl, pk) > (?1, ?2) AND (tbl, pk) <= (?3, ?4)`)
		if err != nil {
			return page, err
		}
		f.BindText(1, after.Table)
		f.BindBlob(2, key)
		f.BindText(3, last.Table)
		f.BindBlob(4, last.Key)
		for f.Step() {
			i, ok := at[rowID{f.ColumnText(0), string(f.ColumnRawBlob(1))}]
			if !ok {
				continue // no _hearth_rows entry: not in a snapshot
			}
			readField(f, 2, &rows[i].meta)
		}
		if err := f.Reset(); err != nil {
			return page, fmt.Errorf("read snapshot fields: %w", err)
		}
	}
	for _, r := range rows {
		t := a.tables[r.Table]
		if t == nil {
			continue
		}
		var values map[string]any
		found := false
		if r.meta.Alive(t.Resurrect) {
			if values, found, err = a.readRow(t, r.Key); err != nil {
				return page, err
			}
		}
		page.Changes = append(page.Changes, ChangesOf(t, r.Key, r.meta, values, found, schemaVersion)...)
	}
	page.Rows = len(rows)
	page.Done = len(rows) < limit
	page.Next = after
	if len(rows) > 0 {
		page.Next = rows[len(rows)-1].Cursor
	}
	return page, nil
}

// CountRows counts the rows a full snapshot covers.
func (a *Applier) CountRows() (int64, error) {
	s, err := a.stmt(`SELECT count(*) FROM _hearth_rows`)
	if err != nil {
		return 0, err
	}
	var n int64
	if s.Step() {
		n = s.ColumnInt64(0)
	}
	if err := s.Reset(); err != nil {
		return 0, fmt.Errorf("count snapshot rows: %w", err)
	}
	return n, nil
}

// BindValue binds one storable value.
func BindValue(s *sqlite3.Stmt, i int, v any) error {
	switch v := v.(type) {
	case nil:
		return s.BindNull(i)
	case int64:
		return s.BindInt64(i, v)
	case float64:
		return s.BindFloat(i, v)
	case string:
		return s.BindText(i, v)
	case []byte:
		if v == nil {
			v = []byte{}
		}
		return s.BindBlob(i, v)
	}
	return change.CheckValue(v)
}

// ColumnValue reads a result column as a storable value, copying text
// and blobs out of SQLite's memory.
func ColumnValue(s *sqlite3.Stmt, i int) any {
	switch s.ColumnType(i) {
	case sqlite3.INTEGER:
		return s.ColumnInt64(i)
	case sqlite3.FLOAT:
		return s.ColumnFloat(i)
	case sqlite3.TEXT:
		return s.ColumnText(i)
	case sqlite3.BLOB:
		b := s.ColumnBlob(i, nil)
		if b == nil {
			b = []byte{}
		}
		return b
	}
	return nil
}
