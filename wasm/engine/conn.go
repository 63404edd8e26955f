package engine

import (
	"container/list"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hearthdb/hearth/codec"
	"github.com/hearthdb/hearth/codec/sqlcodec"
	"github.com/hearthdb/hearth/internal/sqlseries"
	"github.com/hearthdb/hearth/wasm/protocol"
	"github.com/ncruces/go-sqlite3"
)

// stmtCacheSize bounds the prepared statements kept per connection. Apps
// issue a small set of distinct SQL texts over and over; re-preparing them
// costs more than running them.
const stmtCacheSize = 128

// Conn is one open database: a SQLite connection plus its statement cache.
// It is not safe for concurrent use; the Engine gives each Conn to exactly
// one goroutine.
type Conn struct {
	db       *sqlite3.Conn
	location Location
	cache    stmtCache

	// preparing receives the authorizer's reports while a statement is
	// prepared: which tables it reads and writes.
	preparing *stmtTables
	// written accumulates the tables written since the last TakeChanges,
	// schemaChanged whether DDL ran; wroteRows and wroteColumns say how
	// (see changes).
	written       map[string]struct{}
	wroteRows     map[string]struct{}
	wroteColumns  map[string]map[string]struct{}
	schemaChanged bool
	// shapes is what a live query's refresh needs to know of each table
	// (livecolumns.go), found when first needed, for the schema version
	// shapesVersion.
	shapes        map[string]tableShape
	shapesVersion int64
	// tracked names the tables (as declared) whose changed rows are
	// recorded by key, with the table column holding the key: the tables
	// of the live queries that can be patched (livepatch.go). rowChanges
	// holds what was recorded since the last TakeChanges.
	tracked    map[string]int
	rowChanges map[string]*changedKeys
	keyEnc     codec.Encoder
	// walWritten: a commit since the last idle checkpoint.
	walWritten bool

	// requestsReady: the write-id table exists (requests.go);
	// sinceRequestsPrune counts write ids recorded since it was pruned.
	requestsReady      bool
	sinceRequestsPrune int

	// releaseJournal gives back the statements the sync journal keeps
	// prepared on this connection (journal.KeepStatements), nil when it
	// keeps none.
	releaseJournal func()
}

// stmtTables is what the authorizer reported for one statement.
type stmtTables struct {
	reads  map[string]struct{}
	writes map[string]struct{}
	ddl    bool
	// readColumns lists, by table read, the columns the statement names
	// ("" for a table read without naming any of its columns, as by
	// count(*)); viaView is set when a read came through a view, whose
	// text the statement's own does not show.
	readColumns map[string]map[string]struct{}
	viaView     bool
	// columnsDecide caches namedColumns's verdict (livecolumns.go).
	columnsChecked, columnsDecide bool
	// rowWrites names the tables whose rows it inserts or deletes,
	// updates the columns it sets in each table it updates (its triggers'
	// and foreign-key actions' writes included).
	rowWrites map[string]struct{}
	updates   map[string]map[string]struct{}
}

func newStmtTables() *stmtTables {
	return &stmtTables{reads: map[string]struct{}{}, writes: map[string]struct{}{},
		readColumns: map[string]map[string]struct{}{}, rowWrites: map[string]struct{}{}, updates: map[string]map[string]struct{}{}}
}

// addColumn adds column to the set of table in m.
func addColumn(m map[string]map[string]struct{}, table, column string) {
	cols := m[table]
	if cols == nil {
		cols = map[string]struct{}{}
		m[table] = cols
	}
	cols[column] = struct{}{}
}

