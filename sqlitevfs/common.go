package sqlitevfs

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

// TempFilePrefix starts the store name of every temporary file the VFSes
// create. No name derived from an SQLite file name can start with it ('%' is
// always escaped), so [FileVFS.RemoveTempFiles] and
// [BlockVFS.RemoveTempFiles] can find the leftovers of a crash.
const TempFilePrefix = "%tmp-"

// storeError tags err with the result code SQLite should see. Storage-full
// errors become SQLITE_FULL whatever the operation, so that SQLite rolls the
// transaction back instead of treating the database as damaged. The vfs
// package maps only unwrapped codes, hence the explicit tagging.
func storeError(err error, code sqlite3.ExtendedErrorCode) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrQuota) {
		return vfs.SystemError(err, sqlite3.FULL)
	}
	return vfs.SystemError(err, code)
}

// storeName maps an SQLite file name ("/app.db", "/app.db-journal") to a
// name that is valid as an OPFS file name and an IndexedDB key: the leading
// slashes go, and '%', '/', '\\' and NUL are percent-escaped so that distinct
// SQLite names stay distinct.
func storeName(name string) (string, error) {
	trimmed := strings.TrimLeft(name, "/")
	var b strings.Builder
	for i := 0; i < len(trimmed); i++ {
		switch c := trimmed[i]; c {
		case '%', '/', '\\', 0:
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	s := b.String()
	switch s {
	case "":
		return "", fmt.Errorf("sqlitevfs: file name %q names no file", name)
	case ".", "..":
		s = strings.ReplaceAll(s, ".", "%2E")
	}
	return s, nil
}

// tempNamer makes store names for SQLite's nameless temporary files. The
// random part keeps names unique across sessions that share a store, so a
// leftover from a crash is never mistaken for a live file.
type tempNamer struct {
	session string
	seq     atomic.Uint64
}

func (t *tempNamer) next() string {
	return fmt.Sprintf("%s%s-%d", TempFilePrefix, t.session, t.seq.Add(1))
}

func newTempNamer() *tempNamer {
	var b [6]byte
	rand.Read(b[:])
	return &tempNamer{session: hex.EncodeToString(b[:])}
}

// fileLocks is the lock state of one file, shared by all of its handles in
// this process. On js/wasm go-sqlite3 has no OS locks, so the VFSes keep
// SQLite's five-level protocol here, the way the memdb VFS does. A lock that
// cannot be granted at once returns SQLITE_BUSY and SQLite's busy handler
// decides whether to retry; nothing ever blocks.
type fileLocks struct {
	mu       sync.Mutex
	shared   int  // handles at SHARED or above
	reserved bool // one handle is at RESERVED or above
	pending  bool // that handle is at PENDING or EXCLUSIVE: no new readers
}

// lock raises a handle's lock from *held to want.
func (l *fileLocks) lock(held *vfs.LockLevel, want vfs.LockLevel) error {
	if *held >= want {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()

	switch want {
	case vfs.LOCK_SHARED:
		if l.pending {
			return sqlite3.BUSY
		}
		l.shared++

	case vfs.LOCK_RESERVED:
		if *held != vfs.LOCK_SHARED {
			return sqlite3.IOERR_LOCK
		}
		if l.reserved {
			return sqlite3.BUSY
		}
		l.reserved = true

	case vfs.LOCK_EXCLUSIVE:
		if *held == vfs.LOCK_NONE {
			return sqlite3.IOERR_LOCK
		}
		if *held == vfs.LOCK_SHARED {
			// Straight from SHARED (hot journal rollback): become the
			// writer first, as RESERVED would.
			if l.reserved {
				return sqlite3.BUSY
			}
			l.reserved = true
			*held = vfs.LOCK_RESERVED
		}
		// PENDING keeps new readers out while existing ones finish.
		l.pending = true
		*held = vfs.LOCK_PENDING
		if l.shared > 1 {
			return sqlite3.BUSY
		}

	default:
		return sqlite3.IOERR_LOCK
	}
	*held = want
	return nil
}

// unlock lowers a handle's lock from *held to want (SHARED or NONE).
func (l *fileLocks) unlock(held *vfs.LockLevel, want vfs.LockLevel) {
	if *held <= want {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()

	if *held >= vfs.LOCK_RESERVED {
		l.reserved = false
	}
	if *held >= vfs.LOCK_PENDING {
		l.pending = false
	}
	if want == vfs.LOCK_NONE {
		l.shared--
	}
	*held = want
}

// isReserved reports whether any handle holds RESERVED or above.
func (l *fileLocks) isReserved() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reserved
}

// lockHandle is the per-handle half of the locking protocol, embedded by the
// vfs.File implementations of both VFSes.
type lockHandle struct {
	locks    *fileLocks
	level    vfs.LockLevel
	readOnly bool
}

// Lock implements vfs.File.
func (h *lockHandle) Lock(level vfs.LockLevel) error {
	if h.readOnly && level >= vfs.LOCK_RESERVED {
		return sqlite3.IOERR_LOCK
	}
	return h.locks.lock(&h.level, level)
}

// Unlock implements vfs.File.
func (h *lockHandle) Unlock(level vfs.LockLevel) error {
	h.locks.unlock(&h.level, level)
	return nil
}

// CheckReservedLock implements vfs.File.
func (h *lockHandle) CheckReservedLock() (bool, error) {
	if h.level >= vfs.LOCK_RESERVED {
		return true, nil
	}
	return h.locks.isReserved(), nil
}

// LockState implements vfs.FileLockState.
func (h *lockHandle) LockState() vfs.LockLevel {
	return h.level
}
