package sqlitevfs

import (
	"errors"
	"slices"
	"strconv"
	"testing"

	"github.com/ncruces/go-sqlite3"
)

// At the quota, a FileVFS with headroom still deletes: the runtime spends
// the reserve when the app's write fails, the app's deletes run in it, and
// Reclaim takes it back once they have given space back, so the next time
// the store fills up deleting works again. Without headroom the same
// delete fails (TestQuotaGivesFull).
func TestHeadroomLetsDeletesRunAtTheQuota(t *testing.T) {
	wal := []string{"PRAGMA locking_mode=exclusive", "PRAGMA journal_mode=wal", "PRAGMA synchronous=full"}
	truncate := []string{"PRAGMA locking_mode=exclusive", "PRAGMA journal_mode=truncate"}
	exclusive := []string{"PRAGMA locking_mode=exclusive"} // the browser's IndexedDB databases
	const reserve = 256 << 10
	cases := []struct {
		name    string
		store   func() (testStore, headroomVFS)
		pragmas []string
	}{
		{"FileVFS/wal", newFileHeadroomStore(0, reserve), wal},
		{"FileVFS/wal/coalesced", newFileHeadroomStore(64<<10, reserve), wal},
		{"FileVFS/truncate", newFileHeadroomStore(0, reserve), truncate},
		{"FileVFS/truncate/coalesced", newFileHeadroomStore(64<<10, reserve), truncate},
		{"BlockVFS/delete", newBlockHeadroomStore(reserve), exclusive},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, v := tc.store()
			c := open(t, s.newVFS(t), append([]string{"PRAGMA auto_vacuum=incremental"}, tc.pragmas...)...)
			mustExec(t, c, createTable)
			if !v().HeadroomHeld() {
				t.Fatal("no reserve after the first open")
			}
			s.setQuota(s.used() + 1<<20)
			for round := 1; round <= 3; round++ {
				n := fillUntilFull(t, c)
				// Not spent by the VFS itself (a checkpoint's quota error
				// would hand it to the next inserts).
				if !v().HeadroomHeld() {
					t.Fatalf("round %d: the VFS spent the reserve on its own", round)
				}
				v().SpendHeadroom() // as the engine does on STORAGE_QUOTA
				if v().HeadroomHeld() || slices.Contains(s.files(), HeadroomFile) {
					t.Fatalf("round %d: the reserve is still held after SpendHeadroom", round)
				}
				if round == 1 {
					// Until the app has freed a reserve's worth, the
					// reserve stays spent, and the tries space out: the
					// third call passes (no store call at all).
					for i, want := range []bool{true, true, false} {
						before := s.calls()
						err := v().Reclaim(c)
						if (err != nil) != want || v().HeadroomHeld() || (!want && s.calls() != before) {
							t.Fatalf("Reclaim %d before any delete: err %v, held %v, %d store calls", i+1, err, v().HeadroomHeld(), s.calls()-before)
						}
					}
				}
				// The app frees space: it deletes, and writes a little.
				mustExec(t, c, "DELETE FROM t WHERE c = 'big'")
				mustExec(t, c, "INSERT INTO t(b, c) VALUES (randomblob(100), 'small')")
				if err := v().Reclaim(c); err != nil {
					t.Fatalf("round %d (%d rows filled it): %v", round, n, err)
				}
				if !v().HeadroomHeld() || !slices.Contains(s.files(), HeadroomFile) {
					t.Fatalf("round %d: the reserve did not come back", round)
				}
				mustBeIntact(t, c)
				if got := queryOne(t, c, "SELECT count(*) FROM t WHERE c = 'small'"); got != strconv.Itoa(round) {
					t.Fatalf("round %d: %s small rows", round, got)
				}
			}
			// A held reserve makes Reclaim free, and a new session finds
			// it in place without writing it again.
			before := s.calls()
			if err := v().Reclaim(c); err != nil || s.calls() != before {
				t.Fatalf("Reclaim with the reserve held: err %v, %d store calls", err, s.calls()-before)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			used := s.used()
			c = open(t, s.newVFS(t), tc.pragmas...)
			queryOne(t, c, "SELECT count(*) FROM t")
			if !v().HeadroomHeld() || s.used() != used {
				t.Fatalf("reopened: reserve held %v, store grew by %d bytes", v().HeadroomHeld(), s.used()-used)
			}
		})
	}
}

// reserveHolder is what the engine uses of either VFS's reserve.
type reserveHolder interface {
	SpendHeadroom()
	HeadroomHeld() bool
	Reclaim(*sqlite3.Conn) error
}

// headroomVFS returns the store's current VFS (each session makes a new one).
type headroomVFS func() reserveHolder

func newFileHeadroomStore(coalesce int, reserve int64) func() (testStore, headroomVFS) {
	return func() (testStore, headroomVFS) {
		s := newFileTestStore()
		s.coalesce, s.headroom = coalesce, reserve
		return s, func() reserveHolder { return s.vfs }
	}
}

