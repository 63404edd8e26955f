// Package sqlitestore is the sync server's default store: one embedded
// SQLite database (github.com/ncruces/go-sqlite3, the library the clients
// run) holding the app's tables, the merge metadata, the server log and
// the push records. Changes are merged into it by the same merge.Applier
// the clients use.
package sqlitestore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hearthdb/hearth/codec"
	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/checksum"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/merge"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/hearthdb/hearth/syncworker/wire"
	"github.com/ncruces/go-sqlite3"
	_ "github.com/ncruces/go-sqlite3/vfs/memdb" // in-memory stores
)

const serverDDL = `
CREATE TABLE IF NOT EXISTS _hearth_server(k TEXT PRIMARY KEY, v) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS _hearth_log(
	pos INTEGER PRIMARY KEY AUTOINCREMENT,
	client TEXT NOT NULL,
	seq INTEGER,
	tbl TEXT NOT NULL,
	pk BLOB NOT NULL,
	op TEXT NOT NULL,
	cols BLOB,
	hlc INTEGER NOT NULL,
	node TEXT NOT NULL,
	sv INTEGER NOT NULL,
	flag TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS _hearth_log_client_seq ON _hearth_log(client, seq) WHERE seq IS NOT NULL;
CREATE TABLE IF NOT EXISTS _hearth_refused(
	client TEXT NOT NULL,
	seq INTEGER NOT NULL,
	code TEXT NOT NULL,
	detail TEXT NOT NULL,
	PRIMARY KEY (client, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS _hearth_acked(
	client TEXT NOT NULL,
	seq INTEGER NOT NULL,
	pos INTEGER NOT NULL,
	flag TEXT,
	PRIMARY KEY (client, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS _hearth_scopes(
	tbl TEXT NOT NULL,
	pk BLOB NOT NULL,
	scope TEXT NOT NULL,
	hlc INTEGER NOT NULL,
	node TEXT NOT NULL,
	PRIMARY KEY (tbl, pk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS _hearth_scopes_by_scope ON _hearth_scopes(scope, tbl, pk);
CREATE TABLE IF NOT EXISTS _hearth_clients(
	client TEXT PRIMARY KEY,
	principal TEXT NOT NULL,
	bound_at INTEGER NOT NULL DEFAULT (unixepoch())
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS _hearth_row_usage(
	tbl TEXT NOT NULL,
	pk BLOB NOT NULL,
	principal TEXT NOT NULL,
	bytes INTEGER NOT NULL,
	PRIMARY KEY (tbl, pk)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS _hearth_usage(
	principal TEXT PRIMARY KEY,
	bytes INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS _hearth_text_epochs(
	tbl TEXT NOT NULL,
	pk BLOB NOT NULL,
	col TEXT NOT NULL,
	epoch INTEGER NOT NULL,
	state BLOB NOT NULL,
	PRIMARY KEY (tbl, pk, col, epoch)
) WITHOUT ROWID;
`

// addedColumns are columns of Hearth's tables added after their first
// release, which Open adds to older stores: the row's scope after (scope)
// and before (prev) a log entry, NULL when unknown; the principal that
// pushed it (NULL in entries from before); and the stamp of the change a
// verdict was given for (NULL in verdicts from before), which tells a
// replay from another change under the same seq (see store.Recorded).
var addedColumns = []struct{ table, column, decl string }{
	{"_hearth_log", "scope", "TEXT"},
	{"_hearth_log", "prev", "TEXT"},
	{"_hearth_log", "principal", "TEXT"},
	{"_hearth_refused", "hlc", "INTEGER"},
	{"_hearth_refused", "node", "TEXT"},
	{"_hearth_acked", "hlc", "INTEGER"},
	{"_hearth_acked", "node", "TEXT"},
}

// Store is a store.Store on two SQLite connections. Writes (and the
// short reads around them) serialize on mu and the writing connection:
// SQLite has one writer anyway. Snapshots and checksums, which read many
// rows, go through a read-only connection of their own (see reader), so
// that a push is not queued behind them.
type Store struct {
	mu     sync.Mutex
	conn   *sqlite3.Conn
	reader *reader
	info   store.Info
	scopes *store.ScopeRules
	// floor is the compacted log's floor (see Compact).
	floor   int64
	applier *merge.Applier
	stmts   map[string]*sqlite3.Stmt
	opened  bool
	closed  bool
}

var memSeq atomic.Int64

// Open opens (creating if needed) the database at path; "" gives a
// private in-memory database. File databases use WAL with full
// synchronous commits: a push is acknowledged only once durable.
func Open(path string) (*Store, error) {
	uri := path
	memory := path == ""
	if memory {
		var b [8]byte
		rand.Read(b[:])
		uri = fmt.Sprintf("file:/hearth-sync-%s-%d?vfs=memdb", hex.EncodeToString(b[:]), memSeq.Add(1))
	}
	pragmas := []string{"PRAGMA busy_timeout = 5000", "PRAGMA foreign_keys = OFF"}
	if !memory {
		pragmas = append(pragmas, "PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL")
	}
	conn, err := openConn(uri, pragmas)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open %q: %w", path, err)
	}
	if !memory {
		// Reads beside the writer need WAL: in a rollback journal a
		// reader would hold up every commit.
		if mode, err := journalMode(conn); err != nil || mode != "wal" {
			conn.Close()
			return nil, fmt.Errorf("sqlitestore: open %q: the database is in journal mode %q, not WAL (%v)", path, mode, err)
		}
	}
	// The reader sees the same database: the file, or the in-memory
	// database by its shared memdb name. In WAL mode its reads neither
	// wait for a writer nor hold one up.
	rconn, err := openConn(uri, []string{"PRAGMA busy_timeout = 5000", "PRAGMA query_only = ON"})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("sqlitestore: open %q for reading: %w", path, err)
	}
	return &Store{conn: conn, stmts: map[string]*sqlite3.Stmt{}, reader: &reader{conn: rconn, stmts: map[string]*sqlite3.Stmt{}}}, nil
}

