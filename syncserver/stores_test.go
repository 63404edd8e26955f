package syncserver_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hearthdb/hearth/internal/pgtest"
	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncserver/pgstore"
	"github.com/hearthdb/hearth/syncserver/sqlitestore"
	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.StopShared()
	os.Exit(code)
}

// backend is one database the server can run on: a SQLite file or a
// PostgreSQL database. open gives a new store on the same data each call,
// as a restarted (or a second) server process would have.
type backend struct {
	name string
	path string // SQLite: the database file
	url  string // PostgreSQL: the database URL
}

func (b *backend) postgres() bool { return b.url != "" }

func (b *backend) open(t testing.TB) store.Store {
	t.Helper()
	if b.postgres() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st, err := pgstore.Open(ctx, b.url)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st, err := sqlitestore.Open(b.path)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// fresh is an empty database of the same kind.
func (b *backend) fresh(t testing.TB) *backend {
	if b.postgres() {
		return &backend{name: b.name, url: pgtest.URL(t)}
	}
	return &backend{name: b.name, path: filepath.Join(t.TempDir(), "sync.db")}
}

// forEachStore runs a scenario on SQLite and on PostgreSQL.
func forEachStore(t *testing.T, fn func(t *testing.T, b *backend)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, &backend{name: "sqlite", path: filepath.Join(t.TempDir(), "sync.db")})
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, &backend{name: "postgres", url: pgtest.URL(t)})
	})
}

// server starts a harness on the backend; cfg.Store, when set, wraps a
// store from b.open.
func (b *backend) server(t testing.TB, cfg syncserver.Config) *harness {
	t.Helper()
	if cfg.Store == nil {
		cfg.Store = b.open(t)
	}
	cfg.Path = b.path
	h := newHarness(t, cfg)
	h.backend = b
	return h
}

// pgQuery runs a test's SQLite-flavoured query on the PostgreSQL store.
// The simple protocol sends arguments as literals, which PostgreSQL
// coerces to the column's type (text or bytea alike).
func pgQuery(t testing.TB, url, sql string, args ...any) [][]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn := pgConnect(t, ctx, url)
	defer conn.Close(ctx)
	n := 0
	for strings.Contains(sql, "?") {
		n++
		sql = strings.Replace(sql, "?", "$"+strconv.Itoa(n), 1)
	}
	rows, err := conn.Query(ctx, sql, append([]any{pgx.QueryExecModeSimpleProtocol}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		row := make([]any, len(vals))
		for i, v := range vals {
			row[i] = pgStorable(v)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// pgConnect connects as another program would, looking in the store's
// schema (pgstore.DefaultSchema) first.
func pgConnect(t testing.TB, ctx context.Context, url string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = pgstore.DefaultSchema + ", public"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// pgStorable maps the column types the tests read (bigint, double, text,
// bytea, and numeric from aggregates) to storable values.
func pgStorable(v any) any {
	switch x := v.(type) {
	case int32:
		return int64(x)
	case []byte:
		return append([]byte{}, x...)
	case pgtype.Numeric:
		if i, err := x.Int64Value(); err == nil && i.Valid {
			return i.Int64
		}
		f, _ := x.Float64Value()
		return f.Float64
	}
	return v
}
