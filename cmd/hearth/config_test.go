package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	boardschema "github.com/hearthdb/hearth/examples/board/schema"
	"github.com/hearthdb/hearth/syncserver/appconfig"
	"github.com/hearthdb/hearth/syncworker/seed"
	"github.com/ncruces/go-sqlite3"
)

const notesConfig = "testdata/notes/hearth.yaml"

func TestCheckCommand(t *testing.T) {
	var out bytes.Buffer
	if err := check([]string{"-config", notesConfig}, &out); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "ok: app notes: 2 migrations, 4 tables, 1 invariant\n" {
		t.Fatalf("check: %q", got)
	}
	out.Reset()
	if err := check(nil, &out); err != nil || out.String() != "ok: app board: 1 migration, 7 tables, 1 invariant\n" {
		t.Fatalf("check of the board: %q %v", out.String(), err)
	}

	bad := filepath.Join(t.TempDir(), "hearth.yaml")
	os.WriteFile(bad, []byte("app: notes\nmigrations: nowhere\ntables:\n  notes: { scope: 3 }\ncolour: blue\n"), 0o644)
	err := check([]string{"-config", bad}, &out)
	var errs appconfig.Errors
	if !errors.As(err, &errs) || len(errs) != 3 {
		t.Fatalf("want 3 errors, got %v", err)
	}
	for i, want := range []string{bad + ":2:13: migrations: migrations: open .: no such file", bad + ":4:19: tables.notes.scope: want a string, got an integer", bad + ":5:1: colour: unknown key"} {
		if !strings.HasPrefix(errs[i].Error(), want) {
			t.Errorf("error %d: %q, want %q...", i, errs[i], want)
		}
	}
}

type schemaJSON struct {
	App        string `json:"app"`
	Migrations []struct {
		Version int64  `json:"version"`
		SQL     string `json:"sql"`
	} `json:"migrations"`
	Tables []struct {
		Name      string `json:"name"`
		Resurrect bool   `json:"resurrect"`
	} `json:"tables"`
}

func TestSchemaCommand(t *testing.T) {
	var out bytes.Buffer
	if err := printSchema([]string{"-config", notesConfig}, &out); err != nil {
		t.Fatal(err)
	}
	var s schemaJSON
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	if s.App != "notes" || len(s.Migrations) != 2 || s.Migrations[1].Version != 2 || !strings.Contains(s.Migrations[0].SQL, "CREATE TABLE notes(") ||
		len(s.Tables) != 4 || s.Tables[1].Name != "notes" || !s.Tables[1].Resurrect {
		t.Fatalf("schema: %s", out.String())
	}
	out.Reset()
	if err := printSchema(nil, &out); err != nil {
		t.Fatal(err)
	}
	s = schemaJSON{}
	json.Unmarshal(out.Bytes(), &s)
	if s.App != "board" || len(s.Tables) != len(boardschema.Tables) || s.Migrations[0].SQL != boardschema.Migrations[0].SQL {
		t.Fatalf("board schema: %s", out.String())
	}
}

func TestTokenCommand(t *testing.T) {
	var out bytes.Buffer
	if err := mintToken([]string{"-config", notesConfig, "-sub", "ann", "-scopes", "nb1, nb2", "-roles", "admin", "-ttl", "10m"}, &out); err != nil {
		t.Fatal(err)
	}
	app, err := appconfig.Load(notesConfig)
	if err != nil {
		t.Fatal(err)
	}
	v, err := app.Verifier()
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "ann" || !slices.Equal(c.Scopes, []string{"nb1", "nb2"}) || !slices.Equal(c.Roles, []string{"admin"}) {
		t.Fatalf("claims %+v", c)
	}

	for _, args := range [][]string{{"-sub", "ann"}, {"-config", notesConfig}, {"-config", notesConfig, "-sub", "a", "-ttl", "-1h"}} {
		if err := mintToken(args, &out); err == nil {
			t.Errorf("token %v: no error", args)
		}
	}

	// A public-key config verifies tokens someone else signs: no minting.
	dir := t.TempDir()
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	os.CopyFS(filepath.Join(dir, "migrations"), os.DirFS("testdata/notes/migrations"))
	cfg := filepath.Join(dir, "hearth.yaml")
	os.WriteFile(cfg, []byte("app: pk\nmigrations: migrations\nauth: {jwt: {public_key_file: key.pem}}\ntables: {notebooks: {scope: id}}\n"), 0o644)
	if err := mintToken([]string{"-config", cfg, "-sub", "ann"}, &out); err == nil || !strings.Contains(err.Error(), "secret_file") {
		t.Fatalf("public-key config: %v", err)
	}
}