// authorize records table access while a statement is prepared. It never
// denies anything: it is how the worker learns, for free at prepare time,
// which tables a query depends on and which a write changes (triggers,
// views and foreign-key actions included, since they are compiled into the
// statement).
func (c *Conn) authorize(action sqlite3.AuthorizerActionCode, name3rd, name4th, _, inner string) sqlite3.AuthorizerReturnCode {
	t := c.preparing
	if t == nil {
		return sqlite3.AUTH_OK
	}
	switch action {
	case sqlite3.AUTH_READ:
		table := strings.ToLower(name3rd)
		t.reads[table] = struct{}{}
		addColumn(t.readColumns, table, strings.ToLower(name4th))
		if inner != "" {
			t.viaView = true // for a SELECT, the view; in a write, a trigger
		}
	case sqlite3.AUTH_INSERT, sqlite3.AUTH_DELETE:
		table := strings.ToLower(name3rd)
		t.writes[table] = struct{}{}
		t.rowWrites[table] = struct{}{}
	case sqlite3.AUTH_UPDATE:
		table := strings.ToLower(name3rd)
		t.writes[table] = struct{}{}
		addColumn(t.updates, table, strings.ToLower(name4th))
	case sqlite3.AUTH_CREATE_TABLE, sqlite3.AUTH_CREATE_VIEW, sqlite3.AUTH_CREATE_TRIGGER, sqlite3.AUTH_CREATE_INDEX,
		sqlite3.AUTH_DROP_TABLE, sqlite3.AUTH_DROP_VIEW, sqlite3.AUTH_DROP_TRIGGER, sqlite3.AUTH_DROP_INDEX,
		sqlite3.AUTH_ALTER_TABLE, sqlite3.AUTH_CREATE_VTABLE, sqlite3.AUTH_DROP_VTABLE:
		t.ddl = true
	}
	return sqlite3.AUTH_OK
}

// prepare prepares the first statement of sql and records its tables.
func (c *Conn) prepare(sql string, flags sqlite3.PrepareFlag) (*sqlite3.Stmt, *stmtTables, string, error) {
	t := newStmtTables()
	c.preparing = t
	s, tail, err := c.db.PrepareFlags(sql, flags)
	c.preparing = nil
	return s, t, tail, err
}

// ran notes that a statement executed, so its writes count as changes.
func (c *Conn) ran(t *stmtTables) {
	for name := range t.writes {
		c.written[name] = struct{}{}
	}
	for name := range t.rowWrites {
		c.wroteRows[name] = struct{}{}
	}
	for name, cols := range t.updates {
		for col := range cols {
			addColumn(c.wroteColumns, name, col)
		}
	}
	if t.ddl {
		c.schemaChanged = true
	}
}

// markWritten records writes made outside the tracked statements (the
// sync client's), so live queries over those tables refresh.
func (c *Conn) markWritten(tables []string) {
	for _, name := range tables {
		name = strings.ToLower(name)
		c.written[name] = struct{}{}
		c.wroteRows[name] = struct{}{}
	}
}

// changes is what was written between two TakeChanges.
type changes struct {
	tables map[string]struct{}
	// rowWrites names those of tables that may have gained or lost rows
	// (or were written by something the authorizer does not see); the
	// others were only updated, in the columns that columns lists.
	rowWrites map[string]struct{}
	columns   map[string]map[string]struct{}
	// rows: for each tracked table written, the keys of its changed rows.
	rows   map[string]*changedKeys
	schema bool
}

// TakeChanges returns the tables written (and whether the schema changed)
// since the last call, and starts afresh. Rolled-back writes are included:
// the set over-approximates, which costs a re-run, never a missed update.
func (c *Conn) TakeChanges() changes {
	ch := changes{tables: c.written, rowWrites: c.wroteRows, columns: c.wroteColumns, rows: c.rowChanges, schema: c.schemaChanged}
	c.written, c.wroteRows, c.wroteColumns = map[string]struct{}{}, map[string]struct{}{}, map[string]map[string]struct{}{}
	c.rowChanges, c.schemaChanged = map[string]*changedKeys{}, false
	return ch
}

// restoreChanges puts back changes taken before a commit that then
// failed, so that the next TakeChanges includes them.
func (c *Conn) restoreChanges(ch changes) {
	for t := range ch.tables {
		c.written[t] = struct{}{}
	}
	for t := range ch.rowWrites {
		c.wroteRows[t] = struct{}{}
	}
	for t, cols := range ch.columns {
		for col := range cols {
			addColumn(c.wroteColumns, t, col)
		}
	}
	c.schemaChanged = c.schemaChanged || ch.schema
	for t, ck := range ch.rows {
		cur := c.rowChanges[t]
		if cur == nil {
			cur = &changedKeys{keys: map[string]struct{}{}}
			c.rowChanges[t] = cur
		}
		if ck.overflow || cur.overflow || len(cur.keys)+len(ck.keys) > maxPatchKeys {
			cur.overflow, cur.keys = true, nil
			continue
		}
		for k := range ck.keys {
			cur.keys[k] = struct{}{}
		}
	}
}

// InTransaction reports whether the app holds a transaction open.
func (c *Conn) InTransaction() bool { return !c.db.GetAutocommit() }

