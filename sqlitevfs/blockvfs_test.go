package sqlitevfs

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

// With batch-atomic writes a transaction is exactly one store Commit: no
// journal, no reads, no existence checks.
func TestBlockVFSOneCommitPerTransaction(t *testing.T) {
	s := newBlockTestStore(BlockOptions{})
	c := open(t, s.newVFS(t))
	mustExec(t, c, createTable)
	fill(t, c, 100)
	mustExec(t, c, "INSERT INTO t(b, c) VALUES (randomblob(100), 'warm-up')")

	s.vfs.ResetStats()
	const n = 20
	for i := range n {
		mustExec(t, c, "INSERT INTO t(b, c) VALUES (randomblob(100), 'row"+strconv.Itoa(i)+"')")
	}
	mustExec(t, c, "BEGIN; UPDATE t SET c = 'upd' WHERE a % 3 = 0; DELETE FROM t WHERE a % 7 = 0; INSERT INTO t(b) VALUES (x'00'); COMMIT")

	st := s.vfs.Stats()
	if st.Commit != n+1 || st.RoundTrips() != n+1 {
		t.Errorf("%d transactions made %d commits and %d round trips (%+v), want %d of each", n+1, st.Commit, st.RoundTrips(), st, n+1)
	}
	if got := s.files(); !slices.Equal(got, []string{"test.db"}) {
		t.Errorf("store files = %q, want no journal", got)
	}
	mustBeIntact(t, c)
}

// Reads are served from the block cache once warm; a cold miss fetches a run
// of blocks in one call.
func TestBlockVFSCachedReads(t *testing.T) {
	s := newBlockTestStore(BlockOptions{})
	c := open(t, s.newVFS(t))
	mustExec(t, c, createTable)
	fill(t, c, 3000)
	c.Close()
	size, _, _ := s.store.FileSize("test.db")
	blocks := blockCount(size, DefaultBlockSize)

	// A new session starts cold. SQLite's own page cache is kept tiny so
	// that nearly every page read reaches the VFS.
	c = open(t, s.newVFS(t), "PRAGMA cache_size=5")
	s.vfs.ResetStats()
	const q = "SELECT count(*), sum(length(b)) FROM t WHERE c BETWEEN 'k01000' AND 'k01499'"
	want := queryOne(t, c, q)
	cold := s.vfs.Stats()
	t.Logf("database of %d blocks; cold 500-row indexed read: %+v", blocks, cold)
	if cold.ReadBlocks == 0 || cold.ReadBlocks > blocks/DefaultReadAhead+2 {
		t.Errorf("cold read made %d ReadBlocks calls for a %d-block file; want read-ahead to batch them", cold.ReadBlocks, blocks)
	}

	s.vfs.ResetStats()
	for range 3 {
		if got := queryOne(t, c, q); got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	}
	mustExec(t, c, "BEGIN; "+q+"; COMMIT")
	if warm := s.vfs.Stats(); warm.RoundTrips() != 0 {
		t.Errorf("warm reads made store calls: %+v", warm)
	}
}

// A failed batch-atomic commit with an I/O error makes SQLite retry the
// transaction through a rollback journal; the transaction still succeeds.
func TestBlockVFSBatchFallback(t *testing.T) {
	for _, opts := range []BlockOptions{{}, {MaxDirty: 1}} {
		t.Run("MaxDirty="+strconv.FormatInt(opts.MaxDirty, 10), func(t *testing.T) {
			s := newBlockTestStore(opts)
			c := open(t, s.newVFS(t))
			mustExec(t, c, createTable)
			fill(t, c, 200)
			s.setFault(failFirstCommit(0))
			s.vfs.ResetStats()
			mustExec(t, c, "UPDATE t SET b = randomblob(length(b) + 5) WHERE a % 2 = 0")
			st := s.vfs.Stats()
			if st.Commit < 3 {
				t.Errorf("fallback made %d commits, want the failed one, the journal's and the database's", st.Commit)
			}
			want := mustDigest(t, c)
			mustBeIntact(t, c)

			c2 := open(t, s.crash().newVFS(t))
			if got := mustDigest(t, c2); got != want {
				t.Errorf("after crash digest = %s, want %s", got, want)
			}
		})
	}
}

// failFirstCommit fails the first Commit transiently, and every call from
// the killAt-th on (0: never).
func failFirstCommit(killAt int64) Fault {
	failed := false
	return func(n int64, op string) error {
		if op == "Commit" && !failed {
			failed = true
			return errors.New("transient failure")
		}
		if killAt > 0 && n >= killAt {
			return errKilled
		}
		return nil
	}
}

