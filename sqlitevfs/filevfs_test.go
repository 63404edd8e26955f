package sqlitevfs

import (
	"io"
	"reflect"
	"testing"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

// resultCode is the SQLite result code the vfs package reports for an error
// returned by a VFS method (as vfs.SystemError, or a bare code).
func resultCode(err error) sqlite3.ExtendedErrorCode {
	v := reflect.ValueOf(err)
	switch v.Kind() {
	case reflect.Uint8, reflect.Uint16:
		return sqlite3.ExtendedErrorCode(v.Uint())
	case reflect.Struct: // vfs.SystemError's type keeps the code in a field
		if code := v.FieldByName("code"); code.IsValid() {
			return sqlite3.ExtendedErrorCode(code.Uint())
		}
	}
	return 0
}

// countOps is a Fault that never fails and counts calls per method.
func countOps(counts map[string]int) Fault {
	return func(_ int64, op string) error {
		counts[op]++
		return nil
	}
}

// Store handles are opened once and kept across transactions; existence
// checks are answered from memory.
func TestFileVFSKeepsHandles(t *testing.T) {
	for _, mode := range []string{"persist", "truncate", "wal"} {
		t.Run(mode, func(t *testing.T) {
			s := newFileTestStore()
			pragmas := []string{"PRAGMA journal_mode=" + mode}
			if mode == "wal" {
				pragmas = []string{"PRAGMA locking_mode=exclusive", "PRAGMA journal_mode=wal"}
			}
			c := open(t, s.newVFS(t), pragmas...)
			mustExec(t, c, createTable)
			fill(t, c, 50)

			counts := map[string]int{}
			s.setFault(countOps(counts))
			for range 20 {
				mustExec(t, c, "INSERT INTO t(b, c) VALUES (randomblob(100), 'x')")
				queryOne(t, c, "SELECT count(*) FROM t")
			}
			if counts["OpenFile"] != 0 || counts["FileExists"] != 0 || counts["DeleteFile"] != 0 {
				t.Errorf("20 transactions: %d OpenFile, %d FileExists, %d DeleteFile calls; want none",
					counts["OpenFile"], counts["FileExists"], counts["DeleteFile"])
			}
		})
	}
}

func TestFileVFSOpenSemantics(t *testing.T) {
	s := NewMemoryFileStore()
	v := NewFileVFS(s)
	const rw = vfs.OPEN_READWRITE | vfs.OPEN_MAIN_JOURNAL

	if _, _, err := v.Open("/a", rw); resultCode(err) != sqlite3.ExtendedErrorCode(sqlite3.CANTOPEN) {
		t.Errorf("open absent without create: %v, want SQLITE_CANTOPEN", err)
	}
	f, _, err := v.Open("/a", rw|vfs.OPEN_CREATE)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.Open("/a", rw|vfs.OPEN_CREATE|vfs.OPEN_EXCLUSIVE); resultCode(err) != sqlite3.ExtendedErrorCode(sqlite3.CANTOPEN) {
		t.Errorf("exclusive create of an existing file: %v, want SQLITE_CANTOPEN", err)
	}
	if err := v.Delete("/a", false); resultCode(err) != sqlite3.IOERR_DELETE {
		t.Errorf("delete of an open file: %v, want SQLITE_IOERR_DELETE", err)
	}
	if _, err := f.WriteAt([]byte("hello"), 10); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 20)
	if n, err := f.ReadAt(p, 0); n != 15 || err != io.EOF {
		t.Errorf("short read = %d, %v; want 15, io.EOF", n, err)
	}
	f.Close()

	if ok, _ := v.Access("/a", vfs.ACCESS_EXISTS); !ok {
		t.Error("Access after close: file missing")
	}
	if err := v.Delete("/a", false); err != nil {
		t.Fatal(err)
	}
	if ok, _ := v.Access("/a", vfs.ACCESS_EXISTS); ok {
		t.Error("Access after delete: file present")
	}
	if err := v.Delete("/a", false); resultCode(err) != sqlite3.IOERR_DELETE_NOENT {
		t.Errorf("second delete: %v, want SQLITE_IOERR_DELETE_NOENT", err)
	}
	if names, _ := s.ListFiles(); len(names) != 0 {
		t.Errorf("store files = %q, want none", names)
	}

	// Temporary files get unique names and vanish on close.
	tmp1, _, err := v.Open("", vfs.OPEN_READWRITE|vfs.OPEN_CREATE|vfs.OPEN_DELETEONCLOSE|vfs.OPEN_TEMP_JOURNAL)
	if err != nil {
		t.Fatal(err)
	}
	tmp2, _, err := v.Open("", vfs.OPEN_READWRITE|vfs.OPEN_CREATE|vfs.OPEN_DELETEONCLOSE|vfs.OPEN_TEMP_JOURNAL)
	if err != nil {
		t.Fatal(err)
	}
	if names, _ := s.ListFiles(); len(names) != 2 {
		t.Errorf("store files = %q, want two temporary files", names)
	}
	tmp1.Close()
	tmp2.Close()
	if names, _ := s.ListFiles(); len(names) != 0 {
		t.Errorf("store files after close = %q, want none", names)
	}
}

func TestQuotaErrorsMapToFull(t *testing.T) {
	s := NewMemoryFileStore()
	s.SetQuota(100)
	v := NewFileVFS(s)
	f, _, err := v.Open("/q", vfs.OPEN_READWRITE|vfs.OPEN_CREATE|vfs.OPEN_MAIN_DB)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(make([]byte, 200), 0); resultCode(err) != sqlite3.ExtendedErrorCode(sqlite3.FULL) {
		t.Errorf("write past quota: %v, want SQLITE_FULL", err)
	}
	if err := f.Truncate(1000); resultCode(err) != sqlite3.ExtendedErrorCode(sqlite3.FULL) {
		t.Errorf("truncate past quota: %v, want SQLITE_FULL", err)
	}
}

// TestCoalescedWritesReachTheStoreInFewerCalls: a WAL transaction of many
// pages costs one store call per frame header and per page without
// coalescing, a handful with it; the data is the same.
func TestCoalescedWritesReachTheStoreInFewerCalls(t *testing.T) {
	run := func(s *fileTestStore) (int64, string) {
		c := open(t, s.newVFS(t), "PRAGMA locking_mode = EXCLUSIVE", "PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL",
			"CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT)")
		before := s.calls()
		mustExec(t, c, "INSERT INTO t SELECT value, printf('%0500d', value) FROM generate_series(1, 2000)")
		calls := s.calls() - before
		digest := mustDigest(t, c)
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		return calls, digest
	}
	plainCalls, plain := run(newFileTestStore())
	coalescedCalls, coalesced := run(newCoalescedFileTestStore())
	if plain != coalesced {
		t.Fatal("coalescing changed the data")
	}
	if coalescedCalls*10 > plainCalls {
		t.Fatalf("store calls: %d coalesced vs %d plain; expected at least 10x fewer", coalescedCalls, plainCalls)
	}
	t.Logf("store calls for a 2,000-row WAL transaction: %d plain, %d coalesced", plainCalls, coalescedCalls)
}
