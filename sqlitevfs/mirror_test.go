package sqlitevfs

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ncruces/go-sqlite3"
)

// mirrorSession is one process's view of a block store through a mirror:
// a BlockVFS over a MirrorStore loaded from backing.
type mirrorSession struct {
	mirror *MirrorStore
	vfs    *BlockVFS
	name   string
}

func newMirrorSession(tb testing.TB, backing BlockStore, opts BlockOptions) *mirrorSession {
	tb.Helper()
	bs := opts.BlockSize
	if bs == 0 {
		bs = DefaultBlockSize
	}
	m, err := LoadMirror(backing, bs, 3)
	if err != nil {
		tb.Fatalf("load mirror: %v", err)
	}
	v := NewBlockVFS(m, opts)
	return &mirrorSession{mirror: m, vfs: v, name: register(tb, v)}
}

// Between flushes the backing store is never called: everything SQLite
// asks of the VFS, reads, commits and deletes in every journal mode, is
// answered from memory. After each Flush the backing store holds what
// SQLite committed, read back directly and through a new mirror.
func TestMirrorCallsItsStoreOnlyToFlush(t *testing.T) {
	for _, mode := range journalModes {
		t.Run(mode.name, func(t *testing.T) {
			backing := NewMemoryBlockStore()
			opts := BlockOptions{BlockSize: 4096, CacheSize: 4 * 4096, ReadAhead: 2}
			s := newMirrorSession(t, backing, opts)
			c := open(t, s.name, mode.pragmas...)
			steps := []string{
				createTable,
				"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM s WHERE i < 300) INSERT INTO t(b, c) SELECT randomblob(300), 'x' FROM s",
				"PRAGMA cache_size = 5",
				"BEGIN; INSERT INTO t(b, c) SELECT randomblob(2000), 'spill' FROM t; UPDATE t SET b = randomblob(10) WHERE a % 2 = 0; COMMIT",
				"DELETE FROM t WHERE a % 3 = 0",
				"VACUUM",
			}
			for _, sql := range steps {
				before := backing.Calls()
				mustExec(t, c, sql)
				if n := backing.Calls() - before; n != 0 {
					t.Fatalf("%s: %d calls to the backing store inside SQLite's calls, want 0", sql, n)
				}
				if err := s.mirror.Flush(); err != nil {
					t.Fatalf("flush after %s: %v", sql, err)
				}
				want := mustDigest(t, c)
				direct := open(t, register(t, NewBlockVFS(backing.Crash(), opts)), mode.pragmas...)
				if got := mustDigest(t, direct); got != want {
					t.Fatalf("after %s: the backing store holds %s, SQLite committed %s", sql, got, want)
				}
				mustBeIntact(t, direct)
				direct.Close()
			}
			c.Close()
			if err := s.mirror.Flush(); err != nil {
				t.Fatal(err)
			}
			again := newMirrorSession(t, backing, opts)
			c2 := open(t, again.name, mode.pragmas...)
			mustBeIntact(t, c2)
		})
	}
}

// Commits between two flushes reach the backing store as one Commit: a
// file created and deleted meanwhile never does, one deleted and written
// again replaces every block it had.
func TestMirrorFlushIsOneCommit(t *testing.T) {
	backing := NewMemoryBlockStore()
	m, err := LoadMirror(backing, 512, 4)
	if err != nil {
		t.Fatal(err)
	}
	block := func(b byte) []byte {
		data := make([]byte, 512)
		data[0] = b
		return data
	}
	commit := func(fc FileChange) {
		t.Helper()
		if err := m.Commit(Batch{Files: []FileChange{fc}}); err != nil {
			t.Fatal(err)
		}
	}
	commit(FileChange{Name: "a", Size: 1536, TruncateFrom: -1, Blocks: []Block{{0, block(1)}, {1, block(2)}, {2, block(3)}}})
	if err := m.Flush(); err != nil {
		t.Fatal(err)
	}
	before := backing.Calls()
	commit(FileChange{Name: "tmp", Size: 512, TruncateFrom: -1, Blocks: []Block{{0, block(9)}}})
	if err := m.DeleteFile("tmp"); err != nil {
		t.Fatal(err)
	}
	if err := m.DeleteFile("a"); err != nil {
		t.Fatal(err)
	}
	commit(FileChange{Name: "a", Size: 512, TruncateFrom: -1, Blocks: []Block{{0, block(4)}}})
	commit(FileChange{Name: "b", Size: 1024, TruncateFrom: -1, Blocks: []Block{{0, block(5)}, {1, block(6)}}})
	commit(FileChange{Name: "b", Size: 512, TruncateFrom: 1})
	if err := m.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := backing.Calls() - before; n != 1 {
		t.Errorf("one flush made %d calls to the backing store, want 1 (a Commit)", n)
	}
	names, _ := backing.ListFiles()
	if fmt.Sprint(names) != "[a b]" {
		t.Errorf("backing store files %v, want [a b]", names)
	}
	for _, want := range []struct {
		file  string
		size  int64
		first []byte // each block's first byte; 0: absent
	}{{"a", 512, []byte{4, 0, 0}}, {"b", 512, []byte{5, 0}}} {
		size, _, _ := backing.FileSize(want.file)
		got, _ := backing.ReadBlocks(want.file, 0, int64(len(want.first)))
		for i, b := range want.first {
			var have byte
			if i < len(got) && got[i] != nil {
				have = got[i][0]
			}
			if have != b {
				t.Errorf("%s block %d starts with %d, want %d", want.file, i, have, b)
			}
		}
		if size != want.size {
			t.Errorf("%s size %d, want %d", want.file, size, want.size)
		}
	}
}

