package sqlitevfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"slices"
	"testing"

	"github.com/ncruces/go-sqlite3/vfs"
)

func TestStoreName(t *testing.T) {
	tests := map[string]string{
		"/app.db":         "app.db",
		"/app.db-journal": "app.db-journal",
		"app.db-wal":      "app.db-wal",
		"//dir/x%y\\z":    "dir%2Fx%25y%5Cz",
		"/..":             "%2E%2E",
	}
	for in, want := range tests {
		if got, err := storeName(in); err != nil || got != want {
			t.Errorf("storeName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := storeName("/"); err == nil {
		t.Error(`storeName("/") succeeded`)
	}
}

func TestMemoryBlockStoreCommitIsAtomic(t *testing.T) {
	s := NewMemoryBlockStore()
	block := func(b byte) []byte { return bytes.Repeat([]byte{b}, 100) }
	err := s.Commit(Batch{Files: []FileChange{
		{Name: "a", Size: 300, TruncateFrom: -1, Blocks: []Block{{0, block(1)}, {1, block(2)}, {2, block(3)}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	s.SetQuota(400)
	err = s.Commit(Batch{Files: []FileChange{
		{Name: "a", Size: 100, TruncateFrom: 1, Blocks: []Block{{0, block(9)}}},
		{Name: "b", Size: 400, TruncateFrom: -1, Blocks: []Block{{0, block(4)}, {1, block(5)}, {2, block(6)}, {3, block(7)}}},
	}})
	if !errors.Is(err, ErrQuota) {
		t.Fatalf("commit past quota: %v, want ErrQuota", err)
	}
	// Nothing of the failed batch was applied.
	got, _ := s.ReadBlocks("a", 0, 4)
	if !bytes.Equal(got[0], block(1)) || !bytes.Equal(got[2], block(3)) || got[3] != nil {
		t.Error("failed commit changed file a")
	}
	if _, ok, _ := s.FileSize("b"); ok {
		t.Error("failed commit created file b")
	}

	// Shrinking a, then adding b fits.
	err = s.Commit(Batch{Files: []FileChange{
		{Name: "a", Size: 100, TruncateFrom: 1, Blocks: []Block{{0, block(9)}}},
		{Name: "b", Size: 250, TruncateFrom: -1, Blocks: []Block{{0, block(4)}, {2, block(6)}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	got, _ = s.ReadBlocks("b", 0, 3)
	if got[1] != nil || !bytes.Equal(got[2], block(6)) {
		t.Error("hole or block of b wrong")
	}
	if s.Used() != 300 {
		t.Errorf("used = %d, want 300", s.Used())
	}
	names, _ := s.ListFiles()
	if !slices.Equal(names, []string{"a", "b"}) {
		t.Errorf("files = %q", names)
	}

	// Crash copies are independent.
	c := s.Crash()
	s.DeleteFile("a")
	if _, ok, _ := c.FileSize("a"); !ok {
		t.Error("deleting from the store changed its crash copy")
	}
}

func TestMemoryFileStoreCrashLosesUnflushed(t *testing.T) {
	s := NewMemoryFileStore()
	f, err := s.OpenFile("f", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.OpenFile("f", true); err == nil {
		t.Error("second handle on one file allowed (OPFS refuses)")
	}
	if err := s.DeleteFile("f"); err == nil {
		t.Error("deleting an open file allowed (OPFS refuses)")
	}
	f.WriteAt(bytes.Repeat([]byte{1}, 10000), 0)
	f.Flush()
	f.WriteAt([]byte{2, 2}, 5000)
	f.Truncate(3000)
	f.WriteAt([]byte{3}, 8999)

	read := func(s *MemoryFileStore) []byte {
		f, err := s.OpenFile("f", false)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		size, _ := f.Size()
		p := make([]byte, size)
		if n, err := f.ReadAt(p, 0); n != len(p) || (err != nil && err != io.EOF) {
			t.Fatalf("read %d of %d: %v", n, len(p), err)
		}
		return p
	}

	crashed := s.Crash()
	if got := read(crashed); !bytes.Equal(got, bytes.Repeat([]byte{1}, 10000)) {
		t.Error("crash did not restore the flushed contents")
	}

	f.Flush()
	want := append(bytes.Repeat([]byte{1}, 3000), make([]byte, 6000)...)
	want[8999] = 3
	f.Close()
	if got := read(s.Crash()); !bytes.Equal(got, want) {
		t.Error("flushed contents after truncate and regrow are wrong")
	}
	if _, err := s.OpenFile("missing", false); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("open missing: %v, want fs.ErrNotExist", err)
	}
}

func TestFaults(t *testing.T) {
	boom := errors.New("boom")
	s := NewMemoryBlockStore()
	s.SetFault(FailCall(2, boom))
	if _, _, err := s.FileSize("x"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.FileSize("x"); !errors.Is(err, boom) {
		t.Errorf("call 2: %v, want boom", err)
	}
	if _, _, err := s.FileSize("x"); err != nil {
		t.Errorf("call 3: %v", err)
	}
	s.SetFault(FailFrom(5, boom))
	s.FileSize("x")
	for range 3 {
		if _, _, err := s.FileSize("x"); !errors.Is(err, boom) {
			t.Errorf("call %d: %v, want boom", s.Calls(), err)
		}
	}
}

// The in-process lock protocol, handle by handle.
func TestLocks(t *testing.T) {
	var l fileLocks
	var a, b, c vfs.LockLevel
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	busy := func(err error) {
		t.Helper()
		if err == nil {
			t.Fatal("lock granted, want SQLITE_BUSY")
		}
	}
	must(l.lock(&a, vfs.LOCK_SHARED))
	must(l.lock(&b, vfs.LOCK_SHARED))
	must(l.lock(&a, vfs.LOCK_RESERVED))
	busy(l.lock(&b, vfs.LOCK_RESERVED))  // one writer
	must(l.lock(&c, vfs.LOCK_SHARED))    // readers still welcome
	busy(l.lock(&a, vfs.LOCK_EXCLUSIVE)) // readers active: a waits at PENDING
	if a != vfs.LOCK_PENDING {
		t.Fatalf("a at %v, want PENDING", a)
	}
	l.unlock(&c, vfs.LOCK_NONE)
	var d vfs.LockLevel
	busy(l.lock(&d, vfs.LOCK_SHARED)) // PENDING keeps new readers out
	l.unlock(&b, vfs.LOCK_NONE)
	must(l.lock(&a, vfs.LOCK_EXCLUSIVE))
	l.unlock(&a, vfs.LOCK_SHARED)
	must(l.lock(&d, vfs.LOCK_SHARED))
	must(l.lock(&d, vfs.LOCK_RESERVED))
	l.unlock(&d, vfs.LOCK_NONE)
	// Straight from SHARED to EXCLUSIVE, as for a hot journal.
	l.unlock(&a, vfs.LOCK_NONE)
	must(l.lock(&a, vfs.LOCK_SHARED))
	must(l.lock(&a, vfs.LOCK_EXCLUSIVE))
	if !l.isReserved() {
		t.Error("EXCLUSIVE holder not seen as reserved")
	}
	l.unlock(&a, vfs.LOCK_NONE)
	if l.shared != 0 || l.reserved || l.pending {
		t.Errorf("locks left behind: %+v", &l)
	}
}
