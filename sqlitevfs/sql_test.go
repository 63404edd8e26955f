package sqlitevfs

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/ncruces/go-sqlite3"
)

const createTable = `
	CREATE TABLE t(a INTEGER PRIMARY KEY, b BLOB, c TEXT);
	CREATE INDEX t_c ON t(c);`

// fill inserts n rows with blobs of varying size in one transaction.
func fill(tb testing.TB, c *sqlite3.Conn, n int) {
	tb.Helper()
	mustExec(tb, c, `
		BEGIN;
		WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM s WHERE i < `+strconv.Itoa(n)+`)
		INSERT INTO t(b, c) SELECT randomblob(50 + i % 300), printf('k%05d', i) FROM s;
		COMMIT;`)
}

func TestRoundTrip(t *testing.T) {
	for _, b := range backends {
		for _, mode := range journalModes {
			t.Run(b.name+"/"+mode.name, func(t *testing.T) {
				s := b.new()
				c := b.open(t, s.newVFS(t), mode.pragmas...)
				if mode.name == "wal" {
					if got := queryOne(t, c, "PRAGMA journal_mode"); got != "wal" {
						t.Fatalf("journal_mode = %q, want wal", got)
					}
				}
				mustExec(t, c, createTable)
				fill(t, c, 1000)
				mustExec(t, c, "UPDATE t SET c = 'x' || a WHERE a % 10 = 0")
				mustExec(t, c, "DELETE FROM t WHERE a % 7 = 0")
				want := mustDigest(t, c)
				wantIndexed := queryOne(t, c, "SELECT count(*) FROM t WHERE c >= 'x5'")
				mustBeIntact(t, c)
				if err := c.Close(); err != nil {
					t.Fatal(err)
				}

				// A new session over the same store sees everything.
				c = b.open(t, s.newVFS(t), mode.pragmas...)
				if got := mustDigest(t, c); got != want {
					t.Errorf("after reopen digest = %s, want %s", got, want)
				}
				if got := queryOne(t, c, "SELECT count(*) FROM t WHERE c >= 'x5'"); got != wantIndexed {
					t.Errorf("indexed count = %s, want %s", got, wantIndexed)
				}
				mustBeIntact(t, c)
				if err := c.Close(); err != nil {
					t.Fatal(err)
				}

				// A kept (truncate, persist) journal may exist; with
				// batch-atomic commits the BlockVFS may never have made one.
				got := s.files()
				ok := slices.Equal(got, []string{"test.db"})
				if mode.name == "truncate" || mode.name == "persist" {
					ok = ok || slices.Equal(got, []string{"test.db", "test.db-journal"})
				}
				if !ok {
					t.Errorf("store files = %q", got)
				}
			})
		}
	}
}

// Without shared memory SQLite refuses WAL unless the connection holds the
// database exclusively.
func TestWALNeedsExclusiveLocking(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			c := b.open(t, b.new().newVFS(t))
			mustExec(t, c, "CREATE TABLE t(a)")
			if got := queryOne(t, c, "PRAGMA journal_mode=wal"); got != "delete" {
				t.Errorf("journal_mode=wal in normal locking mode gave %q, want delete", got)
			}
			mustExec(t, c, "PRAGMA locking_mode=exclusive")
			if got := queryOne(t, c, "PRAGMA journal_mode=wal"); got != "wal" {
				t.Errorf("journal_mode=wal in exclusive locking mode gave %q, want wal", got)
			}
		})
	}
}

func TestDefaultPageSize(t *testing.T) {
	tests := []struct {
		name  string
		store testStore
		want  string
	}{
		{"BlockVFS-8K", newBlockTestStore(BlockOptions{}), "8192"},
		{"BlockVFS-4K", newBlockTestStore(BlockOptions{BlockSize: 4096}), "4096"},
		{"BlockVFS-64K", newBlockTestStore(BlockOptions{BlockSize: 65536}), "8192"},
		{"FileVFS", newFileTestStore(), "4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := open(t, tt.store.newVFS(t), "CREATE TABLE t(a)")
			if got := queryOne(t, c, "PRAGMA page_size"); got != tt.want {
				t.Errorf("page_size = %s, want %s", got, tt.want)
			}
		})
	}
}