// Kill points along the journal fallback path, where SQLite writes database
// pages without syncing the journal first: with early commits the journal
// must still reach the store before the pages it protects.
func TestBlockVFSBatchFallbackKillPoints(t *testing.T) {
	const (
		update = "UPDATE t SET b = randomblob(length(b) + 5) WHERE a % 2 = 0"
		// Appended pages are not journaled: a small journal, many pages.
		appendRows = "INSERT INTO t(b, c) SELECT randomblob(8000), 'big' FROM t LIMIT 10"
	)
	tests := []struct {
		opts BlockOptions
		step string
	}{
		{BlockOptions{}, update},
		{BlockOptions{MaxDirty: 1}, update},
		{BlockOptions{BlockSize: 1024, MaxDirty: 2048}, update},
		{BlockOptions{MaxDirty: 6 * 8192}, appendRows},
	}
	for _, tt := range tests {
		opts, step := tt.opts, tt.step
		t.Run("MaxDirty="+strconv.FormatInt(opts.MaxDirty, 10), func(t *testing.T) {
			base := newBlockTestStore(opts)
			c := open(t, base.newVFS(t), killSetup)
			before := mustDigest(t, c)
			c.Close()

			ref := base.crash()
			start := ref.calls()
			ref.setFault(failFirstCommit(0))
			c = open(t, ref.newVFS(t), step)
			after := mustDigest(t, c)
			calls := ref.calls() - start

			seen := map[string]int{}
			for k := int64(1); k <= calls+1; k++ {
				s := base.crash()
				s.setFault(failFirstCommit(s.calls() + k))
				c, err := sqlite3.Open(dbURI(s.newVFS(t)))
				if err == nil {
					c.Exec(step)
				}
				crashed := s.crash()
				if c != nil {
					c.Close()
				}

				c = open(t, crashed.newVFS(t))
				if got, err := integrityCheck(c); err != nil || got != "ok" {
					t.Fatalf("kill at %d/%d: integrity_check = %q, %v", k, calls, got, err)
				}
				switch d := mustDigest(t, c); d {
				case before:
					seen["before"]++
				case after:
					seen["after"]++
				default:
					t.Fatalf("kill at %d/%d: state %s is neither %s nor %s", k, calls, d, before, after)
				}
				c.Close()
			}
			t.Logf("%d calls; recovered %v", calls, seen)
		})
	}
}

// Connections taking turns must each see the other's commits: batch-atomic
// commits are only used with a single connection, because they leave the
// file change counter alone.
func TestBlockVFSConnectionsTakingTurns(t *testing.T) {
	s := newBlockTestStore(BlockOptions{})
	name := s.newVFS(t)
	c1 := open(t, name, createTable)
	fill(t, c1, 20)
	c2 := open(t, name)
	for i := range 30 {
		w, r := c1, c2
		if i%2 == 1 {
			w, r = c2, c1
		}
		before := queryOne(t, r, "SELECT count(*) FROM t")
		mustExec(t, w, "INSERT INTO t(b, c) VALUES (randomblob(50), 'turn"+strconv.Itoa(i)+"')")
		n, _ := strconv.Atoi(before)
		if got := queryOne(t, r, "SELECT count(*) FROM t"); got != strconv.Itoa(n+1) {
			t.Fatalf("turn %d: reader sees %s rows, want %d", i, got, n+1)
		}
	}
	mustBeIntact(t, c1)
	c2.Close()

	// Alone again, the connection goes back to one commit per transaction.
	s.vfs.ResetStats()
	mustExec(t, c1, "INSERT INTO t(b) VALUES (x'01')")
	if st := s.vfs.Stats(); st.Commit != 1 {
		t.Errorf("single connection commit made %d commits, want 1", st.Commit)
	}
}

func TestBlockVFSBlockSizeMismatch(t *testing.T) {
	s := newBlockTestStore(BlockOptions{BlockSize: 4096})
	c := open(t, s.newVFS(t), createTable)
	fill(t, c, 50)
	c.Close()

	s.opts.BlockSize = 8192
	c, err := sqlite3.Open(dbURI(s.newVFS(t)))
	if err == nil {
		defer c.Close()
		_, err = query(c, "SELECT count(*) FROM t")
	}
	var code sqlite3.ExtendedErrorCode
	if !errors.As(err, &code) || code != sqlite3.IOERR_READ {
		t.Errorf("err = %v, want SQLITE_IOERR_READ", err)
	}
}

func TestNewBlockVFSRejectsBadBlockSize(t *testing.T) {
	for _, bs := range []int{256, 1000, 131072} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("block size %d accepted", bs)
				}
			}()
			NewBlockVFS(NewMemoryBlockStore(), BlockOptions{BlockSize: bs})
		}()
	}
}

