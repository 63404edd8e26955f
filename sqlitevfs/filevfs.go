package sqlitevfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"

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
//
// Opening, deleting, listing and asking whether a file exists wait for the
// browser (a promise), while reads, writes and flushes are synchronous. A
// wait is only possible while Go is the only code on the stack; once
// SQLite runs as its own module (docs/sqlite-module.md) no VFS method may
// wait. [FileVFS.Prepare] does the waiting before SQLite runs: it learns
// which files exist and opens the handles of a database's files, and
// those that do not exist yet it creates as empty spares that SQLite sees
// as absent and a delete returns to. [FileVFS.StoreWaits] counts what
// still waited inside SQLite's calls.
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
	// listed: exists holds every file the store has (Prepare listed them
	// all), so a name in neither map is absent without asking.
	listed bool
	// prepared names the files Prepare keeps handles of: deleting one
	// empties it and keeps it as a spare.
	prepared map[string]bool

	waits atomic.Int64 // store calls that waited inside SQLite's calls
}

// fileEntry is one store file with a kept handle and the lock state shared by
// every SQLite handle on it.
type fileEntry struct {
	name          string
	refs          int // open SQLite handles; guarded by FileVFS.mu
	deleteOnClose bool
	// spare: the store has the file, empty, but SQLite was told it does
	// not exist (Prepare created it ahead, or SQLite deleted it); guarded
	// by FileVFS.mu.
	spare bool
	locks fileLocks

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
		store:    store,
		temps:    newTempNamer(),
		entries:  map[string]*fileEntry{},
		exists:   map[string]bool{},
		prepared: map[string]bool{},
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
	switch {
	case e == nil:
		if known, ok := v.knownLocked(key); ok && !known && !create {
			return nil, flags, sqlite3.CANTOPEN
		}
		if exclusive {
			if ok, err := v.existsLocked(key); err != nil {
				return nil, flags, storeError(err, sqlite3.ExtendedErrorCode(sqlite3.CANTOPEN))
			} else if ok {
				return nil, flags, sqlite3.CANTOPEN
			}
		}
		f, err := v.openStore(key, create, true)
		if errors.Is(err, fs.ErrNotExist) {
			v.exists[key] = false
			return nil, flags, sqlite3.CANTOPEN
		}
		if err != nil {
			return nil, flags, storeError(err, sqlite3.ExtendedErrorCode(sqlite3.CANTOPEN))
		}
		e = &fileEntry{name: key, file: f}
		v.entries[key] = e
		delete(v.exists, key)
	case e.spare:
		if !create {
			return nil, flags, sqlite3.CANTOPEN
		}
		e.spare = false
	case exclusive:
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

// openStore opens a store file and wraps it as the VFS's options ask.
// inSQLite says the call is made inside one of SQLite's (see StoreWaits).
func (v *FileVFS) openStore(key string, create, inSQLite bool) (StoredFile, error) {
	if inSQLite {
		v.waits.Add(1)
	}
	f, err := v.store.OpenFile(key, create)
	if err != nil {
		return nil, fmt.Errorf("open %q: %w", key, err)
	}
	if v.ReadAheadWAL > 0 && strings.HasSuffix(key, "-wal") {
		f = newReadAheadFile(f, v.ReadAheadWAL)
	}
	if v.CoalesceWrites > 0 {
		f = newCoalescedFile(f, v.CoalesceWrites)
	}
	return f, nil
}

// Prepare readies the database whose SQLite name is main, and those of
// its companions (main + "-wal", main + "-journal", ...) that its journal
// mode uses, before SQLite opens it, so that SQLite's calls into the VFS
// need not wait for the store. It lists the store once, so that existence
// is known without asking, keeps a handle on each of these files, creating
// those that do not exist as empty spares that SQLite sees as absent (an
// empty file is absent to SQLite in every sense that matters: a new
// database, no WAL, no hot journal), and writes the headroom reserve if it
// is due. A delete of a prepared file empties it and makes it a spare
// again, with no store call. Prepare again after ReleaseHandles.
func (v *FileVFS) Prepare(main string, companions ...string) error {
	names, err := v.store.ListFiles()
	if err != nil {
		return fmt.Errorf("sqlitevfs: list files: %w", err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	clear(v.exists)
	for _, name := range names {
		if v.entries[name] == nil {
			v.exists[name] = true
		}
	}
	v.listed = true
	mainKey, err := storeName(main)
	if err != nil {
		return fmt.Errorf("sqlitevfs: %w", err)
	}
	for _, name := range append([]string{main}, companions...) {
		key, err := storeName(name)
		if err != nil {
			return fmt.Errorf("sqlitevfs: %w", err)
		}
		v.prepared[key] = true
		if v.entries[key] != nil {
			continue
		}
		f, err := v.openStore(key, true, false)
		if err != nil {
			return fmt.Errorf("sqlitevfs: %w", err)
		}
		size, err := f.Size()
		if err != nil {
			f.Close()
			return fmt.Errorf("sqlitevfs: size %q: %w", key, err)
		}
		v.entries[key] = &fileEntry{name: key, file: f, spare: size == 0}
		delete(v.exists, key)
	}
	v.mainDB = mainKey
	v.ensureHeadroom()
	return nil
}

// StoreWaits counts the store calls that waited for the browser inside
// SQLite's calls (opens, deletes and existence checks that Prepare did not
// cover): each would be fatal once SQLite runs as its own module.
func (v *FileVFS) StoreWaits() int64 { return v.waits.Load() }

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
		if e.spare {
			return sqlite3.IOERR_DELETE_NOENT
		}
		if v.prepared[key] {
			return storeError(v.spareLocked(e), sqlite3.IOERR_DELETE)
		}
		return storeError(v.removeLocked(e, true), sqlite3.IOERR_DELETE)
	}
	if known, ok := v.knownLocked(key); ok && !known {
		return sqlite3.IOERR_DELETE_NOENT
	}
	v.waits.Add(1)
	if err := v.store.DeleteFile(key); err != nil {
		return storeError(fmt.Errorf("delete %q: %w", key, err), sqlite3.IOERR_DELETE)
	}
	v.exists[key] = false
	return nil
}

// spareLocked empties a prepared file in place of deleting it: SQLite
// sees it absent from now on. The flush makes the emptying as durable as
// a deletion would be (SQLite deletes a WAL or a journal to commit, or
// after a checkpoint); v.mu must be held and e must have no SQLite handles.
func (v *FileVFS) spareLocked(e *fileEntry) error {
	e.ioMu.Lock()
	defer e.ioMu.Unlock()
	if err := e.file.Truncate(0); err != nil {
		return fmt.Errorf("delete %q: %w", e.name, err)
	}
	if err := e.file.Flush(); err != nil {
		return fmt.Errorf("delete %q: %w", e.name, err)
	}
	e.spare = true
	return nil
}

// removeLocked closes e's store handle and deletes the file; v.mu must be
// held and e must have no SQLite handles. inSQLite: as for openStore.
func (v *FileVFS) removeLocked(e *fileEntry, inSQLite bool) error {
	if inSQLite {
		v.waits.Add(1)
	}
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
	if known, ok := v.knownLocked(key); ok {
		return known, nil
	}
	v.waits.Add(1)
	ok, err := v.store.FileExists(key)
	if err != nil {
		return false, fmt.Errorf("exists %q: %w", key, err)
	}
	v.exists[key] = ok
	return ok, nil
}

// knownLocked says whether key exists, as far as the VFS knows without
// asking the store (ok false: it does not know); v.mu must be held.
func (v *FileVFS) knownLocked(key string) (exists, ok bool) {
	if e := v.entries[key]; e != nil {
		return !e.spare, true
	}
	if known, ok := v.exists[key]; ok {
		return known, true
	}
	return false, v.listed
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
	// Another worker may change the store once the handles are given
	// up: what this one knows of it holds no longer.
	clear(v.exists)
	v.listed = false
	var errs []error
	for name, e := range v.entries {
		if e.refs > 0 {
			errs = append(errs, fmt.Errorf("sqlitevfs: %q is still open", name))
			continue
		}
		delete(v.entries, name)
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
				errs = append(errs, v.removeLocked(e, false))
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
	return storeError(v.removeLocked(e, true), sqlite3.IOERR_CLOSE)
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
