package sqlitevfs

import (
	"slices"
	"testing"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

// The ways the browser opens OPFS databases (wasm/storage.go): WAL with
// exclusive locking, or a TRUNCATE journal for encrypted databases; each
// with the companion files Prepare readies for it. A new database in WAL
// mode needs its -journal too: SQLite writes the switch to WAL through a
// rollback journal.
var preparedModes = []struct {
	name       string
	companions []string
	pragmas    []string
}{
	{"wal", []string{"/test.db-wal", "/test.db-journal"}, []string{"PRAGMA locking_mode = EXCLUSIVE", "PRAGMA page_size = 4096",
		"PRAGMA auto_vacuum = 2", "PRAGMA journal_mode = WAL", "PRAGMA temp_store = MEMORY"}},
	{"truncate", []string{"/test.db-journal"}, []string{"PRAGMA locking_mode = EXCLUSIVE", "PRAGMA page_size = 4096",
		"PRAGMA auto_vacuum = 2", "PRAGMA journal_mode = TRUNCATE", "PRAGMA temp_store = MEMORY"}},
}

// A prepared database's whole life, from a new file through transactions
// small and larger than the page cache, checkpoints, an incremental vacuum,
// a close that deletes the WAL and a reopen in a new session, makes no
// store call that waits inside SQLite's calls: no open, delete, list or
// existence check besides Prepare's.
func TestPreparedDatabaseNeverWaitsInsideSQLite(t *testing.T) {
	for _, mode := range preparedModes {
		t.Run(mode.name, func(t *testing.T) {
			s := newCoalescedFileTestStore()
			s.headroom = 64 << 10
			waiting := map[string]int{}
			s.setFault(countOps(waiting))

			session := func(work func(c *sqlite3.Conn)) {
				name := s.newVFS(t)
				if err := s.vfs.Prepare("/test.db", mode.companions...); err != nil {
					t.Fatalf("prepare: %v", err)
				}
				before := copyCounts(waiting)
				c := open(t, name, mode.pragmas...)
				work(c)
				if err := c.Close(); err != nil {
					t.Fatalf("close: %v", err)
				}
				for _, op := range []string{"OpenFile", "DeleteFile", "FileExists", "ListFiles"} {
					if n := waiting[op] - before[op]; n != 0 {
						t.Errorf("%d %s calls inside SQLite's calls; want none", n, op)
					}
				}
				if n := s.vfs.StoreWaits(); n != 0 {
					t.Errorf("StoreWaits = %d, want 0", n)
				}
			}

			session(func(c *sqlite3.Conn) {
				mustExec(t, c, createTable)
				fill(t, c, 200)
				mustExec(t, c, "PRAGMA cache_size = 8") // a transaction larger than the cache spills
				fill(t, c, 3000)
				mustExec(t, c, "DELETE FROM t WHERE a % 2 = 0")
				mustExec(t, c, "PRAGMA incremental_vacuum")
				if mode.name == "wal" {
					mustExec(t, c, "PRAGMA wal_checkpoint(TRUNCATE)")
				}
				mustBeIntact(t, c)
			})
			var rows string
			session(func(c *sqlite3.Conn) {
				rows = queryOne(t, c, "SELECT count(*) FROM t")
				mustExec(t, c, "INSERT INTO t(b, c) VALUES (randomblob(100), 'again')")
				mustBeIntact(t, c)
			})
			if rows != "1600" {
				t.Errorf("the second session read %s rows, want 1600", rows)
			}
		})
	}
}

func copyCounts(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, n := range m {
		out[k] = n
	}
	return out
}

// A prepared file that does not exist is absent to SQLite while the store
// holds it empty; a delete empties it again and keeps it, and a new
// session takes an empty file for an absent one.
func TestSparesAreAbsentToSQLite(t *testing.T) {
	s := newFileTestStore()
	s.newVFS(t)
	v := s.vfs
	if err := v.Prepare("/test.db", "/test.db-wal"); err != nil {
		t.Fatal(err)
	}
	if got := s.files(); !slices.Equal(got, []string{"test.db", "test.db-wal"}) {
		t.Fatalf("store files after Prepare: %v", got)
	}
	for _, name := range []string{"/test.db", "/test.db-wal"} {
		if ok, err := v.Access(name, 0); err != nil || ok {
			t.Errorf("Access(%s) = %v, %v; want absent", name, ok, err)
		}
		if _, _, err := v.Open(name, vfs.OPEN_READWRITE); err != sqlite3.CANTOPEN {
			t.Errorf("Open(%s) without create: %v, want CANTOPEN", name, err)
		}
		if err := v.Delete(name, false); err != sqlite3.IOERR_DELETE_NOENT {
			t.Errorf("Delete(%s) of a spare: %v, want IOERR_DELETE_NOENT", name, err)
		}
	}

	f, _, err := v.Open("/test.db-wal", vfs.OPEN_CREATE|vfs.OPEN_READWRITE)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("frames"), 0); err != nil {
		t.Fatal(err)
	}
	if ok, _ := v.Access("/test.db-wal", 0); !ok {
		t.Error("a spare opened with create is not there")
	}
	f.Close()
	if err := v.Delete("/test.db-wal", false); err != nil {
		t.Fatal(err)
	}
	if ok, _ := v.Access("/test.db-wal", 0); ok {
		t.Error("a deleted prepared file is still there")
	}
	if n := v.StoreWaits(); n != 0 {
		t.Errorf("StoreWaits = %d, want 0", n)
	}

	// A file Prepare did not name still works, and is counted.
	if ok, err := v.Access("/other", 0); err != nil || ok {
		t.Errorf("Access of an unlisted file = %v, %v; want absent, known from the listing", ok, err)
	}
	g, _, err := v.Open("/other", vfs.OPEN_CREATE|vfs.OPEN_READWRITE)
	if err != nil {
		t.Fatal(err)
	}
	g.Close()
	if n := v.StoreWaits(); n != 1 {
		t.Errorf("StoreWaits after opening an unprepared file = %d, want 1", n)
	}

	if err := v.ReleaseHandles(); err != nil {
		t.Fatal(err)
	}
	wal, err := s.store.OpenFile("test.db-wal", false)
	if err != nil {
		t.Fatal(err)
	}
	defer wal.Close()
	if size, err := wal.Size(); err != nil || size != 0 {
		t.Errorf("a deleted prepared file holds %d bytes in the store (%v), want 0", size, err)
	}
}