func journalMode(conn *sqlite3.Conn) (string, error) {
	st, _, err := conn.Prepare("PRAGMA journal_mode")
	if err != nil {
		return "", err
	}
	defer st.Close()
	if !st.Step() {
		return "", errors.Join(errors.New("no journal mode"), st.Err())
	}
	return strings.ToLower(st.ColumnText(0)), nil
}

func openConn(uri string, pragmas []string) (*sqlite3.Conn, error) {
	conn, err := sqlite3.Open(uri)
	if err != nil {
		return nil, err
	}
	for _, p := range pragmas {
		if err := conn.Exec(p); err != nil {
			conn.Close()
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	return conn, nil
}

var errClosed = errors.New("sqlitestore: the store is closed")

func (s *Store) lock() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed
	}
	if !s.opened {
		s.mu.Unlock()
		return errors.New("sqlitestore: Open has not run")
	}
	return nil
}

// Open implements store.Store: it runs the migrations the database has
// not seen, each in its own transaction, and creates Hearth's tables.
func (s *Store) Open(ctx context.Context, sc store.Schema) (store.Info, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.Info{}, errClosed
	}
	for i, m := range sc.Migrations {
		if m.Version < 1 || (i > 0 && m.Version <= sc.Migrations[i-1].Version) {
			return store.Info{}, fmt.Errorf("sqlitestore: migration versions must be positive and increase, got %d", m.Version)
		}
	}
	for _, t := range sc.Tables {
		if err := schema.ValidateName(t.Name); err != nil {
			return store.Info{}, fmt.Errorf("sqlitestore: %w", err)
		}
	}
	current, err := schema.Version(s.conn)
	if err != nil {
		return store.Info{}, fmt.Errorf("sqlitestore: %w", err)
	}
	if n := len(sc.Migrations); n > 0 && current > sc.Migrations[n-1].Version {
		return store.Info{}, fmt.Errorf("sqlitestore: the database is at schema version %d, newer than the newest migration (%d); refusing to run an older server on it", current, sc.Migrations[n-1].Version)
	}
	for _, m := range sc.Migrations {
		if m.Version <= current {
			continue
		}
		if err := ctx.Err(); err != nil {
			return store.Info{}, err
		}
		if err := s.migrate(m); err != nil {
			return store.Info{}, err
		}
		current = m.Version
	}
	if err := s.conn.Exec(serverDDL + merge.MetaDDL + appschema.ViolationsDDL); err != nil {
		return store.Info{}, fmt.Errorf("sqlitestore: create tables: %w", err)
	}
	for _, col := range addedColumns {
		rows, err := s.query(`SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2`, col.table, col.column)
		if err != nil {
			return store.Info{}, fmt.Errorf("sqlitestore: %w", err)
		}
		if rows[0][0].(int64) == 0 {
			if err := s.conn.Exec(`ALTER TABLE ` + col.table + ` ADD COLUMN ` + col.column + ` ` + col.decl); err != nil {
				return store.Info{}, fmt.Errorf("sqlitestore: add column %s.%s: %w", col.table, col.column, err)
			}
		}
	}
	id, err := s.storeID()
	if err != nil {
		return store.Info{}, err
	}
	tables, err := schema.DescribeAll(s.conn, sc.Tables)
	if err != nil {
		return store.Info{}, fmt.Errorf("sqlitestore: %w", err)
	}
	if s.applier != nil {
		s.applier.Close()
	}
	scopes, err := store.NewScopeRules(sc.Scopes, tables)
	if err != nil {
		return store.Info{}, fmt.Errorf("sqlitestore: %w", err)
	}
	s.scopes = scopes
	s.applier = merge.NewApplier(s.conn, tables, true)
	s.reader.open(tables, scopes)
	floor, err := s.query(`SELECT coalesce((SELECT CAST(v AS INTEGER) FROM _hearth_server WHERE k = 'floor'), 0)`)
	if err != nil {
		return store.Info{}, fmt.Errorf("sqlitestore: %w", err)
	}
	s.floor, _ = floor[0][0].(int64)
	if err := s.backfillScopes(); err != nil {
		return store.Info{}, fmt.Errorf("sqlitestore: record row scopes: %w", err)
	}
	s.opened = true
	head, err := s.head()
	if err != nil {
		return store.Info{}, err
	}
	s.info = store.Info{ID: id, Version: current, Head: head, Tables: tables}
	return s.info, nil
}

func (s *Store) migrate(m appschema.Migration) error {
	if err := s.conn.Exec("BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("sqlitestore: migration %d: %w", m.Version, err)
	}
	err := s.conn.Exec(m.SQL)
	if err == nil {
		err = s.conn.Exec(fmt.Sprintf("PRAGMA user_version = %d", m.Version))
	}
	if err == nil {
		err = s.conn.Exec("COMMIT")
	}
	if err != nil {
		s.conn.Exec("ROLLBACK")
		return fmt.Errorf("sqlitestore: migration %d: %w", m.Version, err)
	}
	return nil
}