// A flush the backing store refuses (its quota) leaves it as it was, and
// the mirror failing until Revert, which takes the image back to it; the
// database then opens again as it was before the lost commit and takes
// smaller writes.
func TestMirrorRevertsAFailedFlush(t *testing.T) {
	backing := NewMemoryBlockStore()
	opts := BlockOptions{BlockSize: 4096}
	s := newMirrorSession(t, backing, opts)
	c := open(t, s.name)
	mustExec(t, c, createTable)
	fill(t, c, 100)
	if err := s.mirror.Flush(); err != nil {
		t.Fatal(err)
	}
	want := mustDigest(t, c)

	backing.SetQuota(backing.Used() + 64<<10)
	mustExec(t, c, "INSERT INTO t(b, c) SELECT randomblob(1000), 'big' FROM t") // committed in memory
	err := s.mirror.Flush()
	if !errors.Is(err, ErrQuota) {
		t.Fatalf("flush over the quota: %v, want ErrQuota", err)
	}
	mustExec(t, c, "INSERT INTO t(b, c) VALUES (x'00', 'after')")
	if err := s.mirror.Flush(); !errors.Is(err, ErrQuota) {
		t.Fatalf("a flush after a failed one: %v, want the same error until Revert", err)
	}
	if err := s.vfs.Forget(); !errors.Is(err, errFilesOpen) {
		t.Fatalf("Forget with the database open: %v, want errFilesOpen", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	s.mirror.Revert()
	if err := s.vfs.Forget(); err != nil {
		t.Fatal(err)
	}
	c = open(t, s.name)
	if got := mustDigest(t, c); got != want {
		t.Fatalf("reopened after Revert: %s, want the last flushed state %s", got, want)
	}
	mustBeIntact(t, c)
	mustExec(t, c, "INSERT INTO t(b, c) VALUES (randomblob(100), 'small')")
	if err := s.mirror.Flush(); err != nil {
		t.Fatalf("a small write after Revert: %v", err)
	}
	direct := open(t, register(t, NewBlockVFS(backing.Crash(), opts)))
	if got, want := mustDigest(t, direct), mustDigest(t, c); got != want {
		t.Fatalf("backing store %s, SQLite %s", got, want)
	}
}

// TestMirrorKillPoints kills the backing store at its k-th call while a
// workload runs with a Flush after each step, as the runtime flushes
// before it replies: what survives is intact, and holds every step whose
// Flush returned, and at most the one after.
func TestMirrorKillPoints(t *testing.T) {
	opts := BlockOptions{BlockSize: 1024}
	for _, sc := range killScenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			base := NewMemoryBlockStore()
			if len(sc.setup) > 0 {
				s := newMirrorSession(t, base, opts)
				c := open(t, s.name)
				for _, sql := range sc.setup {
					mustExec(t, c, sql)
				}
				if err := c.Close(); err != nil {
					t.Fatal(err)
				}
				if err := s.mirror.Flush(); err != nil {
					t.Fatal(err)
				}
			}
			ref := base.Crash()
			start := ref.Calls()
			s := newMirrorSession(t, ref, opts)
			c := open(t, s.name, sc.pragmas...)
			states := []string{mustDigest(t, c)}
			for _, sql := range sc.steps {
				mustExec(t, c, sql)
				if err := s.mirror.Flush(); err != nil {
					t.Fatal(err)
				}
				states = append(states, mustDigest(t, c))
			}
			c.Close()
			calls := int(ref.Calls() - start)

			seen := map[string]int{}
			for k := 1; k <= calls+1; k++ {
				store := base.Crash()
				store.SetFault(FailFrom(store.Calls()+int64(k), errKilled))
				flushed := 0
				func() {
					m, err := LoadMirror(store, opts.BlockSize, 3)
					if err != nil {
						return
					}
					name := register(t, NewBlockVFS(m, opts))
					c, err := sqlite3.Open(dbURI(name))
					if err != nil {
						return
					}
					defer c.Close()
					for _, p := range sc.pragmas {
						if c.Exec(p) != nil {
							return
						}
					}
					for i, sql := range sc.steps {
						if c.Exec(sql) != nil || m.Flush() != nil {
							return
						}
						flushed = i + 1
					}
				}()
				crashed := store.Crash()
				s := newMirrorSession(t, crashed, opts)
				c := open(t, s.name, sc.pragmas...)
				mustBeIntact(t, c)
				d := mustDigest(t, c)
				if d != states[flushed] && (flushed+1 >= len(states) || d != states[flushed+1]) {
					t.Fatalf("kill at call %d/%d after %d flushed steps: state %s, want %q", k, calls, flushed, d, states[flushed:min(flushed+2, len(states))])
				}
				c.Close()
				seen[d]++
			}
			t.Logf("%d backing store calls, recovered states %v", calls, seen)
			if len(seen) < 2 {
				t.Errorf("every kill point recovered the same state: %v", seen)
			}
		})
	}
}
