package engine

import (
	"bytes"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearthdb/hearth/codec"
	"github.com/ncruces/go-sqlite3"
)

// client drives an Engine the way the page does: encoded requests in,
// encoded replies out, matched by id.
type client struct {
	t       *testing.T
	eng     *Engine
	mu      sync.Mutex
	nextID  int64
	replies chan map[string]any
	// pushes holds the subscription pushes call passed over while waiting
	// for its reply (a write's live update comes before the write's reply,
	// which waits for its commit): next returns them first, in order.
	pushes []map[string]any
}

func newClient(t *testing.T) *client {
	c := &client{t: t, replies: make(chan map[string]any, 4096)}
	c.eng = New(MemoryStorage{}, func(msg []byte) {
		v, err := codec.Decode(bytes.Clone(msg))
		if err != nil {
			t.Errorf("engine sent an undecodable reply: %v", err)
			return
		}
		c.replies <- v.(map[string]any)
	})
	t.Cleanup(func() { closeOpenDatabases(c.eng, c.call) })
	return c
}

// closeOpenDatabases closes what a test left open in eng (through call,
// its page's request): a memory database lives in the process while a
// connection holds it, and a test run again (go test -count=N) would
// find the tables of the run before. Errors are the test's to report.
func closeOpenDatabases(eng *Engine, call func(op string, fields map[string]any) map[string]any) {
	eng.mu.Lock()
	handles := slices.Sorted(maps.Keys(eng.dbs))
	eng.mu.Unlock()
	for _, h := range handles {
		call("close", map[string]any{"db": h})
	}
}

func (c *client) send(op string, fields map[string]any) int64 {
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	c.mu.Unlock()
	m := map[string]any{"v": int64(1), "id": id, "op": op}
	for k, v := range fields {
		m[k] = v
	}
	msg, err := codec.Encode(m)
	if err != nil {
		c.t.Fatal(err)
	}
	c.eng.Receive(msg)
	return id
}

func (c *client) next() map[string]any {
	if len(c.pushes) > 0 {
		p := c.pushes[0]
		c.pushes = c.pushes[1:]
		return p
	}
	return c.receive()
}

func (c *client) receive() map[string]any {
	select {
	case r := <-c.replies:
		return r
	case <-time.After(10 * time.Second):
		c.t.Fatal("no reply within 10s")
		return nil
	}
}

// call sends one request and waits for its reply.
func (c *client) call(op string, fields map[string]any) map[string]any {
	id := c.send(op, fields)
	for {
		r := c.receive()
		if _, push := r["sub"]; push && r["id"] == nil {
			c.pushes = append(c.pushes, r)
			continue
		}
		if r["id"] != id {
			c.t.Fatalf("reply id %v, want %d", r["id"], id)
		}
		return r
	}
}

func (c *client) ok(op string, fields map[string]any) map[string]any {
	c.t.Helper()
	r := c.call(op, fields)
	if e, bad := r["error"]; bad {
		c.t.Fatalf("%s %v: %v", op, fields, e)
	}
	return r["ok"].(map[string]any)
}

func (c *client) fail(op string, fields map[string]any, code string) map[string]any {
	c.t.Helper()
	r := c.call(op, fields)
	e, bad := r["error"].(map[string]any)
	if !bad {
		c.t.Fatalf("%s %v succeeded, want %s", op, fields, code)
	}
	if e["code"] != code {
		c.t.Fatalf("%s: code %v (%v), want %s", op, e["code"], e["message"], code)
	}
	return e
}

func (c *client) open(name string) int64 {
	return c.ok("open", map[string]any{"name": name, "storage": "memory"})["db"].(int64)
}

func TestRoundTrip(t *testing.T) {
	c := newClient(t)
	db := c.open("roundtrip")
	c.ok("exec", map[string]any{"db": db, "sql": "CREATE TABLE t(id INTEGER PRIMARY KEY, v)"})
	r := c.ok("exec", map[string]any{"db": db, "sql": "INSERT INTO t(v) VALUES (?), (?)", "params": []any{"a", "b"}})
	if r["changes"] != int64(2) || r["lastInsertRowid"] != int64(2) {
		t.Fatalf("exec result %v", r)
	}
	q := c.ok("query", map[string]any{"db": db, "sql": "SELECT id, v FROM t WHERE v = :v", "params": map[string]any{"v": "b"}})
	if fmt.Sprint(q["columns"]) != "[id v]" || fmt.Sprint(q["rows"]) != "[[2 b]]" {
		t.Fatalf("query result %v", q)
	}
}