// OpenConn opens the database at loc and runs its pragmas.
func OpenConn(loc Location) (*Conn, error) {
	c := &Conn{location: loc, written: map[string]struct{}{}, wroteRows: map[string]struct{}{},
		wroteColumns: map[string]map[string]struct{}{}, rowChanges: map[string]*changedKeys{}}
	c.cache.init()
	if err := c.open(); err != nil {
		return nil, err
	}
	return c, nil
}

// open opens c's location as c.db; on failure the storage is released.
// A file a replica's whole write left unfinished is emptied and opened
// again (emptyUnfinishedFile).
func (c *Conn) open() error {
	err := c.openDB()
	if isNotADatabase(err) {
		if emptied, _ := emptyUnfinishedFile(c.location); emptied {
			err = c.openDB()
		}
	}
	if err != nil {
		release(c.location)
	}
	return err
}

// openDB opens c.db and runs the location's pragmas.
func (c *Conn) openDB() error {
	loc := c.location
	db, err := sqlite3.Open(loc.URI)
	if err != nil {
		return sqlError(err)
	}
	fail := func(err error) error {
		db.Close()
		return err
	}
	if loc.Encrypted {
		// The first read of page 1 tells a wrong key (garbage) from the
		// right one; say so plainly instead of "file is not a database".
		if err := db.Exec("SELECT count(*) FROM sqlite_schema"); err != nil {
			if errors.Is(err, sqlite3.NOTADB) {
				return fail(protocol.Errorf(protocol.CodeWrongKey, "the encryption key does not open this database (or it is not encrypted)"))
			}
			return fail(sqlError(err))
		}
	}
	for _, p := range loc.Pragmas {
		if err := db.Exec(p); err != nil {
			return fail(fmt.Errorf("%s: %w", p, sqlError(err)))
		}
	}
	// The worker's SQLite module lacks SQLite's ext/misc extensions
	// (docs/sqlite-module.md): generate_series comes from Go, on every
	// build, so that it behaves the same everywhere.
	if err := sqlseries.Register(db); err != nil {
		return fail(sqlError(err))
	}
	if err := db.SetAuthorizer(c.authorize); err != nil {
		return fail(sqlError(err))
	}
	// Before any statement is prepared: SQLite compiles DELETE without
	// WHERE to a truncation that no hook sees unless this hook is set.
	db.PreUpdateHook(c.preupdate)
	c.db = db
	return nil
}

// closeDB closes c's SQLite connection and its statements, keeping the
// storage (Close releases it too).
func (c *Conn) closeDB() error {
	c.cache.clear()
	if c.releaseJournal != nil {
		c.releaseJournal()
		c.releaseJournal = nil
	}
	for _, s := range slices.Collect(c.db.Stmts()) {
		s.Close()
	}
	return sqlError(c.db.Close())
}

// release gives up a location's storage handles after a failed open.
func release(loc Location) {
	if loc.Release != nil {
		loc.Release()
	}
}

// committed is told of each commit: the WAL is due an idle checkpoint,
// and the storage may take its headroom back.
func (c *Conn) committed() {
	c.walWritten = true
	if c.location.Headroom != nil {
		c.location.Headroom.Reclaim(c.db) //nolint:errcheck // retried after the next commit
	}
}

