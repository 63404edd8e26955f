package sqlitevfs

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

var vfsSeq atomic.Int64

// register registers v under a fresh name for the rest of the test.
func register(tb testing.TB, v vfs.VFS) string {
	tb.Helper()
	name := fmt.Sprintf("sqlitevfs-test-%d", vfsSeq.Add(1))
	vfs.Register(name, v)
	tb.Cleanup(func() { vfs.Unregister(name) })
	return name
}

// dbURI is the database every test opens on a VFS.
func dbURI(vfsName string) string {
	return "file:/test.db?vfs=" + vfsName
}

// open opens the test database on vfsName and runs pragmas; the connection
// is closed at the end of the test unless closed before.
func open(tb testing.TB, vfsName string, pragmas ...string) *sqlite3.Conn {
	tb.Helper()
	c, err := sqlite3.Open(dbURI(vfsName))
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { c.Close() })
	for _, p := range pragmas {
		mustExec(tb, c, p)
	}
	return c
}

func mustExec(tb testing.TB, c *sqlite3.Conn, sql string) {
	tb.Helper()
	if err := c.Exec(sql); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

// query returns the first column of every row as text.
func query(c *sqlite3.Conn, sql string, args ...any) ([]string, error) {
	stmt, _, err := c.Prepare(sql)
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	for i, a := range args {
		switch a := a.(type) {
		case int:
			err = stmt.BindInt(i+1, a)
		case int64:
			err = stmt.BindInt64(i+1, a)
		case string:
			err = stmt.BindText(i+1, a)
		case []byte:
			err = stmt.BindBlob(i+1, a)
		default:
			err = fmt.Errorf("cannot bind %T", a)
		}
		if err != nil {
			return nil, err
		}
	}
	var rows []string
	for stmt.Step() {
		rows = append(rows, stmt.ColumnText(0))
	}
	return rows, stmt.Err()
}

func mustQuery(tb testing.TB, c *sqlite3.Conn, sql string, args ...any) []string {
	tb.Helper()
	rows, err := query(c, sql, args...)
	if err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
	return rows
}

// queryOne returns the single value of a one-row, one-column query.
func queryOne(tb testing.TB, c *sqlite3.Conn, sql string, args ...any) string {
	tb.Helper()
	rows := mustQuery(tb, c, sql, args...)
	if len(rows) != 1 {
		tb.Fatalf("%s: got %d rows, want 1", sql, len(rows))
	}
	return rows[0]
}

// integrityCheck returns "ok" or SQLite's complaints.
func integrityCheck(c *sqlite3.Conn) (string, error) {
	rows, err := query(c, "PRAGMA integrity_check")
	return strings.Join(rows, "; "), err
}

func mustBeIntact(tb testing.TB, c *sqlite3.Conn) {
	tb.Helper()
	if got, err := integrityCheck(c); err != nil || got != "ok" {
		tb.Fatalf("integrity_check = %q, %v", got, err)
	}
}

// digest summarises table t so states can be compared.
func digest(c *sqlite3.Conn) (string, error) {
	rows, err := query(c, "SELECT count(*) FROM sqlite_schema WHERE name = 't'")
	if err != nil || rows[0] == "0" {
		return "no table", err
	}
	rows, err = query(c, "SELECT count(*) || '/' || total(a) || '/' || total(length(b)) || '/' || ifnull(max(a), '-') FROM t")
	if err != nil {
		return "", err
	}
	return rows[0], nil
}

func mustDigest(tb testing.TB, c *sqlite3.Conn) string {
	tb.Helper()
	d, err := digest(c)
	if err != nil {
		tb.Fatalf("digest: %v", err)
	}
	return d
}

// withTimeout runs f and fails the test if it does not return in time: a
// corrupt file must give an error, not a hang. f must not call tb.Fatal.
func withTimeout(tb testing.TB, what string, f func()) {
	tb.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		tb.Fatalf("%s did not finish in 20s", what)
	}
}

