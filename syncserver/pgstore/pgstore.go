// Package pgstore is a sync server store on PostgreSQL (github.com/jackc/pgx),
// for deployments that run several server instances on one database. It
// has the semantics of the embedded SQLite store (syncserver/sqlitestore):
// pushes idempotent by (client, seq), the field-level merge of
// syncworker/merge with its tie-breaks and tombstones, one global log,
// resumable snapshots, and checksums equal to the ones clients compute.
//
// The app's schema stays SQLite SQL: see shape.go for how its synced
// tables become typed PostgreSQL tables.
//
// Usage:
//
//	st, err := pgstore.Open(ctx, "postgres://user@host/db", pgstore.WithSchema("hearth"))
//	srv, err := syncserver.New(syncserver.Config{Store: st, ...})
//
// Every instance started this way on the same database and schema shares
// its log; Store implements store.HeadWatcher, so each instance learns of
// the others' pushes (LISTEN/NOTIFY, with a polling fallback) and fans
// them out to its own clients.
//
// # Hearth's schema
//
// Everything the store creates (its _hearth_* tables and the app's synced
// tables) lives in one PostgreSQL schema, "hearth" unless WithSchema
// names another, and its connections' search_path is that schema alone,
// so the app's own tables of the same names elsewhere are never touched.
// The registry <schema>._hearth_tables is the marker of the tables the
// store created; it alters only those. Open refuses, changing nothing, a
// table in its schema it did not create (PG_FOREIGN_TABLE), a schema
// holding other tables (PG_FOREIGN_SCHEMA), and a store laid out by an
// older version in public (PG_LEGACY_LAYOUT; syncserver/OPERATIONS.md
// has the move), each a *LayoutError.
//
// # Writes from other programs
//
// Rows that other programs write straight into the synced tables (psql,
// the app's ORM) sync like pushed changes. Triggers capture them: one
// serializes the writing transaction with pushes on the write lock, one
// records each row's old and new values in <schema>._hearth_inbox and
// NOTIFYs, one refuses TRUNCATE. Store implements store.ExternalWriter:
// the server ingests the inbox when notified, and every push ingests it
// first, turning each entry into a change stamped by the server, merged,
// scope-recorded, checked by the invariants (flagged, never refused) and
// logged with client "". The store's own transactions set hearth.writer
// (SET LOCAL) and the triggers skip them. See external.go, and
// OPERATIONS.md for what an app may and may not do to the tables
// (no ALTER, no TRUNCATE).
//
// Where it differs from the SQLite store, because PostgreSQL does:
//   - Text with a NUL character or invalid UTF-8 is refused
//     (TYPE_MISMATCH) rather than stored altered.
//   - Untyped and BLOB columns are bytea and hold blobs only; SQLite
//     would store any value in them. Other values are refused
//     (TYPE_MISMATCH).
//   - From the app's schema, column types, primary keys, NOT NULL,
//     literal defaults and unique indexes (on plain columns) carry
//     over; CHECK constraints, foreign keys, expression defaults and
//     triggers do not. A migration that changes a column's type does
//     not convert the PostgreSQL column.
//   - Invariant SQL runs on PostgreSQL: ? and ?NNN placeholders are
//     translated, but the SQL must mean the same in both dialects
//     (unquoted identifiers fold to lower case; SQLite-only functions
//     do not exist; text compares by the database's collation, so
//     create the database with LC_COLLATE 'C' for SQLite's byte order).
//     Results come back as SQLite types; a numeric result (sum, avg)
//     reads as SQLite reads a NUMERIC column: integral values as
//     integers.
//   - Messages of CONSTRAINT refusals are PostgreSQL's words.
package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"sync"

	"github.com/hearthdb/hearth/codec"
	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/checksum"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/merge"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/hearthdb/hearth/syncworker/wire"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Hearth's own tables. Free-form strings a client chooses (client ids,
// nodes, refusal details) are bytea: PostgreSQL text refuses NUL and
// invalid UTF-8, and a hostile client id must not be able to fail a push.
// _hearth_rows.tbl is COLLATE "C" so snapshot cursors order by bytes, as
// SQLite's BINARY collation does, whatever the database's locale.
const serverDDL = `
CREATE TABLE IF NOT EXISTS _hearth_server(k text PRIMARY KEY, v text NOT NULL);
CREATE TABLE IF NOT EXISTS _hearth_head(one int PRIMARY KEY CHECK (one = 1), head bigint NOT NULL);
INSERT INTO _hearth_head(one, head) VALUES (1, 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS _hearth_log(
	pos bigint PRIMARY KEY,
	client bytea NOT NULL,
	seq bigint,
	tbl text NOT NULL,
	pk bytea NOT NULL,
	op text NOT NULL,
	cols bytea,
	hlc bigint NOT NULL,
	node bytea NOT NULL,
	sv bigint NOT NULL,
	flag bytea
);
CREATE UNIQUE INDEX IF NOT EXISTS _hearth_log_client_seq ON _hearth_log(client, seq) WHERE seq IS NOT NULL;
CREATE TABLE IF NOT EXISTS _hearth_refused(
	client bytea NOT NULL,
	seq bigint NOT NULL,
	code text NOT NULL,
	detail bytea NOT NULL,
	PRIMARY KEY (client, seq)
);
CREATE TABLE IF NOT EXISTS _hearth_rows(
	tbl text COLLATE "C" NOT NULL,
	pk bytea NOT NULL,
	ins_hlc bigint,
	ins_node bytea,
	del_hlc bigint,
	del_node bytea,
	PRIMARY KEY (tbl, pk)
);
CREATE TABLE IF NOT EXISTS _hearth_fields(
	tbl text COLLATE "C" NOT NULL,
	pk bytea NOT NULL,
	col text NOT NULL,
	hlc bigint NOT NULL,
	node bytea NOT NULL,
	val bytea NOT NULL,
	PRIMARY KEY (tbl, pk, col)
);
CREATE TABLE IF NOT EXISTS _hearth_scopes(
	tbl text COLLATE "C" NOT NULL,
	pk bytea NOT NULL,
	scope bytea NOT NULL,
	hlc bigint NOT NULL,
	node bytea NOT NULL,
	PRIMARY KEY (tbl, pk)
);
CREATE TABLE IF NOT EXISTS _hearth_acked(
	client bytea NOT NULL,
	seq bigint NOT NULL,
	pos bigint NOT NULL,
	flag bytea,
	PRIMARY KEY (client, seq)
);
CREATE INDEX IF NOT EXISTS _hearth_scopes_by_scope ON _hearth_scopes(scope, tbl, pk);
ALTER TABLE _hearth_head ADD COLUMN IF NOT EXISTS floor bigint NOT NULL DEFAULT 0;
ALTER TABLE _hearth_log ADD COLUMN IF NOT EXISTS scope bytea;
ALTER TABLE _hearth_log ADD COLUMN IF NOT EXISTS prev bytea;
CREATE TABLE IF NOT EXISTS _hearth_clients(
	client bytea PRIMARY KEY,
	principal bytea NOT NULL,
	bound_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE _hearth_log ADD COLUMN IF NOT EXISTS principal bytea;
ALTER TABLE _hearth_refused ADD COLUMN IF NOT EXISTS hlc bigint;
ALTER TABLE _hearth_refused ADD COLUMN IF NOT EXISTS node bytea;
ALTER TABLE _hearth_acked ADD COLUMN IF NOT EXISTS hlc bigint;
ALTER TABLE _hearth_acked ADD COLUMN IF NOT EXISTS node bytea;
CREATE TABLE IF NOT EXISTS _hearth_row_usage(
	tbl text COLLATE "C" NOT NULL,
	pk bytea NOT NULL,
	principal bytea NOT NULL,
	bytes bigint NOT NULL,
	PRIMARY KEY (tbl, pk)
);
CREATE TABLE IF NOT EXISTS _hearth_usage(
	principal bytea PRIMARY KEY,
	bytes bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS _hearth_text_epochs(
	tbl text COLLATE "C" NOT NULL,
	pk bytea NOT NULL,
	col text NOT NULL,
	epoch bigint NOT NULL,
	state bytea NOT NULL,
	PRIMARY KEY (tbl, pk, col, epoch)
);
`

