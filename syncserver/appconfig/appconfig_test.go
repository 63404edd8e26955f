package appconfig_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncserver/appconfig"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestNotesConfig: a config using every key loads into what the server needs.
func TestNotesConfig(t *testing.T) {
	a, err := appconfig.Load("testdata/notes/hearth.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "notes" || len(a.Migrations) != 2 || a.Migrations[1].Version != 2 {
		t.Fatalf("app %q, migrations %+v", a.Name, a.Migrations)
	}
	var tables []string
	for _, tb := range a.Tables {
		tables = append(tables, tb.Name)
	}
	if !slices.Equal(tables, []string{"notebooks", "notes", "profiles", "audit"}) || !a.Tables[1].Resurrect || a.Tables[0].Resurrect {
		t.Fatalf("tables %+v", a.Tables)
	}
	if !slices.Equal(a.PublicHosts, []string{"notes.example.com"}) {
		t.Fatalf("public hosts %q", a.PublicHosts)
	}
	if a.Store.Path != filepath.Join("testdata", "notes", "notes.db") || a.Store.URL != "" {
		t.Fatalf("store %+v", a.Store)
	}
	if a.Auth == nil || !strings.HasPrefix(string(a.Auth.Secret), "notes-test-secret") || a.Auth.Audience != "hearth-sync" ||
		a.Auth.Issuer != "notes-test" || a.Auth.ScopesClaim != "ws" || a.Auth.RolesClaim != "roles" {
		t.Fatalf("auth %+v", a.Auth)
	}
	if !slices.Equal(a.ServiceTokens, []string{"service-token-0123456789abcdef0123456789", "second-service-token-0123456789abcdef"}) {
		t.Fatalf("service tokens %q", a.ServiceTokens)
	}
	want := appconfig.Limits{MaxMessageBytes: 4194304, MaxPushBatch: 1000, PushRate: 1000, PushBurst: 10000,
		SnapshotRate: 50000, SnapshotBurst: 250000, ChecksumInterval: 10 * time.Second, ChecksumBurst: 8,
		MaxClockSkew: 5 * time.Minute, CompactInterval: time.Hour, CompactKeep: 100000,
		MaxRowBytes: 4 << 20, MaxPrincipalBytes: 1 << 30,
		ReplicaBuilds: -1, ReplicaMaxBytes: 1 << 20, ReplicaTimeout: 30 * time.Second, ReplicaCacheBytes: -1, QuietCursorDelay: -1}
	if a.Limits != want {
		t.Fatalf("limits %+v", a.Limits)
	}
	if a.TableRules["profiles"].Write.Owner != "user_id" || !a.TableRules["profiles"].Read.Authenticated ||
		a.TableRules["audit"].Read.Authenticated || !a.TableRules["audit"].Write.Authenticated {
		t.Fatalf("rules %+v", a.TableRules)
	}
	if len(a.Invariants) != 1 || a.Invariants[0].Table != "notes" || !strings.Contains(a.Invariants[0].SQL, "me.id = :id") {
		t.Fatalf("invariants %+v", a.Invariants)
	}

	off := a.ServerConfig(false)
	if off.Scopes != nil || off.Grants != nil || off.TableRules != nil || off.OriginPatterns[0] != "localhost:5173" || off.MaxClockSkew != 5*time.Minute {
		t.Fatalf("unauthenticated server config %+v", off)
	}
	on := a.ServerConfig(true)
	if on.Scopes["notes"] != "notebook_id" || on.TableRules == nil {
		t.Fatalf("authenticated server config %+v", on)
	}
	read, write := on.Grants(syncserver.Identity{Scopes: []string{"nb1"}, Roles: []string{"admin", "unknown"}})
	if !slices.Equal(read, []string{"nb1", "*"}) || !slices.Equal(write, []string{"nb1", "*"}) {
		t.Fatalf("grants %v %v", read, write)
	}
	// A token's own "*" is not every scope: only a role grants that.
	read, write = on.Grants(syncserver.Identity{Scopes: []string{"*", "nb2"}})
	if !slices.Equal(read, []string{"nb2"}) || !slices.Equal(write, []string{"nb2"}) {
		t.Fatalf("grants of a token listing *: %v %v", read, write)
	}

	// The issuer's tokens pass the verifier.
	v, err := a.Verifier()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := a.Issuer().IssueWithRoles("ann", []string{"nb1"}, []string{"admin"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := v.Verify(tok); err != nil || c.Subject != "ann" || !slices.Equal(c.Roles, []string{"admin"}) {
		t.Fatalf("verify: %+v %v", c, err)
	}
}

// TestBadConfigGolden: every mistake of a file full of them, each at its
// line and column, all at once.
func TestBadConfigGolden(t *testing.T) {
	_, err := appconfig.Load("testdata/bad/hearth.yaml")
	var errs appconfig.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("want Errors, got %v", err)
	}
	got := err.Error() + "\n"
	golden := "testdata/bad/errors.golden"
	if *update {
		os.WriteFile(golden, []byte(got), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("errors differ from %s (go test -update):\n%s", golden, got)
	}
	for _, e := range errs {
		if e.File != "testdata/bad/hearth.yaml" || e.Line == 0 || e.Col == 0 || e.Path == "" {
			t.Errorf("error without its place: %+v", e)
		}
	}
}

const migration = "CREATE TABLE notes(id TEXT PRIMARY KEY, owner TEXT, title TEXT NOT NULL DEFAULT '');\n"

// TestErrorKinds: one mistake each, reported at its line:col with its path.
func TestErrorKinds(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"syntax", "app: notes\ntables: [a\n", "hearth.yaml:2:"},
		{"tab indentation", "app: x\n\tmigrations: m\n", "hearth.yaml:2:"},
		{"duplicate key", "app: a\napp: b\nmigrations: m\ntables: {notes: {}}\n", "hearth.yaml:2:1: YAML: mapping key \"app\" already defined at [1:1]"},
		{"anchor", "app: &n notes\nmigrations: m\ntables: {notes: {}}\n", "hearth.yaml:1:6: app: anchors and aliases are not supported"},
		{"missing keys", "limits: {}\n", "hearth.yaml:1:7: app: missing (required)"},
		{"empty", "", "hearth.yaml: empty config"},
		{"not a mapping", "- a\n- b\n", "hearth.yaml:1:1: want a mapping"},
		{"two documents", "app: a\n---\napp: b\n", "hearth.yaml:3:4: one YAML document only"},
		{"no migrations dir", "app: a\nmigrations: nope\ntables: {notes: {}}\n", "hearth.yaml:2:13: migrations: migrations: open nope"},
		{"bad migration sql", "app: a\nmigrations: bad\ntables: {notes: {}}\n", "hearth.yaml:2:1: migrations: migration 1: sqlite3: SQL logic error: near \"CREAT\""},
		{"no primary key", "app: a\nmigrations: m\ntables:\n  nokey: {}\n", "hearth.yaml:4:3: tables.nokey: synced table \"nokey\" has no PRIMARY KEY"},
		{"no tables", "app: a\nmigrations: m\ntables: {}\n", "hearth.yaml:3:1: tables: list at least one synced table"},
		{"rule word", "app: a\nmigrations: m\ntables:\n  notes: { read: everyone }\n", "hearth.yaml:4:18: tables.notes.read: want authenticated, none or a mapping, got \"everyone\""},
		{"auth without jwt", "app: a\nmigrations: m\nauth: {}\ntables: {notes: {read: none, write: none}}\n", "hearth.yaml:3:1: auth.jwt: missing"},
		{"two keys", "app: a\nmigrations: m\nauth:\n  jwt: {secret_file: s, public_key_file: s}\ntables: {notes: {read: none, write: none}}\n", "hearth.yaml:4:25: auth.jwt.public_key_file: secret_file and public_key_file are exclusive"},
		{"bad pem", "app: a\nmigrations: m\nauth:\n  jwt: {public_key_file: s}\ntables: {notes: {read: none, write: none}}\n", "hearth.yaml:4:26: auth.jwt.public_key_file: s: auth: the PEM holds neither"},
		{"missing secret", "app: a\nmigrations: m\nauth:\n  jwt: {secret_file: gone}\ntables: {notes: {read: none, write: none}}\n", "hearth.yaml:4:22: auth.jwt.secret_file: open gone"},
		{"two statements", "app: a\nmigrations: m\ntables: {notes: {}}\ninvariants:\n  - {name: n, table: notes, sql: \"SELECT 1; SELECT 2\"}\n", "hearth.yaml:5:34: invariants[0].sql: one statement only"},
		{"writing invariant", "app: a\nmigrations: m\ntables: {notes: {}}\ninvariants:\n  - {name: n, table: notes, sql: \"DELETE FROM notes\"}\n", "hearth.yaml:5:34: invariants[0].sql: an invariant may only read"},
		{"recursive", "app: a\nmigrations: m\ntables: {notes: {}}\ninvariants:\n  - {name: n, table: notes, sql: \"WITH RECURSIVE r(n) AS (SELECT 1) SELECT n FROM r\"}\n", "hearth.yaml:5:34: invariants[0].sql: invariant \"n\": WITH RECURSIVE is not supported"},
		{"positional", "app: a\nmigrations: m\ntables: {notes: {}}\ninvariants:\n  - {name: n, table: notes, sql: \"SELECT 1 WHERE ? = 1\"}\n", "use :name parameters"},
		{"not a list", "app: a\nmigrations: m\ntables: {notes: {}}\ninvariants: {name: n}\n", "hearth.yaml:4:13: invariants: want a list of invariants, got a mapping"},
		{"huge secret", "app: a\nmigrations: m\nauth:\n  jwt: {secret_file: big}\ntables: {notes: {read: none, write: none}}\n", "hearth.yaml:4:22: auth.jwt.secret_file: big is larger than 1048576 bytes"},
		{"origin pattern", "app: a\nmigrations: m\ntables: {notes: {}}\nallowed_origins: [\"[\"]\n", "hearth.yaml:4:18: allowed_origins[0]: \"[\" is not a host pattern"},
		{"public host with scheme", "app: a\nmigrations: m\ntables: {notes: {}}\npublic_hosts: [\"https://x.example\"]\n", "hearth.yaml:4:15: public_hosts[0]: \"https://x.example\" is not a host name"},
		{"schema without url", "app: a\nmigrations: m\ntables: {notes: {}}\nstore: {path: d.db, schema: app_sync}\n", "hearth.yaml:4:21: store.schema: schema is for a PostgreSQL store (url)"},
		{"bad schema name", "app: a\nmigrations: m\ntables: {notes: {}}\nstore: {url: \"postgres://h/db\", schema: \"Bad-Name\"}\n", "store.schema: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{
				"hearth.yaml":        {Data: []byte(tc.yaml)},
				"m/0001_notes.sql":   {Data: []byte(migration + "CREATE TABLE nokey(a TEXT);")},
				"bad/0001_notes.sql": {Data: []byte("CREAT TABLE x(id);")},
				"s":                  {Data: []byte("not a key")},
				"big":                {Data: make([]byte, appconfig.MaxFileBytes+1)},
			}
			_, err := appconfig.LoadFS(fsys, "hearth.yaml")
			var errs appconfig.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("want Errors, got %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("errors:\n%v\nwant one containing %q", err, tc.want)
			}
		})
	}
}

// FuzzLoad: any file either loads or returns Errors, never panics.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"testdata/notes/hearth.yaml", "testdata/bad/hearth.yaml"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("app: a\nmigrations: m\ntables: {notes: {read: {roles: [x]}, write: {owner: owner}}}\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := fstest.MapFS{
			"hearth.yaml":               {Data: data},
			"m/0001_notes.sql":          {Data: []byte(migration)},
			"migrations/0001_notes.sql": {Data: []byte(migration)},
		}
		a, err := appconfig.LoadFS(fsys, "hearth.yaml")
		var errs appconfig.Errors
		switch {
		case err == nil && a == nil:
			t.Fatal("no app and no error")
		case err != nil && !errors.As(err, &errs):
			t.Fatalf("not Errors: %v", err)
		case err != nil && len(errs) == 0:
			t.Fatal("empty Errors")
		}
	})
}
