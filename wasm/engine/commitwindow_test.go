package engine

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearthdb/hearth/sqlitevfs"
	"github.com/ncruces/go-sqlite3/vfs"
)

func TestCommitWindowOpensOnlyForSlowCommitsThatWritesArriveDuring(t *testing.T) {
	const ms = time.Millisecond
	fresh := func() *commitWindow { return &commitWindow{minCommit: 2 * ms, maxWait: 3 * ms} }
	cases := []struct {
		name     string
		commits  []time.Duration
		waiting  bool
		caught   bool
		held     time.Duration
		wantWait time.Duration
	}{
		{"no commit yet", nil, false, false, 0, 0},
		{"slow commits, nothing arrived during them", []time.Duration{8 * ms}, false, false, 0, 0},
		{"slow commits, a write arrived during the last", []time.Duration{8 * ms}, true, false, 0, 3 * ms},
		{"the last window caught a write", []time.Duration{8 * ms}, false, true, 0, 3 * ms},
		{"fast commits (memory, OPFS)", []time.Duration{ms / 2}, true, false, 0, 0},
		{"held open nearly a commit's time: the rest only", []time.Duration{8 * ms}, true, false, 7 * ms, ms},
		{"held open a commit's time already", []time.Duration{8 * ms}, true, false, 8 * ms, 0},
		{"the average follows the commits", []time.Duration{ms / 2, ms / 2, 20 * ms}, true, false, 0, 3 * ms},
	}
	for _, tc := range cases {
		w := fresh()
		for _, d := range tc.commits {
			w.observe(d, tc.waiting, tc.caught)
		}
		if got := w.wait(tc.held); got != tc.wantWait {
			t.Errorf("%s: wait(%v) = %v, want %v", tc.name, tc.held, got, tc.wantWait)
		}
	}
}

var slowStoreSeq atomic.Int64

// slowBlockStore makes every Commit take delay, as an IndexedDB
// transaction takes milliseconds, and counts them.
type slowBlockStore struct {
	*sqlitevfs.MemoryBlockStore
	delay   time.Duration
	commits atomic.Int64
}

func (s *slowBlockStore) Commit(b sqlitevfs.Batch) error {
	time.Sleep(s.delay)
	s.commits.Add(1)
	return s.MemoryBlockStore.Commit(b)
}

// slowCommitClient is a client whose databases are on a block VFS over a
// slowBlockStore. The commit window's wait is long against the test's own
// pace (a loaded machine may take milliseconds between two requests), and
// a commit's delay longer still, so that what joins a transaction does
// not depend on the machine's speed.
func slowCommitClient(t *testing.T) (*client, *slowBlockStore) {
	store := &slowBlockStore{MemoryBlockStore: sqlitevfs.NewMemoryBlockStore(), delay: 300 * time.Millisecond}
	name := fmt.Sprintf("hearth-test-slow-%d", slowStoreSeq.Add(1))
	vfs.Register(name, sqlitevfs.NewBlockVFS(store, sqlitevfs.BlockOptions{}))
	t.Cleanup(func() { vfs.Unregister(name) })
	c := newClient(t)
	c.eng = New(slowCommitStorage{vfs: name}, c.eng.send)
	c.eng.commitWindowMinCommit = time.Millisecond
	c.eng.commitWindowWait = 250 * time.Millisecond
	return c, store
}

// slowCommitStorage puts databases on the VFS named vfs with the browser's
// IndexedDB pragmas (wasm/storage.go): no WAL, so that each transaction
// is one batch-atomic Commit of the store.
type slowCommitStorage struct {
	MemoryStorage
	vfs string
}

func (s slowCommitStorage) Resolve(req OpenRequest) (Location, error) {
	return Location{
		URI:       "file:/" + req.Name + ".db?vfs=" + s.vfs,
		Backend:   StorageIDB,
		NewLayout: Layout{PageSize: 8192},
		Pragmas:   []string{"PRAGMA locking_mode = EXCLUSIVE", "PRAGMA page_size = 8192", "PRAGMA temp_store = MEMORY"},
	}, nil
}

// watchedTable opens a database with a table t(id, v) of 20 rows and a
// watch over it, returning the database, the watch's rows and the SQL.
func watchedTable(c *client, name string) (int64, []any, string) {
	db := c.ok("open", map[string]any{"name": name, "storage": "idb"})["db"].(int64)
	c.ok("exec", map[string]any{"db": db, "sql": `CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20) INSERT INTO t SELECT i, 'v' FROM n`})
	const sql = "SELECT id, v FROM t ORDER BY id"
	rows := c.ok("watch", map[string]any{"db": db, "sql": sql})["result"].(map[string]any)["rows"].([]any)
	return db, rows, sql
}

