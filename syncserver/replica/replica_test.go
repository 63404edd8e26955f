package replica

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/journal"
	"github.com/hearthdb/hearth/syncworker/seed"
	"github.com/ncruces/go-sqlite3"
)

var (
	testMigrations = []appschema.Migration{
		{Version: 1, SQL: `CREATE TABLE notes(id TEXT PRIMARY KEY, space TEXT NOT NULL, title TEXT NOT NULL DEFAULT '', body TEXT NOT NULL DEFAULT '')`},
		{Version: 2, SQL: `CREATE INDEX notes_by_space ON notes(space, title); CREATE TABLE drafts(id TEXT PRIMARY KEY)`},
	}
	testTables = []appschema.Table{{Name: "notes", Text: []string{"body"}}}
)

// server is a sync server holding rows notes, and the replica endpoint
// beside it.
func server(t *testing.T, rows int, cfg Config) (*Handler, string) {
	t.Helper()
	srv, err := syncserver.New(syncserver.Config{Migrations: testMigrations, Tables: testTables})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Sync, cfg.Migrations, cfg.Tables = srv.Handler(), testMigrations, testTables
	cfg.Dir = t.TempDir()
	h := NewHandler(cfg)
	mux := http.NewServeMux()
	mux.Handle("/sync", srv.Handler())
	mux.Handle("/v1/replica", h)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() { hs.Close(); h.Close(); srv.Close() })
	if rows > 0 {
		_, err := seed.Write(context.Background(), "ws"+strings.TrimPrefix(hs.URL, "http")+"/sync", testMigrations, testTables, func(conn *sqlite3.Conn) error {
			return conn.Exec(fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)
				INSERT INTO notes(id, space, title, body) SELECT printf('n%%05d', i), 's' || (i %% 7), 'note ' || i, 'body of ' || i FROM n`, rows))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return h, hs.URL + "/v1/replica"
}

// deviceTriggers is how many triggers a device's journal installs on
// notes.
func deviceTriggers(t *testing.T) int64 {
	conn, err := sqlite3.Open(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	j, err := journal.Prepare(conn, journal.Config{Clock: hlc.NewClock(nil), Tables: testTables})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range testMigrations {
		if err := conn.Exec(m.SQL); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Install(conn); err != nil {
		t.Fatal(err)
	}
	s, _, err := conn.Prepare(`SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = 'notes'`)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Step()
	return s.ColumnInt64(0)
}

func get(t *testing.T, url string, header map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	// The transport would ask for gzip and decode it unseen; the tests
	// say what they accept.
	resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func query(fingerprint string, pageSize, autoVacuum int) string {
	return fmt.Sprintf("?schema=%s&page_size=%d&auto_vacuum=%d", fingerprint, pageSize, autoVacuum)
}

// TestAReplicaHoldsWhatADeviceWouldSync: the file a fresh device
// downloads has the app's schema at its latest version, Hearth's triggers,
// every row the caller may read with its merge metadata, the sync state at
// the cursor the response names, the layout the device asked for, and no
// device identity of the build's own.
func TestAReplicaHoldsWhatADeviceWouldSync(t *testing.T) {
	h, url := server(t, 2500, Config{})
	resp := get(t, url+query(h.Fingerprint(), 8192, 2), map[string]string{"Accept-Encoding": "br, gzip;q=0.8"})
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", ce)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if size, _ := strconv.Atoi(resp.Header.Get(HeaderSize)); size != len(data) {
		t.Fatalf("%s %d, got %d bytes", HeaderSize, size, len(data))
	}
	path := filepath.Join(t.TempDir(), "device.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	conn, err := sqlite3.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cursor, _ := strconv.ParseInt(resp.Header.Get(HeaderCursor), 10, 64)
	for sql, want := range map[string]int64{
		`PRAGMA user_version`:        2,
		`PRAGMA page_size`:           8192,
		`PRAGMA auto_vacuum`:         2,
		`SELECT count(*) FROM notes`: 2500,
		`SELECT count(*) FROM notes WHERE body = 'body of 17' AND space = 's3'`:               1,
		`SELECT count(*) FROM _hearth_rows WHERE tbl = 'notes'`:                               2500,
		`SELECT count(*) FROM _hearth_fields WHERE tbl = 'notes' AND col = 'body'`:            2500,
		`SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = 'notes_by_space'`: 1,
		`SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = 'notes'`:    deviceTriggers(t),
		`SELECT count(*) FROM sqlite_schema WHERE name = 'drafts'`:                            1,
		`SELECT count(*) FROM _hearth_meta WHERE k IN ('node', 'hlc', 'clock_offset')`:        0,
		`SELECT count(*) FROM _hearth_journal`:                                                0,
		`SELECT v FROM _hearth_sync WHERE k = 'cursor'`:                                       cursor,
		`SELECT v FROM _hearth_sync WHERE k = 'snap'`:                                         0,
		`SELECT count(*) FROM _hearth_deferred_indexes`:                                       0,
	} {
		s, _, err := conn.Prepare(sql)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		if !s.Step() {
			t.Fatalf("%s: no row (%v)", sql, s.Err())
		}
		if got := s.ColumnInt64(0); got != want {
			t.Errorf("%s = %d, want %d", sql, got, want)
		}
		s.Close()
	}
	if cursor <= 0 {
		t.Errorf("cursor %d: want the seed's position", cursor)
	}
}

// TestTheReplicaEndpointRefusesWithStableCodes: what a device cannot use
// is refused before anything is built, each with its code.
func TestTheReplicaEndpointRefusesWithStableCodes(t *testing.T) {
	h, url := server(t, 0, Config{Identify: func(r *http.Request) (string, error) {
		if r.Header.Get("Authorization") != "Bearer good" {
			return "", errors.New("bad token")
		}
		return "alice", nil
	}})
	good := map[string]string{"Authorization": "Bearer good"}
	for _, c := range []struct {
		what   string
		query  string
		header map[string]string
		status int
		code   string
	}{
		{"another schema", query(strings.Repeat("0", 32), 4096, 0), good, http.StatusConflict, "SCHEMA_MISMATCH"},
		{"no schema", "?page_size=4096&auto_vacuum=0", good, http.StatusConflict, "SCHEMA_MISMATCH"},
		{"a page size that is no power of two", query(h.Fingerprint(), 4000, 0), good, http.StatusBadRequest, "BAD_REQUEST"},
		{"a page size too large", query(h.Fingerprint(), 131072, 0), good, http.StatusBadRequest, "BAD_REQUEST"},
		{"an unknown auto_vacuum", query(h.Fingerprint(), 4096, 3), good, http.StatusBadRequest, "BAD_REQUEST"},
		{"no auto_vacuum", "?schema=" + h.Fingerprint() + "&page_size=4096", good, http.StatusBadRequest, "BAD_REQUEST"},
		{"no credential", query(h.Fingerprint(), 4096, 0), nil, http.StatusUnauthorized, "UNAUTHORIZED"},
		{"a bad credential", query(h.Fingerprint(), 4096, 0), map[string]string{"Authorization": "Bearer bad"}, http.StatusUnauthorized, "UNAUTHORIZED"},
	} {
		resp := get(t, url+c.query, c.header)
		var body errorBody
		json.NewDecoder(resp.Body).Decode(&body)
		if resp.StatusCode != c.status || body.Code != c.code {
			t.Errorf("%s: %d %s (%s), want %d %s", c.what, resp.StatusCode, body.Code, body.Message, c.status, c.code)
		}
	}
	resp, err := http.Post(url+query(h.Fingerprint(), 4096, 0), "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", resp.StatusCode)
	}
}

// TestBuildsAreBoundedPerServerAndPerPrincipal: one build per principal,
// MaxBuilds in all; a refused caller is told REPLICA_BUSY with a
// Retry-After, and a slot is free again once its build ends.
func TestBuildsAreBoundedPerServerAndPerPrincipal(t *testing.T) {
	h := NewHandler(Config{MaxBuilds: 2})
	defer h.Close()
	releaseA, ok := h.take("alice")
	if !ok {
		t.Fatal("the first build was refused")
	}
	if _, ok := h.take("alice"); ok {
		t.Fatal("a second build for the same principal was allowed")
	}
	releaseB, ok := h.take("bob")
	if !ok {
		t.Fatal("a build for another principal was refused with a slot free")
	}
	if _, ok := h.take("carol"); ok {
		t.Fatal("a third build ran with MaxBuilds 2")
	}
	releaseA()
	if release, ok := h.take("alice"); !ok {
		t.Fatal("alice's slot was not freed")
	} else {
		release()
	}
	releaseB()

	rec := httptest.NewRecorder()
	hold, _ := h.take("")
	hold2, _ := h.take("")
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/replica"+query(h.Fingerprint(), 4096, 0), nil))
	hold()
	hold2()
	var body errorBody
	json.NewDecoder(rec.Body).Decode(&body)
	if rec.Code != http.StatusServiceUnavailable || body.Code != CodeBusy || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("busy: %d %s, Retry-After %q", rec.Code, body.Code, rec.Header().Get("Retry-After"))
	}
}

// TestAReplicaOverTheSizeBoundIsRefused: a file that would grow past
// MaxBytes is refused with TOO_LARGE, and nothing is left on disk.
func TestAReplicaOverTheSizeBoundIsRefused(t *testing.T) {
	h, url := server(t, 2500, Config{MaxBytes: 256 << 10})
	resp := get(t, url+query(h.Fingerprint(), 4096, 0), nil)
	var body errorBody
	json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || body.Code != "TOO_LARGE" {
		t.Fatalf("%d %s (%s), want 413 TOO_LARGE", resp.StatusCode, body.Code, body.Message)
	}
	left, _ := filepath.Glob(filepath.Join(h.cfg.Dir, "*"))
	if len(left) != 0 {
		t.Fatalf("files left behind: %v", left)
	}
}

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"":                  false,
		"gzip":              true,
		"br, gzip;q=0.5":    true,
		"gzip;q=0":          false,
		"gzip; q=0.0":       false,
		"deflate, br, zstd": false,
		"GZIP":              true,
	} {
		if got := acceptsGzip(header); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", header, got, want)
		}
	}
}
