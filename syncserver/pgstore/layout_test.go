package pgstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hearthdb/hearth/internal/pgtest"
	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/jackc/pgx/v5"
)

// An app that syncs a users table, beside an app database that has its
// own users table.
var (
	usersV1     = appschema.Migration{Version: 1, SQL: `CREATE TABLE users(id TEXT PRIMARY KEY, name TEXT)`}
	usersTables = []appschema.Table{{Name: "users"}}
)

// admin is a connection as the app or an operator has it: the default
// search_path, no Hearth settings.
func admin(t testing.TB, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func mustExec(t testing.TB, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// openUsers opens a store on the users app; the error is Store.Open's.
func openUsers(t testing.TB, url string, opts ...Option) (*Store, store.Info, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := Open(ctx, url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	info, err := s.Open(ctx, store.Schema{Migrations: []appschema.Migration{usersV1}, Tables: usersTables})
	return s, info, err
}

// describeTable is a table's columns, indexes, triggers and comment, and
// its rows, as text to compare before and after.
func describeTable(t testing.TB, conn *pgx.Conn, schemaName, table string) string {
	t.Helper()
	var b strings.Builder
	q := func(sql string, args ...any) {
		rows, err := conn.Query(context.Background(), sql, args...)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(&b, vals...)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	q(`SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`, schemaName, table)
	q(`SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 ORDER BY indexname`, schemaName, table)
	q(`SELECT tgname FROM pg_trigger WHERE tgrelid = ($1 || '.' || $2)::regclass ORDER BY 1`, schemaName, table)
	q(`SELECT obj_description(($1 || '.' || $2)::regclass, 'pg_class')`, schemaName, table)
	q(`SELECT to_jsonb(u) FROM ` + schemaName + `.` + table + ` u ORDER BY 1`)
	return b.String()
}

func pushUser(t testing.TB, s *Store, client string, seq int64, id, name string) {
	t.Helper()
	key, _ := change.EncodeKey(id)
	res, err := s.Push(context.Background(), store.Push{Client: client, Schema: 1, Stamp: serverStamp(), Changes: []store.Pushed{{Seq: seq,
		Change: change.Change{Table: "users", Key: key, Op: change.Insert, Values: map[string]any{"name": name},
			Stamp: hlc.Stamp{TS: hlc.Make(1_000_000+seq, 0), Node: client}, Schema: 1}}}}, nil)
	if err != nil || res.Outcomes[0].Code != "" {
		t.Fatalf("push %s: %v %+v", id, err, res)
	}
}

// serverStamp is a server clock for tests: later with every call.
func serverStamp() func() hlc.Stamp {
	clock := hlc.NewClock(func() time.Time { return time.UnixMilli(2_000_000) })
	return func() hlc.Stamp { return hlc.Stamp{TS: clock.Now(), Node: "server-test"} }
}

func TestAppTableOfTheSameNameIsUntouched(t *testing.T) {
	url := pgtest.URL(t)
	app := admin(t, url)
	mustExec(t, app, `CREATE TABLE public.users(id text PRIMARY KEY, email text NOT NULL, password_hash text NOT NULL,
		is_admin boolean NOT NULL DEFAULT false, UNIQUE (email));
		CREATE INDEX users_admins ON public.users(is_admin) WHERE is_admin;
		INSERT INTO public.users VALUES ('1', 'a@example.com', 'hash', true)`)
	before := describeTable(t, app, "public", "users")
	s, _, err := openUsers(t, url)
	if err != nil {
		t.Fatal(err)
	}
	pushUser(t, s, "c", 1, "u1", "ann")
	s.Close()
	if _, _, err := openUsers(t, url); err != nil {
		t.Fatal("reopen:", err)
	}
	if after := describeTable(t, app, "public", "users"); after != before {
		t.Fatalf("the app's users table changed:\n%s\nwas:\n%s", after, before)
	}
	var n int64
	if err := app.QueryRow(context.Background(), `SELECT count(*) FROM hearth.users WHERE id = 'u1' AND name = 'ann'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("hearth.users: %d %v", n, err)
	}
	// The app writing its own table is not captured.
	mustExec(t, app, `INSERT INTO public.users VALUES ('2', 'b@example.com', 'h2', false)`)
	if err := app.QueryRow(context.Background(), `SELECT count(*) FROM hearth._hearth_inbox`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("inbox: %d %v", n, err)
	}
	// The capture function (SECURITY DEFINER) cannot be put on another
	// table to fill Hearth's inbox: nobody else may use it, and it
	// refuses tables outside Hearth's schema.
	var granted bool
	if err := app.QueryRow(context.Background(), `SELECT has_function_privilege('public', 'hearth._hearth_external_row()', 'EXECUTE')`).Scan(&granted); err != nil || granted {
		t.Fatalf("PUBLIC may execute the capture function: %v %v", granted, err)
	}
	mustExec(t, app, `CREATE TRIGGER steal AFTER INSERT ON public.users FOR EACH ROW EXECUTE FUNCTION hearth._hearth_external_row()`)
	if _, err := app.Exec(context.Background(), `INSERT INTO public.users VALUES ('3', 'c@example.com', 'h3', false)`); err == nil || !strings.Contains(err.Error(), "HEARTH_CAPTURE") {
		t.Fatalf("capture on an app table: %v", err)
	}
}

func TestStoresInTwoSchemasAreIndependent(t *testing.T) {
	url := pgtest.URL(t)
	a, infoA, err := openUsers(t, url)
	if err != nil {
		t.Fatal(err)
	}
	b, infoB, err := openUsers(t, url, WithSchema("tenant_b"))
	if err != nil {
		t.Fatal(err)
	}
	if infoA.ID == infoB.ID {
		t.Fatal("two schemas, one store id")
	}
	pushUser(t, a, "c", 1, "u1", "in a")
	pushUser(t, b, "c", 1, "u2", "in b")
	pushUser(t, b, "c", 2, "u3", "in b")
	for _, c := range []struct {
		s    *Store
		want int
	}{{a, 1}, {b, 2}} {
		entries, head, err := c.s.Log(context.Background(), 0, 10)
		if err != nil || len(entries) != c.want || head != int64(c.want) {
			t.Fatalf("%s: %d entries, head %d, %v; want %d", c.s.schema, len(entries), head, err, c.want)
		}
		_, sums, err := c.s.Checksums(context.Background())
		if err != nil || sums["users"].Rows != int64(c.want) {
			t.Fatalf("%s: %+v %v", c.s.schema, sums, err)
		}
	}
	// Each store's external writes are its own.
	app := admin(t, url)
	mustExec(t, app, `INSERT INTO tenant_b.users(id, name) VALUES ('x', 'external')`)
	headA, err := a.Ingest(context.Background(), serverStamp(), nil)
	if err != nil || headA != 1 {
		t.Fatalf("a ingested: head %d %v", headA, err)
	}
	headB, err := b.Ingest(context.Background(), serverStamp(), nil)
	if err != nil || headB != 3 {
		t.Fatalf("b ingested: head %d %v", headB, err)
	}
	for _, name := range []string{"hearth", "tenant_b", "bad-name", "Hearth", "pg_x", "1x", ""} {
		err := ValidateSchemaName(name)
		if (err == nil) != (name == "hearth" || name == "tenant_b") {
			t.Errorf("schema name %q: %v", name, err)
		}
	}
}

func layoutCode(err error) string {
	var le *LayoutError
	if errors.As(err, &le) {
		return le.Code
	}
	return ""
}

func TestTableHearthDidNotCreateIsRefused(t *testing.T) {
	url := pgtest.URL(t)
	app := admin(t, url)
	// Hearth's schema exists (another app's tables synced there), and
	// someone created a users table in it by hand.
	s, _, err := openUsers(t, url, WithSchema("sync"))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	mustExec(t, app, `DROP TABLE sync.users; DELETE FROM sync._hearth_tables WHERE name = 'users';
		CREATE TABLE sync.users(id text PRIMARY KEY, secret text NOT NULL, UNIQUE (secret));
		INSERT INTO sync.users VALUES ('1', 's')`)
	before := describeTable(t, app, "sync", "users")
	_, _, err = openUsers(t, url, WithSchema("sync"))
	if layoutCode(err) != CodeForeignTable || !strings.Contains(err.Error(), `"users"`) {
		t.Fatalf("want %s, got %v", CodeForeignTable, err)
	}
	if after := describeTable(t, app, "sync", "users"); after != before {
		t.Fatalf("the refused table changed:\n%s\nwas:\n%s", after, before)
	}
}

func TestSchemaWithOtherTablesIsRefused(t *testing.T) {
	url := pgtest.URL(t)
	app := admin(t, url)
	mustExec(t, app, `CREATE SCHEMA app; CREATE TABLE app.stuff(x int); CREATE SCHEMA empty`)
	_, _, err := openUsers(t, url, WithSchema("app"))
	if layoutCode(err) != CodeForeignSchema {
		t.Fatalf("want %s, got %v", CodeForeignSchema, err)
	}
	var n int64
	if err := app.QueryRow(context.Background(), `SELECT count(*) FROM pg_class WHERE relnamespace = 'app'::regnamespace`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("app schema holds %d relations (%v), want its one table", n, err)
	}
	// An empty schema an operator created beforehand is adopted.
	if _, _, err := openUsers(t, url, WithSchema("empty")); err != nil {
		t.Fatal(err)
	}
}

// TestLegacyLayoutIsRefusedThenMoved: a database laid out by an older
// version (Hearth's tables in public) is refused with a clear error;
// after the move OPERATIONS.md documents, it opens with its data, and
// external writes sync.
func TestLegacyLayoutIsRefusedThenMoved(t *testing.T) {
	url := pgtest.URL(t)
	app := admin(t, url)
	// The older layout: what this version makes in public, without the
	// registry and the capture machinery.
	old, _, err := openUsers(t, url, WithSchema("public"))
	if err != nil {
		t.Fatal(err)
	}
	pushUser(t, old, "c", 1, "u1", "ann")
	old.Close()
	mustExec(t, app, `DROP TABLE public._hearth_tables, public._hearth_inbox;
		DROP FUNCTION public._hearth_external_lock, public._hearth_external_row, public._hearth_refuse_truncate CASCADE`)

	_, _, err = openUsers(t, url)
	if layoutCode(err) != CodeLegacyLayout || !strings.Contains(err.Error(), `"public"`) || !strings.Contains(err.Error(), "OPERATIONS.md") {
		t.Fatalf("want %s naming public and the fix, got %v", CodeLegacyLayout, err)
	}

	script := moveScript(t)
	script = strings.Replace(script, `VALUES ('tasks'), ('notes')`, `VALUES ('users')`, 1)
	mustExec(t, app, script)

	s, info, err := openUsers(t, url)
	if err != nil {
		t.Fatal(err)
	}
	if info.Head != 1 {
		t.Fatalf("head %d after the move, want 1", info.Head)
	}
	key, _ := change.EncodeKey("u1")
	row, _, err := s.Row(context.Background(), "users", key)
	if err != nil || len(row) != 1 || row[0].Values["name"] != "ann" {
		t.Fatalf("u1 after the move: %+v %v", row, err)
	}
	mustExec(t, app, `INSERT INTO hearth.users(id, name) VALUES ('u2', 'bob')`)
	if head, err := s.Ingest(context.Background(), serverStamp(), nil); err != nil || head != 2 {
		t.Fatalf("ingest after the move: head %d %v", head, err)
	}
}

// moveScript is the SQL block under "Moving a store out of public" in
// OPERATIONS.md: the test runs what operators are told to run.
func moveScript(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile("../OPERATIONS.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), "### Moving a store out of public")
	if !ok {
		t.Fatal("OPERATIONS.md has no section on moving a store out of public")
	}
	_, block, ok := strings.Cut(after, "```sql\n")
	if !ok {
		t.Fatal("the section has no SQL block")
	}
	sql, _, _ := strings.Cut(block, "```")
	return sql
}

// TestExternalValuesReadAsTheStoreReadsRows: what ingestion logs for an
// external write is the row exactly as the store reads it back, for every
// affinity, whatever the writing session's output settings.
func TestExternalValuesReadAsTheStoreReadsRows(t *testing.T) {
	url := pgtest.URL(t)
	s, _ := openPG(t, url, testV1, testV2)
	app := admin(t, url)
	mustExec(t, app, `SET extra_float_digits = 0; SET bytea_output = 'escape';
		INSERT INTO hearth.items(id, n, r, t, num, b, code) VALUES
			('a', 9007199254740993, 0.30000000000000004, 'héllo ✓', 12.5, '\x00ff10'::bytea, 'c1'),
			('b', -1, 'Infinity', '', 3, '\x'::bytea, NULL),
			('c', NULL, 1e300, 'x', 123456789012345678901234567890, NULL, 'c3'),
			('d', 4, 'NaN', 'nan', 'NaN', NULL, 'c4');
		INSERT INTO hearth.pairs(a, b, v) VALUES (1, 'x', 'one');
		UPDATE hearth.pairs SET b = 'y' WHERE a = 1`)
	head, err := s.Ingest(context.Background(), serverStamp(), nil)
	if err != nil {
		t.Fatal(err)
	}
	entries, _, err := s.Log(context.Background(), 0, 100)
	if err != nil || int64(len(entries)) != head || head != 7 {
		t.Fatalf("%d entries, head %d, %v; want 7 (4 inserts, insert, delete + insert)", len(entries), head, err)
	}
	for _, e := range entries[:3] {
		row, _, err := s.Row(context.Background(), e.Table, e.Key)
		if err != nil || len(row) != 1 {
			t.Fatalf("row %x: %+v %v", e.Key, row, err)
		}
		if !reflect.DeepEqual(e.Values, row[0].Values) {
			t.Errorf("logged %v, the store reads %v", e.Values, row[0].Values)
		}
		if e.Client != "" || e.Stamp.Node != "server-test" {
			t.Errorf("entry %d by %q stamped %v", e.Pos, e.Client, e.Stamp)
		}
	}
	// Ingestion writes the merged row back: the values must be the ones
	// the program wrote, not merely agree with the table afterwards.
	want := map[string]any{"n": int64(9007199254740993), "r": 0.30000000000000004, "t": "héllo ✓", "num": 12.5,
		"b": []byte{0, 0xff, 0x10}, "code": "c1", "extra": int64(7)}
	if !reflect.DeepEqual(entries[0].Values, want) {
		t.Errorf("logged %v, want %v", entries[0].Values, want)
	}
	if r := entries[1].Values["r"]; r != math.Inf(1) {
		t.Errorf("Infinity read as %v", r)
	}
	if n := entries[0].Values["n"]; n != int64(9007199254740993) {
		t.Errorf("bigint read as %v", n)
	}
	if entries[5].Op != change.Delete || entries[6].Op != change.Insert || entries[6].Values["v"] != "one" {
		t.Errorf("key update logged as %v then %v", entries[5], entries[6])
	}
	// NaN, which SQLite (every client) stores as NULL, is stored so.
	var nulls bool
	if err := app.QueryRow(context.Background(), `SELECT r IS NULL AND num IS NULL FROM hearth.items WHERE id = 'd'`).Scan(&nulls); err != nil || !nulls {
		t.Errorf("NaN kept in the table: %v %v", nulls, err)
	}
	// Ingested once: the inbox is empty, a second ingest logs nothing.
	if again, err := s.Ingest(context.Background(), serverStamp(), nil); err != nil || again != head {
		t.Fatalf("second ingest: head %d %v", again, err)
	}
}
