//go:build !(js && wasm)

// The replica endpoint (syncserver/replica) runs natively only: its builds
// dial the sync endpoint through net/http.

package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	boardschema "github.com/hearthdb/hearth/examples/board/schema"
	"github.com/hearthdb/hearth/sqlitevfs"
	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncserver/replica"
	"github.com/hearthdb/hearth/syncworker/seed"
	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

// boardServer is a sync server for the board's schema holding tasks
// seeded tasks, with the replica endpoint beside it; it returns the sync
// URL.
func boardServer(t *testing.T, tasks int) string {
	t.Helper()
	srv, err := syncserver.New(syncserver.Config{Migrations: boardschema.Migrations, Tables: boardschema.Tables})
	if err != nil {
		t.Fatal(err)
	}
	replicas, err := replica.NewHandler(replica.Config{Sync: srv.Handler(), Migrations: boardschema.Migrations, Tables: boardschema.Tables, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/sync", srv.Handler())
	mux.Handle("/v1/replica", replicas)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() { hs.Close(); replicas.Close(); srv.Close() })
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/sync"
	if _, err := seed.Write(context.Background(), url, boardschema.Migrations, boardschema.Tables, func(conn *sqlite3.Conn) error {
		return boardschema.Seed(conn, boardschema.SeedOptions{Tasks: tasks})
	}); err != nil {
		t.Fatal(err)
	}
	return url
}

// httpReplicas is a ReplicaFetcher over net/http, as the browser's fetch
// does it; calls counts its downloads.
func httpReplicas(calls *atomic.Int64) ReplicaFetcher {
	return func(ctx context.Context, url, token string, progress func(received, total int64)) (ReplicaFile, error) {
		calls.Add(1)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return ReplicaFile{}, err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return ReplicaFile{}, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(resp.Body)
			var refusal ReplicaRefusal
			json.Unmarshal(body, &refusal)
			refusal.Status = resp.StatusCode
			return ReplicaFile{}, &refusal
		}
		total, _ := strconv.ParseInt(resp.Header.Get(ReplicaSizeHeader), 10, 64)
		progress(0, total)
		var body []byte
		buf := make([]byte, 64<<10)
		for {
			n, err := resp.Body.Read(buf)
			body = append(body, buf[:n]...)
			if n > 0 {
				progress(int64(len(body)), total)
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return ReplicaFile{}, err
			}
		}
		if int64(len(body)) != total {
			return ReplicaFile{}, fmt.Errorf("received %d bytes of %d", len(body), total)
		}
		return ReplicaFile{Data: body}, nil
	}
}

// opfsLikeStorage keeps databases in files with the pragmas of the
// browser's OPFS storage (wasm/storage.go): exclusive locking, incremental
// auto-vacuum, WAL, and declares the layout they make.
type opfsLikeStorage struct {
	MemoryStorage
	dir string
	// declared, when set, is the layout the storage declares for new
	// databases in place of the one its pragmas make.
	declared *Layout
	// failing adds a pragma that fails: every open fails after its
	// database file is opened.
	failing bool
	// vfs, when set, names the VFS the files are opened through.
	vfs string
	// wholeFile: replica files are written whole (Location.WholeFile),
	// which needs a VFS that opens files by name (wholeFileStorage);
	// otherwise they are copied in through SQLite's backup, as for an
	// encrypted database.
	wholeFile bool
}

// wholeFileStorage is an opfsLikeStorage whose files are in a
// sqlitevfs.BlockVFS over memory, the VFS the browser's IndexedDB
// storage builds over IndexedDB, registered for the test: replica files
// are written to it whole, as there.
func wholeFileStorage(t *testing.T) opfsLikeStorage {
	name := fmt.Sprintf("hearth-test-files-%d", gateSeq.Add(1))
	vfs.Register(name, sqlitevfs.NewBlockVFS(sqlitevfs.NewMemoryBlockStore(), sqlitevfs.BlockOptions{}))
	t.Cleanup(func() { vfs.Unregister(name) })
	return opfsLikeStorage{dir: "/", vfs: name, wholeFile: true}
}