// writeLock is the pg_advisory_xact_lock key every push and migration
// takes. Holding one lock for the whole push transaction does two jobs:
//
//   - Log order: positions are assigned from _hearth_head while the lock
//     is held, and the lock is released only by COMMIT, so transactions
//     commit in position order. A reader that sees position 6 can never
//     later see 5 appear, which a sequence (allocated at INSERT time,
//     committed in any order) would allow, and which would make a client
//     that subscribed after 6 miss 5 forever. The counter row is also
//     transactional, so a rolled-back push leaves no gap.
//   - Merge correctness: the merge reads a row's metadata and writes it
//     back. Two instances merging the same row under READ COMMITTED would
//     lose one of the writes; serialized, each sees the other's result,
//     exactly as the single SQLite writer does.
//
// One writer at a time is what the SQLite store has too; reads (log,
// snapshots, checksums) never take the lock.
const writeLock int64 = 0x4865617274685057 // "HearthPW"

// Store is a store.Store on a PostgreSQL connection pool. It is safe for
// concurrent use, and several Stores (in several processes) may share
// one database.
type Store struct {
	pool *pgxpool.Pool
	// schema is the PostgreSQL schema holding everything the store
	// creates (see WithSchema).
	schema string
	// pushMu lets one push of this instance at a time wait for the write
	// lock: the others would only wait too, each holding a pooled
	// connection that log reads and snapshots need.
	pushMu sync.Mutex

	mu     sync.RWMutex
	info   store.Info
	tables map[string]*tableShape
	scopes *store.ScopeRules
	opened bool

	// done is closed by Close; it stops the head watcher.
	done      chan struct{}
	closeOnce sync.Once
	watchers  sync.WaitGroup
}

// Option configures Open.
type Option func(*options)

type options struct{ schema string }

// DefaultSchema is the PostgreSQL schema Hearth's tables live in unless
// WithSchema names another.
const DefaultSchema = "hearth"

// WithSchema names the PostgreSQL schema that holds everything Hearth
// creates: its own _hearth_* tables and the app's synced tables. The name
// must be a plain lower-case identifier (a letter or underscore, then
// letters, digits and underscores; at most 40 bytes; not pg_*). Stores
// with different schemas on one database are independent.
func WithSchema(name string) Option { return func(o *options) { o.schema = name } }

// ValidateSchemaName checks a name for WithSchema.
func ValidateSchemaName(name string) error {
	if name == "" || len(name) > 40 {
		return fmt.Errorf("pgstore: schema name must be 1 to 40 bytes, got %q", name)
	}
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r == '_':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return fmt.Errorf("pgstore: schema name %q must be a lower-case identifier ([a-z_][a-z0-9_]*)", name)
		}
	}
	if strings.HasPrefix(name, "pg_") || name == "information_schema" {
		return fmt.Errorf("pgstore: schema name %q is reserved by PostgreSQL", name)
	}
	return nil
}

// Open connects to the database at url (a postgres:// URL or key=value
// connection string; pgxpool's pool_max_conns and the like apply).
// Store.Open then brings it to the app's schema. Every pooled connection
// has search_path set to the store's schema alone (a search_path in the
// URL is overridden), so every name Hearth uses, and every invariant's
// SQL, resolves there: an app table of the same name in another schema
// is never seen, let alone altered.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	o := options{schema: DefaultSchema}
	for _, opt := range opts {
		opt(&o)
	}
	if err := ValidateSchemaName(o.schema); err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	// A push holds the write lock for its whole transaction. If an
	// instance stalls or is cut off mid-push, the database ends that
	// transaction after this long idle, so the other instances' pushes
	// do not wait on it for as long as TCP takes to notice. A URL may
	// set its own.
	if _, ok := cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"]; !ok {
		cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = "30000"
	}
	// The schema alone: not "$user" or public, where the app's own tables
	// of the same names may be.
	cfg.ConnConfig.RuntimeParams["search_path"] = schema.Quote(o.schema)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: connect: %w", err)
	}
	return &Store{pool: pool, schema: o.schema, done: make(chan struct{})}, nil
}

// headChannel is the NOTIFY channel pushes announce the new head on, and
// inboxChannel the one external writes announce themselves on; both are
// the schema's own, so stores in other schemas do not hear them.
func (s *Store) headChannel() string  { return s.schema + "_head" }
func (s *Store) inboxChannel() string { return s.schema + "_inbox" }

var errClosed = errors.New("pgstore: the store is closed")

