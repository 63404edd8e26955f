package engine

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/hearthdb/hearth/codec"
	boardschema "github.com/hearthdb/hearth/examples/board/schema"
	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncserver/auth"
	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/seed"
	"github.com/hearthdb/hearth/syncworker/wire"
	"github.com/hearthdb/hearth/wasm/protocol"
	"github.com/ncruces/go-sqlite3"
)

const syncTestMigration = `CREATE TABLE tasks(id TEXT PRIMARY KEY, title TEXT NOT NULL DEFAULT '', done INTEGER NOT NULL DEFAULT 0)`

// page is one worker's page: replies by id, pushes by subscription.
type page struct {
	t      testing.TB
	eng    *Engine
	mu     sync.Mutex
	nextID int64
	cond   *sync.Cond
	reply  map[int64]map[string]any
	pushes map[int64][]map[string]any
	// progress holds the progress reports of requests by id.
	progress map[int64][]map[string]any
}

func newPage(t testing.TB) *page { return newPageOn(t, MemoryStorage{}) }

// newPageOn is a page whose worker resolves storage with storage.
func newPageOn(t testing.TB, storage StorageResolver) *page {
	p := &page{t: t, reply: map[int64]map[string]any{}, pushes: map[int64][]map[string]any{}, progress: map[int64][]map[string]any{}}
	p.cond = sync.NewCond(&p.mu)
	p.eng = New(storage, func(msg []byte) {
		v, err := codec.Decode(bytes.Clone(msg))
		if err != nil {
			t.Errorf("undecodable message: %v", err)
			return
		}
		m := v.(map[string]any)
		if debugPages {
			t.Logf("message: %v", m)
		}
		p.mu.Lock()
		if id, ok := m["id"].(int64); ok {
			if pr, progress := m["progress"].(map[string]any); progress {
				p.progress[id] = append(p.progress[id], pr)
			} else {
				p.reply[id] = m
			}
		} else if sub, ok := m["sub"].(int64); ok {
			p.pushes[sub] = append(p.pushes[sub], m)
		}
		p.cond.Broadcast()
		p.mu.Unlock()
	})
	t.Cleanup(func() { closeOpenDatabases(p.eng, p.request) })
	return p
}

// waitUntil waits (bounded) for cond, checked under the page's lock
// whenever a message arrives.
func (p *page) waitUntil(what string, cond func() bool) {
	p.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	timer := time.AfterFunc(15*time.Second, func() { p.mu.Lock(); p.cond.Broadcast(); p.mu.Unlock() })
	defer timer.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for !cond() {
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out waiting for %s", what)
		}
		p.cond.Wait()
	}
}

func (p *page) call(op string, fields map[string]any) map[string]any {
	p.t.Helper()
	r := p.request(op, fields)
	if e, bad := r["error"]; bad {
		p.t.Fatalf("%s: %v", op, e)
	}
	return r["ok"].(map[string]any)
}

// request sends one request and waits (bounded) for its reply.
func (p *page) request(op string, fields map[string]any) map[string]any {
	p.t.Helper()
	p.mu.Lock()
	p.nextID++
	id := p.nextID
	p.mu.Unlock()
	m := map[string]any{"v": int64(1), "id": id, "op": op}
	for k, v := range fields {
		m[k] = v
	}
	msg, err := codec.Encode(m)
	if err != nil {
		p.t.Fatal(err)
	}
	p.eng.Receive(msg)
	var r map[string]any
	p.waitUntil("the reply to "+op, func() bool { r = p.reply[id]; return r != nil })
	return r
}

// fail sends a request that must fail with code.
func (p *page) fail(op string, fields map[string]any, code string) {
	p.t.Helper()
	r := p.request(op, fields)
	e, _ := r["error"].(map[string]any)
	if e == nil || e["code"] != code {
		p.t.Fatalf("%s: got %v, want error %s", op, r, code)
	}
}

// latest returns the newest push of a subscription (nil if none).
func (p *page) latest(sub int64) map[string]any {
	list := p.pushes[sub]
	if len(list) == 0 {
		return nil
	}
	return list[len(list)-1]
}

