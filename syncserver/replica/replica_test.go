package replica

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearthdb/hearth/internal/logbuf"
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
func server(t testing.TB, rows int, cfg Config) (*Handler, string) {
	t.Helper()
	srv, err := syncserver.New(syncserver.Config{Migrations: testMigrations, Tables: testTables})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Sync, cfg.Head, cfg.Migrations, cfg.Tables = srv.Handler(), srv.Head, testMigrations, testTables
	if cfg.TakeRows == nil {
		cfg.TakeRows = srv.TakeSnapshotRows
	}
	cfg.Dir = t.TempDir()
	h, err := NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/sync", srv.Handler())
	mux.Handle("/v1/replica", h)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() { hs.Close(); h.Close(); srv.Close() })
	seedNotes(t, hs.URL, 1, rows)
	return h, hs.URL + "/v1/replica"
}

// seedNotes writes notes first to last through the sync endpoint of the
// server at base.
func seedNotes(t testing.TB, base string, first, last int) {
	t.Helper()
	if last < first {
		return
	}
	_, err := seed.Write(context.Background(), "ws"+strings.TrimPrefix(base, "http")+"/sync", testMigrations, testTables, func(conn *sqlite3.Conn) error {
		return conn.Exec(fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT %d UNION ALL SELECT i + 1 FROM n WHERE i < %d)
			INSERT INTO notes(id, space, title, body) SELECT printf('n%%05d', i), 's' || (i %% 7), 'note ' || i, 'body of ' || i FROM n`, first, last))
	})
	if err != nil {
		t.Fatal(err)
	}
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

// openFile opens a copy of a downloaded file, as a device's storage
// would hold it; the test closes it.
func openFile(t *testing.T, data []byte) *sqlite3.Conn {
	t.Helper()
	path := filepath.Join(t.TempDir(), "device.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	conn, err := sqlite3.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
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
	if got := resp.Header.Get(HeaderSchema); got != h.Fingerprint() {
		t.Fatalf("%s %q, want %q", HeaderSchema, got, h.Fingerprint())
	}
	conn := openFile(t, data)
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

// TestARequestWithoutASchemaGetsTheServers: a page's head start, made
// before its worker knows the app's fingerprint, gets the file built
// with the server's schema, which the response names for the worker to
// compare with its own.
func TestARequestWithoutASchemaGetsTheServers(t *testing.T) {
	h, url := server(t, 10, Config{})
	resp := get(t, url+"?page_size=4096&auto_vacuum=2", nil)
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, data)
	}
	if got := resp.Header.Get(HeaderSchema); got != h.Fingerprint() {
		t.Fatalf("%s %q, want %q", HeaderSchema, got, h.Fingerprint())
	}
	conn := openFile(t, data)
	s, _, err := conn.Prepare(`PRAGMA user_version`)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.Step() || s.ColumnInt64(0) != 2 {
		t.Fatalf("user_version %d, want 2", s.ColumnInt64(0))
	}
}

// TestTheReplicaEndpointRefusesWithStableCodes: what a device cannot use
// is refused before anything is built, each with its code.
func TestTheReplicaEndpointRefusesWithStableCodes(t *testing.T) {
	h, url := server(t, 0, Config{Identify: func(r *http.Request) (syncserver.Identity, error) {
		if r.Header.Get("Authorization") != "Bearer good" {
			return syncserver.Identity{}, errors.New("bad token")
		}
		return syncserver.Identity{Principal: "alice"}, nil
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
		{"an empty schema", "?schema=&page_size=4096&auto_vacuum=0", good, http.StatusConflict, "SCHEMA_MISMATCH"},
		{"two schemas", query(h.Fingerprint(), 4096, 0) + "&schema=" + h.Fingerprint(), good, http.StatusConflict, "SCHEMA_MISMATCH"},
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
	h, err := NewHandler(Config{MaxBuilds: 2, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
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
	left, _ := filepath.Glob(filepath.Join(h.dir, "*"))
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

// TestCrossOriginPagesNeedAnAllowedOrigin: a page of an allowed origin
// gets its preflight answered and the CORS headers that let it read the
// file and its size; another origin is refused before anything is
// built; a same-origin page needs no pattern.
func TestCrossOriginPagesNeedAnAllowedOrigin(t *testing.T) {
	h, err := NewHandler(Config{OriginPatterns: []string{"*.example.com", "http://localhost:5173"}, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	serve := func(method, origin string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "http://sync.example.org/v1/replica"+query("x", 4096, 0), nil)
		r.Header.Set("Origin", origin)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}
	pre := serve(http.MethodOptions, "https://app.example.com")
	if pre.Code != http.StatusNoContent || pre.Header().Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		!strings.Contains(pre.Header().Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight: %d %v", pre.Code, pre.Header())
	}
	get := serve(http.MethodGet, "http://localhost:5173")
	if get.Header().Get("Access-Control-Allow-Origin") != "http://localhost:5173" || !strings.Contains(get.Header().Get("Access-Control-Expose-Headers"), HeaderSize) {
		t.Fatalf("allowed origin: %v", get.Header())
	}
	if get.Code != http.StatusConflict { // past the origin check: the schema "x" is wrong
		t.Fatalf("allowed origin: %d", get.Code)
	}
	for _, origin := range []string{"https://evil.example.org", "https://localhost:5173", "null"} {
		rec := serve(http.MethodGet, origin)
		var body errorBody
		json.NewDecoder(rec.Body).Decode(&body)
		if rec.Code != http.StatusForbidden || body.Code != CodeForbiddenOrigin || rec.Header().Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s: %d %s %v", origin, rec.Code, body.Code, rec.Header())
		}
	}
	if same := serve(http.MethodGet, "http://sync.example.org"); same.Code != http.StatusConflict {
		t.Fatalf("same origin: %d", same.Code)
	}
}

// download fetches a replica as token's caller and returns the file's
// notes and cursor.
func download(t *testing.T, url, token string) (notes, cursor int64) {
	t.Helper()
	resp := get(t, url, map[string]string{"Authorization": "Bearer " + token})
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d: %s", resp.StatusCode, data)
	}
	conn := openFile(t, data)
	s, _, err := conn.Prepare(`SELECT (SELECT count(*) FROM notes), (SELECT v FROM _hearth_sync WHERE k = 'cursor'), (SELECT count(*) FROM _hearth_meta WHERE k = 'node')`)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Step()
	if s.ColumnInt64(2) != 0 {
		t.Fatal("a continued file kept the build's node id")
	}
	return s.ColumnInt64(0), s.ColumnInt64(1)
}

// TestTheNextDeviceContinuesTheLastFile: the file built for a caller is
// kept, and the next request of a caller who reads the same rows
// continues it from its cursor (the rows written since arrive, the
// device identity is removed again); a caller with other scopes gets a
// file of its own.
func TestTheNextDeviceContinuesTheLastFile(t *testing.T) {
	var logs logBuffer
	h, url := server(t, 300, Config{Logger: logs.logger(), Identify: func(r *http.Request) (syncserver.Identity, error) {
		name := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		return syncserver.Identity{Principal: strings.TrimSuffix(name, "-again"), Scopes: []string{"s"}}, nil
	}})
	url += query(h.Fingerprint(), 4096, 2)
	notes, first := download(t, url, "alice")
	if notes != 300 {
		t.Fatalf("%d notes, want 300", notes)
	}
	key := fmt.Sprintf("4096/2/%s", readsKey(syncserver.Identity{Principal: "alice", Scopes: []string{"s"}}))
	// A file is kept once it was sent: the response may end first.
	keptFor := func(key string) string {
		for range 500 {
			if p := h.kept.peek(key); p != "" {
				return p
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("nothing kept for %s", key)
		return ""
	}
	kept := keptFor(key)
	seedNotes(t, strings.TrimSuffix(url[:strings.Index(url, "/v1/replica")], "/"), 301, 340)
	notes, second := download(t, url, "alice-again")
	if notes != 340 || second <= first {
		t.Fatalf("continued: %d notes at cursor %d (first at %d), want 340 past it", notes, second, first)
	}
	// The handler logs once the response has ended.
	logs.waitFor(t, "file=continued", 1)
	if again := keptFor(key); again != kept {
		t.Fatalf("alice's second file was not the first continued: %s, %s", kept, again)
	}
	if notes, _ := download(t, url, "bob"); notes != 340 {
		t.Fatalf("bob: %d notes", notes)
	}
	if bob := keptFor(fmt.Sprintf("4096/2/%s", readsKey(syncserver.Identity{Principal: "bob", Scopes: []string{"s"}}))); bob == kept {
		t.Fatal("bob was given alice's file")
	}
}

// TestKeptFilesStayWithinTheirBound: the least recently used go first,
// a file larger than the bound is not kept, and files idle for a day go.
func TestKeptFilesStayWithinTheirBound(t *testing.T) {
	dir := t.TempDir()
	now := time.Unix(1_800_000_000, 0)
	c := cache{max: 100, now: func() time.Time { return now }, entries: map[string]*cached{}}
	file := func(name string, size int64) File {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, make([]byte, size), 0o600); err != nil {
			t.Fatal(err)
		}
		return File{Path: p, Size: size}
	}
	exists := func(name string) bool { _, err := os.Stat(filepath.Join(dir, name)); return err == nil }
	c.put("a", file("a", 60))
	now = now.Add(time.Minute)
	c.put("b", file("b", 30))
	now = now.Add(time.Minute)
	c.put("c", file("c", 30)) // 120 bytes: a, the oldest, goes
	if exists("a") || !exists("b") || !exists("c") || c.total != 60 {
		t.Fatalf("after c: a %v b %v c %v, total %d", exists("a"), exists("b"), exists("c"), c.total)
	}
	c.put("d", file("d", 101))
	if exists("d") || c.entries["d"] != nil {
		t.Fatal("a file larger than the bound was kept")
	}
	if e, ok := c.entry("b"); !ok || e.path != filepath.Join(dir, "b") || c.total != 60 {
		t.Fatalf("get b: %v %v, total %d", e, ok, c.total)
	}
	// A compressed copy counts, and goes with its file; one for a file no
	// longer kept, or that would not fit, is removed.
	c.setGz("b", p(dir, "b"), compressed{file("b.gz", 10).Path, 10})
	c.setGz("b", p(dir, "elsewhere"), compressed{file("b2.gz", 10).Path, 10})
	c.setGz("c", p(dir, "c"), compressed{file("c.gz", 31).Path, 31})
	if e, _ := c.entry("b"); e.gz != p(dir, "b.gz") || c.total != 70 || exists("b2.gz") || exists("c.gz") {
		t.Fatalf("after the copies: b's %q, total %d, b2.gz %v, c.gz %v", e.gz, c.total, exists("b2.gz"), exists("c.gz"))
	}
	// A build continues the kept file itself, unless a request is
	// reading it: then a copy, and the file stays as it is.
	_, done, _ := c.read("b")
	copied := c.continueFrom("b", func(path string) string {
		data, _ := os.ReadFile(path)
		return file("b-copy", int64(len(data))).Path
	})
	if copied != p(dir, "b-copy") || c.peek("b") != p(dir, "b") || !exists("b.gz") {
		t.Fatalf("while read: continued from %q, kept %q, copy kept %v", copied, c.peek("b"), exists("b.gz"))
	}
	done()
	done() // once or more
	if from := c.continueFrom("c", nil); from != p(dir, "c") || c.peek("c") != "" || c.total != 40 {
		t.Fatalf("c taken over: %q, still kept %q, total %d", from, c.peek("c"), c.total)
	}
	c.put("c", File{Path: p(dir, "c"), Size: 30}) // c continued in place
	c.put("b", file("b-next", 30))                // b continued: its file and copy go
	if exists("b") || exists("b.gz") || !exists("b-next") || c.total != 60 {
		t.Fatalf("b continued: b %v, its copy %v, total %d", exists("b"), exists("b.gz"), c.total)
	}
	now = now.Add(25 * time.Hour)
	c.put("e", file("e", 10)) // c and b-next idle past a day
	if exists("b-next") || exists("c") || !exists("e") || c.total != 10 {
		t.Fatalf("after a day: b-next %v c %v e %v, total %d", exists("b-next"), exists("c"), exists("e"), c.total)
	}
	c.clear()
	if exists("e") || c.total != 0 || len(c.entries) != 0 {
		t.Fatal("clear left files")
	}
}

func p(dir, name string) string { return filepath.Join(dir, name) }

// entry is what the cache keeps for key, for a test to look at.
func (c *cache) entry(key string) (cached, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[key]; e != nil {
		return *e, true
	}
	return cached{}, false
}

// logBuffer collects a Handler's log for a test to read.
type logBuffer struct{ logbuf.Buffer }

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// waitFor waits (bounded) until the log holds text n times: a handler
// logs a response once it has ended, which its client may see first.
func (l *logBuffer) waitFor(t *testing.T, text string, n int) {
	t.Helper()
	for range 500 {
		if strings.Count(l.String(), text) >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the log holds %q %d times, want %d:\n%s", text, strings.Count(l.String(), text), n, l.String())
}

// TestAKeptFileIsSentAsItIsWhileNothingWasWritten: while the server's
// log has not moved past a kept file's cursor, the next device of the
// same readers gets that file without a build, compressed once (the copy
// kept beside it, its length announced) or as it is; once a write lands,
// the next request continues it and is sent the new rows.
func TestAKeptFileIsSentAsItIsWhileNothingWasWritten(t *testing.T) {
	var logs logBuffer
	var charged atomic.Int64
	refuse := atomic.Bool{}
	h, url := server(t, 200, Config{Logger: logs.logger(), TakeRows: func(principal string, rows int64) bool {
		charged.Add(rows)
		return !refuse.Load()
	}})
	url += query(h.Fingerprint(), 4096, 2)
	key := fmt.Sprintf("4096/2/%s", readsKey(syncserver.Identity{}))
	fetch := func(gzipped bool) ([]byte, *http.Response) {
		header := map[string]string{}
		if gzipped {
			header["Accept-Encoding"] = "gzip"
		}
		resp := get(t, url, header)
		body := io.Reader(resp.Body)
		if resp.StatusCode != http.StatusOK {
			data, _ := io.ReadAll(body)
			t.Fatalf("%d: %s", resp.StatusCode, data)
		}
		if gzipped {
			if resp.Header.Get("Content-Encoding") != "gzip" {
				t.Fatal("not gzip-compressed")
			}
			zr, err := gzip.NewReader(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			body = zr
		}
		data, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		if size := resp.Header.Get(HeaderSize); size != strconv.Itoa(len(data)) {
			t.Fatalf("%s says %s bytes, got %d", HeaderSize, size, len(data))
		}
		return data, resp
	}
	sent := func(how string) int { return strings.Count(logs.String(), "file="+how) }
	first, _ := fetch(true)
	// The compressed copy is kept once the response has ended.
	for i := 0; ; i++ {
		if e, _ := h.kept.entry(key); e.gz != "" {
			break
		}
		if i == 500 {
			t.Fatal("no compressed copy kept")
		}
		time.Sleep(10 * time.Millisecond)
	}
	var wg sync.WaitGroup
	bodies := make([][]byte, 6)
	for i := range bodies {
		wg.Go(func() { bodies[i], _ = fetch(i%2 == 0) })
	}
	wg.Wait()
	for i, b := range bodies {
		if string(b) != string(first) {
			t.Fatalf("request %d was sent another file than the first", i)
		}
	}
	logs.waitFor(t, "file=kept", 6)
	if sent("built") != 1 || sent("kept") != 6 || sent("continued") != 0 {
		t.Fatalf("built %d, kept %d, continued %d: want 1, 6, 0; the log:\n%s", sent("built"), sent("kept"), sent("continued"), logs.String())
	}
	_, resp := fetch(true)
	if e, _ := h.kept.entry(key); resp.Header.Get("Content-Length") != strconv.FormatInt(e.gzSize, 10) {
		t.Fatalf("Content-Length %q, want the copy's %d", resp.Header.Get("Content-Length"), e.gzSize)
	}
	// Each kept file sent is charged its rows, as a session reads them;
	// over the principal's rate the request is refused, and the device
	// syncs by snapshot.
	if got := charged.Load(); got != 7*200 {
		t.Fatalf("%d rows charged for 7 kept files of 200", got)
	}
	refuse.Store(true)
	busy := get(t, url, map[string]string{"Accept-Encoding": "gzip"})
	body, _ := io.ReadAll(busy.Body)
	if busy.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), CodeBusy) || busy.Header.Get("Retry-After") == "" {
		t.Fatalf("over the rate: %d %s", busy.StatusCode, body)
	}
	refuse.Store(false)

	seedNotes(t, strings.TrimSuffix(url[:strings.Index(url, "/v1/replica")], "/"), 201, 230)
	data, _ := fetch(true)
	conn := openFile(t, data)
	s, _, err := conn.Prepare(`SELECT count(*) FROM notes`)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Step(); s.ColumnInt64(0) != 230 {
		t.Fatalf("after a write: %d notes, want 230", s.ColumnInt64(0))
	}
	logs.waitFor(t, "file=continued", 1)
}

// stalledWriter is a response its reader takes nothing of: its first
// Write says so on writing and waits for unblock.
type stalledWriter struct {
	header  http.Header
	writing chan struct{}
	unblock chan struct{}
	once    sync.Once
}

func (w *stalledWriter) Header() http.Header { return w.header }
func (w *stalledWriter) WriteHeader(int)     {}
func (w *stalledWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.writing) })
	<-w.unblock
	return len(p), nil
}

// TestASlowDownloadHoldsNoBuildSlot: a build's slot is given back once
// the file is built, so a caller that reads its response slowly (or not
// yet) does not make the next caller's build REPLICA_BUSY.
func TestASlowDownloadHoldsNoBuildSlot(t *testing.T) {
	h, url := server(t, 50, Config{MaxBuilds: 1})
	stalled := &stalledWriter{header: http.Header{}, writing: make(chan struct{}), unblock: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(stalled, httptest.NewRequest(http.MethodGet, "/v1/replica"+query(h.Fingerprint(), 4096, 0), nil))
	}()
	select {
	case <-stalled.writing:
	case <-time.After(30 * time.Second):
		t.Fatal("the first response was never written")
	}
	resp := get(t, url+query(h.Fingerprint(), 8192, 0), nil)
	body, _ := io.ReadAll(resp.Body)
	close(stalled.unblock)
	<-done
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a second caller's build while the first file was being sent: %d %s", resp.StatusCode, body)
	}
}