func (s *Store) storeID() (string, error) {
	rows, err := s.query(`SELECT v FROM _hearth_server WHERE k = 'id'`)
	if err != nil {
		return "", fmt.Errorf("sqlitestore: read store id: %w", err)
	}
	if len(rows) == 1 {
		if id, ok := rows[0][0].(string); ok && id != "" {
			return id, nil
		}
	}
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("sqlitestore: make store id: %w", err)
	}
	id := hex.EncodeToString(b[:])
	if err := s.exec(`INSERT INTO _hearth_server(k, v) VALUES ('id', ?1)`, id); err != nil {
		return "", fmt.Errorf("sqlitestore: save store id: %w", err)
	}
	return id, nil
}

// stmt returns a cached prepared statement, reset and ready to bind.
func (s *Store) stmt(sql string) (*sqlite3.Stmt, error) { return cachedStmt(s.conn, s.stmts, sql) }

func cachedStmt(conn *sqlite3.Conn, cache map[string]*sqlite3.Stmt, sql string) (*sqlite3.Stmt, error) {
	if st, ok := cache[sql]; ok {
		return st, nil
	}
	st, _, err := conn.Prepare(sql)
	if err != nil {
		return nil, err
	}
	cache[sql] = st
	return st, nil
}

func bindArgs(st *sqlite3.Stmt, args []any) error {
	for i, a := range args {
		if err := merge.BindValue(st, i+1, a); err != nil {
			st.Reset()
			return err
		}
	}
	return nil
}

func (s *Store) exec(sql string, args ...any) error {
	st, err := s.stmt(sql)
	if err != nil {
		return err
	}
	if err := bindArgs(st, args); err != nil {
		return err
	}
	return st.Exec()
}

func (s *Store) query(sql string, args ...any) ([][]any, error) {
	return queryRows(s.conn, s.stmts, sql, args...)
}

func queryRows(conn *sqlite3.Conn, cache map[string]*sqlite3.Stmt, sql string, args ...any) ([][]any, error) {
	st, err := cachedStmt(conn, cache, sql)
	if err != nil {
		return nil, err
	}
	if err := bindArgs(st, args); err != nil {
		return nil, err
	}
	var rows [][]any
	n := st.ColumnCount()
	for st.Step() {
		row := make([]any, n)
		for i := range row {
			row[i] = merge.ColumnValue(st, i)
		}
		rows = append(rows, row)
	}
	return rows, st.Reset()
}

func (s *Store) head() (int64, error) {
	rows, err := s.query(`SELECT coalesce(max(pos), 0) FROM _hearth_log`)
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: read log head: %w", err)
	}
	head, ok := rows[0][0].(int64)
	if !ok {
		return 0, fmt.Errorf("sqlitestore: log head is %T, not an integer", rows[0][0])
	}
	// A compaction may have emptied the log (AUTOINCREMENT still never
	// reuses a position).
	return max(head, s.floor), nil
}

// querier runs an invariant's read queries on the store's connection,
// inside the push's transaction. Its statements are not cached: app
// queries are arbitrary.
type querier struct{ conn *sqlite3.Conn }

// BaseTable names an app table from inside a CTE of the same name (an
// invariant's scope shadow): SQLite would read the CTE itself.
func (q querier) BaseTable(name string) string { return "main." + schema.Quote(name) }

func (q querier) Query(ctx context.Context, sql string, args ...any) ([][]any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st, tail, err := q.conn.Prepare(sql)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	defer st.Close()
	if strings.TrimSpace(tail) != "" {
		return nil, errors.New("query: one statement only")
	}
	if !st.ReadOnly() {
		return nil, errors.New("query: invariant checks may only read")
	}
	for i, a := range args {
		if err := merge.BindValue(st, i+1, a); err != nil {
			return nil, fmt.Errorf("query argument %d: %w", i+1, err)
		}
	}
	var rows [][]any
	for st.Step() {
		row := make([]any, st.ColumnCount())
		for i := range row {
			row[i] = merge.ColumnValue(st, i)
		}
		rows = append(rows, row)
	}
	if err := st.Err(); err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	return rows, nil
}

// Push implements store.Store.
func (s *Store) Push(ctx context.Context, p store.Push, check store.Checker) (store.PushResult, error) {
	if err := s.lock(); err != nil {
		return store.PushResult{}, err
	}
	defer s.mu.Unlock()
	if err := s.conn.Exec("BEGIN IMMEDIATE"); err != nil {
		return store.PushResult{}, fmt.Errorf("sqlitestore: push: %w", err)
	}
	res, err := s.push(ctx, &p, check)
	if err == nil {
		err = s.conn.Exec("COMMIT")
	}
	if err != nil {
		s.conn.Exec("ROLLBACK")
		return store.PushResult{}, fmt.Errorf("sqlitestore: push from %s: %w", p.Client, err)
	}
	return res, nil
}