// Every commit that returned OK survives a crash right after it.
func TestCommitsAreDurable(t *testing.T) {
	for _, b := range backends {
		for _, mode := range journalModes {
			t.Run(b.name+"/"+mode.name, func(t *testing.T) {
				s := b.new()
				c := b.open(t, s.newVFS(t), mode.pragmas...)
				mustExec(t, c, createTable)
				fill(t, c, 100)
				for i := range 5 {
					mustExec(t, c, "INSERT INTO t(b, c) VALUES (randomblob(100), 'new"+strconv.Itoa(i)+"')")
				}
				want := mustDigest(t, c)

				crashed := s.crash()
				c2 := b.open(t, crashed.newVFS(t), mode.pragmas...)
				if got := mustDigest(t, c2); got != want {
					t.Errorf("after crash digest = %s, want %s", got, want)
				}
				mustBeIntact(t, c2)
			})
		}
	}
}

// A crash in the middle of a transaction leaves the last committed state,
// however much of the transaction had reached the VFS.
func TestCrashMidTransaction(t *testing.T) {
	type variant struct {
		name    string
		store   func() testStore
		pragmas []string
	}
	var variants []variant
	for _, b := range backends {
		for _, mode := range journalModes {
			variants = append(variants, variant{b.name + "/" + mode.name, b.new, append(slices.Clone(b.pragmas), mode.pragmas...)})
		}
	}
	// Unsynced blocks committed early must not break crash safety either.
	variants = append(variants, variant{
		name:  "BlockVFS-earlyflush/delete",
		store: func() testStore { return newBlockTestStore(BlockOptions{MaxDirty: 1}) },
	})

	for _, v := range variants {
		for _, spill := range []bool{false, true} {
			name := v.name + "/small"
			if spill {
				name = v.name + "/spill"
			}
			t.Run(name, func(t *testing.T) {
				s := v.store()
				c := open(t, s.newVFS(t), v.pragmas...)
				mustExec(t, c, createTable)
				fill(t, c, 200)
				want := mustDigest(t, c)

				if spill {
					// A page cache this small forces SQLite to write
					// pages before commit, so the journal is used.
					mustExec(t, c, "PRAGMA cache_size=5")
					mustExec(t, c, "BEGIN; INSERT INTO t(b, c) SELECT randomblob(1000), 'more' FROM t; UPDATE t SET b = randomblob(10) WHERE a % 2 = 0")
				} else {
					mustExec(t, c, "BEGIN; INSERT INTO t(b, c) VALUES (randomblob(10), 'one'); DELETE FROM t WHERE a < 20")
				}

				crashed := s.crash()
				c2 := open(t, crashed.newVFS(t), v.pragmas...)
				if got := mustDigest(t, c2); got != want {
					t.Errorf("after crash digest = %s, want %s", got, want)
				}
				mustBeIntact(t, c2)
				// And the recovered database takes writes.
				mustExec(t, c2, "INSERT INTO t(b, c) VALUES (x'00', 'after')")
				mustBeIntact(t, c2)
			})
		}
	}
}

