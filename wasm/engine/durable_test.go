package engine

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hearthdb/hearth/sqlitevfs"
	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

// writeBehindStorage is IndexedDB as the worker sets it up
// (wasm/storage.go), on a memory block store: a BlockVFS over a
// MirrorStore, which writes behind.
type writeBehindStorage struct {
	MemoryStorage
	t       testing.TB
	backing *sqlitevfs.MemoryBlockStore

	mu      sync.Mutex
	mirror  *sqlitevfs.MirrorStore
	vfs     *sqlitevfs.BlockVFS
	name    string
	opens   int
	flushes atomic.Int64 // Flush calls that sent something or failed
	failed  atomic.Int64 // Flush calls that failed
}

var writeBehindSeq atomic.Int64

func newWriteBehindStorage(t testing.TB) *writeBehindStorage {
	return &writeBehindStorage{t: t, backing: sqlitevfs.NewMemoryBlockStore()}
}

const writeBehindBlock = 4096

func (s *writeBehindStorage) Resolve(req OpenRequest) (Location, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.vfs == nil {
		m, err := sqlitevfs.LoadMirror(s.backing, writeBehindBlock, 16)
		if err != nil {
			return Location{}, err
		}
		s.mirror = m
		s.vfs = sqlitevfs.NewBlockVFS(m, sqlitevfs.BlockOptions{BlockSize: writeBehindBlock})
		s.name = fmt.Sprintf("write-behind-%d", writeBehindSeq.Add(1))
		vfs.Register(s.name, s.vfs)
	}
	s.opens++
	m, v := s.mirror, s.vfs
	flush := func() error {
		pending := m.Pending()
		err := m.Flush()
		if pending {
			s.flushes.Add(1)
		}
		if err != nil {
			s.failed.Add(1)
		}
		return err
	}
	return Location{
		URI:        "file:/" + req.Name + ".db?vfs=" + s.name,
		Backend:    StorageIDB,
		Persistent: true,
		NewLayout:  Layout{PageSize: 4096},
		Pragmas:    []string{"PRAGMA locking_mode = EXCLUSIVE", "PRAGMA temp_store = MEMORY"},
		Flush:      flush,
		Recover: func() error {
			m.Revert()
			return v.Forget()
		},
		Release: func() error {
			err := flush()
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.opens--; s.opens == 0 {
				vfs.Unregister(s.name)
				s.vfs, s.mirror = nil, nil
			}
			return err
		},
	}, nil
}

// stored counts the rows of table in database name as the backing store
// holds them: what a crash now would leave.
func (s *writeBehindStorage) stored(name, table string) string {
	s.t.Helper()
	crashed := s.backing.Crash()
	m, err := sqlitevfs.LoadMirror(crashed, writeBehindBlock, 16)
	if err != nil {
		s.t.Fatal(err)
	}
	vname := fmt.Sprintf("write-behind-crash-%d", writeBehindSeq.Add(1))
	vfs.Register(vname, sqlitevfs.NewBlockVFS(m, sqlitevfs.BlockOptions{BlockSize: writeBehindBlock}))
	defer vfs.Unregister(vname)
	c, err := sqlite3.Open("file:/" + name + ".db?vfs=" + vname)
	if err != nil {
		s.t.Fatal(err)
	}
	defer c.Close()
	st, _, err := c.Prepare("SELECT count(*) FROM " + table)
	if err != nil {
		return "no table"
	}
	defer st.Close()
	st.Step()
	return st.ColumnText(0)
}

// Every reply that reports a write comes after the write reached the
// backing store, whichever way the write ran: alone, in a group commit,
// in an app's transaction, or as DDL.
func TestRepliesWaitForWriteBehindStorage(t *testing.T) {
	s := newWriteBehindStorage(t)
	p := newPageOn(t, s)
	db := p.call("open", map[string]any{"name": "wb", "storage": "idb"})["db"].(int64)
	p.call("exec", map[string]any{"db": db, "sql": "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"})
	if got := s.stored("wb", "t"); got != "0" {
		t.Fatalf("after CREATE TABLE's reply the store has %s rows", got)
	}
	p.call("exec", map[string]any{"db": db, "sql": "INSERT INTO t(v) VALUES ('one')"})
	if got := s.stored("wb", "t"); got != "1" {
		t.Fatalf("after an insert's reply the store has %s rows, want 1", got)
	}
	p.call("batch", map[string]any{"db": db, "statements": []any{
		map[string]any{"sql": "INSERT INTO t(v) VALUES ('two')"},
		map[string]any{"sql": "INSERT INTO t(v) VALUES ('three')"},
	}})
	if got := s.stored("wb", "t"); got != "3" {
		t.Fatalf("after a batch's reply the store has %s rows, want 3", got)
	}
	tx := p.call("begin", map[string]any{"db": db})["tx"].(int64)
	p.call("exec", map[string]any{"db": db, "tx": tx, "sql": "INSERT INTO t(v) VALUES ('four')"})
	if got := s.stored("wb", "t"); got != "3" {
		t.Fatalf("inside a transaction the store has %s rows, want 3: nothing is flushed before COMMIT", got)
	}
	p.call("commit", map[string]any{"db": db, "tx": tx})
	if got := s.stored("wb", "t"); got != "4" {
		t.Fatalf("after a commit's reply the store has %s rows, want 4", got)
	}
	if n := s.flushes.Load(); n < 4 {
		t.Errorf("%d flushes for four writes", n)
	}
	p.call("close", map[string]any{"db": db})
}