// BindClient implements store.Store.
func (s *Store) BindClient(ctx context.Context, client, principal string) (string, error) {
	if err := s.lock(); err != nil {
		return "", err
	}
	s.mu.Unlock()
	// Read first, on the reader connection: all but a replica's first
	// hello find it bound, and need not queue behind pushes.
	r := s.reader
	var bound string
	err := r.read(func() error {
		rows, err := r.query(`SELECT principal FROM _hearth_clients WHERE client = ?1`, client)
		if err == nil && len(rows) > 0 {
			bound, _ = rows[0][0].(string)
		}
		return err
	})
	if err != nil {
		return "", fmt.Errorf("sqlitestore: bind client: %w", err)
	}
	if bound != "" || principal == "" {
		return bound, nil
	}
	if err := s.lock(); err != nil {
		return "", err
	}
	defer s.mu.Unlock()
	owner, err := s.owner(client)
	if err == nil && owner == "" && principal != "" {
		err = s.exec(`INSERT INTO _hearth_clients(client, principal) VALUES (?1, ?2) ON CONFLICT(client) DO NOTHING`, client, principal)
		if err == nil {
			owner, err = s.owner(client)
		}
	}
	if err != nil {
		return "", fmt.Errorf("sqlitestore: bind client: %w", err)
	}
	return owner, nil
}

// owner is the principal a client id is bound to ("" when unbound).
func (s *Store) owner(client string) (string, error) {
	rows, err := s.query(`SELECT principal FROM _hearth_clients WHERE client = ?1`, client)
	if err != nil || len(rows) == 0 {
		return "", err
	}
	owner, _ := rows[0][0].(string)
	return owner, nil
}

func (s *Store) push(ctx context.Context, p *store.Push, check store.Checker) (store.PushResult, error) {
	var res store.PushResult
	owner, err := s.owner(p.Client)
	if err != nil {
		return res, err
	}
	if owner != "" && owner != p.Principal {
		return res, fmt.Errorf("%w: client %q is bound to another principal than %q", store.ErrClientTaken, p.Client, p.Principal)
	}
	q := querier{conn: s.conn}
	w := writer{s}
	for i := range p.Changes {
		c := &p.Changes[i]
		out, done, err := s.repeat(p, c)
		if err != nil {
			return res, err
		}
		if !done {
			out, err = store.ApplyPushed(ctx, w, s.scopes, s.info.Version, q, p, c, check)
			if err != nil {
				return res, err
			}
		}
		res.Outcomes = append(res.Outcomes, out)
	}
	head, err := s.head()
	res.Head = head
	return res, err
}

// repeat answers a change this client pushed before with its first
// outcome, or another change pushed under a seq already answered with
// REPLAY_MISMATCH (see store.Recorded).
func (s *Store) repeat(p *store.Push, c *store.Pushed) (wire.Result, bool, error) {
	out := wire.Result{Seq: c.Seq}
	rows, err := s.query(`SELECT pos, coalesce(flag, ''), hlc, node, tbl, pk, op, 1 FROM _hearth_log WHERE client = ?1 AND seq = ?2
		UNION ALL SELECT pos, coalesce(flag, ''), hlc, node, NULL, NULL, NULL, 0 FROM _hearth_acked WHERE client = ?1 AND seq = ?2`, p.Client, c.Seq)
	if err != nil {
		return out, false, err
	}
	if len(rows) > 0 {
		if r := recorded(rows[0][2:]).Mismatch(p, c); r != nil {
			row, err := s.rowState(c.Table, c.Key)
			return store.Mismatched(c, r, row), true, err
		}
		out.Pos, _ = rows[0][0].(int64)
		out.State = wire.Acknowledged
		if flag, _ := rows[0][1].(string); flag != "" {
			out.State, out.Detail = wire.Flagged, flag
		}
		return out, true, nil
	}
	rows, err = s.query(`SELECT code, detail, hlc, node, NULL, NULL, NULL, 0 FROM _hearth_refused WHERE client = ?1 AND seq = ?2`, p.Client, c.Seq)
	if err != nil || len(rows) == 0 {
		return out, false, err
	}
	out.State = wire.Refused
	out.Code, _ = rows[0][0].(string)
	out.Detail, _ = rows[0][1].(string)
	if r := recorded(rows[0][2:]).Mismatch(p, c); r != nil {
		out = store.Mismatched(c, r, nil)
	}
	out.Row, err = s.rowState(c.Table, c.Key)
	return out, true, err
}

// recorded reads a verdict's record of its change: hlc, node, tbl, pk,
// op and whether the last three are known (a log entry's).
func recorded(cols []any) store.Recorded {
	var r store.Recorded
	ts, tsOK := cols[0].(int64)
	node, nodeOK := cols[1].(string)
	if tsOK && nodeOK {
		r.Stamp, r.StampKnown = hlc.Stamp{TS: hlc.Timestamp(ts), Node: node}, true
	}
	if known, _ := cols[5].(int64); known == 1 {
		r.Table, _ = cols[2].(string)
		r.Key, _ = cols[3].([]byte)
		if r.Key == nil {
			r.Key = []byte{}
		}
		op, _ := cols[4].(string)
		parsed, err := change.ParseOp(op)
		r.Op, r.ChangeKnown = parsed, err == nil
	}
	return r
}

// rowState is the stored row as changes, for a client to roll back to.
func (s *Store) rowState(table string, key []byte) ([]change.Change, error) {
	if s.applier.Table(table) == nil {
		return []change.Change{}, nil
	}
	if _, err := change.DecodeKey(key); err != nil {
		return []change.Change{}, nil
	}
	row, err := s.applier.RowChanges(table, key, s.info.Version)
	if row == nil {
		row = []change.Change{}
	}
	return row, err
}

// writer is the store's side of store.ApplyPushed: statements on the
// store's connection, inside the push's transaction.
type writer struct{ s *Store }

func (w writer) Check(c *change.Change) error { return w.s.applier.Check(c) }

func (w writer) RowScope(ctx context.Context, table string, key []byte) (store.Scope, error) {
	return w.s.rowScope(table, key)
}