func (s opfsLikeStorage) Resolve(req OpenRequest) (Location, error) {
	layout := Layout{PageSize: 4096, AutoVacuum: 2}
	uri := "file:" + s.path(req.Name)
	if s.vfs != "" {
		uri += "?vfs=" + s.vfs
	}
	loc := Location{
		URI:       uri,
		Backend:   StorageOPFS,
		NewLayout: layout,
		Pragmas:   append(append([]string{"PRAGMA locking_mode = EXCLUSIVE"}, layout.Pragmas()...), "PRAGMA journal_mode = WAL"),
		WholeFile: s.wholeFile,
	}
	if s.declared != nil {
		loc.NewLayout = *s.declared
	}
	if s.failing {
		loc.Pragmas = append(loc.Pragmas, "SELECT * FROM no_such_table")
	}
	return loc, nil
}

func (s opfsLikeStorage) path(name string) string { return filepath.Join(s.dir, name+".db") }

var gateSeq atomic.Int64

// gatedVFS registers, for the test, the OS VFS with beforeOpen run as a
// main database file opens, and returns its name.
func gatedVFS(t *testing.T, beforeOpen func()) string {
	name := fmt.Sprintf("hearth-test-gate-%d", gateSeq.Add(1))
	vfs.Register(name, gateVFS{vfs.Find("").(vfs.VFSFilename), beforeOpen})
	t.Cleanup(func() { vfs.Unregister(name) })
	return name
}

type gateVFS struct {
	vfs.VFSFilename
	beforeOpen func()
}

func (g gateVFS) OpenFilename(name *vfs.Filename, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	if flags&vfs.OPEN_MAIN_DB != 0 {
		g.beforeOpen()
	}
	return g.VFSFilename.OpenFilename(name, flags)
}

// boardOpen is the board page's open request (its tables as loadSchema
// gives them: name, resurrect, text), with extra sync options.
func boardOpen(name, url string, sync map[string]any) map[string]any {
	var migrations, tables []any
	for _, m := range boardschema.Migrations {
		migrations = append(migrations, map[string]any{"version": m.Version, "sql": m.SQL})
	}
	for _, tb := range boardschema.Tables {
		var text []any
		for _, c := range tb.Text {
			text = append(text, c)
		}
		tables = append(tables, map[string]any{"name": tb.Name, "resurrect": tb.Resurrect, "text": text})
	}
	opts := map[string]any{"url": url, "tables": tables}
	for k, v := range sync {
		opts[k] = v
	}
	return map[string]any{"name": name, "storage": "opfs", "migrations": migrations, "sync": opts}
}

// syncedStatus waits until db's sync has caught up with the server and
// returns its status.
func (p *page) syncedStatus(db int64) map[string]any {
	p.t.Helper()
	sub := p.call("watch", map[string]any{"db": db, "sync": true})["sub"].(int64)
	var st map[string]any
	p.waitUntil("synced", func() bool {
		st, _ = p.latest(sub)["status"].(map[string]any)
		return st != nil && st["connected"] == true && st["initialSync"].(map[string]any)["active"] == false &&
			st["head"].(int64) > 0 && st["cursor"].(int64) >= st["head"].(int64)
	})
	return st
}

func (p *page) count(db int64, sql string) int64 {
	p.t.Helper()
	rows := p.call("query", map[string]any{"db": db, "sql": sql})["rows"].([]any)
	return rows[0].([]any)[0].(int64)
}

// TestANewDatabaseBeginsAsTheServersReplica: a new synced database is the
// server's replica file when open returns: every task is there, the sync
// goes on from the file's cursor without a snapshot, the device has an
// identity of its own, and its writes sync as any device's.
func TestANewDatabaseBeginsAsTheServersReplica(t *testing.T) {
	url := boardServer(t, 600)
	t.Run("written whole", func(t *testing.T) {
		newDatabaseBeginsAsReplica(t, url, func() opfsLikeStorage { return wholeFileStorage(t) })
	})
	t.Run("through SQLite's backup", func(t *testing.T) {
		newDatabaseBeginsAsReplica(t, url, func() opfsLikeStorage { return opfsLikeStorage{dir: t.TempDir()} })
	})
}