// generate_series is the engine's own (internal/sqlseries) on every build:
// the worker's SQLite module has no C one. It passes the authorizer.
func TestGenerateSeries(t *testing.T) {
	c := newClient(t)
	db := c.open("series")
	q := c.ok("query", map[string]any{"db": db, "sql": "SELECT value FROM generate_series(?, ?, ?)", "params": []any{int64(10), int64(1), int64(-4)}})
	if fmt.Sprint(q["rows"]) != "[[10] [6] [2]]" {
		t.Fatalf("rows %v", q["rows"])
	}
	c.ok("exec", map[string]any{"db": db, "sql": "CREATE TABLE t(n INTEGER); INSERT INTO t SELECT value FROM generate_series(1, 5)"})
	q = c.ok("query", map[string]any{"db": db, "sql": "SELECT sum(n) FROM t"})
	if fmt.Sprint(q["rows"]) != "[[15]]" {
		t.Fatalf("sum %v", q["rows"])
	}
	c.fail("query", map[string]any{"db": db, "sql": "SELECT * FROM generate_series"}, "SQLITE_ERROR")
}

func TestValuesRoundTripExactly(t *testing.T) {
	c := newClient(t)
	db := c.open("values")
	values := []any{nil, int64(0), int64(-1), int64(math.MaxInt32) + 1, int64(math.MaxInt64), int64(math.MinInt64),
		1.5, math.Inf(-1), math.Copysign(0, -1), "", "a\x00b", "😀 astral", []byte{}, []byte{0, 1, 0, 255}}
	c.ok("exec", map[string]any{"db": db, "sql": "CREATE TABLE t(i INTEGER PRIMARY KEY, v ANY) STRICT"})
	for i, v := range values {
		c.ok("exec", map[string]any{"db": db, "sql": "INSERT INTO t VALUES (?, ?)", "params": []any{int64(i), v}})
	}
	rows := c.ok("query", map[string]any{"db": db, "sql": "SELECT v FROM t ORDER BY i"})["rows"].([]any)
	for i, v := range values {
		got := rows[i].([]any)[0]
		if fmt.Sprintf("%T %#v", got, got) != fmt.Sprintf("%T %#v", v, v) {
			t.Errorf("value %d: got %T %#v, want %T %#v", i, got, got, v, v)
		}
	}
}

func TestBatchIsAllOrNothing(t *testing.T) {
	c := newClient(t)
	db := c.open("batch")
	c.ok("exec", map[string]any{"db": db, "sql": "CREATE TABLE t(id INTEGER PRIMARY KEY)"})
	e := c.fail("batch", map[string]any{"db": db, "statements": []any{
		map[string]any{"sql": "INSERT INTO t VALUES (1)"},
		map[string]any{"sql": "INSERT INTO t VALUES (2)"},
		map[string]any{"sql": "INSERT INTO t VALUES (1)"},
		map[string]any{"sql": "INSERT INTO t VALUES (4)"},
	}}, "SQLITE_CONSTRAINT_PRIMARYKEY")
	if e["index"] != int64(2) {
		t.Fatalf("failing index %v, want 2", e["index"])
	}
	rows := c.ok("query", map[string]any{"db": db, "sql": "SELECT count(*) FROM t"})["rows"]
	if fmt.Sprint(rows) != "[[0]]" {
		t.Fatalf("after failed batch: %v", rows)
	}
	r := c.ok("batch", map[string]any{"db": db, "statements": []any{
		map[string]any{"sql": "INSERT INTO t VALUES (?)", "params": []any{int64(7)}},
		map[string]any{"sql": "SELECT id FROM t"},
	}})
	if fmt.Sprint(r["results"]) != "[map[changes:1 lastInsertRowid:7] map[columns:[id] rows:[[7]]]]" {
		t.Fatalf("batch results %v", r["results"])
	}
}

func TestBatchInsideAppTransaction(t *testing.T) {
	c := newClient(t)
	db := c.open("nested")
	c.ok("exec", map[string]any{"db": db, "sql": "CREATE TABLE t(id INTEGER PRIMARY KEY); BEGIN; INSERT INTO t VALUES (1)"})
	c.fail("batch", map[string]any{"db": db, "statements": []any{map[string]any{"sql": "INSERT INTO t VALUES (1)"}}}, "SQLITE_CONSTRAINT_PRIMARYKEY")
	c.ok("exec", map[string]any{"db": db, "sql": "COMMIT"})
	if rows := c.ok("query", map[string]any{"db": db, "sql": "SELECT id FROM t"})["rows"]; fmt.Sprint(rows) != "[[1]]" {
		t.Fatalf("the app's own transaction was disturbed: %v", rows)
	}
}

