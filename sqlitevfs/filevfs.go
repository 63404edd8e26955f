package sqlitevfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

// FileVFS is an SQLite VFS that stores each SQLite file as one file of a
// [FileStore] (OPFS in the browser). It is a thin mapping: reads and writes go
// straight to the store, Sync is Flush, and locking is in-process.
//
// Store handles are opened once and kept after SQLite closes a file, because
// opening an OPFS sync access handle is slow and exclusive; they are closed
// when the file is deleted, by [FileVFS.ReleaseHandles], or for temporary
// files when SQLite closes them. The VFS assumes it is the only user of its
// store while it runs: it caches which files exist.
type FileVFS struct {
	store FileStore
	temps *tempNamer
	// CoalesceWrites, when positive, gathers consecutive writes of up to
	// that many bytes into one store write (see coalescedFile). Set it
	// before the first Open, and only for databases that sync every
	// commit (synchronous=FULL).
	CoalesceWrites int
	// ReadAheadWAL, when positive, reads a WAL file from the store in
	// blocks of that many bytes, kept until the file is next written
	// (see readAheadFile): for stores where each call is costly. Set it
	// before the first Open.
	ReadAheadWAL int
	// HeadroomBytes, when positive, is how many bytes of store space the
	// VFS holds in reserve (in [HeadroomFile]) from the first main
	// database it opens, so that an app can still delete at the quota:
	// the runtime calls SpendHeadroom when an app's write fails on the
	// quota and Reclaim after commits. Set it before the first Open.
	HeadroomBytes int64
	Headroom
	mainDB string // the store name of the last main database opened; guarded by mu

	mu      sync.Mutex
	entries map[string]*fileEntry // files with a kept store handle
	exists  map[string]bool       // what the store said about files without an entry
}

// fileEntry is one store file with a kept handle and the lock state shared by
// every SQLite handle on it.
type fileEntry struct {
	name          string
	refs          int // open SQLite handles; guarded by FileVFS.mu
	deleteOnClose bool
	locks         fileLocks

	ioMu sync.Mutex // serialises calls on file, which is shared by all handles
	file StoredFile
}

var (
	_ vfs.VFS           = (*FileVFS)(nil)
	_ vfs.FileLockState = (*fileHandle)(nil)
)

// NewFileVFS returns a VFS over store. Register it with vfs.Register and open
// databases with "file:/name.db?vfs=NAME".
func NewFileVFS(store FileStore) *FileVFS {
	v := &FileVFS{
		store:   store,
		temps:   newTempNamer(),
		entries: map[string]*fileEntry{},
		exists:  map[string]bool{},
	}
	v.Headroom = Headroom{store: fileReserve{v}, size: func() int64 { return v.HeadroomBytes }}
	return v
}

// Open implements vfs.VFS.
func (v *FileVFS) Open(name string, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	key, err := v.openName(name)
	if err != nil {
		return nil, flags, vfs.SystemError(err, sqlite3.CANTOPEN)
	}
	create := flags&vfs.OPEN_CREATE != 0
	exclusive := create && flags&vfs.OPEN_EXCLUSIVE != 0

	v.mu.Lock()
	defer v.mu.Unlock()

	e := v.entries[key]
	if e == nil {
		if known, ok := v.exists[key]; ok && !known && !create {
			return nil, flags, sqlite3.CANTOPEN
		}
		if exclusive {
			if ok, err := v.existsLocked(key); err != nil {
				return nil, flags, storeError(err, sqlite3.ExtendedErrorCode(sqlite3.CANTOPEN))
			} else if ok {
				return nil, flags, sqlite3.CANTOPEN
			}
		}
		f, err := v.store.OpenFile(key, create)
		if errors.Is(err, fs.ErrNotExist) {
			v.exists[key] = false
			return nil, flags, sqlite3.CANTOPEN
		}
		if err != nil {
			return nil, flags, storeError(fmt.Errorf("open %q: %w", key, err), sqlite3.ExtendedErrorCode(sqlite3.CANTOPEN))
		}
		if v.ReadAheadWAL > 0 && flags&vfs.OPEN_WAL != 0 {
			f = newReadAheadFile(f, v.ReadAheadWAL)
		}
		if v.CoalesceWrites > 0 {
			f = newCoalescedFile(f, v.CoalesceWrites)
		}
		e = &fileEntry{name: key, file: f}
		v.entries[key] = e
		delete(v.exists, key)
	} else if exclusive {
		return nil, flags, sqlite3.CANTOPEN
	}

	if flags&vfs.OPEN_MAIN_DB != 0 {
		v.mainDB = key
		v.ensureHeadroom()
	}
	e.refs++
	if flags&vfs.OPEN_DELETEONCLOSE != 0 {
		e.deleteOnClose = true
	}
	h := &fileHandle{
		lockHandle: lockHandle{locks: &e.locks, readOnly: flags&vfs.OPEN_READONLY != 0},
		vfs:        v,
		entry:      e,
	}
	return h, flags, nil
}