// TestWritesSentOnTheirUpdatesShareCommits: an app that writes again as
// soon as it sees its last write's update (before that write is durable)
// has its writes taken into the open transaction: fewer commits than
// writes, each update before its commit, every reply ok and in order, and
// the page's copy the table's rows.
func TestWritesSentOnTheirUpdatesShareCommits(t *testing.T) {
	c, store := slowCommitClient(t)
	db, rows, sql := watchedTable(c, "window-rapid")
	const writes = 8
	before := store.commits.Load()
	ids := make([]int64, 0, writes)
	var replies []map[string]any
	for i := range writes {
		ids = append(ids, c.send("exec", map[string]any{"db": db, "sql": "UPDATE t SET v = ? WHERE id = ?", "params": []any{fmt.Sprint("w", i), int64(i + 1)}}))
		for {
			m := c.next()
			if _, push := m["sub"]; push {
				rows = apply(rows, m["delta"].(map[string]any))
				break
			}
			replies = append(replies, m)
		}
	}
	for len(replies) < writes {
		m := c.next()
		if _, push := m["sub"]; push {
			t.Fatalf("a push after the last write's: %v", m)
		}
		replies = append(replies, m)
	}
	for i, r := range replies {
		if r["id"] != ids[i] || r["error"] != nil {
			t.Fatalf("reply %d: %v, want ok for id %d", i, r, ids[i])
		}
	}
	t.Logf("%d writes, %d commits", writes, store.commits.Load()-before)
	if n := store.commits.Load() - before; n >= writes {
		t.Fatalf("%d writes sent on their updates took %d commits: none shared one", writes, n)
	}
	want := c.ok("query", map[string]any{"db": db, "sql": sql})["rows"].([]any)
	if fmt.Sprint(rows) != fmt.Sprint(want) || fmt.Sprint(want[writes-1]) != fmt.Sprint([]any{int64(writes), fmt.Sprint("w", writes-1)}) {
		t.Fatalf("the page's copy %v, the table %v", rows, want)
	}
}

// TestWritesSentOnceDurableCommitAlone: an app that waits for each write's
// reply before the next never has a write arrive during a commit: the
// window stays shut and each write is its own commit, made at once.
func TestWritesSentOnceDurableCommitAlone(t *testing.T) {
	c, store := slowCommitClient(t)
	db, _, _ := watchedTable(c, "window-paced")
	const writes = 4
	before := store.commits.Load()
	for i := range writes {
		c.ok("exec", map[string]any{"db": db, "sql": "UPDATE t SET v = ? WHERE id = ?", "params": []any{fmt.Sprint("p", i), int64(i + 1)}})
		c.nextPush(t)
	}
	if n := store.commits.Load() - before; n != writes {
		t.Fatalf("%d paced writes took %d commits, want one each", writes, n)
	}
}

// TestWhatIsNotAWriteEndsTheWindowAndKeepsItsPlace: a query sent during
// the window, and a write sent after it, run after the commit in the
// order sent: the query sees the writes before it, not the one after.
func TestWhatIsNotAWriteEndsTheWindowAndKeepsItsPlace(t *testing.T) {
	c, _ := slowCommitClient(t)
	db, _, _ := watchedTable(c, "window-order")
	write := func(i int) int64 {
		return c.send("exec", map[string]any{"db": db, "sql": "UPDATE t SET v = 'late' WHERE id = ?", "params": []any{int64(i)}})
	}
	got := map[int64]map[string]any{}
	// untilPush keeps the replies that come before the next push.
	untilPush := func() {
		for {
			m := c.next()
			if _, push := m["sub"]; push {
				return
			}
			got[m["id"].(int64)] = m
		}
	}
	// Writes during commits open the window: the second is sent during
	// the first's commit, the third during the window of the second.
	first := []int64{write(1)}
	untilPush()
	first = append(first, write(2))
	untilPush()
	query := c.send("query", map[string]any{"db": db, "sql": "SELECT count(*) FROM t WHERE v = 'late'"})
	after := write(3)
	for len(got) < 4 {
		m := c.next()
		if _, push := m["sub"]; push {
			continue
		}
		got[m["id"].(int64)] = m
	}
	for _, id := range append(first, after) {
		if got[id]["error"] != nil {
			t.Fatalf("write %d: %v", id, got[id])
		}
	}
	if n := got[query]["ok"].(map[string]any)["rows"]; fmt.Sprint(n) != "[[2]]" {
		t.Fatalf("the query sent between the writes saw %v rows written, want 2", n)
	}
	if n := c.ok("query", map[string]any{"db": db, "sql": "SELECT count(*) FROM t WHERE v = 'late'"})["rows"]; fmt.Sprint(n) != "[[3]]" {
		t.Fatalf("after all: %v", n)
	}
}