// A commit the storage loses (its quota refuses the flush) fails its
// write with STORAGE_QUOTA, as a failed COMMIT would: the live query goes
// back to the last durable state, and the database takes the next writes.
func TestALostCommitFailsItsWriteAndTheDatabaseGoesOn(t *testing.T) {
	s := newWriteBehindStorage(t)
	p := newPageOn(t, s)
	db := p.call("open", map[string]any{"name": "lost", "storage": "idb"})["db"].(int64)
	p.call("exec", map[string]any{"db": db, "sql": "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)"})
	p.call("exec", map[string]any{"db": db, "sql": "INSERT INTO t(v) VALUES (randomblob(100))"})
	sub := p.call("watch", map[string]any{"db": db, "sql": "SELECT count(*) AS n FROM t"})["sub"].(int64)

	s.backing.SetQuota(s.backing.Used() + 16<<10)
	p.fail("exec", map[string]any{"db": db, "sql": "INSERT INTO t(v) SELECT randomblob(50000) FROM generate_series(1, 4)"}, "STORAGE_QUOTA")
	if s.failed.Load() == 0 {
		t.Fatal("the insert failed, but not at a flush")
	}
	p.waitUntil("the live query to show the durable count again", func() bool {
		push := p.latest(sub)
		return push != nil && strings.Contains(fmt.Sprint(push), "[1]")
	})
	rows := p.call("query", map[string]any{"db": db, "sql": "SELECT count(*) FROM t"})["rows"]
	if fmt.Sprint(rows) != "[[1]]" {
		t.Fatalf("after the lost commit: %v rows, want 1", rows)
	}
	ok := p.call("query", map[string]any{"db": db, "sql": "PRAGMA integrity_check"})["rows"]
	if fmt.Sprint(ok) != "[[ok]]" {
		t.Fatalf("integrity_check: %v", ok)
	}
	p.call("exec", map[string]any{"db": db, "sql": "INSERT INTO t(v) VALUES (randomblob(10))"})
	if got := s.stored("lost", "t"); got != "2" {
		t.Fatalf("after the next write the store has %s rows, want 2", got)
	}
	p.call("close", map[string]any{"db": db})
}

// A sync turn whose commit the storage loses fails; the client reads its
// state from the database again and, once the storage takes writes, pulls
// what it lost: the other device's rows all arrive, and stay after a crash.
func TestALostSyncTurnIsPulledAgain(t *testing.T) {
	url := syncServer(t)
	s := newWriteBehindStorage(t)
	a, b := newPageOn(t, s), newPage(t)
	run := hopRuns.Add(1)
	open := func(p *page, name, storage string) int64 {
		return p.call("open", map[string]any{"name": name, "storage": storage,
			"migrations": []any{map[string]any{"version": int64(1), "sql": syncTestMigration}},
			"sync":       map[string]any{"url": url, "tables": []any{"tasks"}},
		})["db"].(int64)
	}
	dbA := open(a, fmt.Sprintf("lost-sync-a-%d", run), "idb")
	dbB := open(b, fmt.Sprintf("lost-sync-b-%d", run), "memory")
	status := a.call("watch", map[string]any{"db": dbA, "sync": true})["sub"].(int64)
	synced := func() bool {
		st := a.latest(status)
		return st != nil && st["status"].(map[string]any)["connected"] == true && st["status"].(map[string]any)["pending"] == int64(0)
	}
	a.waitUntil("A to connect", synced)

	s.backing.SetQuota(s.backing.Used())
	var values []string
	for i := range 40 {
		values = append(values, fmt.Sprintf("('t%02d', '%s')", i, strings.Repeat("x", 400)))
	}
	b.call("exec", map[string]any{"db": dbB, "sql": "INSERT INTO tasks(id, title) VALUES " + strings.Join(values, ", ")})
	a.waitUntil("a pull to be lost at a flush", func() bool { return s.failed.Load() > 0 })
	s.backing.SetQuota(0)

	watch := a.call("watch", map[string]any{"db": dbA, "sql": "SELECT count(*) AS n FROM tasks"})["sub"].(int64)
	a.waitUntil("A to pull every row again", func() bool {
		push := a.latest(watch)
		return push != nil && strings.Contains(fmt.Sprint(push), "[40]")
	})
	a.waitUntil("A's status to show it connected again", synced)
	name := fmt.Sprintf("lost-sync-a-%d", run)
	a.call("close", map[string]any{"db": dbA})
	b.call("close", map[string]any{"db": dbB})
	if got := s.stored(name, "tasks"); got != "40" {
		t.Fatalf("the store holds %s tasks, want 40", got)
	}
}