// openName returns the store name for an SQLite name; "" (a temporary file)
// gets a fresh unique name.
func (v *FileVFS) openName(name string) (string, error) {
	if name == "" {
		return v.temps.next(), nil
	}
	return storeName(name)
}

// Delete implements vfs.VFS.
func (v *FileVFS) Delete(name string, syncDir bool) error {
	key, err := storeName(name)
	if err != nil {
		return vfs.SystemError(err, sqlite3.IOERR_DELETE)
	}
	v.mu.Lock()
	defer v.mu.Unlock()

	if e := v.entries[key]; e != nil {
		if e.refs > 0 {
			// OPFS cannot remove a file with an open handle, and SQLite
			// always closes before deleting.
			return vfs.SystemError(fmt.Errorf("delete %q: file is open", key), sqlite3.IOERR_DELETE)
		}
		return storeError(v.removeLocked(e), sqlite3.IOERR_DELETE)
	}
	if known, ok := v.exists[key]; ok && !known {
		return sqlite3.IOERR_DELETE_NOENT
	}
	if err := v.store.DeleteFile(key); err != nil {
		return storeError(fmt.Errorf("delete %q: %w", key, err), sqlite3.IOERR_DELETE)
	}
	v.exists[key] = false
	return nil
}

// removeLocked closes e's store handle and deletes the file; v.mu must be
// held and e must have no SQLite handles.
func (v *FileVFS) removeLocked(e *fileEntry) error {
	delete(v.entries, e.name)
	errClose := e.file.Close()
	errDelete := v.store.DeleteFile(e.name)
	if errDelete == nil {
		v.forgetLocked(e.name)
	}
	if err := errors.Join(errClose, errDelete); err != nil {
		return fmt.Errorf("delete %q: %w", e.name, err)
	}
	return nil
}

// forgetLocked records that name no longer exists. Temporary names are never
// reused, so remembering them would only grow the map.
func (v *FileVFS) forgetLocked(name string) {
	if strings.HasPrefix(name, TempFilePrefix) {
		delete(v.exists, name)
	} else {
		v.exists[name] = false
	}
}