// Filling storage to its quota gives SQLITE_FULL; the failed transaction rolls
// back and the database stays intact and writable once space is freed.
func TestQuotaGivesFull(t *testing.T) {
	for _, b := range backends {
		for _, mode := range journalModes {
			if mode.name == "truncate" || mode.name == "persist" {
				continue
			}
			t.Run(b.name+"/"+mode.name, func(t *testing.T) {
				s := b.new()
				c := b.open(t, s.newVFS(t), mode.pragmas...)
				mustExec(t, c, createTable)
				fill(t, c, 50)
				s.setQuota(s.used() + 300<<10)

				var err error
				inserted := 0
				for ; inserted < 1000; inserted++ {
					if err = c.Exec("INSERT INTO t(b, c) VALUES (randomblob(8000), 'big')"); err != nil {
						break
					}
				}
				if !errors.Is(err, sqlite3.FULL) {
					t.Fatalf("after %d inserts: err = %v, want SQLITE_FULL", inserted, err)
				}
				if inserted == 0 {
					t.Fatal("quota left no room for a single insert")
				}
				if !c.GetAutocommit() {
					t.Error("the failed transaction is still open")
				}

				// Everything committed is there and readable.
				mustBeIntact(t, c)
				if got := queryOne(t, c, "SELECT count(*) FROM t WHERE c = 'big'"); got != strconv.Itoa(inserted) {
					t.Errorf("%s big rows survived, want %d", got, inserted)
				}
				queryOne(t, c, "SELECT sum(length(b)) FROM t")

				// Deleting frees space. The BlockVFS's batch-atomic commit
				// needs no journal, so it can delete at the quota; with a
				// rollback journal or WAL, SQLite needs scratch space even
				// to delete, and the application must first free space
				// elsewhere (here: lift the quota).
				const del = "DELETE FROM t WHERE a IN (SELECT a FROM t WHERE c = 'big' LIMIT 3)"
				err = c.Exec(del)
				_, isBlock := s.(*blockTestStore)
				if errors.Is(err, sqlite3.FULL) && !(isBlock && mode.name == "delete" && b.pragmas == nil) {
					t.Logf("deleting at the quota: %v; lifting the quota", err)
					mustBeIntact(t, c)
					s.setQuota(0)
					err = c.Exec(del)
				}
				if err != nil {
					t.Fatalf("%s: %v", del, err)
				}
				if mode.name == "wal" {
					mustExec(t, c, "PRAGMA wal_checkpoint(TRUNCATE)")
				}
				mustExec(t, c, "INSERT INTO t(b, c) VALUES (randomblob(100), 'small')")
				mustBeIntact(t, c)
				want := mustDigest(t, c)

				crashed := s.crash()
				if err := c.Close(); err != nil {
					t.Fatal(err)
				}
				for _, s := range []testStore{s, crashed} {
					c := b.open(t, s.newVFS(t), mode.pragmas...)
					if got := mustDigest(t, c); got != want {
						t.Errorf("reopened digest = %s, want %s", got, want)
					}
					mustBeIntact(t, c)
				}
			})
		}
	}
}

func TestCorruptFile(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name+"/random", func(t *testing.T) {
			s := b.new()
			junk := make([]byte, 64<<10)
			rand.NewChaCha8([32]byte{1}).Read(junk)
			s.put(t, "test.db", junk)

			var err error
			withTimeout(t, "query", func() {
				var c *sqlite3.Conn
				if c, err = sqlite3.Open(dbURI(s.newVFS(t))); err == nil {
					defer c.Close()
					_, err = query(c, "SELECT count(*) FROM sqlite_schema")
				}
			})
			if !errors.Is(err, sqlite3.NOTADB) {
				t.Errorf("err = %v, want SQLITE_NOTADB", err)
			}
		})

		t.Run(b.name+"/damaged", func(t *testing.T) {
			s := b.new()
			c := b.open(t, s.newVFS(t))
			mustExec(t, c, createTable)
			fill(t, c, 500)
			c.Close()

			// Keep the header page, scramble the rest.
			data := s.get(t, "test.db")
			rand.NewChaCha8([32]byte{2}).Read(data[65536:])
			s.put(t, "test.db", data)

			var err error
			var check string
			withTimeout(t, "query", func() {
				var c *sqlite3.Conn
				if c, err = sqlite3.Open(dbURI(s.newVFS(t))); err != nil {
					return
				}
				defer c.Close()
				if _, err = query(c, "SELECT sum(length(b)) FROM t"); err != nil {
					return
				}
				check, err = integrityCheck(c)
			})
			switch {
			case errors.Is(err, sqlite3.CORRUPT), errors.Is(err, sqlite3.NOTADB):
			case err == nil && check != "ok":
			default:
				t.Errorf("err = %v, integrity_check = %q; want SQLITE_CORRUPT or a failed check", err, check)
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	errBroken := errors.New("storage broken")
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.new()
			c := b.open(t, s.newVFS(t))
			mustExec(t, c, createTable)
			fill(t, c, 3000) // bigger than one read-ahead
			want := mustDigest(t, c)
			c.Close()

			// A new session, so little is cached.
			c = b.open(t, s.newVFS(t))
			failReads := true
			s.setFault(func(_ int64, op string) error {
				if failReads && (op == "ReadBlocks" || op == "ReadAt") {
					return errBroken
				}
				return nil
			})
			_, err := digest(c)
			var code sqlite3.ExtendedErrorCode
			if !errors.As(err, &code) || code != sqlite3.IOERR_READ {
				t.Errorf("err = %v (%v), want SQLITE_IOERR_READ", err, code)
			}

			// Nothing was poisoned: once the store works, so does the database.
			failReads = false
			if got := mustDigest(t, c); got != want {
				t.Errorf("digest = %s, want %s", got, want)
			}
			mustBeIntact(t, c)
		})
	}
}