// TestBlockFileModel drives a BlockVFS file directly with random writes,
// truncates, reads, syncs, batch-atomic writes, crashes and restarts, and
// checks every read against a plain byte slice. Small blocks and a tiny
// cache put every code path to work.
func TestBlockFileModel(t *testing.T) {
	configs := []BlockOptions{
		{BlockSize: 512, CacheSize: 1024, ReadAhead: 3, MaxDirty: -1},
		{BlockSize: 1024, CacheSize: 1 << 20, ReadAhead: 16, MaxDirty: -1},
		{BlockSize: 512, CacheSize: 2048, ReadAhead: 2, MaxDirty: 1536}, // early commits: no crash checks
	}
	for ci, opts := range configs {
		for seed := range uint64(20) {
			t.Run(strconv.Itoa(ci)+"/"+strconv.FormatUint(seed, 10), func(t *testing.T) {
				testBlockFileModel(t, opts, seed)
			})
		}
	}
}

func testBlockFileModel(t *testing.T, opts BlockOptions, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 42))
	const flags = vfs.OPEN_MAIN_DB | vfs.OPEN_READWRITE | vfs.OPEN_CREATE
	earlyCommits := opts.MaxDirty > 0

	store := NewMemoryBlockStore()
	var cur, durable, batchBase []byte // the file now, after a crash, at BeginAtomicWrite
	inBatch := false

	openFile := func() (*BlockVFS, vfs.File) {
		v := NewBlockVFS(store, opts)
		f, _, err := v.Open("/model", flags)
		if err != nil {
			t.Fatal(err)
		}
		return v, f
	}
	_, f := openFile()
	batch := func() vfs.FileBatchAtomicWrite { return f.(vfs.FileBatchAtomicWrite) }

	check := func(step int, what string) {
		t.Helper()
		if size, _ := f.Size(); size != int64(len(cur)) {
			t.Fatalf("step %d (%s): size %d, want %d", step, what, size, len(cur))
		}
		got := make([]byte, len(cur)+100)
		n, err := f.ReadAt(got, 0)
		if n != len(cur) || err != io.EOF || !bytes.Equal(got[:n], cur) {
			t.Fatalf("step %d (%s): contents differ (n=%d, err=%v)", step, what, n, err)
		}
	}

	for step := range 400 {
		switch op := rng.IntN(100); {
		case op < 40: // write
			off := rng.Int64N(int64(len(cur)) + 3000)
			p := make([]byte, 1+rng.IntN(2500))
			for i := range p {
				p[i] = byte(rng.Uint32())
			}
			if _, err := f.WriteAt(p, off); err != nil {
				t.Fatal(err)
			}
			if end := off + int64(len(p)); end > int64(len(cur)) {
				cur = append(cur, make([]byte, end-int64(len(cur)))...)
			}
			copy(cur[off:], p)

		case op < 50: // truncate
			size := rng.Int64N(int64(len(cur)) + 2000)
			if err := f.Truncate(size); err != nil {
				t.Fatal(err)
			}
			if size < int64(len(cur)) {
				cur = cur[:size]
			} else {
				cur = append(cur, make([]byte, size-int64(len(cur)))...)
			}

		case op < 70: // read
			off := rng.Int64N(int64(len(cur)) + 100)
			p := make([]byte, 1+rng.IntN(3000))
			n, err := f.ReadAt(p, off)
			want := 0
			if off < int64(len(cur)) {
				want = copy(make([]byte, len(p)), cur[off:])
			}
			if n != want || (n < len(p)) != (err == io.EOF) || (err != nil && err != io.EOF) {
				t.Fatalf("step %d: ReadAt(%d bytes at %d) = %d, %v; want %d", step, len(p), off, n, err, want)
			}
			if want > 0 && !bytes.Equal(p[:n], cur[off:off+int64(n)]) {
				t.Fatalf("step %d: ReadAt(%d bytes at %d) returned wrong bytes", step, len(p), off)
			}

		case op < 78: // sync
			if inBatch {
				continue
			}
			if err := f.Sync(vfs.SYNC_FULL); err != nil {
				t.Fatal(err)
			}
			durable = slices.Clone(cur)

		case op < 86: // batch-atomic write boundaries
			switch {
			case !inBatch:
				if err := batch().BeginAtomicWrite(); err != nil {
					t.Fatal(err)
				}
				batchBase, inBatch = slices.Clone(cur), true
			case rng.IntN(2) == 0:
				if err := batch().CommitAtomicWrite(); err != nil {
					t.Fatal(err)
				}
				durable, inBatch = slices.Clone(cur), false
			default:
				if err := batch().RollbackAtomicWrite(); err != nil {
					t.Fatal(err)
				}
				cur, inBatch = batchBase, false
			}

		case op < 93: // crash: everything unsynced is lost
			if earlyCommits || inBatch {
				continue
			}
			store = store.Crash()
			_, f = openFile()
			cur = slices.Clone(durable)

		default: // clean restart: closing commits what is unsynced
			if inBatch {
				continue
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			_, f = openFile()
			durable = slices.Clone(cur)
		}
		check(step, "after op")
	}
}
