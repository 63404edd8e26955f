package engine

import (
	"errors"
	"fmt"

	"github.com/hearthdb/hearth/wasm/protocol"
	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

// errReopen is a replaceFile whose connection could not be opened again:
// the Conn has no database and its storage is released.
var errReopen = errors.New("reopening the database after writing its file")

// replaceFile makes data, a whole SQLite file, the database's file (nil
// or empty: an empty file, a new database): the connection is closed,
// the file written through the storage's VFS, and the connection opened
// again on it. Only for a database that is new (nothing in it to lose)
// at a WholeFile location. SQLite's backup sends every page through the
// pager: on IndexedDB the 60 MiB file of 100,000 tasks went in in 1.19 s
// that way, 0.87–0.98 s written whole (e2e/bench/sync.mjs, 2026-12-07;
// wasm/storage.go says why OPFS keeps the backup).
//
// An error wrapping errReopen leaves c without a database; any other
// leaves it open on an empty file.
func (c *Conn) replaceFile(data []byte) error {
	if err := c.closeDB(); err != nil {
		release(c.location)
		return fmt.Errorf("%w: closing it: %w", errReopen, err)
	}
	werr := writeWholeFile(c.location, data)
	if werr != nil {
		writeWholeFile(c.location, nil) //nolint:errcheck // the open below finds what is left
	}
	if err := c.open(); err != nil {
		return fmt.Errorf("%w: %w", errReopen, err)
	}
	return werr
}

// writeWholeFile replaces the database file at loc with data, under the
// VFS's exclusive lock, and removes its WAL and journal (the database
// was new: they hold nothing). SQLite's magic (the first 16 bytes) is
// written last, after the rest is synced: a write cut short (the tab
// closed mid-way) leaves a file without it, which Conn.open empties
// (emptyUnfinishedFile) instead of failing on it forever.
func writeWholeFile(loc Location, data []byte) (err error) {
	v, name, err := loc.vfsFile()
	if err != nil {
		return err
	}
	for _, suffix := range []string{"-wal", "-journal"} {
		if ok, _ := v.Access(name+suffix, vfs.ACCESS_EXISTS); ok {
			if err := v.Delete(name+suffix, false); err != nil {
				return fmt.Errorf("removing the database's %s: %w", suffix[1:], err)
			}
		}
	}
	f, _, err := v.Open(name, vfs.OPEN_MAIN_DB|vfs.OPEN_READWRITE|vfs.OPEN_CREATE)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	for _, l := range []vfs.LockLevel{vfs.LOCK_SHARED, vfs.LOCK_RESERVED, vfs.LOCK_EXCLUSIVE} {
		if err := f.Lock(l); err != nil {
			return fmt.Errorf("locking the database file: %w", err)
		}
	}
	defer f.Unlock(vfs.LOCK_NONE) //nolint:errcheck // closing drops it too
	magic := min(len(sqliteMagic), len(data))
	if err := f.Truncate(0); err != nil {
		return err
	}
	if len(data) > magic {
		if _, err := f.WriteAt(data[magic:], int64(magic)); err != nil {
			return err
		}
		if err := f.Sync(vfs.SYNC_FULL); err != nil {
			return err
		}
	}
	if magic > 0 {
		if _, err := f.WriteAt(data[:magic], 0); err != nil {
			return err
		}
	}
	return f.Sync(vfs.SYNC_FULL)
}

// emptyUnfinishedFile empties the database file at loc when it is what
// an interrupted writeWholeFile leaves: not empty, its first 16 bytes
// zero (a SQLite file begins with its magic; an encrypted one is not
// written whole). Reports whether it did.
func emptyUnfinishedFile(loc Location) (bool, error) {
	if !loc.WholeFile || loc.Encrypted {
		return false, nil
	}
	v, name, err := loc.vfsFile()
	if err != nil {
		return false, err
	}
	if ok, err := v.Access(name, vfs.ACCESS_EXISTS); err != nil || !ok {
		return false, err
	}
	f, _, err := v.Open(name, vfs.OPEN_MAIN_DB|vfs.OPEN_READWRITE)
	if err != nil {
		return false, err
	}
	defer f.Close()
	head := make([]byte, len(sqliteMagic))
	if n, _ := f.ReadAt(head, 0); n < len(head) {
		return false, nil // shorter than a header: SQLite's to judge
	}
	for _, b := range head {
		if b != 0 {
			return false, nil
		}
	}
	if err := f.Truncate(0); err != nil {
		return false, err
	}
	return true, f.Sync(vfs.SYNC_FULL)
}

// isNotADatabase reports SQLite's "file is not a database", as SQLite
// gives it or as sqlError reports it.
func isNotADatabase(err error) bool {
	var perr *protocol.Error
	return errors.Is(err, sqlite3.NOTADB) || errors.As(err, &perr) && perr.Code == CodeName(sqlite3.ExtendedErrorCode(sqlite3.NOTADB))
}