func TestErrorsHaveStableCodes(t *testing.T) {
	c := newClient(t)
	db := c.open("errors")
	c.fail("exec", map[string]any{"db": db, "sql": "SELEC 1"}, "SQLITE_ERROR")
	c.fail("query", map[string]any{"db": db, "sql": "SELECT ?", "params": []any{}}, "SQLITE_RANGE")
	c.fail("query", map[string]any{"db": db, "sql": "SELECT :a", "params": map[string]any{"b": int64(1)}}, "SQLITE_RANGE")
	c.fail("query", map[string]any{"db": db, "sql": "SELECT 1; SELECT 2"}, "BAD_REQUEST")
	c.fail("query", map[string]any{"db": db, "sql": int64(5)}, "BAD_REQUEST")
	c.fail("query", map[string]any{"db": db, "sql": "SELECT ?", "params": []any{[]any{}}}, "BAD_REQUEST")
	c.fail("query", map[string]any{"db": db, "sql": "SELECT 1", "params": "x"}, "BAD_REQUEST")
	c.fail("frobnicate", map[string]any{"db": db}, "BAD_REQUEST")
	c.fail("exec", map[string]any{"db": int64(999), "sql": "SELECT 1"}, "CLOSED")
	c.fail("open", map[string]any{"name": "../x"}, "BAD_REQUEST")
	c.fail("open", map[string]any{"name": "x", "storage": "floppy"}, "BAD_REQUEST")
	c.fail("open", map[string]any{"name": "x", "storage": "opfs"}, "STORAGE_UNAVAILABLE")
	c.fail("batch", map[string]any{"db": db, "statements": []any{"SELECT 1"}}, "BAD_REQUEST")
	c.ok("exec", map[string]any{"db": db, "sql": "SELECT 1"})
	c.ok("close", map[string]any{"db": db})
	c.fail("exec", map[string]any{"db": db, "sql": "SELECT 1"}, "CLOSED")
}

func TestMalformedMessagesNeverKillTheEngine(t *testing.T) {
	c := newClient(t)
	good, _ := codec.Encode(map[string]any{"v": int64(1), "id": int64(5), "op": "exec"})
	for _, msg := range [][]byte{nil, {0xff}, {0x09, 1, 0, 0}, {0x06, 0xff, 0xff, 0xff, 0x7f}, good[:len(good)-2],
		append(bytes.Clone(good), 0), {0x03, 1, 2, 3, 4}} {
		c.eng.Receive(msg)
		r := c.next()
		if e := r["error"].(map[string]any); e["code"] != "BAD_REQUEST" {
			t.Fatalf("message % x: %v", msg, r)
		}
	}
	noVersion, _ := codec.Encode(map[string]any{"id": int64(9), "op": "open"})
	c.eng.Receive(noVersion)
	if r := c.next(); r["id"] != int64(9) || r["error"].(map[string]any)["code"] != "BAD_REQUEST" {
		t.Fatalf("missing version: %v", r)
	}
	db := c.open("still-alive")
	c.ok("exec", map[string]any{"db": db, "sql": "SELECT 1"})
}

func TestMultiStatementExec(t *testing.T) {
	c := newClient(t)
	db := c.open("multi")
	c.ok("exec", map[string]any{"db": db, "sql": "CREATE TABLE a(x); -- comment\nCREATE TABLE b(y); INSERT INTO a VALUES (?); INSERT INTO b VALUES (2)", "params": []any{int64(1)}})
	c.fail("exec", map[string]any{"db": db, "sql": "INSERT INTO a VALUES (?); INSERT INTO b VALUES (?)", "params": []any{int64(1)}}, "SQLITE_RANGE")
	q := c.ok("query", map[string]any{"db": db, "sql": "SELECT (SELECT group_concat(x) FROM a), (SELECT group_concat(y) FROM b) /* trailing comment */"})
	if fmt.Sprint(q["rows"]) != "[[1,1 2]]" {
		// The failed exec ran its first statement before failing on the
		// second: like sqlite3_exec, a multi-statement exec is not atomic.
		t.Fatalf("rows %v", q["rows"])
	}
}