// TestServeConfig: `hearth serve -config` runs a notes app from its yaml:
// a client pushes, another in the same notebook receives, one of another
// notebook does not; the yaml's invariant and owner rule apply; the
// schema is served with an ETag.
func TestServeConfig(t *testing.T) {
	base := startServe(t, "-config", notesConfig)
	app, err := appconfig.Load(notesConfig)
	if err != nil {
		t.Fatal(err)
	}
	token := func(sub string, scopes ...string) string {
		tok, err := app.Issuer().Issue(sub, scopes, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return "ws" + strings.TrimPrefix(base, "http") + "sync?token=" + url.QueryEscape(tok)
	}
	if resp, err := http.Get(base + "sync"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token: %v %v", resp.Status, err)
	}

	bob := newAppDevice(t, token("bob", "nb1"), app.Migrations, app.Tables)
	carl := newAppDevice(t, token("carl", "nb2"), app.Migrations, app.Tables)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := seed.Write(ctx, token("ann", "nb1", "nb2"), app.Migrations, app.Tables, func(conn *sqlite3.Conn) error {
		return conn.Exec(`INSERT INTO notebooks(id, name) VALUES ('nb1', 'Work'), ('nb2', 'Home');
			INSERT INTO notes(id, notebook_id, title) VALUES ('n1', 'nb1', 'Plan'), ('n2', 'nb1', 'Plan'), ('n3', 'nb2', 'Secret');
			INSERT INTO profiles(id, user_id, bio) VALUES ('p-ann', 'ann', 'hi'), ('p-bob', 'bob', 'forged')`)
	}); err != nil {
		t.Fatal(err)
	}
	waitText(t, bob, "bob to receive nb1's notes", `SELECT group_concat(id) FROM (SELECT id FROM notes ORDER BY id)`, "n1,n2")
	waitText(t, bob, "the unique-title violation", `SELECT message FROM _hearth_violations`, "another note in this notebook is titled Plan")
	waitText(t, bob, "ann's own profile, not the forged one", `SELECT group_concat(id) FROM profiles`, "p-ann")
	waitText(t, carl, "carl to receive nb2's note only", `SELECT group_concat(id) FROM notes`, "n3")
	if got := carl.text(t, `SELECT count(*) FROM _hearth_violations`); got != "0" {
		t.Fatalf("carl sees %s violations of another notebook", got)
	}

	// The app's backend writes with its service token (POST /v1/write);
	// bob's device receives the row live.
	service, err := os.ReadFile("testdata/notes/service-token")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", base+"v1/write", strings.NewReader(`{"changes":[{"table":"notes","op":"upsert","values":{"id":"n9","notebook_id":"nb1","title":"From the backend"}}]}`))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(service)))
	req.Header.Set("Idempotency-Key", "cmd-test-1")
	wresp, err := http.DefaultClient.Do(req)
	if err != nil || wresp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/write: %v %v", wresp.Status, err)
	}
	wresp.Body.Close()
	waitText(t, bob, "the backend's note", `SELECT title FROM notes WHERE id = 'n9'`, "From the backend")

	// Names not listed in public_hosts are refused (DNS rebinding);
	// listed ones, loopback and IP literals are served.
	for host, want := range map[string]int{"evil.example": http.StatusMisdirectedRequest, "notes.example.com": http.StatusOK, "localhost": http.StatusOK} {
		req, _ := http.NewRequest("GET", base+"v1/schema", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != want {
			t.Fatalf("Host %s: %v %v, want %d", host, resp.Status, err, want)
		}
		resp.Body.Close()
	}

	resp, err := http.Get(base + "v1/schema")
	if err != nil {
		t.Fatal(err)
	}
	var s schemaJSON
	json.NewDecoder(resp.Body).Decode(&s)
	resp.Body.Close()
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || s.App != "notes" || len(s.Tables) != 4 || etag == "" || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("/v1/schema: %s %+v %q", resp.Status, s, etag)
	}
	req, _ = http.NewRequest("GET", base+"v1/schema", nil)
	req.Header.Set("If-None-Match", etag)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidation: %v %v", resp.Status, err)
	}
}