func newDatabaseBeginsAsReplica(t *testing.T, url string, storage func() opfsLikeStorage) {
	var calls atomic.Int64
	a := newPageOn(t, storage())
	a.eng.SetReplicaFetcher(httpReplicas(&calls))
	db := a.call("open", boardOpen("board", url, nil))["db"].(int64)
	if got := a.count(db, `SELECT count(*) FROM tasks`); got != 600 {
		t.Fatalf("%d tasks when open returned, want the 600 of the replica", got)
	}
	st := a.syncedStatus(db)
	rp := st["replica"].(map[string]any)
	// The open told the page of the download as it went, its end last.
	a.mu.Lock()
	reports := a.progress[1]
	a.mu.Unlock()
	if len(reports) == 0 {
		t.Fatal("no progress while the replica downloaded")
	}
	if end := reports[len(reports)-1]; end["phase"] != "replica" || end["done"] != rp["bytes"] || end["total"] != rp["bytes"] {
		t.Fatalf("the last progress report %v: want the replica's %v bytes done", end, rp["bytes"])
	}
	if rp["used"] != true || rp["bytes"].(int64) <= 0 || rp["reason"] != "" || calls.Load() != 1 {
		t.Fatalf("replica status %v after %d downloads", rp, calls.Load())
	}
	if chunks := st["initialSync"].(map[string]any)["chunks"]; chunks != int64(0) {
		t.Fatalf("%v snapshot chunks after a replica", chunks)
	}
	layout := a.call("query", map[string]any{"db": db, "sql": `SELECT page_size, auto_vacuum, journal_mode FROM pragma_page_size(), pragma_auto_vacuum(), pragma_journal_mode()`})["rows"].([]any)[0].([]any)
	if layout[0] != int64(4096) || layout[1] != int64(2) || layout[2] != "wal" {
		t.Fatalf("page_size, auto_vacuum, journal_mode %v: want the storage's 4096, 2, wal", layout)
	}

	// A second device from the same file gets an identity of its own;
	// a third syncs by snapshot. A write on the first reaches both.
	b := newPageOn(t, storage())
	b.eng.SetReplicaFetcher(httpReplicas(&calls))
	dbB := b.call("open", boardOpen("board", url, nil))["db"].(int64)
	c := newPage(t)
	open := boardOpen("board", url, map[string]any{"replica": false})
	open["storage"] = "memory"
	dbC := c.call("open", open)["db"].(int64)
	node := func(p *page, db int64) string {
		return p.call("query", map[string]any{"db": db, "sql": `SELECT v FROM _hearth_meta WHERE k = 'node'`})["rows"].([]any)[0].([]any)[0].(string)
	}
	if na, nb := node(a, db), node(b, dbB); na == "" || na == nb {
		t.Fatalf("node ids %q and %q: want two of their own", na, nb)
	}
	a.call("exec", map[string]any{"db": db, "sql": `UPDATE tasks SET title = 'moved by a' WHERE id = (SELECT min(id) FROM tasks)`})
	for _, d := range []struct {
		p  *page
		db int64
	}{{b, dbB}, {c, dbC}} {
		watch := d.p.call("watch", map[string]any{"db": d.db, "sql": `SELECT id, title FROM tasks WHERE title = 'moved by a'`})
		if strings.Contains(fmt.Sprint(watch), "moved by a") {
			continue
		}
		d.p.waitUntil("a's write", func() bool { return strings.Contains(fmt.Sprint(d.p.latest(watch["sub"].(int64))), "moved by a") })
	}
	if used := b.syncedStatus(dbB)["replica"].(map[string]any)["used"]; used != true {
		t.Fatalf("the second device did not begin as a replica")
	}
	if rp := c.syncedStatus(dbC)["replica"].(map[string]any); rp["used"] != false || rp["reason"] != "" || calls.Load() != 2 {
		t.Fatalf("replica: false: status %v, %d downloads", rp, calls.Load())
	}
	if got := c.count(dbC, `SELECT count(*) FROM tasks`); got != 600 {
		t.Fatalf("the snapshot device has %d tasks", got)
	}

	// Reopened, the database is not new: nothing is downloaded.
	a.call("close", map[string]any{"db": db})
	db = a.call("open", boardOpen("board", url, nil))["db"].(int64)
	if rp := a.syncedStatus(db)["replica"].(map[string]any); rp["used"] != false || calls.Load() != 2 {
		t.Fatalf("a reopen: replica status %v, %d downloads", rp, calls.Load())
	}
}