func TestConcurrentRequestsEachGetTheirOwnReply(t *testing.T) {
	c := newClient(t)
	db := c.open("concurrent")
	c.ok("exec", map[string]any{"db": db, "sql": "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"})
	const n = 1000
	ids := make(map[int64]int)
	for i := range n {
		ids[c.send("exec", map[string]any{"db": db, "sql": "INSERT INTO t(v) VALUES (?) RETURNING id", "params": []any{fmt.Sprint(i)}})] = i
	}
	for range n {
		r := c.next()
		i, ok := ids[r["id"].(int64)]
		if !ok || r["error"] != nil {
			t.Fatalf("unexpected reply %v", r)
		}
		delete(ids, r["id"].(int64))
		// Requests of one database run in arrival order.
		if got := r["ok"].(map[string]any)["lastInsertRowid"]; got != int64(i+1) {
			t.Fatalf("request %d got rowid %v", i, got)
		}
	}
}

func TestCloseRacesGetClosedReplies(t *testing.T) {
	c := newClient(t)
	db := c.open("race")
	c.send("close", map[string]any{"db": db})
	c.send("exec", map[string]any{"db": db, "sql": "SELECT 1"})
	codes := []string{}
	for range 2 {
		r := c.next()
		if e, ok := r["error"].(map[string]any); ok {
			codes = append(codes, e["code"].(string))
		} else {
			codes = append(codes, "ok")
		}
	}
	if strings.Join(codes, ",") != "CLOSED,ok" && strings.Join(codes, ",") != "ok,CLOSED" {
		t.Fatalf("codes %v", codes)
	}
}

var reclaimRuns atomic.Int64

// countingHeadroom counts what the engine asks of a storage's headroom.
type countingHeadroom struct {
	reclaims, spends, inTx atomic.Int64
}

func (h *countingHeadroom) SpendHeadroom() { h.spends.Add(1) }

func (h *countingHeadroom) Reclaim(c *sqlite3.Conn) error {
	if !c.GetAutocommit() {
		h.inTx.Add(1)
	}
	h.reclaims.Add(1)
	return nil
}

// headroomStorage is memory storage whose locations have a counting headroom.
type headroomStorage struct {
	MemoryStorage
	headroom *countingHeadroom
}

func (s headroomStorage) Resolve(req OpenRequest) (Location, error) {
	loc, err := s.MemoryStorage.Resolve(req)
	loc.Headroom = s.headroom
	return loc, err
}

// The storage hears of each committed write (to give space back after the
// quota: sqlitevfs.Headroom.Reclaim), never of reads, and not inside the
// app's transaction before it commits; a write the quota refuses spends
// the headroom, once per failure.
func TestStorageHeadroomAfterCommitsAndQuotaErrors(t *testing.T) {
	h := &countingHeadroom{}
	calls := func() int64 { return h.reclaims.Load() }
	c := newClient(t)
	c.eng = New(headroomStorage{headroom: h}, c.eng.send)
	db := c.open(fmt.Sprintf("reclaim-%d", reclaimRuns.Add(1))) // memory databases outlive a test run
	c.ok("exec", map[string]any{"db": db, "sql": "CREATE TABLE t(v)"})
	c.ok("exec", map[string]any{"db": db, "sql": "INSERT INTO t VALUES (1)"})
	// The engine reclaims after it has replied; a request's reply comes
	// after the previous sweep's reclaim.
	settle := func() { c.ok("query", map[string]any{"db": db, "sql": "SELECT 1"}) }
	settle()
	after := calls()
	if after != 2 {
		t.Fatalf("%d Reclaim calls after two writes, want 2", after)
	}
	c.ok("query", map[string]any{"db": db, "sql": "SELECT v FROM t"})
	tx := c.ok("begin", map[string]any{"db": db})["tx"]
	c.ok("exec", map[string]any{"db": db, "tx": tx, "sql": "INSERT INTO t VALUES (2)"})
	c.ok("query", map[string]any{"db": db, "tx": tx, "sql": "SELECT 1"})
	if calls() != after {
		t.Fatalf("Reclaim ran %d times for a read and an uncommitted write", calls()-after)
	}
	c.ok("commit", map[string]any{"db": db, "tx": tx})
	settle()
	if calls() != after+1 {
		t.Fatalf("%d Reclaim calls for the commit, want 1", calls()-after)
	}
	if h.inTx.Load() != 0 || h.spends.Load() != 0 {
		t.Fatalf("%d Reclaims inside a transaction, %d spends without a quota error", h.inTx.Load(), h.spends.Load())
	}
	// max_page_count makes SQLite's own SQLITE_FULL: STORAGE_QUOTA.
	c.ok("exec", map[string]any{"db": db, "sql": "PRAGMA max_page_count = 8"})
	for i := 0; ; i++ {
		r := c.call("exec", map[string]any{"db": db, "sql": "INSERT INTO t VALUES (randomblob(2000))"})
		if e, bad := r["error"].(map[string]any); bad {
			if e["code"] != "STORAGE_QUOTA" {
				t.Fatalf("insert %d: %v, want STORAGE_QUOTA", i, e)
			}
			break
		}
		if i == 100 {
			t.Fatal("100 inserts did not reach max_page_count")
		}
	}
	if h.spends.Load() != 1 {
		t.Fatalf("%d spends after one STORAGE_QUOTA, want 1", h.spends.Load())
	}
}