// checkpointIdle copies the WAL into the database and empties it, once
// the database has rested after its commits: a WAL left as the last
// checkpoint found it is read whole by the next open (a WAL without
// shared memory, as in the browser, is recovered by reading every valid
// frame), up to the automatic checkpoint's 1,000 pages on every page
// load. Not while the storage's reserve is spent: at the quota a
// checkpoint that grows the database file would take the room the app's
// deletes need (the reserve's Reclaim checkpoints then, with a bound).
// A no-op without a WAL.
func (c *Conn) checkpointIdle() {
	c.walWritten = false
	if c.location.Headroom != nil {
		// A reserve that cannot say it is held: leave the WAL to Reclaim.
		if h, ok := c.location.Headroom.(interface{ HeadroomHeld() bool }); !ok || !h.HeadroomHeld() {
			return
		}
	}
	c.db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`) //nolint:errcheck // the next automatic checkpoint tries again
}

// failed spends the storage's headroom when err, a page request's
// failure, is the quota's: the app's deletes that follow need room.
func (c *Conn) failed(err error) {
	var perr *protocol.Error
	if c != nil && c.location.Headroom != nil && errors.As(err, &perr) && perr.Code == protocol.CodeStorageQuota {
		c.location.Headroom.SpendHeadroom()
	}
}

// Location reports where the database lives.
func (c *Conn) Location() Location { return c.location }

// Close finalizes cached statements, and any other statement still
// prepared on the connection (the sync client's, when it stopped before
// it could close them on this goroutine), and closes the connection.
func (c *Conn) Close() error {
	err := c.closeDB()
	if c.location.Release != nil {
		if rerr := c.location.Release(); rerr != nil && err == nil {
			err = fmt.Errorf("releasing storage: %w", rerr)
		}
	}
	return err
}

// ExecResult is what a statement that returns no rows reports.
type ExecResult struct {
	Changes         int64
	LastInsertRowID int64
}

// Exec runs sql, which may hold several statements; params bind to the first
// statement that has parameters. Rows a statement returns are discarded.
func (c *Conn) Exec(sql string, params any) (ExecResult, error) {
	err := c.eachStatement(sql, params, func(s *sqlite3.Stmt) error {
		for s.Step() {
		}
		return s.Err()
	})
	if err != nil {
		return ExecResult{}, err
	}
	return ExecResult{Changes: c.db.Changes(), LastInsertRowID: c.db.LastInsertRowID()}, nil
}

// Query runs one statement and writes {columns, rows} to enc. Rows are
// encoded straight from SQLite's memory, with no intermediate Go values.
func (c *Conn) Query(sql string, params any, enc *codec.Encoder) error {
	s, t, cached, err := c.prepareOne(sql)
	if err != nil {
		return err
	}
	defer c.release(s, cached)
	if err := bindParams(s, params); err != nil {
		return err
	}
	defer c.ran(t)
	return writeRows(s, enc)
}

func writeRows(s *sqlite3.Stmt, enc *codec.Encoder) error {
	n := s.ColumnCount()
	enc.Map(2)
	enc.Key("columns")
	enc.Array(n)
	for i := range n {
		enc.Text(s.ColumnName(i))
	}
	enc.Key("rows")
	countPos := enc.BeginCount(codec.TagArray)
	rows := 0
	for s.Step() {
		sqlcodec.WriteRow(enc, s, n)
		rows++
	}
	enc.EndCount(countPos, rows)
	return sqlError(s.Err())
}

// Statement is one entry of a batch.
type Statement struct {
	SQL    string
	Params any
}

// Batch runs statements in one transaction: all of them or none. It nests
// inside a transaction the app opened itself (a savepoint). Each statement's
// result — rows for statements that return columns, else changes — is written
// to enc as an array. On failure the error is a *protocol.Error whose Index
// names the failing statement, and nothing the batch did remains.
func (c *Conn) Batch(stmts []Statement, enc *codec.Encoder) error {
	if err := c.db.Exec("SAVEPOINT hearth_batch"); err != nil {
		return sqlError(err)
	}
	enc.Map(1)
	enc.Key("results")
	enc.Array(len(stmts))
	for i, st := range stmts {
		if err := c.batchStatement(st, enc); err != nil {
			// ROLLBACK TO undoes the work, RELEASE ends the savepoint
			// (and commits nothing when it was the outermost transaction).
			rbErr := c.db.Exec("ROLLBACK TO hearth_batch; RELEASE hearth_batch")
			perr := asProtocolError(err)
			perr.Index = i
			if rbErr != nil {
				perr.Message += fmt.Sprintf(" (and the rollback failed: %v)", rbErr)
			}
			return perr
		}
	}
	if err := c.db.Exec("RELEASE hearth_batch"); err != nil {
		c.db.Exec("ROLLBACK TO hearth_batch; RELEASE hearth_batch")
		perr := asProtocolError(sqlError(err))
		perr.Index = len(stmts)
		return perr
	}
	return nil
}

func (c *Conn) batchStatement(st Statement, enc *codec.Encoder) error {
	s, t, cached, err := c.prepareOne(st.SQL)
	if err != nil {
		return err
	}
	defer c.release(s, cached)
	if err := bindParams(s, st.Params); err != nil {
		return err
	}
	defer c.ran(t)
	if s.ColumnCount() > 0 {
		return writeRows(s, enc)
	}
	for s.Step() {
	}
	if err := s.Err(); err != nil {
		return sqlError(err)
	}
	writeExecResult(enc, ExecResult{Changes: c.db.Changes(), LastInsertRowID: c.db.LastInsertRowID()})
	return nil
}

func writeExecResult(enc *codec.Encoder, r ExecResult) {
	enc.Map(2)
	enc.Key("changes")
	enc.Int(r.Changes)
	enc.Key("lastInsertRowid")
	enc.Int(r.LastInsertRowID)
}

// prepareOne prepares a single statement, from the cache when possible.
func (c *Conn) prepareOne(sql string) (s *sqlite3.Stmt, t *stmtTables, cached bool, err error) {
	if e := c.cache.get(sql); e != nil {
		return e.stmt, e.tables, true, nil
	}
	s, t, tail, err := c.prepare(sql, sqlite3.PREPARE_PERSISTENT)
	if err != nil {
		return nil, nil, false, sqlError(err)
	}
	if s == nil {
		return nil, nil, false, protocol.Errorf(protocol.CodeBadRequest, "sql holds no statement")
	}
	if !onlyComments(tail) {
		s.Close()
		return nil, nil, false, protocol.Errorf(protocol.CodeBadRequest, "sql holds more than one statement; use exec or batch")
	}
	c.cache.put(sql, s, t)
	return s, t, true, nil
}

// release makes a statement ready for its next use.
func (c *Conn) release(s *sqlite3.Stmt, cached bool) {
	if !cached {
		s.Close()
		return
	}
	s.Reset()
	s.ClearBindings()
}

// eachStatement prepares and runs every statement in sql. A text holding one
// statement goes through the cache; the statements of a multi-statement text
// (schema scripts) are prepared afresh since such texts rarely repeat.
func (c *Conn) eachStatement(sql string, params any, run func(*sqlite3.Stmt) error) error {
	if e := c.cache.get(sql); e != nil {
		defer c.release(e.stmt, true)
		if err := bindParams(e.stmt, params); err != nil {
			return err
		}
		defer c.ran(e.tables)
		return sqlError(run(e.stmt))
	}
	bound := params == nil
	for first := true; ; first = false {
		s, t, tail, err := c.prepare(sql, sqlite3.PREPARE_PERSISTENT)
		if err != nil {
			return sqlError(err)
		}
		if s == nil { // only whitespace or comments remained
			if first {
				return protocol.Errorf(protocol.CodeBadRequest, "sql holds no statement")
			}
			break
		}
		cache := first && onlyComments(tail)
		if cache {
			c.cache.put(sql, s, t)
		}
		if s.BindCount() > 0 {
			var err error
			switch {
			case !bound:
				err = bindParams(s, params)
				bound = true
			case params == nil:
				err = bindParams(s, nil)
			default:
				err = protocol.Errorf("SQLITE_RANGE", "params bind to the first statement that has parameters; a later statement has parameters too")
			}
			if err != nil {
				c.release(s, cache)
				return err
			}
		}
		err = run(s)
		c.ran(t)
		c.release(s, cache)
		if err != nil {
			return sqlError(err)
		}
		if onlyComments(tail) {
			break
		}
		sql = tail
	}
	if !bound {
		return protocol.Errorf("SQLITE_RANGE", "params were given but no statement has parameters")
	}
	return nil
}

// onlyComments reports whether s holds nothing but SQL comments and space.
func onlyComments(s string) bool {
	for {
		s = strings.TrimSpace(s)
		switch {
		case s == "":
			return true
		case strings.HasPrefix(s, "--"):
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				return true
			}
			s = s[i+1:]
		case strings.HasPrefix(s, "/*"):
			i := strings.Index(s, "*/")
			if i < 0 {
				return true
			}
			s = s[i+2:]
		default:
			return false
		}
	}
}

// stmtCache is a small LRU of prepared statements keyed by SQL text.
type stmtCache struct {
	order *list.List // front = most recently used; values are *cacheEntry
	bySQL map[string]*list.Element
}

type cacheEntry struct {
	sql    string
	stmt   *sqlite3.Stmt
	tables *stmtTables
}

func (sc *stmtCache) init() {
	sc.order = list.New()
	sc.bySQL = make(map[string]*list.Element)
}

func (sc *stmtCache) get(sql string) *cacheEntry {
	el, ok := sc.bySQL[sql]
	if !ok {
		return nil
	}
	sc.order.MoveToFront(el)
	return el.Value.(*cacheEntry)
}

func (sc *stmtCache) put(sql string, s *sqlite3.Stmt, t *stmtTables) {
	sc.bySQL[sql] = sc.order.PushFront(&cacheEntry{sql: sql, stmt: s, tables: t})
	for sc.order.Len() > stmtCacheSize {
		el := sc.order.Back()
		e := el.Value.(*cacheEntry)
		e.stmt.Close()
		delete(sc.bySQL, e.sql)
		sc.order.Remove(el)
	}
}

func (sc *stmtCache) clear() {
	for el := sc.order.Front(); el != nil; el = el.Next() {
		el.Value.(*cacheEntry).stmt.Close()
	}
	sc.init()
}

// bindParams binds an array (positional) or map (named) of decoded values.
func bindParams(s *sqlite3.Stmt, params any) error {
	return bindParamsN(s, params, s.BindCount())
}

// bindParamsN binds params to the statement's first n parameters (a
// patch's single-row query has one more, its own, after the app's).
func bindParamsN(s *sqlite3.Stmt, params any, n int) error {
	switch p := params.(type) {
	case nil:
		if n > 0 {
			return protocol.Errorf("SQLITE_RANGE", "statement has %d parameters but no params were given", n)
		}
	case []any:
		if len(p) != n {
			return protocol.Errorf("SQLITE_RANGE", "statement has %d parameters, got %d values", n, len(p))
		}
		for i, v := range p {
			if err := bindValue(s, i+1, v); err != nil {
				return err
			}
		}
	case map[string]any:
		for i := 1; i <= n; i++ {
			name := s.BindName(i)
			if name == "" {
				return protocol.Errorf("SQLITE_RANGE", "parameter %d is positional; pass an array", i)
			}
			v, ok := p[name]
			if !ok {
				v, ok = p[name[1:]]
			}
			if !ok {
				return protocol.Errorf("SQLITE_RANGE", "no value for parameter %s", name)
			}
			if err := bindValue(s, i, v); err != nil {
				return err
			}
		}
	default:
		return protocol.Errorf(protocol.CodeBadRequest, "params must be an array or a map, got %s", codec.TypeName(params))
	}
	return nil
}

func bindValue(s *sqlite3.Stmt, i int, v any) error {
	var err error
	switch v := v.(type) {
	case nil:
		err = s.BindNull(i)
	case bool:
		err = s.BindBool(i, v)
	case int64:
		err = s.BindInt64(i, v)
	case float64:
		err = s.BindFloat(i, v)
	case string:
		err = s.BindText(i, v)
	case []byte:
		err = s.BindBlob(i, v)
	default:
		return protocol.Errorf(protocol.CodeBadRequest, "parameter %d: cannot bind a %s", i, codec.TypeName(v))
	}
	return sqlError(err)
}

// sqlError turns a SQLite error into a *protocol.Error coded with SQLite's
// extended result code name; other errors pass through.
func sqlError(err error) error {
	if err == nil {
		return nil
	}
	var perr *protocol.Error
	if errors.As(err, &perr) {
		return err
	}
	// go-sqlite3 returns *sqlite3.Error when SQLite has a message, and a
	// bare ExtendedErrorCode when it has none.
	var code sqlite3.ExtendedErrorCode
	var serr *sqlite3.Error
	switch {
	case errors.As(err, &serr):
		code = serr.ExtendedCode()
	case errors.As(err, &code):
	default:
		return err
	}
	if code.Code() == sqlite3.FULL {
		// The browser's quota (or max_page_count) ran out. SQLite has
		// rolled the statement back; the database is intact.
		return &protocol.Error{Code: protocol.CodeStorageQuota, Message: "storage is full: " + err.Error(), Index: -1}
	}
	return &protocol.Error{Code: CodeName(code), Message: err.Error(), Index: -1}
}

// CodeName names an extended result code the way SQLite's C API does.
func CodeName(code sqlite3.ExtendedErrorCode) string {
	if name, ok := extendedCodeNames[code]; ok {
		return name
	}
	if name, ok := primaryCodeNames[code.Code()]; ok {
		return name
	}
	return fmt.Sprintf("SQLITE_%d", code)
}

func asProtocolError(err error) *protocol.Error {
	var perr *protocol.Error
	if errors.As(err, &perr) {
		cp := *perr
		return &cp
	}
	return &protocol.Error{Code: protocol.CodeInternal, Message: err.Error(), Index: -1}
}