// ready returns the opened store's tables, or why it cannot serve.
func (s *Store) ready() (store.Info, map[string]*tableShape, error) {
	select {
	case <-s.done:
		return store.Info{}, nil, errClosed
	default:
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.opened {
		return store.Info{}, nil, errors.New("pgstore: Open has not run")
	}
	return s.info, s.tables, nil
}

// Open implements store.Store. It creates Hearth's tables, creates or
// alters the app's tables to the shape the migrations give (see
// shape.go), and records the schema version, all in one transaction
// under the write lock, so instances starting together do not race.
func (s *Store) Open(ctx context.Context, sc store.Schema) (store.Info, error) {
	select {
	case <-s.done:
		return store.Info{}, errClosed
	default:
	}
	for i, m := range sc.Migrations {
		if m.Version < 1 || (i > 0 && m.Version <= sc.Migrations[i-1].Version) {
			return store.Info{}, fmt.Errorf("pgstore: migration versions must be positive and increase, got %d", m.Version)
		}
	}
	for _, t := range sc.Tables {
		if err := schema.ValidateName(t.Name); err != nil {
			return store.Info{}, fmt.Errorf("pgstore: %w", err)
		}
	}
	shapes, err := describeMigrations(sc.Migrations, sc.Tables)
	if err != nil {
		return store.Info{}, fmt.Errorf("pgstore: %w", err)
	}
	var newest int64
	if n := len(sc.Migrations); n > 0 {
		newest = sc.Migrations[n-1].Version
	}
	var info store.Info
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", writeLock); err != nil {
			return err
		}
		if err := s.claimSchema(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, serverDDL); err != nil {
			return fmt.Errorf("create tables: %w", err)
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf(layoutDDL, writeLock, schema.Quote(s.schema), schema.Literal(s.inboxChannel()), schema.Literal(s.schema))); err != nil {
			return fmt.Errorf("create tables: %w", err)
		}
		if err := checkOwnership(ctx, tx, s.schema, shapes); err != nil {
			return err
		}
		current, err := readVersion(ctx, tx)
		if err != nil {
			return err
		}
		if current > newest {
			return fmt.Errorf("the database is at schema version %d, newer than the newest migration (%d); refusing to run an older server on it", current, newest)
		}
		for _, sh := range shapes {
			if err := migrateTable(ctx, tx, s.schema, sh); err != nil {
				return fmt.Errorf("table %s: %w", sh.info.Name, err)
			}
			if err := installTriggers(ctx, tx, sh.info.Name); err != nil {
				return fmt.Errorf("table %s: triggers: %w", sh.info.Name, err)
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO _hearth_server(k, v) VALUES ('version', $1) ON CONFLICT (k) DO UPDATE SET v = excluded.v`, fmt.Sprint(newest)); err != nil {
			return err
		}
		id, err := storeID(ctx, tx)
		if err != nil {
			return err
		}
		head, err := readHead(ctx, tx)
		if err != nil {
			return err
		}
		info = store.Info{ID: id, Version: newest, Head: head}
		return nil
	})
	if err != nil {
		return store.Info{}, fmt.Errorf("pgstore: open: %w", err)
	}
	tables := make(map[string]*tableShape, len(shapes))
	for _, sh := range shapes {
		info.Tables = append(info.Tables, sh.info)
		tables[sh.info.Name] = sh
	}
	scopes, err := store.NewScopeRules(sc.Scopes, info.Tables)
	if err != nil {
		return store.Info{}, fmt.Errorf("pgstore: %w", err)
	}
	if err := backfillScopes(ctx, s.pool, scopes, tables, info.Version); err != nil {
		return store.Info{}, fmt.Errorf("pgstore: record row scopes: %w", err)
	}
	s.mu.Lock()
	s.info, s.tables, s.scopes, s.opened = info, tables, scopes, true
	s.mu.Unlock()
	return info, nil
}

// backfillScopes records the scope of every stored row of a table whose
// scope rule is new or changed (rows written before it, which pushes did
// not record), once, under the write lock: _hearth_server remembers the
// column each table's scopes were recorded for. A row's scope is its
// merged scope column, stamped by the write that set it, as a push would
// have recorded it. Deleted rows whose scope column is gone keep no
// scope: no scoped client receives their tombstones.
func backfillScopes(ctx context.Context, pool *pgxpool.Pool, rules *store.ScopeRules, tables map[string]*tableShape, version int64) error {
	// A table opened without a rule forgets its marker: pushes stop
	// recording its scopes, so a rule given again must start over. (With
	// instances of different rules on one database, the last to open
	// wins; run one rule set per database.)
	markers := []string{}
	for _, table := range rules.Tables() {
		markers = append(markers, "scopes:"+table)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM _hearth_server WHERE k LIKE 'scopes:%' AND NOT (k = ANY($1))`, markers); err != nil {
		return err
	}
	for _, table := range rules.Tables() {
		if rules.Derived(table) {
			continue // set by pushes only: violations of older pushes keep none
		}
		col := rules.Column(table)
		marker := "scopes:" + table
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", writeLock); err != nil {
				return err
			}
			var done string
			err := tx.QueryRow(ctx, `SELECT v FROM _hearth_server WHERE k = $1`, marker).Scan(&done)
			switch {
			case err == nil && done == col:
				return nil
			case err != nil && !errors.Is(err, pgx.ErrNoRows):
				return err
			}
			if _, err := tx.Exec(ctx, `DELETE FROM _hearth_scopes WHERE tbl = $1`, table); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, `SELECT pk FROM _hearth_rows WHERE tbl = $1`, table)
			if err != nil {
				return err
			}
			keys, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
			if err != nil {
				return err
			}
			for _, key := range keys {
				row, err := rowChanges(ctx, tx, tables[table], key, version)
				if err != nil {
					return err
				}
				sc := rules.OfRow(table, key, row)
				if !sc.Known {
					continue
				}
				if _, err := tx.Exec(ctx, `INSERT INTO _hearth_scopes(tbl, pk, scope, hlc, node) VALUES ($1, $2, $3, $4, $5)`,
					table, key, []byte(sc.Value), int64(sc.Stamp.TS), []byte(sc.Stamp.Node)); err != nil {
					return err
				}
			}
			_, err = tx.Exec(ctx, `INSERT INTO _hearth_server(k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = excluded.v`, marker, col)
			return err
		})
		if err != nil {
			return fmt.Errorf("%s: %w", table, err)
		}
	}
	return nil
}

func readVersion(ctx context.Context, q pgx.Tx) (int64, error) {
	var v string
	err := q.QueryRow(ctx, `SELECT v FROM _hearth_server WHERE k = 'version'`).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var n int64
	_, err = fmt.Sscan(v, &n)
	return n, err
}

