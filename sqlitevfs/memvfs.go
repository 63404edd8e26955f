package sqlitevfs

import (
	"sync"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/util/vfsutil"
	"github.com/ncruces/go-sqlite3/vfs"
)

// MemoryVFS keeps databases in memory: every connection of the process
// that opens the same name shares one, and it goes with the last of them
// (or with Drop, for one put there by Create). SQLite keeps their
// journals in memory too. It is the engine's "memory" storage and the
// source its replica files are copied from; go-sqlite3's memdb VFS would
// do the same, but links Go's testing package into the worker (its
// TestDB), 24 KB of the worker's brotli bundle with memdb's own code.
type MemoryVFS struct {
	mu  sync.Mutex
	dbs map[string]*memoryDB
}

// memorySector is the unit a database grows by: it spares the copy of
// the whole file a contiguous slice would make as it grows.
const memorySector = 64 << 10

type memoryDB struct {
	refs  int // open files, and 1 for Create until Drop
	locks fileLocks

	mu      sync.RWMutex
	sectors [][]byte
	size    int64
}

var (
	_ vfs.VFS           = (*MemoryVFS)(nil)
	_ vfs.FileLockState = (*memoryFile)(nil)
	_ vfs.FileSizeHint  = (*memoryFile)(nil)
)

// NewMemoryVFS returns an empty MemoryVFS; register it with vfs.Register.
func NewMemoryVFS() *MemoryVFS { return &MemoryVFS{dbs: map[string]*memoryDB{}} }

// Create makes data (which it takes over) the database name, kept until
// Drop whether or not a connection has it open.
func (v *MemoryVFS) Create(name string, data []byte) {
	db := &memoryDB{refs: 1}
	db.write(data, 0)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.dbs[name] = db
}

// Drop lets the database Create made go with its last connection (now,
// if it has none).
func (v *MemoryVFS) Drop(name string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if db := v.dbs[name]; db != nil {
		v.releaseLocked(name, db)
	}
}

func (v *MemoryVFS) releaseLocked(name string, db *memoryDB) {
	if db.refs--; db.refs == 0 && v.dbs[name] == db {
		delete(v.dbs, name)
	}
}

// Open implements vfs.VFS. Only databases have files here: the flag
// OPEN_MEMORY tells SQLite to keep their journals in memory itself. Its
// sorter's temporary files and statement journals (a VACUUM of large
// pages spills one) are slices of their own.
func (v *MemoryVFS) Open(name string, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	if flags&(vfs.OPEN_TEMP_JOURNAL|vfs.OPEN_SUBJOURNAL) != 0 {
		return &vfsutil.SliceFile{}, flags | vfs.OPEN_MEMORY, nil
	}
	if flags&(vfs.OPEN_MAIN_DB|vfs.OPEN_TEMP_DB|vfs.OPEN_TRANSIENT_DB) == 0 {
		return nil, flags, sqlite3.CANTOPEN
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	db := v.dbs[name]
	if db == nil {
		if flags&vfs.OPEN_CREATE == 0 {
			return nil, flags, sqlite3.CANTOPEN
		}
		db = &memoryDB{}
		if name != "" { // a nameless (temporary) database is its file's alone
			v.dbs[name] = db
		}
	}
	db.refs++
	f := &memoryFile{vfs: v, name: name, db: db}
	f.lockHandle = lockHandle{locks: &db.locks, readOnly: flags&vfs.OPEN_READONLY != 0}
	return f, flags | vfs.OPEN_MEMORY, nil
}

// Delete implements vfs.VFS: there are no journals to delete.
func (*MemoryVFS) Delete(string, bool) error { return sqlite3.IOERR_DELETE_NOENT }

// Access implements vfs.VFS: whether a database of that name is here.
func (v *MemoryVFS) Access(name string, _ vfs.AccessFlag) (bool, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.dbs[name] != nil, nil
}

// FullPathname implements vfs.VFS.
func (*MemoryVFS) FullPathname(name string) (string, error) { return name, nil }

type memoryFile struct {
	lockHandle
	vfs  *MemoryVFS
	name string
	db   *memoryDB
}

func (f *memoryFile) Close() error {
	f.Unlock(vfs.LOCK_NONE)
	f.vfs.mu.Lock()
	defer f.vfs.mu.Unlock()
	f.vfs.releaseLocked(f.name, f.db)
	return nil
}

func (f *memoryFile) ReadAt(b []byte, off int64) (int, error) {
	f.db.mu.RLock()
	defer f.db.mu.RUnlock()
	n := 0
	for n < len(b) && off+int64(n) < f.db.size {
		at := off + int64(n)
		sector := f.db.sectors[at/memorySector]
		end := min(int64(len(sector)), f.db.size-at/memorySector*memorySector)
		n += copy(b[n:], sector[at%memorySector:end])
	}
	if n < len(b) {
		clear(b[n:])
		return n, sqlite3.IOERR_SHORT_READ
	}
	return n, nil
}

func (f *memoryFile) WriteAt(b []byte, off int64) (int, error) {
	if f.readOnly {
		return 0, sqlite3.READONLY
	}
	f.db.mu.Lock()
	defer f.db.mu.Unlock()
	f.db.write(b, off)
	return len(b), nil
}

// write puts b at off, growing the file (with zeros up to off).
func (db *memoryDB) write(b []byte, off int64) {
	end := off + int64(len(b))
	for int64(len(db.sectors))*memorySector < end {
		db.sectors = append(db.sectors, make([]byte, memorySector))
	}
	for n := 0; n < len(b); {
		at := off + int64(n)
		n += copy(db.sectors[at/memorySector][at%memorySector:], b[n:])
	}
	db.size = max(db.size, end)
}

func (f *memoryFile) Truncate(size int64) error {
	if f.readOnly {
		return sqlite3.READONLY
	}
	f.db.mu.Lock()
	defer f.db.mu.Unlock()
	if size < f.db.size {
		// What lies past the end must read as zeros if the file grows again.
		keep := (size + memorySector - 1) / memorySector
		if size%memorySector != 0 {
			clear(f.db.sectors[size/memorySector][size%memorySector:])
		}
		clear(f.db.sectors[keep:])
		f.db.sectors = f.db.sectors[:keep]
	} else if size > f.db.size {
		f.db.write(nil, size) // grows the sectors; the bytes are zeros
	}
	f.db.size = size
	return nil
}

// SizeHint implements vfs.FileSizeHint: the sectors for size, now.
func (f *memoryFile) SizeHint(size int64) error {
	f.db.mu.Lock()
	defer f.db.mu.Unlock()
	for int64(len(f.db.sectors))*memorySector < size {
		f.db.sectors = append(f.db.sectors, make([]byte, memorySector))
	}
	return nil
}

func (f *memoryFile) Sync(vfs.SyncFlag) error { return nil }

func (f *memoryFile) Size() (int64, error) {
	f.db.mu.RLock()
	defer f.db.mu.RUnlock()
	return f.db.size, nil
}

func (*memoryFile) SectorSize() int { return memorySector }

func (*memoryFile) DeviceCharacteristics() vfs.DeviceCharacteristic {
	return vfs.IOCAP_ATOMIC | vfs.IOCAP_SEQUENTIAL | vfs.IOCAP_SAFE_APPEND | vfs.IOCAP_POWERSAFE_OVERWRITE
}