// walFileStorage puts databases in WAL files in dir, as the browser's
// OPFS storage does, with a reserve that is held or spent.
type walFileStorage struct {
	MemoryStorage
	dir      string
	headroom Headroom
}

func (s walFileStorage) Resolve(req OpenRequest) (Location, error) {
	return Location{
		URI:      "file:" + filepath.Join(s.dir, req.Name+".db"),
		Backend:  StorageOPFS,
		Pragmas:  []string{"PRAGMA locking_mode = EXCLUSIVE", "PRAGMA journal_mode = WAL"},
		Headroom: s.headroom,
	}, nil
}

// heldHeadroom is a reserve that says whether it is held.
type heldHeadroom struct {
	countingHeadroom
	held atomic.Bool
}

func (h *heldHeadroom) HeadroomHeld() bool { return h.held.Load() }

// A database that rests after its commits has its WAL checkpointed and
// emptied (the next open then reads none of it), unless its storage's
// reserve is spent (at the quota the checkpoint is the reserve's to run).
func TestIdleDatabaseEmptiesItsWAL(t *testing.T) {
	for _, held := range []bool{true, false} {
		dir := t.TempDir()
		h := &heldHeadroom{}
		h.held.Store(held)
		c := newClient(t)
		c.eng = New(walFileStorage{dir: dir, headroom: h}, c.eng.send)
		c.eng.idleCheckpoint = 20 * time.Millisecond
		db := c.ok("open", map[string]any{"name": "idle", "storage": "opfs"})["db"].(int64)
		c.ok("exec", map[string]any{"db": db, "sql": "CREATE TABLE t(v)"})
		c.ok("exec", map[string]any{"db": db, "sql": "INSERT INTO t VALUES (randomblob(100000))"})
		walSize := func() int64 {
			fi, err := os.Stat(filepath.Join(dir, "idle.db-wal"))
			if err != nil {
				t.Fatal(err) // EXCLUSIVE locking keeps the WAL file while open
			}
			return fi.Size()
		}
		if walSize() == 0 {
			t.Fatal("the writes left no WAL to checkpoint")
		}
		// Bounded: 10 s for the checkpoint to come; a spent reserve is
		// watched for 50 idle periods (1 s) during which it must not.
		tries := 500
		if !held {
			tries = 50
		}
		emptied := false
		for range tries {
			if walSize() == 0 {
				emptied = true
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if emptied != held {
			t.Fatalf("reserve held %v: WAL emptied %v (%d bytes)", held, emptied, walSize())
		}
		// Still usable, and the rows are in the database file.
		if rows := c.ok("query", map[string]any{"db": db, "sql": "SELECT count(*) FROM t"})["rows"]; fmt.Sprint(rows) != "[[1]]" {
			t.Fatalf("rows after the checkpoint: %v", rows)
		}
		c.ok("close", map[string]any{"db": db})
	}
}

// Closing a connection finalizes statements its users left prepared (the
// sync client's, when it stopped before it could close them on the
// owner goroutine): the close succeeds instead of failing busy.
func TestCloseFinalizesStatementsLeftOpen(t *testing.T) {
	c, err := OpenConn(MemoryLocation("left-open", "test"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.db.Exec("CREATE TABLE t(v); INSERT INTO t VALUES (1), (2)"); err != nil {
		t.Fatal(err)
	}
	s, _, err := c.db.Prepare("SELECT v FROM t")
	if err != nil {
		t.Fatal(err)
	}
	if !s.Step() {
		t.Fatal("no row")
	}
	if err := c.Close(); err != nil {
		t.Fatalf("close with a statement left prepared and stepped: %v", err)
	}
}