func (w writer) Merge(ctx context.Context, c *change.Change) error {
	_, err := w.s.applier.Apply(c)
	return err
}

func (w writer) RecordScope(ctx context.Context, table string, key []byte, sc store.Scope) error {
	return w.s.exec(`INSERT INTO _hearth_scopes(tbl, pk, scope, hlc, node) VALUES (?1, ?2, ?3, ?4, ?5)
		ON CONFLICT(tbl, pk) DO UPDATE SET scope = excluded.scope, hlc = excluded.hlc, node = excluded.node`,
		table, key, sc.Value, int64(sc.Stamp.TS), sc.Stamp.Node)
}

func (w writer) AppendLog(ctx context.Context, client, principal string, seq int64, c *change.Change, scope, prev store.Scope) (int64, error) {
	return w.s.appendLog(client, principal, seq, c, scope, prev)
}

func (w writer) Flag(ctx context.Context, pos int64, detail string) error {
	return w.s.exec(`UPDATE _hearth_log SET flag = ?2 WHERE pos = ?1`, pos, detail)
}

func (w writer) Refuse(ctx context.Context, client string, seq int64, stamp hlc.Stamp, r *merge.Refusal) error {
	return w.s.exec(`INSERT INTO _hearth_refused(client, seq, code, detail, hlc, node) VALUES (?1, ?2, ?3, ?4, ?5, ?6)`,
		client, seq, r.Code, r.Message, int64(stamp.TS), stamp.Node)
}

func (w writer) RowState(ctx context.Context, table string, key []byte) ([]change.Change, error) {
	return w.s.rowState(table, key)
}

func (w writer) RowData(ctx context.Context, table string, key []byte) (store.RowData, error) {
	a := w.s.applier
	meta, err := a.LoadRow(table, key)
	if err != nil {
		return store.RowData{}, err
	}
	d := store.RowData{Meta: meta, Table: a.Table(table)}
	if !meta.Alive(d.Table.Resurrect) {
		return d, nil
	}
	d.Values, d.Found, err = a.RowValues(table, key)
	return d, err
}

func (w writer) SaveTextEpoch(ctx context.Context, table string, key []byte, col string, epoch uint64, state []byte) error {
	if err := w.s.exec(`INSERT OR REPLACE INTO _hearth_text_epochs(tbl, pk, col, epoch, state) VALUES (?1, ?2, ?3, ?4, ?5)`,
		table, key, col, int64(epoch), state); err != nil {
		return err
	}
	return w.s.exec(`DELETE FROM _hearth_text_epochs WHERE tbl = ?1 AND pk = ?2 AND col = ?3 AND epoch <= ?4`,
		table, key, col, int64(epoch)-store.TextEpochsKept)
}

func (w writer) TextEpoch(ctx context.Context, table string, key []byte, col string, epoch uint64) ([]byte, error) {
	rows, err := w.s.query(`SELECT state FROM _hearth_text_epochs WHERE tbl = ?1 AND pk = ?2 AND col = ?3 AND epoch = ?4`,
		table, key, col, int64(epoch))
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	state, _ := rows[0][0].([]byte)
	return state, nil
}

func (w writer) RowUsage(ctx context.Context, table string, key []byte) (string, int64, error) {
	rows, err := w.s.query(`SELECT principal, bytes FROM _hearth_row_usage WHERE tbl = ?1 AND pk = ?2`, table, key)
	if err != nil || len(rows) == 0 {
		return "", 0, err
	}
	owner, _ := rows[0][0].(string)
	n, _ := rows[0][1].(int64)
	return owner, n, nil
}

func (w writer) Usage(ctx context.Context, principal string) (int64, error) {
	return w.s.usage(principal)
}

func (w writer) Account(ctx context.Context, table string, key []byte, prevOwner string, prevBytes int64, owner string, n int64) error {
	if prevBytes != 0 {
		if err := w.s.exec(`UPDATE _hearth_usage SET bytes = bytes - ?2 WHERE principal = ?1`, prevOwner, prevBytes); err != nil {
			return err
		}
	}
	if n == 0 {
		return w.s.exec(`DELETE FROM _hearth_row_usage WHERE tbl = ?1 AND pk = ?2`, table, key)
	}
	if err := w.s.exec(`INSERT INTO _hearth_row_usage(tbl, pk, principal, bytes) VALUES (?1, ?2, ?3, ?4)
		ON CONFLICT(tbl, pk) DO UPDATE SET principal = excluded.principal, bytes = excluded.bytes`, table, key, owner, n); err != nil {
		return err
	}
	return w.s.exec(`INSERT INTO _hearth_usage(principal, bytes) VALUES (?1, ?2)
		ON CONFLICT(principal) DO UPDATE SET bytes = bytes + excluded.bytes`, owner, n)
}

// usage is what the rows a principal last wrote weigh (see
// store.Writer.Usage).
func (s *Store) usage(principal string) (int64, error) {
	rows, err := s.query(`SELECT bytes FROM _hearth_usage WHERE principal = ?1`, principal)
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	n, _ := rows[0][0].(int64)
	return n, nil
}