func storeID(ctx context.Context, tx pgx.Tx) (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO _hearth_server(k, v) VALUES ('id', $1) ON CONFLICT DO NOTHING`, hex.EncodeToString(b[:])); err != nil {
		return "", err
	}
	var id string
	err := tx.QueryRow(ctx, `SELECT v FROM _hearth_server WHERE k = 'id'`).Scan(&id)
	return id, err
}

// querier is anything that runs queries: the pool, a connection, a
// transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func readHead(ctx context.Context, q querier) (int64, error) {
	var head int64
	if err := q.QueryRow(ctx, `SELECT head FROM _hearth_head`).Scan(&head); err != nil {
		return 0, fmt.Errorf("read log head: %w", err)
	}
	return head, nil
}

// migrateTable creates the table, or brings an existing one to the shape:
// new columns added, columns the migrations dropped dropped, unique
// indexes created. A column whose affinity changed is not converted.
//
// Only tables the store created get here (see checkOwnership); a new one
// is registered as the store's in the same transaction.
func migrateTable(ctx context.Context, tx pgx.Tx, schemaName string, sh *tableShape) error {
	rows, err := tx.Query(ctx, `SELECT column_name FROM information_schema.columns WHERE table_schema = $2 AND table_name = $1`, sh.info.Name, schemaName)
	if err != nil {
		return err
	}
	existing, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	if len(existing) == 0 {
		if _, err := tx.Exec(ctx, createTableSQL(sh)); err != nil {
			return err
		}
		if err := registerTable(ctx, tx, sh.info.Name); err != nil {
			return err
		}
	} else {
		have := map[string]bool{}
		for _, c := range existing {
			have[c] = true
			if _, ok := sh.info.Column(c); !ok {
				if _, err := tx.Exec(ctx, "ALTER TABLE "+schema.Quote(sh.info.Name)+" DROP COLUMN "+schema.Quote(c)); err != nil {
					return err
				}
			}
		}
		for _, c := range sh.info.Columns {
			if !have[c.Name] {
				if _, err := tx.Exec(ctx, "ALTER TABLE "+schema.Quote(sh.info.Name)+" ADD COLUMN "+columnSQL(sh, c)); err != nil {
					return err
				}
			}
		}
	}
	// Unique indexes a migration dropped go too: PostgreSQL would refuse
	// rows SQLite accepts.
	rows, err = tx.Query(ctx, `SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE i.indrelid = $1::regclass AND i.indisunique AND NOT i.indisprimary`, schema.Quote(schemaName)+"."+schema.Quote(sh.info.Name))
	if err != nil {
		return err
	}
	indexes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	wanted := map[string]bool{}
	for _, u := range sh.uniques {
		wanted[u.name] = true
	}
	for _, name := range indexes {
		if !wanted[name] {
			if _, err := tx.Exec(ctx, "DROP INDEX "+schema.Quote(schemaName)+"."+schema.Quote(name)); err != nil {
				return err
			}
		}
	}
	for _, u := range sh.uniques {
		cols := make([]string, len(u.columns))
		for i, c := range u.columns {
			cols[i] = schema.Quote(c)
		}
		if _, err := tx.Exec(ctx, "CREATE UNIQUE INDEX IF NOT EXISTS "+schema.Quote(u.name)+" ON "+schema.Quote(sh.info.Name)+"("+strings.Join(cols, ", ")+")"); err != nil {
			return err
		}
	}
	return nil
}

// Push implements store.Store: one transaction under the write lock (see
// writeLock), which announces the new head with NOTIFY on commit.
//
// A push first runs optimistically: every write is pipelined, with no
// savepoint around the app's table writes. Should the database refuse
// one (a NOT NULL or UNIQUE constraint), that aborts the transaction,
// and the push runs again carefully, each table write in a savepoint so
// that only the offending change is refused, as on SQLite.
func (s *Store) Push(ctx context.Context, p store.Push, check store.Checker) (store.PushResult, error) {
	info, tables, err := s.ready()
	if err != nil {
		return store.PushResult{}, err
	}
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	var res store.PushResult
	for _, careful := range []bool{false, true} {
		res, err = s.push(ctx, info, tables, &p, check, careful)
		// A backlog of external writes is drained in transactions of its
		// own first (see ingestBatches).
		for backlog := 0; errors.Is(err, errInboxBacklog) && backlog < 3 && ctx.Err() == nil; backlog++ {
			if _, err = s.ingest(ctx, info, tables, p.Stamp, check); err == nil {
				res, err = s.push(ctx, info, tables, &p, check, careful)
			}
		}
		if err == nil || ctx.Err() != nil || errors.Is(err, store.ErrClientTaken) {
			break
		}
	}
	if err != nil {
		return store.PushResult{}, fmt.Errorf("pgstore: push from %s: %w", p.Client, err)
	}
	return res, nil
}

func (s *Store) push(ctx context.Context, info store.Info, tables map[string]*tableShape, p *store.Push, check store.Checker, careful bool) (store.PushResult, error) {
	var res store.PushResult
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		ps := &pushState{tx: tx, info: info, tables: tables, scopes: s.scoping(), p: p, careful: careful, headChannel: s.headChannel()}
		if err := ps.prepare(ctx); err != nil {
			return err
		}
		// External writes first, so that the push's changes merge
		// against the latest state; then the push's rows are read again.
		if ps.inboxWaiting && p.Stamp != nil {
			more, err := ps.ingest(ctx, check, ingestBatchesInPush)
			if err != nil {
				return fmt.Errorf("ingest external writes: %w", err)
			}
			if more {
				return errInboxBacklog
			}
			if err := ps.prepare(ctx); err != nil {
				return err
			}
		}
		var err error
		if res, err = ps.run(ctx, check); err != nil {
			return err
		}
		if ps.head != ps.start {
			ps.queue(`UPDATE _hearth_head SET head = $1`, ps.head)
			// Delivered on commit only, to every instance listening.
			ps.queue(`SELECT pg_notify($1, $2)`, ps.headChannel, fmt.Sprint(ps.head))
		}
		return ps.flush(ctx)
	})
	return res, err
}

// pushState is one push transaction in progress.
type pushState struct {
	tx     pgx.Tx
	info   store.Info
	tables map[string]*tableShape
	scopes *store.ScopeRules
	p      *store.Push
	// rowScopes caches the recorded scopes of the rows this push touches,
	// read up front like rows.
	rowScopes map[string]store.Scope
	// careful puts each table write in a savepoint (see Push).
	careful bool
	// head is the last position assigned; start the head before.
	head, start int64
	// seen holds the first outcomes of the seqs this push carries that
	// the client pushed before, or earlier in this push, and what they
	// were given for.
	seen map[int64]seenSeq
	// owner is the principal the push's client id is bound to (nil when
	// unbound).
	owner []byte
	// rows caches the merge metadata of the rows this push touches: read
	// once up front, then kept current by the push itself, which is the
	// only writer while it holds the write lock.
	rows map[string]merge.Row
	// values caches the table values of live rows this push read (see
	// RowData), kept current by merge; usage and rowUsage cache what
	// principals' rows weigh and whom each row counts toward (see
	// store.Writer.Usage), read up front for the pusher and the rows,
	// then kept current by Account.
	values   map[string]rowValues
	usage    map[string]int64
	rowUsage map[string]rowUsage
	// pending are writes not sent yet (see merge).
	pending []queued
	// inboxWaiting says external writes wait to be ingested (see
	// external.go).
	inboxWaiting bool
	// headChannel is where a new head is announced.
	headChannel string
}

func rowCacheKey(table string, key []byte) string { return table + "\x00" + string(key) }

// seenSeq is a seq's first outcome and the record of the change it was
// given for.
type seenSeq struct {
	out wire.Result
	rec store.Recorded
}

func (ps *pushState) run(ctx context.Context, check store.Checker) (store.PushResult, error) {
	var res store.PushResult
	q := &txQuerier{ps: ps}
	for i := range ps.p.Changes {
		c := &ps.p.Changes[i]
		prior, done := ps.seen[c.Seq]
		out := prior.out
		if done {
			mismatch := prior.rec.Mismatch(ps.p, c)
			if mismatch != nil || out.State == wire.Refused {
				row, err := ps.rowState(ctx, c.Table, c.Key)
				if err != nil {
					return res, err
				}
				if mismatch != nil {
					out = store.Mismatched(c, mismatch, row)
				}
				out.Row = row
			}
		}
		if !done {
			var err error
			out, err = store.ApplyPushed(ctx, writer{ps}, ps.scopes, ps.info.Version, q, ps.p, c, check)
			if err != nil {
				return res, err
			}
			first := out
			first.Row = nil
			rec := store.Recorded{Stamp: c.Stamp, StampKnown: true}
			if first.State != wire.Refused {
				rec.Table, rec.Key, rec.Op, rec.ChangeKnown = c.Table, c.Key, c.Op, true
			}
			ps.seen[c.Seq] = seenSeq{out: first, rec: rec}
		}
		res.Outcomes = append(res.Outcomes, out)
	}
	res.Head = ps.head
	return res, nil
}

// prepare takes the write lock and reads, in the same round trip, the
// head, the first outcomes of the seqs this push carries that the client
// pushed before, and the merge metadata of the rows it touches.
func (ps *pushState) prepare(ctx context.Context) error {
	ps.seen = map[int64]seenSeq{}
	ps.owner = nil
	ps.rows = map[string]merge.Row{}
	ps.rowScopes = map[string]store.Scope{}
	ps.values = map[string]rowValues{}
	ps.rowUsage = map[string]rowUsage{}
	ps.usage = map[string]int64{}
	seqs := make([]int64, len(ps.p.Changes))
	var tbls []string
	var pks [][]byte
	for i, c := range ps.p.Changes {
		seqs[i] = c.Seq
		// Only synced tables' names: a name a client made up may not
		// even be valid text.
		if ps.tables[c.Table] == nil {
			continue
		}
		k := rowCacheKey(c.Table, c.Key)
		if _, ok := ps.rows[k]; !ok {
			ps.rows[k] = merge.Row{}
			tbls, pks = append(tbls, c.Table), append(pks, c.Key)
		}
	}
	client := []byte(ps.p.Client)
	b := &pgx.Batch{}
	b.Queue("SELECT pg_advisory_xact_lock($1)", writeLock)
	b.Queue(markWriter)
	b.Queue(`SELECT head FROM _hearth_head`).QueryRow(func(row pgx.Row) error { return row.Scan(&ps.head) })
	b.Queue(`SELECT principal FROM _hearth_clients WHERE client = $1`, client).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			if err := rows.Scan(&ps.owner); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	b.Queue(`SELECT seq, pos, flag, hlc, node, tbl, pk, op FROM _hearth_log WHERE client = $1 AND seq = ANY($2)
		UNION ALL SELECT seq, pos, flag, hlc, node, NULL, NULL, NULL FROM _hearth_acked WHERE client = $1 AND seq = ANY($2)`, client, seqs).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var seq, pos int64
			var flag, node, pk []byte
			var ts *int64
			var tbl, op *string
			if err := rows.Scan(&seq, &pos, &flag, &ts, &node, &tbl, &pk, &op); err != nil {
				return err
			}
			out := wire.Result{Seq: seq, State: wire.Acknowledged, Pos: pos}
			if len(flag) > 0 {
				out.State, out.Detail = wire.Flagged, string(flag)
			}
			ps.seen[seq] = seenSeq{out: out, rec: recorded(ts, node, tbl, pk, op)}
		}
		return rows.Err()
	})
	b.Queue(`SELECT seq, code, detail, hlc, node FROM _hearth_refused WHERE client = $1 AND seq = ANY($2)`, client, seqs).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var seq int64
			var code string
			var detail, node []byte
			var ts *int64
			if err := rows.Scan(&seq, &code, &detail, &ts, &node); err != nil {
				return err
			}
			ps.seen[seq] = seenSeq{out: wire.Result{Seq: seq, State: wire.Refused, Code: code, Detail: string(detail)}, rec: recorded(ts, node, nil, nil, nil)}
		}
		return rows.Err()
	})
	principal := ps.p.Principal
	b.Queue(`SELECT coalesce((SELECT bytes FROM _hearth_usage WHERE principal = $1), 0)`, []byte(principal)).QueryRow(func(row pgx.Row) error {
		var n int64
		err := row.Scan(&n)
		ps.usage[principal] = n
		return err
	})
	b.Queue(`SELECT EXISTS (SELECT 1 FROM _hearth_inbox)`).QueryRow(func(row pgx.Row) error { return row.Scan(&ps.inboxWaiting) })
	ps.queueRowReads(b, tbls, pks)
	if err := ps.tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	if err := ps.readValues(ctx, tbls, pks); err != nil {
		return err
	}
	ps.start = ps.head
	if ps.owner != nil && string(ps.owner) != ps.p.Principal {
		return fmt.Errorf("%w: client %q is bound to another principal than %q", store.ErrClientTaken, ps.p.Client, ps.p.Principal)
	}
	return nil
}

// recorded reads a verdict's record of its change (see store.Recorded):
// its stamp when kept (ts and node non-nil), and its table, key and op
// from a log entry (tbl and op non-nil).
func recorded(ts *int64, node []byte, tbl *string, pk []byte, op *string) store.Recorded {
	var r store.Recorded
	if ts != nil && node != nil {
		r.Stamp, r.StampKnown = hlc.Stamp{TS: hlc.Timestamp(*ts), Node: string(node)}, true
	}
	if tbl != nil && op != nil {
		parsed, err := change.ParseOp(*op)
		r.Table, r.Key, r.Op, r.ChangeKnown = *tbl, pk, parsed, err == nil
	}
	return r
}

// BindClient implements store.Store. The binding is read first: every
// hello asks, and all but a replica's first find it bound. Each statement
// reads the latest committed state, so of two first hellos racing, the
// second's read after its (conflicting, ignored) insert sees the first's.
func (s *Store) BindClient(ctx context.Context, client, principal string) (string, error) {
	if _, _, err := s.ready(); err != nil {
		return "", err
	}
	owner := func() ([]byte, error) {
		rows, err := s.pool.Query(ctx, `SELECT principal FROM _hearth_clients WHERE client = $1`, []byte(client))
		if err != nil {
			return nil, err
		}
		p, err := pgx.CollectExactlyOneRow(rows, pgx.RowTo[[]byte])
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, nil
		}
		return p, err
	}
	bound, err := owner()
	if err == nil && bound == nil && principal != "" {
		_, err = s.pool.Exec(ctx, `INSERT INTO _hearth_clients(client, principal) VALUES ($1, $2) ON CONFLICT (client) DO NOTHING`,
			[]byte(client), []byte(principal))
		if err == nil {
			bound, err = owner()
		}
	}
	if err != nil {
		return "", fmt.Errorf("pgstore: bind client: %w", err)
	}
	return string(bound), nil
}

// queueRowReads queues the reads of the merge metadata and recorded
// scopes of rows (tbls[i], pks[i]) into the push's caches.
func (ps *pushState) queueRowReads(b *pgx.Batch, tbls []string, pks [][]byte) {
	b.Queue(`SELECT r.tbl, r.pk, r.ins_hlc, r.ins_node, r.del_hlc, r.del_node
		FROM unnest($1::text[], $2::bytea[]) AS k(tbl, pk) JOIN _hearth_rows r ON r.tbl = k.tbl COLLATE "C" AND r.pk = k.pk`, tbls, pks).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var tbl string
			var pk []byte
			var r merge.Row
			var insTS, delTS *int64
			var insNode, delNode []byte
			if err := rows.Scan(&tbl, &pk, &insTS, &insNode, &delTS, &delNode); err != nil {
				return err
			}
			k := rowCacheKey(tbl, pk)
			r = ps.rows[k]
			if insTS != nil {
				r.Inserted = hlc.Stamp{TS: hlc.Timestamp(*insTS), Node: string(insNode)}
			}
			if delTS != nil {
				r.Deleted = hlc.Stamp{TS: hlc.Timestamp(*delTS), Node: string(delNode)}
			}
			ps.rows[k] = r
		}
		return rows.Err()
	})
	b.Queue(`SELECT s.tbl, s.pk, s.scope, s.hlc, s.node
		FROM unnest($1::text[], $2::bytea[]) AS k(tbl, pk) JOIN _hearth_scopes s ON s.tbl = k.tbl COLLATE "C" AND s.pk = k.pk`, tbls, pks).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var tbl string
			var pk, scope, node []byte
			var ts int64
			if err := rows.Scan(&tbl, &pk, &scope, &ts, &node); err != nil {
				return err
			}
			ps.rowScopes[rowCacheKey(tbl, pk)] = store.Scope{Value: string(scope), Stamp: hlc.Stamp{TS: hlc.Timestamp(ts), Node: string(node)}, Known: true}
		}
		return rows.Err()
	})
	b.Queue(`SELECT u.tbl, u.pk, u.principal, u.bytes
		FROM unnest($1::text[], $2::bytea[]) AS k(tbl, pk) JOIN _hearth_row_usage u ON u.tbl = k.tbl COLLATE "C" AND u.pk = k.pk`, tbls, pks).Query(func(rows pgx.Rows) error {
		if ps.rowUsage == nil {
			ps.rowUsage = map[string]rowUsage{}
		}
		for rows.Next() {
			var tbl string
			var pk, principal []byte
			var n int64
			if err := rows.Scan(&tbl, &pk, &principal, &n); err != nil {
				return err
			}
			ps.rowUsage[rowCacheKey(tbl, pk)] = rowUsage{owner: string(principal), bytes: n}
		}
		return rows.Err()
	})
	b.Queue(`SELECT f.tbl, f.pk, f.col, f.hlc, f.node, f.val
		FROM unnest($1::text[], $2::bytea[]) AS k(tbl, pk) JOIN _hearth_fields f ON f.tbl = k.tbl COLLATE "C" AND f.pk = k.pk`, tbls, pks).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var tbl, col string
			var pk, node, val []byte
			var ts int64
			if err := rows.Scan(&tbl, &pk, &col, &ts, &node, &val); err != nil {
				return err
			}
			v, err := decodeField(val)
			if err != nil {
				return fmt.Errorf("field %s.%s: %w", tbl, col, err)
			}
			k := rowCacheKey(tbl, pk)
			r := ps.rows[k]
			if r.Fields == nil {
				r.Fields = map[string]merge.Field{}
			}
			r.Fields[col] = merge.Field{Stamp: hlc.Stamp{TS: hlc.Timestamp(ts), Node: string(node)}, Value: v}
			ps.rows[k] = r
		}
		return rows.Err()
	})
}

func (ps *pushState) rowState(ctx context.Context, table string, key []byte) ([]change.Change, error) {
	sh := ps.tables[table]
	if sh == nil {
		return []change.Change{}, nil
	}
	if _, err := change.DecodeKey(key); err != nil {
		return []change.Change{}, nil
	}
	if err := ps.flush(ctx); err != nil {
		return nil, err
	}
	row, err := rowChanges(ctx, ps.tx, sh, key, ps.info.Version)
	if row == nil {
		row = []change.Change{}
	}
	return row, err
}

// check is merge.Applier.Check (strict, as on the server) plus what
// PostgreSQL cannot store the way SQLite would.
func (ps *pushState) check(c *change.Change) *merge.Refusal {
	sh := ps.tables[c.Table]
	if sh == nil {
		return &merge.Refusal{Code: merge.CodeUnknownTable, Message: fmt.Sprintf("table %q is not synced", c.Table)}
	}
	if err := checkChange(sh.info, c); err != nil {
		return err
	}
	key, _ := change.DecodeKey(c.Key)
	for i, v := range key {
		col, _ := sh.info.Column(sh.info.Key[i])
		if _, r := pgValue(col, v); r != nil {
			return r
		}
	}
	for name, v := range c.Values {
		col, _ := sh.info.Column(name)
		if _, r := pgValue(col, v); r != nil {
			return r
		}
	}
	return nil
}

// writer is the push's side of store.ApplyPushed: writes queued on the
// push transaction (see merge), reads from the push's caches.
type writer struct{ ps *pushState }

func (w writer) Check(c *change.Change) error {
	if r := w.ps.check(c); r != nil {
		return r
	}
	return nil
}

func (w writer) RowScope(ctx context.Context, table string, key []byte) (store.Scope, error) {
	return w.ps.rowScopes[rowCacheKey(table, key)], nil
}

func (w writer) Merge(ctx context.Context, c *change.Change) error { return w.ps.merge(ctx, c) }

func (w writer) RecordScope(ctx context.Context, table string, key []byte, sc store.Scope) error {
	w.ps.rowScopes[rowCacheKey(table, key)] = sc
	w.ps.queue(`INSERT INTO _hearth_scopes(tbl, pk, scope, hlc, node) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (tbl, pk) DO UPDATE SET scope = excluded.scope, hlc = excluded.hlc, node = excluded.node`,
		table, key, []byte(sc.Value), int64(sc.Stamp.TS), []byte(sc.Stamp.Node))
	return nil
}

func (w writer) AppendLog(ctx context.Context, client, principal string, seq int64, c *change.Change, scope, prev store.Scope) (int64, error) {
	return w.ps.appendLog(client, principal, seq, c, scope, prev)
}

func (w writer) Flag(ctx context.Context, pos int64, detail string) error {
	w.ps.queue(`UPDATE _hearth_log SET flag = $2 WHERE pos = $1`, pos, []byte(detail))
	return nil
}

func (w writer) Refuse(ctx context.Context, client string, seq int64, stamp hlc.Stamp, r *merge.Refusal) error {
	w.ps.queue(`INSERT INTO _hearth_refused(client, seq, code, detail, hlc, node) VALUES ($1, $2, $3, $4, $5, $6)`,
		[]byte(client), seq, r.Code, []byte(r.Message), int64(stamp.TS), []byte(stamp.Node))
	return nil
}

func (w writer) RowState(ctx context.Context, table string, key []byte) ([]change.Change, error) {
	return w.ps.rowState(ctx, table, key)
}

func (w writer) RowData(ctx context.Context, table string, key []byte) (store.RowData, error) {
	ps := w.ps
	sh := ps.tables[table]
	meta, err := ps.loadRow(ctx, table, key)
	if err != nil {
		return store.RowData{}, err
	}
	d := store.RowData{Meta: meta, Table: sh.info}
	if !meta.Alive(sh.info.Resurrect) {
		return d, nil
	}
	k := rowCacheKey(table, key)
	v, ok := ps.values[k]
	if !ok {
		args, err := keyArgs(sh, key)
		if err != nil {
			return store.RowData{}, err
		}
		if err := ps.flush(ctx); err != nil {
			return store.RowData{}, err
		}
		rows, err := ps.tx.Query(ctx, readRowSQL(sh), args...)
		if err != nil {
			return store.RowData{}, err
		}
		if v.values, v.found, err = scanRowValues(sh, rows); err != nil {
			return store.RowData{}, fmt.Errorf("read %s row: %w", table, err)
		}
		if ps.values != nil {
			ps.values[k] = v
		}
	}
	d.Values, d.Found = v.values, v.found
	return d, nil
}

func (w writer) SaveTextEpoch(ctx context.Context, table string, key []byte, col string, epoch uint64, state []byte) error {
	w.ps.queue(`INSERT INTO _hearth_text_epochs(tbl, pk, col, epoch, state) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (tbl, pk, col, epoch) DO UPDATE SET state = excluded.state`, table, key, col, int64(epoch), state)
	w.ps.queue(`DELETE FROM _hearth_text_epochs WHERE tbl = $1 AND pk = $2 AND col = $3 AND epoch <= $4`,
		table, key, col, int64(epoch)-store.TextEpochsKept)
	return nil
}

func (w writer) TextEpoch(ctx context.Context, table string, key []byte, col string, epoch uint64) ([]byte, error) {
	ps := w.ps
	if err := ps.flush(ctx); err != nil {
		return nil, err
	}
	var state []byte
	err := ps.tx.QueryRow(ctx, `SELECT state FROM _hearth_text_epochs WHERE tbl = $1 AND pk = $2 AND col = $3 AND epoch = $4`,
		table, key, col, int64(epoch)).Scan(&state)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return state, err
}

func (w writer) RowUsage(ctx context.Context, table string, key []byte) (string, int64, error) {
	u := w.ps.rowUsage[rowCacheKey(table, key)]
	return u.owner, u.bytes, nil
}

func (w writer) Usage(ctx context.Context, principal string) (int64, error) {
	ps := w.ps
	if n, ok := ps.usage[principal]; ok {
		return n, nil
	}
	if err := ps.flush(ctx); err != nil {
		return 0, err
	}
	var n int64
	err := ps.tx.QueryRow(ctx, `SELECT coalesce((SELECT bytes FROM _hearth_usage WHERE principal = $1), 0)`, []byte(principal)).Scan(&n)
	if err == nil && ps.usage != nil {
		ps.usage[principal] = n
	}
	return n, err
}

func (w writer) Account(ctx context.Context, table string, key []byte, prevOwner string, prevBytes int64, owner string, n int64) error {
	ps := w.ps
	if prevBytes != 0 {
		if used, ok := ps.usage[prevOwner]; ok {
			ps.usage[prevOwner] = used - prevBytes
		}
		ps.queue(`UPDATE _hearth_usage SET bytes = bytes - $2 WHERE principal = $1`, []byte(prevOwner), prevBytes)
	}
	k := rowCacheKey(table, key)
	if n == 0 {
		delete(ps.rowUsage, k)
		ps.queue(`DELETE FROM _hearth_row_usage WHERE tbl = $1 AND pk = $2`, table, key)
		return nil
	}
	if ps.rowUsage != nil {
		ps.rowUsage[k] = rowUsage{owner: owner, bytes: n}
	}
	if used, ok := ps.usage[owner]; ok {
		ps.usage[owner] = used + n
	}
	ps.queue(`INSERT INTO _hearth_row_usage(tbl, pk, principal, bytes) VALUES ($1, $2, $3, $4)
		ON CONFLICT (tbl, pk) DO UPDATE SET principal = excluded.principal, bytes = excluded.bytes`, table, key, []byte(owner), n)
	ps.queue(`INSERT INTO _hearth_usage(principal, bytes) VALUES ($1, $2)
		ON CONFLICT (principal) DO UPDATE SET bytes = _hearth_usage.bytes + excluded.bytes`, []byte(owner), n)
	return nil
}

// readValues reads, in one round trip, the table values of the rows
// (tbls[i], pks[i]) the metadata says are alive, into the push's cache:
// weighing a change (store.Writer.RowData) needs them, and reading them
// one change at a time cost a round trip each.
func (ps *pushState) readValues(ctx context.Context, tbls []string, pks [][]byte) error {
	b := &pgx.Batch{}
	for i, table := range tbls {
		sh := ps.tables[table]
		k := rowCacheKey(table, pks[i])
		if sh == nil || !ps.rows[k].Alive(sh.info.Resurrect) {
			continue
		}
		args, err := keyArgs(sh, pks[i])
		if err != nil {
			continue // a malformed key: Check refuses its change
		}
		b.Queue(readRowSQL(sh), args...).Query(func(rows pgx.Rows) error {
			values, found, err := scanRowValues(sh, rows)
			if err != nil {
				return fmt.Errorf("read %s row: %w", table, err)
			}
			ps.values[k] = rowValues{values: values, found: found}
			return nil
		})
	}
	if b.Len() == 0 {
		return nil
	}
	return ps.tx.SendBatch(ctx, b).Close()
}

// rowValues is a table row's values as a push last saw them.
type rowValues struct {
	values map[string]any
	found  bool
}

// rowUsage is whom a row counts toward, and what it weighs (see
// store.Writer.RowUsage).
type rowUsage struct {
	owner string
	bytes int64
}

var _ store.Writer = writer{}

// scopeArg is a scope as the log stores it: NULL when unknown.
func scopeArg(sc store.Scope) []byte {
	if !sc.Known {
		return nil
	}
	return []byte(sc.Value)
}

func logScope(b []byte) store.Scope {
	if b == nil {
		return store.Scope{}
	}
	return store.Scope{Value: string(b), Known: true}
}

func (ps *pushState) appendLog(client, principal string, seq int64, c *change.Change, scope, prev store.Scope) (int64, error) {
	var cols []byte
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
	pos := ps.head + 1
	ps.queue(`INSERT INTO _hearth_log(pos, client, seq, tbl, pk, op, cols, hlc, node, sv, scope, prev, principal) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		pos, []byte(client), seqArg, c.Table, c.Key, c.Op.Code(), cols, int64(c.Stamp.TS), []byte(c.Stamp.Node), c.Schema, scopeArg(scope), scopeArg(prev), []byte(principal))
	ps.head = pos
	return pos, nil
}