// TestTheReplicaDownloadBeginsBeforeTheOpen: when the storage says there
// is no database file yet and declares its layout, the replica file is
// asked for before the database file is opened; a declared layout that
// SQLite does not make, and a database file that exists but is empty,
// each end with a file asked for after the open, with the layout the open
// read; an open that fails abandons its download before it replies.
func TestTheReplicaDownloadBeginsBeforeTheOpen(t *testing.T) {
	url := boardServer(t, 100)
	type download struct {
		pageSize string
		outcome  string // "ok", "canceled" or the error
	}
	for _, c := range []struct {
		what     string
		declared *Layout
		empty    bool // an empty database file is there before the open
		early    bool // the first download begins before the file is opened
		want     []download
	}{
		{"declared layout", nil, false, true, []download{{"4096", "ok"}}},
		{"a layout SQLite does not make", &Layout{PageSize: 8192}, false, true, []download{{"8192", "canceled"}, {"4096", "ok"}}},
		{"an empty file", nil, true, false, []download{{"4096", "ok"}}},
	} {
		t.Run(c.what, func(t *testing.T) {
			started := make(chan struct{})
			var startOnce sync.Once
			storage := opfsLikeStorage{dir: t.TempDir(), declared: c.declared}
			var openedAfterStart bool
			if c.early {
				// The database file's open waits (bounded) for the
				// download to begin: it does only if it began first.
				storage.vfs = gatedVFS(t, func() {
					select {
					case <-started:
						openedAfterStart = true
					case <-time.After(10 * time.Second):
					}
				})
			}
			if c.empty {
				if err := os.WriteFile(storage.path("board"), nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var calls atomic.Int64
			fetch := httpReplicas(&calls)
			var mu sync.Mutex
			var got []download
			p := newPageOn(t, storage)
			p.eng.SetReplicaFetcher(func(ctx context.Context, u, token string, progress func(int64, int64)) (ReplicaFile, error) {
				startOnce.Do(func() { close(started) })
				d := download{pageSize: pageSizeOf(t, u)}
				if d.pageSize == "8192" {
					<-ctx.Done() // held until the open abandons it
				}
				data, err := fetch(ctx, u, token, progress)
				switch {
				case err == nil:
					d.outcome = "ok"
				case errors.Is(err, context.Canceled):
					d.outcome = "canceled"
				default:
					d.outcome = err.Error()
				}
				mu.Lock()
				got = append(got, d)
				mu.Unlock()
				return data, err
			})
			db := p.call("open", boardOpen("board", url, nil))["db"].(int64)
			if n := p.count(db, `SELECT count(*) FROM tasks`); n != 100 {
				t.Fatalf("%d tasks when open returned, want the replica's 100", n)
			}
			if c.early && !openedAfterStart {
				t.Fatal("the database file was opened before the download began")
			}
			mu.Lock()
			defer mu.Unlock()
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("downloads (page size, outcome) %v, want %v", got, c.want)
			}
		})
	}

	t.Run("a failed open", func(t *testing.T) {
		p := newPageOn(t, opfsLikeStorage{dir: t.TempDir(), failing: true})
		var ended atomic.Bool
		p.eng.SetReplicaFetcher(func(ctx context.Context, _, _ string, _ func(int64, int64)) (ReplicaFile, error) {
			defer ended.Store(true)
			<-ctx.Done()
			return ReplicaFile{}, ctx.Err()
		})
		if r := p.request("open", boardOpen("board", url, nil)); r["error"] == nil {
			t.Fatalf("open with a failing pragma: %v", r)
		}
		if !ended.Load() {
			t.Fatal("the open replied before its download ended")
		}
	})
}

// pageSizeOf is the page_size a replica URL asks for.
func pageSizeOf(t *testing.T, u string) string {
	parsed, err := neturl.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return parsed.Query().Get("page_size")
}

// TestANewDatabaseSyncsBySnapshotWhenNoReplicaFits: a refusal, a download
// that is no database, and a database that is not this app's replica each
// leave the database new, say why in the status, and the initial sync
// runs by snapshot as before.
func TestANewDatabaseSyncsBySnapshotWhenNoReplicaFits(t *testing.T) {
	url := boardServer(t, 50)
	var calls atomic.Int64
	notAReplica := func() []byte {
		conn, err := sqlite3.Open(":memory:")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		path := filepath.Join(t.TempDir(), "other.db")
		if err := conn.Exec(`CREATE TABLE tasks(id); PRAGMA user_version = 1; VACUUM INTO '` + path + `'`); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}()
	for _, c := range []struct {
		what    string
		sync    map[string]any
		fetcher ReplicaFetcher
		reason  string
	}{
		{"another schema", nil, httpReplicas(&calls), "SCHEMA_MISMATCH"},
		{"not a database", nil, func(context.Context, string, string, func(int64, int64)) (ReplicaFile, error) {
			return ReplicaFile{Data: []byte("<html>")}, nil
		}, "not a SQLite database"},
		{"another app's database", nil, func(context.Context, string, string, func(int64, int64)) (ReplicaFile, error) {
			return ReplicaFile{Data: notAReplica}, nil
		}, "not a replica"},
		{"a file with a device's identity", nil, withNode(t, httpReplicas(&calls)), "another device's identity"},
		{"a sync URL without /sync", map[string]any{"url": strings.TrimSuffix(url, "/sync") + "/other"}, httpReplicas(&calls), "does not end in /sync"},
	} {
		for _, whole := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s, written whole %v", c.what, whole), func(t *testing.T) {
				storage := opfsLikeStorage{dir: t.TempDir()}
				if whole {
					storage = wholeFileStorage(t)
				}
				p := newPageOn(t, storage)
				p.eng.SetReplicaFetcher(c.fetcher)
				open := boardOpen("board", url, c.sync)
				if c.what == "a sync URL without /sync" {
					// The server answers only /sync: nothing syncs, but the open
					// says why it did not download.
					st := p.call("open", open)
					// The watch's reply carries the status as it is.
					watch := p.call("watch", map[string]any{"db": st["db"], "sync": true})
					rp := watch["status"].(map[string]any)["replica"].(map[string]any)
					if !strings.Contains(rp["reason"].(string), c.reason) {
						t.Fatalf("reason %q, want %q", rp["reason"], c.reason)
					}
					return
				}
				if c.what == "another schema" {
					// The same version, but not byte for byte the server's SQL.
					ms := open["migrations"].([]any)
					last := ms[len(ms)-1].(map[string]any)
					last["sql"] = last["sql"].(string) + "\n"
				}
				db := p.call("open", open)["db"].(int64)
				st := p.syncedStatus(db)
				rp := st["replica"].(map[string]any)
				if rp["used"] != false || !strings.Contains(rp["reason"].(string), c.reason) {
					t.Fatalf("replica status %v, want a reason with %q", rp, c.reason)
				}
				if chunks := st["initialSync"].(map[string]any)["chunks"].(int64); chunks == 0 {
					t.Fatal("no snapshot after the replica was not used")
				}
				if got := p.count(db, `SELECT count(*) FROM tasks`); got != 50 {
					t.Fatalf("%d tasks after the snapshot, want 50", got)
				}
			})
		}
	}
}