// backfillScopes records the scope of every stored row of a table whose
// scope rule is new or changed (rows written before it, which pushes did
// not record), once: _hearth_server remembers the column each table's
// scopes were recorded for. A row's scope is its merged scope column,
// stamped by the write that set it, as a push would have recorded it.
// Deleted rows whose scope column is gone keep no scope: no scoped client
// receives their tombstones.
func (s *Store) backfillScopes() error {
	// A table opened without a rule forgets its marker: pushes stop
	// recording its scopes, so a rule given again must start over.
	var markers []string
	for _, table := range s.scopes.Tables() {
		markers = append(markers, "scopes:"+table)
	}
	list, err := json.Marshal(append([]string{}, markers...))
	if err != nil {
		return err
	}
	if err := s.exec(`DELETE FROM _hearth_server WHERE k LIKE 'scopes:%' AND k NOT IN (SELECT value FROM json_each(?1))`, string(list)); err != nil {
		return err
	}
	for _, table := range s.scopes.Tables() {
		if s.scopes.Derived(table) {
			continue // set by pushes only: violations of older pushes keep none
		}
		col := s.scopes.Column(table)
		marker := "scopes:" + table
		rows, err := s.query(`SELECT v FROM _hearth_server WHERE k = ?1`, marker)
		if err != nil {
			return err
		}
		if len(rows) == 1 && rows[0][0] == col {
			continue
		}
		if err := s.conn.Exec("BEGIN IMMEDIATE"); err != nil {
			return err
		}
		err = s.backfillTable(table, marker, col)
		if err == nil {
			err = s.conn.Exec("COMMIT")
		}
		if err != nil {
			s.conn.Exec("ROLLBACK")
			return fmt.Errorf("%s: %w", table, err)
		}
	}
	return nil
}

func (s *Store) backfillTable(table, marker, col string) error {
	if err := s.exec(`DELETE FROM _hearth_scopes WHERE tbl = ?1`, table); err != nil {
		return err
	}
	keys, err := s.query(`SELECT pk FROM _hearth_rows WHERE tbl = ?1`, table)
	if err != nil {
		return err
	}
	for _, k := range keys {
		key, _ := k[0].([]byte)
		row, err := s.applier.RowChanges(table, key, s.info.Version)
		if err != nil {
			return err
		}
		sc := s.scopes.OfRow(table, key, row)
		if !sc.Known {
			continue
		}
		if err := s.exec(`INSERT INTO _hearth_scopes(tbl, pk, scope, hlc, node) VALUES (?1, ?2, ?3, ?4, ?5)`,
			table, key, sc.Value, int64(sc.Stamp.TS), sc.Stamp.Node); err != nil {
			return err
		}
	}
	return s.exec(`INSERT INTO _hearth_server(k, v) VALUES (?1, ?2) ON CONFLICT(k) DO UPDATE SET v = excluded.v`, marker, col)
}

// rowScope is a row's recorded scope.
func (s *Store) rowScope(table string, key []byte) (store.Scope, error) {
	rows, err := s.query(`SELECT scope, hlc, node FROM _hearth_scopes WHERE tbl = ?1 AND pk = ?2`, table, key)
	if err != nil || len(rows) == 0 {
		return store.Scope{}, err
	}
	v, _ := rows[0][0].(string)
	ts, _ := rows[0][1].(int64)
	node, _ := rows[0][2].(string)
	return store.Scope{Value: v, Stamp: hlc.Stamp{TS: hlc.Timestamp(ts), Node: node}, Known: true}, nil
}

// scopeArg is a scope as the log stores it: NULL when unknown.
func scopeArg(sc store.Scope) any {
	if !sc.Known {
		return nil
	}
	return sc.Value
}

func (s *Store) appendLog(client, principal string, seq int64, c *change.Change, scope, prev store.Scope) (int64, error) {
	var cols any
	if c.Op != change.Delete {
		var enc codec.Encoder
		if err := change.EncodeValues(&enc, c.Values); err != nil {
			return 0, err
		}
		cols = enc.Bytes()
	}
	var seqArg any = seq
	if client == "" {
		seqArg = nil
	}
	err := s.exec(`INSERT INTO _hearth_log(client, seq, tbl, pk, op, cols, hlc, node, sv, scope, prev, principal) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)`,
		client, seqArg, c.Table, c.Key, c.Op.Code(), cols, int64(c.Stamp.TS), c.Stamp.Node, c.Schema, scopeArg(scope), scopeArg(prev), principal)
	if err != nil {
		return 0, err
	}
	return s.conn.LastInsertRowID(), nil
}

// Log implements store.Store.
//
// It reads on the reader connection (see reader): every session reads
// the log after every commit, and on the writer's lock those reads
// queued the pushes behind them. A read transaction sees every commit
// made before it began, so a head announced after a push's commit is
// always there to read.
func (s *Store) Log(ctx context.Context, after int64, limit int) ([]store.Entry, int64, error) {
	if err := s.lock(); err != nil {
		return nil, 0, err
	}
	s.mu.Unlock()
	r := s.reader
	var out []store.Entry
	var head int64
	err := r.read(func() error {
		var err error
		out, head, err = r.log(after, limit)
		return err
	})
	return out, head, err
}