// Log implements store.Store. Entries are read only up to the head read
// in the same snapshot: since pushes commit in position order, that is a
// gapless prefix.
func (s *Store) Log(ctx context.Context, after int64, limit int) ([]store.Entry, int64, error) {
	if _, _, err := s.ready(); err != nil {
		return nil, 0, err
	}
	// One statement, so one snapshot: the head and the entries up to it.
	// The LEFT JOIN gives a row (head, NULLs) when no entry follows.
	rows, err := s.pool.Query(ctx, `SELECT h.head, h.floor, l.pos, l.client, l.tbl, l.pk, l.op, l.cols, l.hlc, l.node, l.sv, l.scope, l.prev, l.principal
		FROM _hearth_head h LEFT JOIN LATERAL (
			SELECT * FROM _hearth_log WHERE pos > $1 AND pos <= h.head ORDER BY pos LIMIT $2
		) l ON true ORDER BY l.pos`, after, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("pgstore: read log: %w", err)
	}
	defer rows.Close()
	var out []store.Entry
	var head, floor int64
	for rows.Next() {
		var e store.Entry
		var pos, ts, sv *int64
		var client, node, cols, scope, prev, principal []byte
		var op, tbl *string
		if err := rows.Scan(&head, &floor, &pos, &client, &tbl, &e.Key, &op, &cols, &ts, &node, &sv, &scope, &prev, &principal); err != nil {
			return nil, 0, fmt.Errorf("pgstore: read log: %w", err)
		}
		if after < floor {
			rows.Close()
			return nil, 0, fmt.Errorf("pgstore: read log after %d: %w (floor %d)", after, store.ErrCompacted, floor)
		}
		if pos == nil {
			continue // no entries after the position
		}
		e.Pos, e.Table, e.Schema = *pos, *tbl, *sv
		if e.Op, err = change.ParseOp(*op); err != nil {
			return nil, 0, fmt.Errorf("pgstore: log entry %d: %w", e.Pos, err)
		}
		if e.Values, err = change.DecodeValues(cols); err != nil {
			return nil, 0, fmt.Errorf("pgstore: log entry %d: %w", e.Pos, err)
		}
		if e.Key == nil {
			e.Key = []byte{}
		}
		e.Client, e.Principal = string(client), string(principal)
		e.Scope, e.Prev = logScope(scope), logScope(prev)
		e.Stamp = hlc.Stamp{TS: hlc.Timestamp(*ts), Node: string(node)}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("pgstore: read log: %w", err)
	}
	return out, head, nil
}