func TestTempFiles(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.new()
			c := b.open(t, s.newVFS(t), "PRAGMA temp_store=file", "PRAGMA cache_size=10")
			mustExec(t, c, createTable)
			fill(t, c, 200)
			mustExec(t, c, `
				CREATE TEMP TABLE tt AS
				WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM s WHERE i < 3000)
				SELECT i, randomblob(200) AS r FROM s`)
			// A sort too big for the cache spills to temporary files.
			if got := queryOne(t, c, "SELECT count(*) FROM (SELECT * FROM tt ORDER BY r)"); got != "3000" {
				t.Errorf("sorted %s rows, want 3000", got)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if got := s.files(); !slices.Equal(got, []string{"test.db"}) {
				t.Errorf("store files after close = %q, want only test.db", got)
			}
		})
	}
}

func TestRemoveTempFiles(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.new()
			s.put(t, TempFilePrefix+"left-over", []byte("junk"))
			s.put(t, "keep.db", []byte("data"))
			s.newVFS(t)
			var err error
			switch s := s.(type) {
			case *blockTestStore:
				err = s.vfs.RemoveTempFiles()
			case *fileTestStore:
				err = s.vfs.RemoveTempFiles()
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.files(); !slices.Equal(got, []string{"keep.db"}) {
				t.Errorf("files = %q, want only keep.db", got)
			}
		})
	}
}

// Two connections in one process share the VFS's lock state and see each
// other's commits.
func TestTwoConnections(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			name := b.new().newVFS(t)
			c1 := b.open(t, name)
			c2 := b.open(t, name)
			mustExec(t, c1, createTable)
			fill(t, c1, 10)

			mustExec(t, c1, "BEGIN IMMEDIATE")
			if err := c2.Exec("BEGIN IMMEDIATE"); !errors.Is(err, sqlite3.BUSY) {
				t.Fatalf("second writer: err = %v, want SQLITE_BUSY", err)
			}
			// Readers proceed while a writer holds RESERVED.
			mustExec(t, c2, "BEGIN")
			if got := queryOne(t, c2, "SELECT count(*) FROM t"); got != "10" {
				t.Fatalf("reader sees %s rows, want 10", got)
			}
			mustExec(t, c1, "INSERT INTO t(b, c) VALUES (x'01', 'c1')")
			// The writer cannot commit under an active reader...
			if err := c1.Exec("COMMIT"); !errors.Is(err, sqlite3.BUSY) {
				t.Fatalf("commit under a reader: err = %v, want SQLITE_BUSY", err)
			}
			// ...and its PENDING lock keeps new readers out.
			c3 := b.open(t, name)
			if _, err := query(c3, "SELECT count(*) FROM t"); !errors.Is(err, sqlite3.BUSY) {
				t.Fatalf("new reader under PENDING: err = %v, want SQLITE_BUSY", err)
			}
			mustExec(t, c2, "COMMIT")
			mustExec(t, c1, "COMMIT")

			for _, c := range []*sqlite3.Conn{c2, c3} {
				if got := queryOne(t, c, "SELECT count(*) FROM t"); got != "11" {
					t.Errorf("after commit a reader sees %s rows, want 11", got)
				}
			}
			mustBeIntact(t, c2)
		})
	}
}