// testStore is a memory store plus the VFS currently running over it, so
// tests can run unchanged on both VFSes.
type testStore interface {
	// newVFS starts a new session: a fresh VFS over the store, registered
	// under a fresh name, which it returns. The previous VFS must be idle.
	newVFS(tb testing.TB) string
	// crash returns the store a process dying now would leave behind.
	crash() testStore
	setQuota(bytes int64)
	setFault(f Fault)
	calls() int64
	used() int64
	files() []string
	put(tb testing.TB, name string, data []byte)
	get(tb testing.TB, name string) []byte
}

type blockTestStore struct {
	store    *MemoryBlockStore
	opts     BlockOptions
	vfs      *BlockVFS
	headroom int64 // BlockVFS.HeadroomBytes for every session
}

func newBlockTestStore(opts BlockOptions) *blockTestStore {
	return &blockTestStore{store: NewMemoryBlockStore(), opts: opts}
}

func (s *blockTestStore) newVFS(tb testing.TB) string {
	s.vfs = NewBlockVFS(s.store, s.opts)
	s.vfs.HeadroomBytes = s.headroom
	return register(tb, s.vfs)
}

func (s *blockTestStore) crash() testStore {
	return &blockTestStore{store: s.store.Crash(), opts: s.opts, headroom: s.headroom}
}

func (s *blockTestStore) setQuota(n int64) { s.store.SetQuota(n) }
func (s *blockTestStore) setFault(f Fault) { s.store.SetFault(f) }
func (s *blockTestStore) calls() int64     { return s.store.Calls() }
func (s *blockTestStore) used() int64      { return s.store.Used() }
func (s *blockTestStore) files() []string {
	names, _ := s.store.ListFiles()
	return names
}

type fileTestStore struct {
	store *MemoryFileStore
	vfs   *FileVFS
	// coalesce is FileVFS.CoalesceWrites for every session, readAhead
	// its ReadAheadWAL, headroom its Headroom.
	coalesce  int
	readAhead int
	headroom  int64
	// prepare, when set, are the companions every session's VFS
	// prepares the test database with (FileVFS.Prepare), as the browser
	// does before each open. A failure is left for the open to meet: in
	// the kill tests the store may die inside Prepare.
	prepare []string
}

// newCoalescedFileTestStore gathers writes of up to 64 KiB and reads WALs
// in blocks of 16 KiB, as the browser's OPFS databases do at durability
// full (with larger sizes).
func newCoalescedFileTestStore() *fileTestStore {
	s := newFileTestStore()
	s.coalesce = 64 << 10
	s.readAhead = 16 << 10
	return s
}

func newFileTestStore() *fileTestStore {
	return &fileTestStore{store: NewMemoryFileStore()}
}

func (s *fileTestStore) newVFS(tb testing.TB) string {
	if s.vfs != nil {
		// OPFS allows one handle per file: the old session lets go first.
		if err := s.vfs.ReleaseHandles(); err != nil {
			tb.Fatalf("release handles: %v", err)
		}
	}
	s.vfs = NewFileVFS(s.store)
	s.vfs.CoalesceWrites = s.coalesce
	s.vfs.ReadAheadWAL = s.readAhead
	s.vfs.HeadroomBytes = s.headroom
	if s.prepare != nil {
		s.vfs.Prepare("/test.db", s.prepare...) //nolint:errcheck // see prepare
	}
	return register(tb, s.vfs)
}

func (s *fileTestStore) crash() testStore {
	return &fileTestStore{store: s.store.Crash(), coalesce: s.coalesce, readAhead: s.readAhead, headroom: s.headroom, prepare: s.prepare}
}

func (s *fileTestStore) setQuota(n int64) { s.store.SetQuota(n) }
func (s *fileTestStore) setFault(f Fault) { s.store.SetFault(f) }
func (s *fileTestStore) calls() int64     { return s.store.Calls() }
func (s *fileTestStore) used() int64      { return s.store.Used() }

func (s *fileTestStore) files() []string {
	names, _ := s.store.ListFiles()
	return names
}

// backend is a VFS configuration every SQL-level test runs on.
type backend struct {
	name    string
	new     func() testStore
	pragmas []string // run first on every connection
}