func newBlockHeadroomStore(reserve int64) func() (testStore, headroomVFS) {
	return func() (testStore, headroomVFS) {
		s := newBlockTestStore(BlockOptions{})
		s.headroom = reserve
		return s, func() reserveHolder { return s.vfs }
	}
}

// fillUntilFull inserts 8 KB rows until SQLITE_FULL and returns how many fit.
func fillUntilFull(t *testing.T, c *sqlite3.Conn) int {
	t.Helper()
	for n := 0; n < 1000; n++ {
		if err := c.Exec("INSERT INTO t(b, c) VALUES (randomblob(8000), 'big')"); err != nil {
			if !errors.Is(err, sqlite3.FULL) {
				t.Fatalf("after %d inserts: %v, want SQLITE_FULL", n, err)
			}
			if n == 0 {
				t.Fatal("no room for a single insert")
			}
			return n
		}
	}
	t.Fatal("1000 inserts did not fill the quota")
	return 0
}

// Where deleted rows give no space back to the quota (WebKit's IndexedDB,
// modelled by SetKeepFreedSpace), the app's deletes shrink the database's
// files but not the store's usage. The reserve then comes back only when
// the store has room for it and a reserve's worth besides: had it come
// back with less, the room it left would be the app's next few writes.
func TestHeadroomComesBackOnlyWithRoomBesideIt(t *testing.T) {
	const reserve = 256 << 10
	s := newBlockTestStore(BlockOptions{})
	s.headroom = reserve
	s.store.SetKeepFreedSpace(true)
	c := open(t, s.newVFS(t), "PRAGMA auto_vacuum=incremental", "PRAGMA locking_mode=exclusive")
	mustExec(t, c, createTable)
	s.setQuota(s.used() + 1<<20)
	fillUntilFull(t, c)
	s.vfs.SpendHeadroom()
	mustExec(t, c, "DELETE FROM t WHERE c = 'big'")

	// reclaim calls Reclaim until a call reaches the store (failed tries
	// space out) and reports its error.
	reclaim := func() error {
		t.Helper()
		for range 2 * maxReclaimGap {
			before := s.calls()
			err := s.vfs.Reclaim(c)
			if s.calls() != before {
				return err
			}
		}
		t.Fatal("Reclaim never reached the store")
		return nil
	}
	// Room for one and a half reserves (the user freed some elsewhere):
	// the reserve would fit, but not with a reserve's worth beside it.
	s.setQuota(s.used() + reserve*3/2)
	if err := reclaim(); !errors.Is(err, ErrQuota) || s.vfs.HeadroomHeld() {
		t.Fatalf("Reclaim with room for 1.5 reserves: err %v, held %v; want ErrQuota, not held", err, s.vfs.HeadroomHeld())
	}
	if files := s.files(); slices.Contains(files, HeadroomFile) || slices.Contains(files, ProbeFile) {
		t.Fatalf("files after a failed reclaim: %v", files)
	}
	// That room is the app's: writes of most of it go through.
	for i := range 10 {
		if err := c.Exec("INSERT INTO t(b, c) VALUES (randomblob(100), 'small')"); err != nil {
			t.Fatalf("small write %d after the failed reclaim: %v", i, err)
		}
	}
	// With room for two reserves besides what the app wrote, it comes back.
	s.setQuota(s.used() + 2*reserve + reserve/4)
	if err := reclaim(); err != nil || !s.vfs.HeadroomHeld() {
		t.Fatalf("Reclaim with room for 2 reserves: err %v, held %v", err, s.vfs.HeadroomHeld())
	}
	if files := s.files(); !slices.Contains(files, HeadroomFile) || slices.Contains(files, ProbeFile) {
		t.Fatalf("files after the reclaim: %v", files)
	}
	mustBeIntact(t, c)
}

// With HeadroomLater the open writes nothing for the reserve;
// EnsureHeadroom writes it once a main database is open, and only once.
func TestHeadroomLater(t *testing.T) {
	s := newBlockTestStore(BlockOptions{})
	s.headroom = 64 << 10
	s.vfs = NewBlockVFS(s.store, s.opts)
	s.vfs.HeadroomBytes, s.vfs.HeadroomLater = s.headroom, true
	s.vfs.EnsureHeadroom() // no database open yet: nothing to reserve for
	if s.vfs.HeadroomHeld() || len(s.files()) != 0 {
		t.Fatalf("before any open: held %v, files %v", s.vfs.HeadroomHeld(), s.files())
	}
	c := open(t, register(t, s.vfs), "PRAGMA locking_mode=exclusive")
	mustExec(t, c, createTable)
	if s.vfs.HeadroomHeld() || slices.Contains(s.files(), HeadroomFile) {
		t.Fatal("the open wrote the reserve")
	}
	s.vfs.EnsureHeadroom()
	if !s.vfs.HeadroomHeld() || !slices.Contains(s.files(), HeadroomFile) {
		t.Fatal("EnsureHeadroom wrote no reserve")
	}
	before := s.calls()
	s.vfs.EnsureHeadroom()
	if s.calls() != before {
		t.Fatalf("a second EnsureHeadroom made %d store calls", s.calls()-before)
	}
}