// log is Store.Log inside a read transaction: the floor and the head are
// of the same state as the entries.
func (r *reader) log(after int64, limit int) ([]store.Entry, int64, error) {
	floor, err := r.query(`SELECT coalesce((SELECT CAST(v AS INTEGER) FROM _hearth_server WHERE k = 'floor'), 0)`)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlitestore: read log floor: %w", err)
	}
	if f, _ := floor[0][0].(int64); after < f {
		return nil, 0, fmt.Errorf("sqlitestore: read log after %d: %w (floor %d)", after, store.ErrCompacted, f)
	}
	st, err := cachedStmt(r.conn, r.stmts, `SELECT pos, client, tbl, pk, op, cols, hlc, node, sv, scope, prev, principal FROM _hearth_log WHERE pos > ?1 ORDER BY pos LIMIT ?2`)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlitestore: read log: %w", err)
	}
	st.BindInt64(1, after)
	st.BindInt64(2, int64(limit))
	var out []store.Entry
	for st.Step() {
		op, err := change.ParseOp(st.ColumnText(4))
		if err != nil {
			st.Reset()
			return nil, 0, fmt.Errorf("sqlitestore: log entry %d: %w", st.ColumnInt64(0), err)
		}
		values, err := change.DecodeValues(st.ColumnRawBlob(5))
		if err != nil {
			st.Reset()
			return nil, 0, fmt.Errorf("sqlitestore: log entry %d: %w", st.ColumnInt64(0), err)
		}
		out = append(out, store.Entry{
			Pos:       st.ColumnInt64(0),
			Client:    st.ColumnText(1),
			Principal: st.ColumnText(11),
			Change: change.Change{
				Table: st.ColumnText(2), Key: st.ColumnBlob(3, nil), Op: op, Values: copyValues(values),
				Stamp:  hlc.Stamp{TS: hlc.Timestamp(st.ColumnInt64(6)), Node: st.ColumnText(7)},
				Schema: st.ColumnInt64(8),
			},
			Scope: logScope(st, 9),
			Prev:  logScope(st, 10),
		})
	}
	if err := st.Reset(); err != nil {
		return nil, 0, fmt.Errorf("sqlitestore: read log: %w", err)
	}
	head, err := r.head()
	return out, head, err
}

func logScope(st *sqlite3.Stmt, i int) store.Scope {
	if st.ColumnType(i) == sqlite3.NULL {
		return store.Scope{}
	}
	return store.Scope{Value: st.ColumnText(i), Known: true}
}

// copyValues copies blobs out of SQLite's memory: DecodeValues aliases
// its input, which ColumnRawBlob only lends until the next step.
func copyValues(m map[string]any) map[string]any {
	for k, v := range m {
		if b, ok := v.([]byte); ok {
			m[k] = append([]byte{}, b...)
		}
	}
	return m
}

// Snapshot implements store.Store. It reads on the reader connection,
// in one read transaction: the rows are those of the log position the
// chunk reports.
func (s *Store) Snapshot(ctx context.Context, at int64, after merge.Cursor, limit int, view *store.View) (store.Chunk, error) {
	if err := s.lock(); err != nil {
		return store.Chunk{}, err
	}
	version := s.info.Version
	s.mu.Unlock()
	r := s.reader
	var chunk store.Chunk
	err := r.read(func() error {
		head, err := r.head()
		if err != nil {
			return err
		}
		if at < 0 {
			at = head
		}
		if at > head {
			return fmt.Errorf("%w: snapshot position %d is beyond the log head %d", store.ErrBadRequest, at, head)
		}
		if view == nil {
			total, err := r.applier.CountRows()
			if err != nil {
				return err
			}
			page, err := r.applier.Snapshot(after, limit, version)
			if err != nil {
				return fmt.Errorf("sqlitestore: snapshot: %w", err)
			}
			chunk = store.Chunk{At: at, Changes: page.Changes, Rows: int64(page.Rows), Total: total, Next: page.Next, Done: page.Done}
			return nil
		}
		chunk, err = r.viewSnapshot(after, limit, view, version)
		if err != nil {
			return fmt.Errorf("sqlitestore: snapshot: %w", err)
		}
		chunk.At = at
		return nil
	})
	if err != nil {
		return store.Chunk{}, err
	}
	return chunk, nil
}

// A view's rows are those of the tables without a scope rule, read from
// _hearth_rows, those of the view's scopes, read from _hearth_scopes by
// its scope index, and violations about rows without a scope: rows of other scopes are never visited, let alone
// read as row state. The scoped tables and the scopes are bound as JSON
// arrays (?1, ?2); View.ScopedOnly is ?3 in viewCount, ?6 in viewPage.
const (
	viewCount = `SELECT (SELECT count(*) FROM _hearth_rows WHERE NOT ?3 AND tbl NOT IN (SELECT value FROM json_each(?1)))
		+ (SELECT count(*) FROM _hearth_scopes WHERE scope IN (SELECT value FROM json_each(?2)) AND tbl IN (SELECT value FROM json_each(?1)))
		+ (SELECT count(*) FROM _hearth_rows r WHERE tbl = '_hearth_violations' AND tbl IN (SELECT value FROM json_each(?1))
			AND NOT EXISTS (SELECT 1 FROM _hearth_scopes s WHERE s.tbl = r.tbl AND s.pk = r.pk))`
	viewPage = `SELECT tbl, pk FROM (
		SELECT tbl, pk FROM _hearth_rows WHERE NOT ?6 AND tbl NOT IN (SELECT value FROM json_each(?1)) AND (tbl, pk) > (?3, ?4)
		UNION ALL
		SELECT tbl, pk FROM _hearth_scopes WHERE scope IN (SELECT value FROM json_each(?2)) AND tbl IN (SELECT value FROM json_each(?1)) AND (tbl, pk) > (?3, ?4)
		UNION ALL
		SELECT tbl, pk FROM _hearth_rows r WHERE tbl = '_hearth_violations' AND tbl IN (SELECT value FROM json_each(?1)) AND (tbl, pk) > (?3, ?4)
			AND NOT EXISTS (SELECT 1 FROM _hearth_scopes s WHERE s.tbl = r.tbl AND s.pk = r.pk)
	) ORDER BY tbl, pk LIMIT ?5`
)