var backends = []backend{
	{name: "BlockVFS", new: func() testStore { return newBlockTestStore(BlockOptions{}) }},
	{
		// Pages span four blocks, and the cache holds eight blocks.
		name: "BlockVFS-span",
		new: func() testStore {
			return newBlockTestStore(BlockOptions{BlockSize: 1024, CacheSize: 8192, ReadAhead: 3})
		},
		pragmas: []string{"PRAGMA page_size=4096"},
	},
	{
		// Four pages share a block (read-modify-write), and the cache
		// holds two blocks.
		name: "BlockVFS-share",
		new: func() testStore {
			return newBlockTestStore(BlockOptions{BlockSize: 32768, CacheSize: 65536, ReadAhead: 2})
		},
	},
	{name: "FileVFS", new: func() testStore { return newFileTestStore() }},
	{name: "FileVFS-coalesced", new: func() testStore { return newCoalescedFileTestStore() }},
}

// open opens the test database for this backend.
func (b backend) open(tb testing.TB, vfsName string, pragmas ...string) *sqlite3.Conn {
	tb.Helper()
	return open(tb, vfsName, append(slices.Clone(b.pragmas), pragmas...)...)
}

// journalModes are the ways SQLite writes that the tests cover. WAL needs
// exclusive locking mode: there is no shared memory for the WAL index.
var journalModes = []struct {
	name    string
	pragmas []string
}{
	{"delete", nil},
	{"truncate", []string{"PRAGMA journal_mode=truncate"}},
	{"persist", []string{"PRAGMA journal_mode=persist"}},
	{"wal", []string{"PRAGMA locking_mode=exclusive", "PRAGMA journal_mode=wal", "PRAGMA synchronous=full"}},
}

// put replaces the store file name with data, bypassing the VFS.
func (s *blockTestStore) put(tb testing.TB, name string, data []byte) {
	tb.Helper()
	bs := int64(cmp.Or(s.opts.BlockSize, DefaultBlockSize))
	change := FileChange{Name: name, Size: int64(len(data)), TruncateFrom: 0}
	for i := int64(0); i < blockCount(int64(len(data)), bs); i++ {
		block := make([]byte, bs)
		copy(block, data[i*bs:])
		change.Blocks = append(change.Blocks, Block{Index: i, Data: block})
	}
	if err := s.store.Commit(Batch{Files: []FileChange{change}}); err != nil {
		tb.Fatal(err)
	}
}

// get returns the contents of store file name, bypassing the VFS.
func (s *blockTestStore) get(tb testing.TB, name string) []byte {
	tb.Helper()
	bs := int64(cmp.Or(s.opts.BlockSize, DefaultBlockSize))
	size, ok, err := s.store.FileSize(name)
	if err != nil || !ok {
		tb.Fatalf("size of %q: %v, %v", name, ok, err)
	}
	blocks, err := s.store.ReadBlocks(name, 0, blockCount(size, bs))
	if err != nil {
		tb.Fatal(err)
	}
	data := make([]byte, 0, size)
	for _, b := range blocks {
		if b == nil {
			b = make([]byte, bs)
		}
		data = append(data, b...)
	}
	return data[:size]
}

func (s *fileTestStore) put(tb testing.TB, name string, data []byte) {
	tb.Helper()
	if s.vfs != nil {
		s.vfs.ReleaseHandles()
	}
	f, err := s.store.OpenFile(name, true)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(0); err != nil {
		tb.Fatal(err)
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		tb.Fatal(err)
	}
	if err := f.Flush(); err != nil {
		tb.Fatal(err)
	}
}

func (s *fileTestStore) get(tb testing.TB, name string) []byte {
	tb.Helper()
	if s.vfs != nil {
		s.vfs.ReleaseHandles()
	}
	f, err := s.store.OpenFile(name, false)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		tb.Fatal(err)
	}
	data := make([]byte, size)
	if _, err := f.ReadAt(data, 0); err != nil {
		tb.Fatal(err)
	}
	return data
}
