package sqlitevfs

import (
	"errors"
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
	modes := map[string][]string{
		"wal":      {"PRAGMA locking_mode=exclusive", "PRAGMA journal_mode=wal", "PRAGMA synchronous=full"},
		"truncate": {"PRAGMA locking_mode=exclusive", "PRAGMA journal_mode=truncate"},
	}
	for name, pragmas := range modes {
		for _, coalesce := range []int{0, 64 << 10} {
			t.Run(name+"/coalesce="+strconv.Itoa(coalesce), func(t *testing.T) {
				s := newFileTestStore()
				s.coalesce = coalesce
				s.headroom = 256 << 10
				c := open(t, s.newVFS(t), append([]string{"PRAGMA auto_vacuum=incremental"}, pragmas...)...)
				mustExec(t, c, createTable)
				if !s.vfs.HeadroomHeld() {
					t.Fatal("no reserve after the first open")
				}
				if got := s.size(HeadroomFile); got != s.headroom {
					t.Fatalf("reserve file is %d bytes, want %d", got, s.headroom)
				}
				s.setQuota(s.used() + 1<<20)
				for round := 1; round <= 3; round++ {
					n := fillUntilFull(t, c)
					// Not spent by the VFS itself (a checkpoint's quota
					// error would hand it to the next inserts).
					if !s.vfs.HeadroomHeld() {
						t.Fatalf("round %d: the VFS spent the reserve on its own", round)
					}
					s.vfs.SpendHeadroom() // as the engine does on STORAGE_QUOTA
					if s.vfs.HeadroomHeld() || s.size(HeadroomFile) != -1 {
						t.Fatalf("round %d: the reserve is still held after SpendHeadroom", round)
					}
					// The app frees space: it deletes, and writes a little.
					mustExec(t, c, "DELETE FROM t WHERE c = 'big'")
					mustExec(t, c, "INSERT INTO t(b, c) VALUES (randomblob(100), 'small')")
					if err := s.vfs.Reclaim(c); err != nil {
						t.Fatalf("round %d (%d rows filled it): %v", round, n, err)
					}
					if !s.vfs.HeadroomHeld() {
						t.Fatalf("round %d: the reserve did not come back", round)
					}
					mustBeIntact(t, c)
					if got := queryOne(t, c, "SELECT count(*) FROM t WHERE c = 'small'"); got != strconv.Itoa(round) {
						t.Fatalf("round %d: %s small rows", round, got)
					}
				}
				// A held reserve makes Reclaim free.
				before := s.calls()
				if err := s.vfs.Reclaim(c); err != nil || s.calls() != before {
					t.Fatalf("Reclaim with the reserve held: err %v, %d store calls", err, s.calls()-before)
				}
			})
		}
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