// syncServer starts a sync server for the tasks table (declared as
// tables, default plain) on loopback and returns its WebSocket URL.
func syncServer(t testing.TB, tables ...appschema.Table) string {
	if tables == nil {
		tables = []appschema.Table{{Name: "tasks"}}
	}
	srv, err := syncserver.New(syncserver.Config{
		Migrations: []appschema.Migration{{Version: 1, SQL: syncTestMigration}},
		Tables:     tables,
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	return "ws" + strings.TrimPrefix(hs.URL, "http")
}

func (p *page) openSynced(name, url string) int64 {
	return p.call("open", map[string]any{"name": name, "storage": "memory",
		"migrations": []any{map[string]any{"version": int64(1), "sql": syncTestMigration}},
		"sync":       map[string]any{"url": url, "tables": []any{"tasks"}},
	})["db"].(int64)
}

// TestSyncedDatabasesConvergeThroughTheEngine: two workers' databases
// synced through a real server: a write on one shows in the other's live
// query; a write made offline waits in the journal and syncs when the
// network comes back; the status subscription follows all of it.
func TestSyncedDatabasesConvergeThroughTheEngine(t *testing.T) {
	url := syncServer(t)
	a, b := newPage(t), newPage(t)
	run := hopRuns.Add(1)
	dbA, dbB := a.openSynced(fmt.Sprintf("sync-a-%d", run), url), b.openSynced(fmt.Sprintf("sync-b-%d", run), url)

	watch := b.call("watch", map[string]any{"db": dbB, "sql": "SELECT id, title FROM tasks ORDER BY id"})
	sub := watch["sub"].(int64)
	status := a.call("watch", map[string]any{"db": dbA, "sync": true})
	statusSub := status["sub"].(int64)
	if _, ok := status["status"].(map[string]any)["pending"]; !ok {
		t.Fatalf("status reply: %v", status)
	}

	a.call("exec", map[string]any{"db": dbA, "sql": "INSERT INTO tasks(id, title) VALUES ('t1', 'from A')"})
	rowsOf := func(p *page, sub int64) string {
		push := p.latest(sub)
		if push == nil {
			return ""
		}
		return fmt.Sprint(push)
	}
	b.waitUntil("B's live query to show A's task", func() bool { return strings.Contains(rowsOf(b, sub), "from A") })
	a.waitUntil("A's status to show nothing pending", func() bool {
		st := a.latest(statusSub)
		return st != nil && st["status"].(map[string]any)["pending"] == int64(0) && st["status"].(map[string]any)["connected"] == true
	})

	// Offline: the write is journaled, not sent.
	a.call("network", map[string]any{"online": false})
	a.waitUntil("A's status to show offline", func() bool {
		st := a.latest(statusSub)
		return st != nil && st["status"].(map[string]any)["state"] == "offline"
	})
	a.call("exec", map[string]any{"db": dbA, "sql": "UPDATE tasks SET title = 'edited offline' WHERE id = 't1'"})
	a.waitUntil("A's status to count the pending change", func() bool {
		return a.latest(statusSub)["status"].(map[string]any)["pending"] == int64(1)
	})
	journal := a.call("query", map[string]any{"db": dbA, "sql": "SELECT state FROM _hearth_journal WHERE state = 'pending'"})
	if n := len(journal["rows"].([]any)); n != 1 {
		t.Fatalf("pending journal entries: %d (%v)", n, journal)
	}
	if strings.Contains(rowsOf(b, sub), "edited offline") {
		t.Fatal("an offline write reached the other device")
	}

	a.call("network", map[string]any{"online": true})
	b.waitUntil("B to see the offline edit after A came back", func() bool { return strings.Contains(rowsOf(b, sub), "edited offline") })

	one := a.call("sync", map[string]any{"db": dbA})
	if one["online"] != true {
		t.Fatalf("sync status: %v", one)
	}
	a.call("close", map[string]any{"db": dbA})
	b.call("close", map[string]any{"db": dbB})
}

func TestSyncOptionsAreChecked(t *testing.T) {
	c := newClient(t)
	for _, sync := range []any{
		"ws://x/sync",
		map[string]any{"url": "http://x/sync", "tables": []any{"tasks"}},
		map[string]any{"url": "ws://x/sync"},
		map[string]any{"url": "ws://x/sync", "tables": []any{"_hearth_journal"}},
		map[string]any{"url": "ws://x/sync", "tables": []any{"tasks"}, "replica": int64(1)},
		map[string]any{"url": "ws://x/sync", "tables": []any{"tasks"}, "replica": "ws://x/v1/replica"},
		map[string]any{"url": "ws://x/sync", "tables": []any{"tasks"}, "replica": "/v1/replica"},
	} {
		c.fail("open", map[string]any{"name": "bad-sync", "storage": "memory", "sync": sync}, protocol.CodeBadRequest)
	}
	db := c.open("plain")
	c.fail("sync", map[string]any{"db": db}, protocol.CodeBadRequest)
	c.fail("watch", map[string]any{"db": db, "sync": true}, protocol.CodeBadRequest)
}

// hopRuns numbers databases: memory databases are shared by name within
// the process, and tests may run more than once (-count).
var hopRuns atomic.Int64

const debugPages = false

// BenchmarkSyncHop: a write on one engine until another engine's live
// query shows it, through a real server on loopback (the browser bench
// measures the same hop in Chromium).
func BenchmarkSyncHop(b *testing.B) {
	url := syncServer(b)
	a, c := newPage(b), newPage(b)
	run := hopRuns.Add(1)
	dbA, dbC := a.openSynced(fmt.Sprintf("hop-a-%d", run), url), c.openSynced(fmt.Sprintf("hop-c-%d", run), url)
	a.call("exec", map[string]any{"db": dbA, "sql": "INSERT INTO tasks(id, title) VALUES ('t1', 'start')"})
	sub := c.call("watch", map[string]any{"db": dbC, "sql": "SELECT title FROM tasks WHERE id = 't1'"})["sub"].(int64)
	b.ResetTimer()
	for i := range b.N {
		title := fmt.Sprintf("hop %d", i)
		a.call("exec", map[string]any{"db": dbA, "sql": "UPDATE tasks SET title = ? WHERE id = 't1'", "params": []any{title}})
		c.waitUntil("the hop", func() bool { return strings.Contains(fmt.Sprint(c.latest(sub)), title) })
	}
}

// TestDoubleBookingIsFlaggedOnBothDevices: the board's server invariant
// flags (does not refuse) a booking of a room and slot another booking
// holds; the violation syncs to both devices as a _hearth_violations row,
// the second booking's journal entry ends flagged, and the app can dismiss
// it once shown.
func TestDoubleBookingIsFlaggedOnBothDevices(t *testing.T) {
	boardApp, err := boardschema.App()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := syncserver.New(syncserver.Config{Migrations: boardschema.Migrations, Tables: boardschema.Tables,
		SQLInvariants: boardApp.Invariants})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	var migrations []any
	for _, m := range boardschema.Migrations {
		migrations = append(migrations, map[string]any{"version": m.Version, "sql": m.SQL})
	}
	var tables []any
	for _, tb := range boardschema.Tables {
		tables = append(tables, tb.Name)
	}
	open := func(p *page, name string) int64 {
		return p.call("open", map[string]any{"name": name, "storage": "memory", "migrations": migrations,
			"sync": map[string]any{"url": url, "tables": tables}})["db"].(int64)
	}
	a, b := newPage(t), newPage(t)
	run := hopRuns.Add(1)
	dbA, dbB := open(a, fmt.Sprintf("book-a-%d", run)), open(b, fmt.Sprintf("book-b-%d", run))
	book := func(p *page, db int64, id, who string) {
		p.call("exec", map[string]any{"db": db, "sql": "INSERT INTO bookings(id, workspace_id, room_id, slot, title, booked_by) VALUES (?, 'ws-main', 'r-1', '2026-11-24T10:00', ?, ?)",
			"params": []any{id, "meeting of " + who, who}})
	}
	book(a, dbA, "b-a", "ada")
	statusA := a.call("watch", map[string]any{"db": dbA, "sync": true})["sub"].(int64)
	a.waitUntil("A's booking acknowledged", func() bool {
		st := a.latest(statusA)
		return st != nil && st["status"].(map[string]any)["pending"] == int64(0) && st["status"].(map[string]any)["connected"] == true
	})
	violations := map[*page]int64{}
	for p, db := range map[*page]int64{a: dbA, b: dbB} {
		violations[p] = p.call("watch", map[string]any{"db": db, "sql": "SELECT message FROM _hearth_violations"})["sub"].(int64)
	}
	book(b, dbB, "b-b", "grace")
	for _, p := range []*page{a, b} {
		p.waitUntil("the violation on both devices", func() bool {
			return strings.Contains(fmt.Sprint(p.latest(violations[p])), "double booking")
		})
	}
	var flagged []any
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		flagged = b.call("query", map[string]any{"db": dbB, "sql": "SELECT seq, detail FROM _hearth_journal WHERE state = 'flagged'"})["rows"].([]any)
		if len(flagged) == 1 {
			break
		}
	}
	if len(flagged) != 1 || !strings.Contains(fmt.Sprint(flagged[0]), "double booking") {
		t.Fatalf("flagged entries on B: %v", flagged)
	}
	seq := flagged[0].([]any)[0].(int64)
	b.call("dismissChange", map[string]any{"db": dbB, "seq": seq})
	b.fail("dismissChange", map[string]any{"db": dbB, "seq": seq}, protocol.CodeNotFound)
	b.fail("discardQuarantined", map[string]any{"db": dbB, "quarantineId": int64(99)}, protocol.CodeNotFound)
	a.call("close", map[string]any{"db": dbA})
	b.call("close", map[string]any{"db": dbB})
}

// BenchmarkInitialSyncBoard: a fresh device pulls the seeded 5,000-task
// board workspace through the engine, to queryable.
func BenchmarkInitialSyncBoard(b *testing.B) {
	srv, err := syncserver.New(syncserver.Config{Migrations: boardschema.Migrations, Tables: boardschema.Tables})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	b.Cleanup(func() { hs.Close(); srv.Close() })
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	if _, err := seed.Write(context.Background(), url, boardschema.Migrations, boardschema.Tables, func(conn *sqlite3.Conn) error {
		return boardschema.Seed(conn, boardschema.SeedOptions{Tasks: 5000})
	}); err != nil {
		b.Fatal(err)
	}
	var migrations, tables []any
	for _, m := range boardschema.Migrations {
		migrations = append(migrations, map[string]any{"version": m.Version, "sql": m.SQL})
	}
	for _, tb := range boardschema.Tables {
		tables = append(tables, tb.Name)
	}
	b.ResetTimer()
	for range b.N {
		p := newPage(b)
		db := p.call("open", map[string]any{"name": fmt.Sprintf("initial-%d", hopRuns.Add(1)), "storage": "memory", "migrations": migrations,
			"sync": map[string]any{"url": url, "tables": tables}})["db"].(int64)
		sub := p.call("watch", map[string]any{"db": db, "sync": true})["sub"].(int64)
		p.waitUntil("synced", func() bool {
			st, _ := p.latest(sub)["status"].(map[string]any)
			return st != nil && st["connected"] == true && st["initialSync"].(map[string]any)["active"] == false && st["head"].(int64) > 0 && st["cursor"] == st["head"]
		})
		b.StopTimer()
		p.call("close", map[string]any{"db": db})
		b.StartTimer()
	}
}

// TestExpiredTokenPausesSyncUntilTheAppSetsANewOne: a server that requires
// a JWT refuses an expired one; sync pauses (paused-auth) while writes keep
// being journaled; setSyncToken resumes it and nothing is lost.
func TestExpiredTokenPausesSyncUntilTheAppSetsANewOne(t *testing.T) {
	secret := []byte("a demo secret of at least 32 bytes!!")
	verifier, err := auth.NewVerifier(auth.Config{Secret: secret, Audience: "hearth-sync"})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := syncserver.New(syncserver.Config{
		Migrations: []appschema.Migration{{Version: 1, SQL: syncTestMigration}},
		Tables:     []appschema.Table{{Name: "tasks"}},
		Identify:   verifier.Identify,
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	issuer := &auth.Issuer{Secret: secret, Audience: "hearth-sync"}
	expired, err := (&auth.Issuer{Secret: secret, Audience: "hearth-sync", Now: func() time.Time { return time.Now().Add(-time.Hour) }}).Issue("u-01", nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	p := newPage(t)
	db := p.call("open", map[string]any{"name": fmt.Sprintf("token-test-%d", hopRuns.Add(1)), "storage": "memory",
		"migrations": []any{map[string]any{"version": int64(1), "sql": syncTestMigration}},
		"sync":       map[string]any{"url": url, "tables": []any{"tasks"}, "token": expired},
	})["db"].(int64)
	// Polled (the status op), not the subscription: bounded either way,
	// and independent of how pushes interleave with replies.
	status := func() map[string]any { return p.call("sync", map[string]any{"db": db}) }
	pollStatus(t, "paused-auth", status, func(st map[string]any) bool { return st["state"] == "paused-auth" })
	if e, _ := status()["lastError"].(map[string]any); e == nil || e["class"] != "auth" || strings.Contains(fmt.Sprint(e["message"]), expired) {
		t.Fatalf("last error while paused: %v (the token must not leak into it)", e)
	}
	p.call("exec", map[string]any{"db": db, "sql": "INSERT INTO tasks(id, title) VALUES ('t1', 'written while paused')"})
	fresh, err := issuer.Issue("u-01", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p.call("setSyncToken", map[string]any{"db": db, "token": fresh})
	pollStatus(t, "synced with the new token", status, func(st map[string]any) bool {
		return st["connected"] == true && st["pending"] == int64(0)
	})
	p.call("close", map[string]any{"db": db})
}

// pollStatus asks for the sync status until ok holds (bounded).
func pollStatus(t *testing.T, what string, status func() map[string]any, ok func(map[string]any) bool) {
	t.Helper()
	var st map[string]any
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if st = status(); ok(st) {
			return
		}
	}
	t.Fatalf("no %s within 30 s; status %v", what, st)
}

// Closing a database in the middle of its initial sync lets the client
// stop at once: its last turn (turning the WAL's automatic checkpoints
// back on) is refused, not queued behind the closing owner, which waits
// for the client to stop (the close took syncStopTimeout, 5 s, before).
func TestClosingDuringTheInitialSyncLetsTheClientStop(t *testing.T) {
	chunked := make(chan struct{})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{wire.Subprotocol}})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ctx := r.Context()
		send := func(m wire.Message) {
			b, _ := wire.Encode(m, 1)
			ws.Write(ctx, websocket.MessageBinary, b)
		}
		if _, _, err := ws.Read(ctx); err != nil { // the hello
			return
		}
		_, b, err := ws.Read(ctx) // the first chunk's request, sent with it
		if err != nil {
			return
		}
		f, err := wire.Decode(b)
		req, ok := f.Msg.(wire.SnapshotRequest)
		if err != nil || !ok {
			t.Errorf("after the hello: %v %T, want a snapshot request", err, f.Msg)
			return
		}
		send(wire.Welcome{Server: "s1", Head: 7, Min: 1, Max: 1, MaxMessage: 1 << 20})
		// One chunk, not the last; the next is never sent.
		send(wire.Chunk{Re: req.ID, At: 7, Next: wire.SnapshotCursor{Table: "tasks", Key: []byte{1}}})
		close(chunked)
		for {
			if _, _, err := ws.Read(ctx); err != nil {
				return
			}
		}
	}))
	t.Cleanup(hs.Close)
	p := newPage(t)
	db := p.call("open", map[string]any{"name": fmt.Sprintf("close-mid-sync-%d", hopRuns.Add(1)), "storage": "memory",
		"migrations": []any{map[string]any{"version": int64(1), "sql": syncTestMigration}},
		"sync":       map[string]any{"url": "ws" + strings.TrimPrefix(hs.URL, "http"), "tables": []any{"tasks"}},
	})["db"].(int64)
	<-chunked
	pollStatus(t, "the first chunk merged", func() map[string]any { return p.call("sync", map[string]any{"db": db}) }, func(st map[string]any) bool {
		is, _ := st["initialSync"].(map[string]any)
		return is != nil && is["active"] == true && is["chunks"] == int64(1)
	})
	p.call("close", map[string]any{"db": db})
	if n := p.eng.syncStopTimeouts.Load(); n != 0 {
		t.Fatalf("%d sync clients outlived the close's wait for them", n)
	}
}