// TestAHangingReplicaDownloadDoesNotHoldTheOpen: a server that never
// answers, and one that answers and then stops sending, are given up on
// (their bounds shortened here), and the database syncs by snapshot.
func TestAHangingReplicaDownloadDoesNotHoldTheOpen(t *testing.T) {
	url := boardServer(t, 20)
	defer func(first, stall time.Duration) { replicaFirstByte, replicaStall = first, stall }(replicaFirstByte, replicaStall)
	replicaFirstByte, replicaStall = 100*time.Millisecond, 100*time.Millisecond
	for what, fetch := range map[string]ReplicaFetcher{
		"no answer": func(ctx context.Context, _, _ string, _ func(int64, int64)) (ReplicaFile, error) {
			<-ctx.Done()
			return ReplicaFile{}, ctx.Err()
		},
		"an answer, then nothing": func(ctx context.Context, _, _ string, progress func(int64, int64)) (ReplicaFile, error) {
			progress(0, 1<<20)
			progress(4096, 1<<20)
			<-ctx.Done()
			return ReplicaFile{}, ctx.Err()
		},
	} {
		t.Run(what, func(t *testing.T) {
			p := newPageOn(t, opfsLikeStorage{dir: t.TempDir()})
			p.eng.SetReplicaFetcher(fetch)
			db := p.call("open", boardOpen("board", url, nil))["db"].(int64)
			rp := p.syncedStatus(db)["replica"].(map[string]any)
			if rp["used"] != false || !strings.Contains(rp["reason"].(string), "context canceled") {
				t.Fatalf("replica status %v", rp)
			}
			if got := p.count(db, `SELECT count(*) FROM tasks`); got != 20 {
				t.Fatalf("%d tasks after the snapshot", got)
			}
		})
	}
}