// readOnly runs fn in a REPEATABLE READ, read-only transaction: the head
// and the rows it reads are one consistent state of the database.
func (s *Store) readOnly(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}

// Snapshot implements store.Store.
func (s *Store) Snapshot(ctx context.Context, at int64, after merge.Cursor, limit int, view *store.View) (store.Chunk, error) {
	info, tables, err := s.ready()
	if err != nil {
		return store.Chunk{}, err
	}
	var chunk store.Chunk
	err = s.readOnly(ctx, func(tx pgx.Tx) error {
		head, err := readHead(ctx, tx)
		if err != nil {
			return err
		}
		if at < 0 {
			at = head
		}
		if at > head {
			return fmt.Errorf("%w: snapshot position %d is beyond the log head %d", store.ErrBadRequest, at, head)
		}
		filter := newViewFilter(s.scoping(), view)
		var total int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM (`+filter.rows(1)+`) v`, filter.args()...).Scan(&total); err != nil {
			return err
		}
		page, err := snapshotPage(ctx, tx, tables, after, limit, info.Version, filter)
		if err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
		chunk = store.Chunk{At: at, Changes: page.Changes, Rows: int64(page.Rows), Total: total, Next: page.Next, Done: page.Done}
		return nil
	})
	if err != nil {
		if errors.Is(err, store.ErrBadRequest) {
			return store.Chunk{}, err
		}
		return store.Chunk{}, fmt.Errorf("pgstore: %w", err)
	}
	return chunk, nil
}

func (s *Store) scoping() *store.ScopeRules {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.scopes
}

// viewFilter is a snapshot view: the rows of tables without a scope rule,
// read from _hearth_rows, those of the view's scopes, read from
// _hearth_scopes by its scope index, and violations about rows without a
// scope, so that rows of other scopes are
// never visited, let alone read as row state.
type viewFilter struct {
	all, scopedOnly bool
	tables, scopes  []string
}

func newViewFilter(rules *store.ScopeRules, view *store.View) viewFilter {
	if view == nil {
		return viewFilter{all: true}
	}
	return viewFilter{scopedOnly: view.ScopedOnly, tables: append([]string{}, rules.Tables()...), scopes: append([]string{}, view.Scopes...)}
}

// rows is a query of the view's (tbl, pk), its arguments numbered from
// n (three of them: the scoped tables, the scopes, ScopedOnly).
func (f viewFilter) rows(n int) string {
	if f.all {
		return `SELECT tbl, pk FROM _hearth_rows`
	}
	return fmt.Sprintf(`SELECT tbl, pk FROM _hearth_rows WHERE NOT $%[3]d::boolean AND NOT (tbl = ANY($%[1]d::text[]))
		UNION ALL SELECT tbl, pk FROM _hearth_scopes WHERE scope = ANY($%[2]d::bytea[]) AND tbl = ANY($%[1]d::text[])
		UNION ALL SELECT tbl, pk FROM _hearth_rows r WHERE tbl = '_hearth_violations' AND tbl = ANY($%[1]d::text[])
			AND NOT EXISTS (SELECT 1 FROM _hearth_scopes s WHERE s.tbl = r.tbl AND s.pk = r.pk)`, n, n+1, n+2)
}

func (f viewFilter) args() []any {
	if f.all {
		return nil
	}
	scopes := make([][]byte, len(f.scopes))
	for i, sc := range f.scopes {
		scopes[i] = []byte(sc)
	}
	return []any{f.tables, scopes, f.scopedOnly}
}

// Row implements store.Store.
func (s *Store) Row(ctx context.Context, table string, key []byte) ([]change.Change, store.Scope, error) {
	info, tables, err := s.ready()
	if err != nil {
		return nil, store.Scope{}, err
	}
	sh := tables[table]
	if sh == nil {
		return nil, store.Scope{}, nil
	}
	if _, err := change.DecodeKey(key); err != nil {
		return nil, store.Scope{}, nil
	}
	var row []change.Change
	var sc store.Scope
	err = s.readOnly(ctx, func(tx pgx.Tx) error {
		var err error
		if row, err = rowChanges(ctx, tx, sh, key, info.Version); err != nil {
			return err
		}
		var scope, node []byte
		var ts int64
		err = tx.QueryRow(ctx, `SELECT scope, hlc, node FROM _hearth_scopes WHERE tbl = $1 AND pk = $2`, table, key).Scan(&scope, &ts, &node)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return nil
		case err != nil:
			return err
		}
		sc = store.Scope{Value: string(scope), Stamp: hlc.Stamp{TS: hlc.Timestamp(ts), Node: string(node)}, Known: true}
		return nil
	})
	if err != nil {
		return nil, store.Scope{}, fmt.Errorf("pgstore: read row: %w", err)
	}
	return row, sc, nil
}

// Compact implements store.Store. It takes the write lock, so no push
// appends meanwhile.
func (s *Store) Compact(ctx context.Context, before int64) (int64, error) {
	if _, _, err := s.ready(); err != nil {
		return 0, err
	}
	var floor int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", writeLock); err != nil {
			return err
		}
		var head int64
		if err := tx.QueryRow(ctx, `SELECT head, floor FROM _hearth_head`).Scan(&head, &floor); err != nil {
			return err
		}
		before = min(before, head)
		if before <= floor {
			return nil
		}
		if _, err := tx.Exec(ctx, `INSERT INTO _hearth_acked(client, seq, pos, flag, hlc, node) SELECT client, seq, pos, flag, hlc, node FROM _hearth_log WHERE pos <= $1 AND seq IS NOT NULL ON CONFLICT DO NOTHING`, before); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM _hearth_log WHERE pos <= $1`, before); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE _hearth_head SET floor = $1`, before); err != nil {
			return err
		}
		floor = before
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("pgstore: compact: %w", err)
	}
	return floor, nil
}

// Checksums implements store.Store: the same fingerprint as
// syncworker/checksum over the values as SQLite would return them.
func (s *Store) Checksums(ctx context.Context) (int64, map[string]checksum.Sum, error) {
	info, tables, err := s.ready()
	if err != nil {
		return 0, nil, err
	}
	var head int64
	sums := map[string]checksum.Sum{}
	err = s.readOnly(ctx, func(tx pgx.Tx) error {
		if head, err = readHead(ctx, tx); err != nil {
			return err
		}
		for _, t := range info.Tables {
			if strings.HasPrefix(t.Name, schema.ReservedPrefix) {
				continue
			}
			sum, err := tableChecksum(ctx, tx, tables[t.Name])
			if err != nil {
				return fmt.Errorf("checksum %s: %w", t.Name, err)
			}
			sums[t.Name] = sum
		}
		return nil
	})
	if err != nil {
		return 0, nil, fmt.Errorf("pgstore: %w", err)
	}
	return head, sums, nil
}

func tableChecksum(ctx context.Context, tx pgx.Tx, sh *tableShape) (checksum.Sum, error) {
	cols := make([]string, len(sh.info.Columns))
	for i, c := range sh.info.Columns {
		cols[i] = c.Name
	}
	sort.Strings(cols)
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = schema.Quote(c)
	}
	rows, err := tx.Query(ctx, "SELECT "+strings.Join(quoted, ", ")+" FROM "+schema.Quote(sh.info.Name))
	if err != nil {
		return checksum.Sum{}, err
	}
	defer rows.Close()
	var header codec.Encoder
	header.Value(cols)
	var sum checksum.Sum
	var enc codec.Encoder
	h := fnv.New64a()
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return checksum.Sum{}, err
		}
		enc.Reset()
		enc.Array(len(vals))
		for _, v := range vals {
			encodeStored(&enc, storable(v))
		}
		h.Reset()
		h.Write(header.Bytes())
		h.Write(enc.Bytes())
		sum.Rows++
		sum.Hash += h.Sum64()
	}
	return sum, rows.Err()
}

// encodeStored writes a value as sqlcodec.WriteRow writes a SQLite column.
func encodeStored(enc *codec.Encoder, v any) {
	switch x := v.(type) {
	case int64:
		enc.Int(x)
	case float64:
		enc.Float(x)
	case string:
		enc.Text(x)
	case []byte:
		enc.Blob(x)
	default:
		enc.Null()
	}
}

// Close implements store.Store. It stops the head watcher and closes the
// pool.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		s.watchers.Wait()
		s.pool.Close()
	})
	return nil
}

var _ store.Store = (*Store)(nil)