func waitText(t *testing.T, d *device, what, sql, want string) {
	t.Helper()
	var got string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got = d.text(t, sql); got == want {
			return
		}
	}
	t.Fatalf("%s: %q, want %q", what, got, want)
}

// TestServeConfigRefusals: a config with mistakes does not start, and the
// demo board's flags are refused with -config.
func TestServeConfigRefusals(t *testing.T) {
	for _, flag := range [][]string{{"-seed-tasks", "10"}, {"-seed-today", "2027-01-01"}, {"-demo-auth"}} {
		_, err := configure(append([]string{"-config", notesConfig, "-web", t.TempDir()}, flag...))
		if err == nil || !strings.Contains(err.Error(), "demo board only") {
			t.Errorf("%v with -config: %v", flag, err)
		}
	}
	bad := filepath.Join(t.TempDir(), "hearth.yaml")
	os.WriteFile(bad, []byte("app: x\n"), 0o644)
	_, err := configure([]string{"-config", bad, "-web", t.TempDir()})
	var errs appconfig.Errors
	if !errors.As(err, &errs) || len(errs) != 2 {
		t.Fatalf("bad config: %v", err)
	}
	// Flags given explicitly override the file.
	cfg, err := configure([]string{"-config", notesConfig, "-web", t.TempDir(), "-store", "other.db", "-jwt-issuer", "me"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.store != "other.db" || cfg.seedTasks != 0 || cfg.auth == nil || cfg.auth.demo != nil {
		t.Fatalf("serve config %+v", cfg)
	}
}

// Demo tokens are never signed with a real key, and a server without real
// authentication stays on loopback unless told -insecure (security
// review: -demo-auth with -jwt-secret-file minted production tokens for
// anyone; the default open mode was reachable from the network).
func TestServeRefusesUnsafeCombinations(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("0123456789abcdef0123456789abcdef-real"), 0o600)
	web := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-demo-auth", "-jwt-secret-file", secret}, "cannot be combined with a real key"},
		{[]string{"-addr", "0.0.0.0:0", "-seed-tasks", "0"}, "reachable from other machines"},
		{[]string{"-addr", ":8080", "-seed-tasks", "0"}, "reachable from other machines"},
		{[]string{"-addr", "0.0.0.0:0", "-demo-auth"}, "reachable from other machines"},
		{[]string{"-jwt-secret-file", secret}, "use -seed-tasks 0"},
	} {
		_, err := configure(append([]string{"-web", web}, tc.args...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error saying %q", tc.args, err, tc.want)
		}
	}
	for _, args := range [][]string{
		{"-addr", "0.0.0.0:0", "-insecure", "-seed-tasks", "0"},
		{"-addr", "0.0.0.0:0", "-jwt-secret-file", secret, "-seed-tasks", "0"},
		{"-addr", "[::1]:0", "-seed-tasks", "0"},
		{"-addr", "localhost:0", "-demo-auth"},
	} {
		if _, err := configure(append([]string{"-web", web}, args...)); err != nil {
			t.Errorf("%v: %v", args, err)
		}
	}
}

// TestDemoBoardStoreOutlivesTheServer: the demo board keeps its store in
// the user's cache directory unless -store says otherwise (empty: in
// memory); an app's config keeps its own store setting (here: none).
func TestDemoBoardStoreOutlivesTheServer(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	t.Setenv("HOME", t.TempDir())
	web := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, filepath.Join(cache, "hearth", "board.db")},
		{[]string{"-store", ""}, ""},
		{[]string{"-store", "mine.db"}, "mine.db"},
		{[]string{"-sync=false"}, ""},
		// An app's config without store: stays in memory.
		{[]string{"-config", notesConfig}, ""},
	} {
		cfg, err := configure(append([]string{"-web", web}, tc.args...))
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if cfg.store != tc.want {
			t.Errorf("%v: store %q, want %q", tc.args, cfg.store, tc.want)
		}
	}
}