// Access implements vfs.VFS. SQLite asks it about the journal at the start of
// every read transaction, so answers are cached.
func (v *FileVFS) Access(name string, flags vfs.AccessFlag) (bool, error) {
	key, err := storeName(name)
	if err != nil {
		return false, vfs.SystemError(err, sqlite3.IOERR_ACCESS)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	ok, err := v.existsLocked(key)
	return ok, storeError(err, sqlite3.IOERR_ACCESS)
}

func (v *FileVFS) existsLocked(key string) (bool, error) {
	if v.entries[key] != nil {
		return true, nil
	}
	if known, ok := v.exists[key]; ok {
		return known, nil
	}
	ok, err := v.store.FileExists(key)
	if err != nil {
		return false, fmt.Errorf("exists %q: %w", key, err)
	}
	v.exists[key] = ok
	return ok, nil
}

// FullPathname implements vfs.VFS. Names are keys in a flat store, so they
// are used as given.
func (v *FileVFS) FullPathname(name string) (string, error) {
	return name, nil
}

// ReleaseHandles closes the kept store handles of every file SQLite does not
// have open, e.g. before another worker takes the database over (an OPFS file
// has only one sync access handle at a time). The VFS stays usable and
// reopens handles as needed. Files still open in SQLite are left alone and
// reported in the error.
func (v *FileVFS) ReleaseHandles() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	var errs []error
	for name, e := range v.entries {
		if e.refs > 0 {
			errs = append(errs, fmt.Errorf("sqlitevfs: %q is still open", name))
			continue
		}
		delete(v.entries, name)
		v.exists[name] = true
		if err := e.file.Close(); err != nil {
			errs = append(errs, fmt.Errorf("sqlitevfs: close %q: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// RemoveTempFiles deletes temporary files left in the store by a previous
// session that crashed. Call it before opening databases.
func (v *FileVFS) RemoveTempFiles() error {
	names, err := v.store.ListFiles()
	if err != nil {
		return fmt.Errorf("sqlitevfs: list files: %w", err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	var errs []error
	for _, name := range names {
		if !strings.HasPrefix(name, TempFilePrefix) {
			continue
		}
		if e := v.entries[name]; e != nil {
			if e.refs == 0 {
				errs = append(errs, v.removeLocked(e))
			}
			continue
		}
		errs = append(errs, v.store.DeleteFile(name))
	}
	return errors.Join(errs...)
}

// fileHandle is SQLite's handle on a FileVFS file.
type fileHandle struct {
	lockHandle
	vfs    *FileVFS
	entry  *fileEntry
	closed bool
}

// Close implements vfs.File. The store handle is kept unless the file is
// deleted on close.
func (h *fileHandle) Close() error {
	if h.closed {
		return nil
	}
	h.closed = true
	h.Unlock(vfs.LOCK_NONE)

	v := h.vfs
	v.mu.Lock()
	defer v.mu.Unlock()
	e := h.entry
	if e.refs--; e.refs > 0 || !e.deleteOnClose {
		return nil
	}
	return storeError(v.removeLocked(e), sqlite3.IOERR_CLOSE)
}

// ReadAt implements vfs.File. Short reads must return exactly io.EOF, which
// the vfs layer turns into SQLITE_IOERR_SHORT_READ after zero-filling.
func (h *fileHandle) ReadAt(p []byte, off int64) (int, error) {
	e := h.entry
	e.ioMu.Lock()
	n, err := e.file.ReadAt(p, off)
	e.ioMu.Unlock()
	if n == len(p) {
		return n, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return n, io.EOF
	}
	return n, storeError(fmt.Errorf("read %q: %w", e.name, err), sqlite3.IOERR_READ)
}

// WriteAt implements vfs.File.
func (h *fileHandle) WriteAt(p []byte, off int64) (int, error) {
	e := h.entry
	e.ioMu.Lock()
	n, err := e.file.WriteAt(p, off)
	e.ioMu.Unlock()
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return n, storeError(fmt.Errorf("write %q: %w", e.name, err), sqlite3.IOERR_WRITE)
	}
	return n, nil
}

// Truncate implements vfs.File.
func (h *fileHandle) Truncate(size int64) error {
	e := h.entry
	e.ioMu.Lock()
	defer e.ioMu.Unlock()
	if err := e.file.Truncate(size); err != nil {
		return storeError(fmt.Errorf("truncate %q: %w", e.name, err), sqlite3.IOERR_TRUNCATE)
	}
	return nil
}

// Sync implements vfs.File.
func (h *fileHandle) Sync(vfs.SyncFlag) error {
	e := h.entry
	e.ioMu.Lock()
	defer e.ioMu.Unlock()
	if err := e.file.Flush(); err != nil {
		return storeError(fmt.Errorf("flush %q: %w", e.name, err), sqlite3.IOERR_FSYNC)
	}
	return nil
}

// Size implements vfs.File.
func (h *fileHandle) Size() (int64, error) {
	e := h.entry
	e.ioMu.Lock()
	defer e.ioMu.Unlock()
	n, err := e.file.Size()
	if err != nil {
		return 0, storeError(fmt.Errorf("size %q: %w", e.name, err), sqlite3.IOERR_FSTAT)
	}
	return n, nil
}

// SectorSize implements vfs.File.
func (h *fileHandle) SectorSize() int {
	return 4096
}

// DeviceCharacteristics implements vfs.File. A write to OPFS only affects the
// bytes written (powersafe overwrite); nothing stronger is promised.
func (h *fileHandle) DeviceCharacteristics() vfs.DeviceCharacteristic {
	return vfs.IOCAP_POWERSAFE_OVERWRITE | vfs.IOCAP_SUBPAGE_READ
}