func (r *reader) viewSnapshot(after merge.Cursor, limit int, view *store.View, version int64) (store.Chunk, error) {
	s := r
	var chunk store.Chunk
	tables, err := json.Marshal(s.scopes.Tables())
	if err != nil {
		return chunk, err
	}
	scopes, err := json.Marshal(append([]string{}, view.Scopes...))
	if err != nil {
		return chunk, err
	}
	scopedOnly := int64(0)
	if view.ScopedOnly {
		scopedOnly = 1
	}
	counted, err := s.query(viewCount, string(tables), string(scopes), scopedOnly)
	if err != nil {
		return chunk, err
	}
	chunk.Total, _ = counted[0][0].(int64)
	key := after.Key
	if key == nil {
		key = []byte{}
	}
	rows, err := s.query(viewPage, string(tables), string(scopes), after.Table, key, int64(limit), scopedOnly)
	if err != nil {
		return chunk, err
	}
	chunk.Next = after
	for _, r := range rows {
		cur := merge.Cursor{Table: r[0].(string)}
		cur.Key, _ = r[1].([]byte)
		if cur.Key == nil {
			cur.Key = []byte{}
		}
		chunk.Next = cur
		if s.applier.Table(cur.Table) == nil {
			continue
		}
		chs, err := s.applier.RowChanges(cur.Table, cur.Key, version)
		if err != nil {
			return chunk, err
		}
		chunk.Changes = append(chunk.Changes, chs...)
	}
	chunk.Rows = int64(len(rows))
	chunk.Done = len(rows) < limit
	return chunk, nil
}

// Row implements store.Store.
// It reads on the reader connection, like Log.
func (s *Store) Row(ctx context.Context, table string, key []byte) ([]change.Change, store.Scope, error) {
	if err := s.lock(); err != nil {
		return nil, store.Scope{}, err
	}
	version := s.info.Version
	s.mu.Unlock()
	r := s.reader
	row := []change.Change{}
	var sc store.Scope
	err := r.read(func() error {
		if r.applier.Table(table) == nil {
			return nil
		}
		if _, err := change.DecodeKey(key); err != nil {
			return nil
		}
		changes, err := r.applier.RowChanges(table, key, version)
		if err != nil {
			return fmt.Errorf("sqlitestore: read row: %w", err)
		}
		if changes != nil {
			row = changes
		}
		rows, err := r.query(`SELECT scope, hlc, node FROM _hearth_scopes WHERE tbl = ?1 AND pk = ?2`, table, key)
		if err != nil {
			return fmt.Errorf("sqlitestore: read row scope: %w", err)
		}
		if len(rows) > 0 {
			v, _ := rows[0][0].(string)
			ts, _ := rows[0][1].(int64)
			node, _ := rows[0][2].(string)
			sc = store.Scope{Value: v, Stamp: hlc.Stamp{TS: hlc.Timestamp(ts), Node: node}, Known: true}
		}
		return nil
	})
	if err != nil {
		return nil, store.Scope{}, err
	}
	return row, sc, nil
}

// Compact implements store.Store.
func (s *Store) Compact(ctx context.Context, before int64) (int64, error) {
	if err := s.lock(); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	head, err := s.head()
	if err != nil {
		return 0, err
	}
	before = min(before, head)
	if before <= s.floor {
		return s.floor, nil
	}
	if err := s.conn.Exec("BEGIN IMMEDIATE"); err != nil {
		return 0, fmt.Errorf("sqlitestore: compact: %w", err)
	}
	err = s.exec(`INSERT OR IGNORE INTO _hearth_acked(client, seq, pos, flag, hlc, node) SELECT client, seq, pos, flag, hlc, node FROM _hearth_log WHERE pos <= ?1 AND seq IS NOT NULL`, before)
	if err == nil {
		err = s.exec(`DELETE FROM _hearth_log WHERE pos <= ?1`, before)
	}
	if err == nil {
		err = s.exec(`INSERT INTO _hearth_server(k, v) VALUES ('floor', ?1) ON CONFLICT(k) DO UPDATE SET v = excluded.v`, before)
	}
	if err == nil {
		err = s.conn.Exec("COMMIT")
	}
	if err != nil {
		s.conn.Exec("ROLLBACK")
		return 0, fmt.Errorf("sqlitestore: compact: %w", err)
	}
	s.floor = before
	return before, nil
}

// Checksums implements store.Store. It reads on the reader connection,
// in one read transaction: the sums are those of the position returned.
func (s *Store) Checksums(ctx context.Context) (int64, map[string]checksum.Sum, error) {
	if err := s.lock(); err != nil {
		return 0, nil, err
	}
	tables := s.info.Tables
	s.mu.Unlock()
	r := s.reader
	var head int64
	var sums map[string]checksum.Sum
	err := r.read(func() error {
		var err error
		if head, err = r.head(); err != nil {
			return err
		}
		if sums, err = checksum.Tables(r.conn, tables); err != nil {
			return fmt.Errorf("sqlitestore: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return head, sums, nil
}

// Close implements store.Store.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	for _, st := range s.stmts {
		st.Close()
	}
	if s.applier != nil {
		s.applier.Close()
	}
	return errors.Join(s.reader.close(), s.conn.Close())
}

var _ store.Store = (*Store)(nil)
var _ store.Writer = writer{}