// withNode is fetch with a node id written into the file it returns, as a
// server that did not remove its build's identity would send it.
func withNode(t *testing.T, fetch ReplicaFetcher) ReplicaFetcher {
	return func(ctx context.Context, url, token string, progress func(int64, int64)) (ReplicaFile, error) {
		file, err := fetch(ctx, url, token, progress)
		if err != nil {
			return ReplicaFile{}, err
		}
		path := filepath.Join(t.TempDir(), "with-node.db")
		if err := os.WriteFile(path, file.Data, 0o600); err != nil {
			return ReplicaFile{}, err
		}
		conn, err := sqlite3.Open(path)
		if err != nil {
			return ReplicaFile{}, err
		}
		err = conn.Exec(`INSERT INTO _hearth_meta(k, v) VALUES ('node', 'someone-else')`)
		if cerr := conn.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return ReplicaFile{}, err
		}
		data, err := os.ReadFile(path)
		return ReplicaFile{Data: data}, err
	}
}

// TestAnInterruptedWholeFileWriteLeavesANewDatabase: a replica file
// written whole but cut short before its first 16 bytes (the tab closed
// mid-way) is emptied by the next open, which then begins from the
// replica as a new database would, instead of failing on "file is not a
// database" at every open.
func TestAnInterruptedWholeFileWriteLeavesANewDatabase(t *testing.T) {
	url := boardServer(t, 60)
	var calls atomic.Int64
	fetch := httpReplicas(&calls)
	// The server's file, as a first device downloads it.
	var data []byte
	first := newPageOn(t, wholeFileStorage(t))
	first.eng.SetReplicaFetcher(func(ctx context.Context, url, token string, progress func(int64, int64)) (ReplicaFile, error) {
		f, err := fetch(ctx, url, token, progress)
		data = f.Data
		return f, err
	})
	first.call("open", boardOpen("board", url, nil))
	if len(data) == 0 {
		t.Fatal("no replica file downloaded")
	}
	storage := wholeFileStorage(t)
	loc, err := storage.Resolve(OpenRequest{Name: "board"})
	if err != nil {
		t.Fatal(err)
	}
	// What writeWholeFile leaves when it stops before the magic.
	v, name, err := loc.vfsFile()
	if err != nil {
		t.Fatal(err)
	}
	f, _, err := v.Open(name, vfs.OPEN_MAIN_DB|vfs.OPEN_READWRITE|vfs.OPEN_CREATE)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(data[len(sqliteMagic):], int64(len(sqliteMagic))); err != nil {
		t.Fatal(err)
	}
	f.Close()

	p := newPageOn(t, storage)
	p.eng.SetReplicaFetcher(fetch)
	db := p.call("open", boardOpen("board", url, nil))["db"].(int64)
	if got := p.count(db, `SELECT count(*) FROM tasks`); got != 60 {
		t.Fatalf("%d tasks when open returned, want the replica's 60", got)
	}
	if rp := p.syncedStatus(db)["replica"].(map[string]any); rp["used"] != true {
		t.Fatalf("replica status %v: want the file used", rp)
	}
}