// TestSlowLiveQueriesAreHeldBackDuringTheInitialSync: a live query that is
// slow to refresh (here every clock read is a minute later, so each of its
// refreshes costs one) is not re-run after each chunk of an initial sync,
// yet the page sees rows arrive before the sync ends; a second watcher
// then brings it up to date (if the last chunk's refresh was held back),
// and both watchers' copies end exactly as the table. The clock's minutes make the held-back refreshes come due
// long after the test (TestAHeldBackRefreshRunsForThePageAndForANewWatcher
// covers that path), so however slowly the chunks come, only the commits
// decide which refreshes run.
func TestSlowLiveQueriesAreHeldBackDuringTheInitialSync(t *testing.T) {
	const tasks, chunkRows = 2000, 100
	srv, err := syncserver.New(syncserver.Config{
		Migrations:       []appschema.Migration{{Version: 1, SQL: syncTestMigration}},
		Tables:           []appschema.Table{{Name: "tasks"}},
		MaxSnapshotChunk: chunkRows,
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	if _, err := seed.Write(context.Background(), url, []appschema.Migration{{Version: 1, SQL: syncTestMigration}}, []appschema.Table{{Name: "tasks"}}, func(conn *sqlite3.Conn) error {
		return conn.Exec(fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)
			INSERT INTO tasks(id, title) SELECT printf('t%%05d', i), 'task ' || i FROM n`, tasks))
	}); err != nil {
		t.Fatal(err)
	}

	p := newPage(t)
	var reads atomic.Int64
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p.eng.liveClock = func() time.Time { return start.Add(time.Duration(reads.Add(1)) * time.Minute) }
	db := p.openSynced("held-back", url)
	status := p.call("watch", map[string]any{"db": db, "sync": true})["sub"].(int64)
	const list = "SELECT id, title FROM tasks ORDER BY id"
	w := p.call("watch", map[string]any{"db": db, "sql": list})
	sub := w["sub"].(int64)
	rows := w["result"].(map[string]any)["rows"].([]any)

	var st map[string]any
	p.waitUntil("synced", func() bool {
		st, _ = p.latest(status)["status"].(map[string]any)
		return st != nil && st["connected"] == true && st["initialSync"].(map[string]any)["active"] == false && st["head"].(int64) > 0 && st["cursor"] == st["head"]
	})
	chunks := st["initialSync"].(map[string]any)["chunks"].(int64)
	p.mu.Lock()
	during := slices.Clone(p.pushes[sub])
	p.mu.Unlock()
	// A second watcher: a list still held back is re-run for both.
	second := p.call("watch", map[string]any{"db": db, "sql": list})["result"].(map[string]any)["rows"].([]any)
	p.mu.Lock()
	pushes := slices.Clone(p.pushes[sub])
	p.mu.Unlock()
	var streamed bool
	for i, push := range pushes {
		rows = apply(rows, push["delta"].(map[string]any))
		if i < len(during) && len(rows) > 0 {
			streamed = true
		}
	}
	want := p.call("query", map[string]any{"db": db, "sql": list})["rows"].([]any)
	if len(want) != tasks || fmt.Sprint(rows) != fmt.Sprint(want) || fmt.Sprint(second) != fmt.Sprint(want) {
		t.Fatalf("the page's copies have %d and %d rows, the table %d (or they differ)", len(rows), len(second), len(want))
	}
	if chunks < tasks/chunkRows {
		t.Fatalf("the initial sync came in %d chunks, want at least %d", chunks, tasks/chunkRows)
	}
	// Refreshed after every chunk, it would be about as many refreshes as
	// chunks; held back as its cost says, about one in every two or three.
	if int64(len(during)) > chunks*2/3 || !streamed {
		t.Fatalf("the list was refreshed %d times for %d chunks (rows before the sync ended: %v): want at most two in three, and rows before the sync ended", len(during), chunks, streamed)
	}
	t.Logf("%d chunks, %d refreshes during the sync", chunks, len(during))
	p.call("close", map[string]any{"db": db})
}
