package sqlitevfs

import (
	"fmt"
	"sync"

	"github.com/ncruces/go-sqlite3"
)

// HeadroomFile is the store file that holds a FileVFS's reserve. No SQLite
// name maps to it: storeName escapes '%'.
const HeadroomFile = "%headroom"

// DefaultHeadroom is the reserve the browser's OPFS databases keep: room
// for a delete's WAL frames (512 pages of 4 KiB) at a cost no quota notices.
const DefaultHeadroom = 2 << 20

// headroom is a FileVFS's reserve of store space (see FileVFS.Headroom).
//
// At a quota even a DELETE fails: SQLite must write the changed pages to
// the WAL or the rollback journal before it can free anything, so an app
// that filled its storage could never empty it. The VFS therefore keeps a
// file of Headroom bytes, which the runtime deletes once an app's write has
// failed on the quota (the app has been told it is full): the writes that
// follow, the app's deletes, find room. [FileVFS.Reclaim] takes the reserve
// back once those deletes have given space back.
//
// The VFS does not spend the reserve on its own at the first quota error
// it sees: in WAL mode that is usually an automatic checkpoint growing the
// database file, which SQLite ignores, and the app's next inserts would
// silently use up the reserve.
type headroom struct {
	mu    sync.Mutex
	state headroomState
}

type headroomState int

const (
	headroomUnknown  headroomState = iota // not looked at in this session
	headroomHeld                          // the file holds the reserve
	headroomReleased                      // spent: given to the writes after a quota error
)

// ensure creates or completes the reserve once per session; at the quota
// it stays released until Reclaim finds room.
func (v *FileVFS) ensureHeadroom() {
	h := &v.headroom
	h.mu.Lock()
	defer h.mu.Unlock()
	if v.Headroom <= 0 || h.state != headroomUnknown {
		return
	}
	h.state = headroomReleased
	if v.growHeadroomLocked() == nil {
		h.state = headroomHeld
	}
}

// growHeadroomLocked makes the reserve file Headroom bytes long.
func (v *FileVFS) growHeadroomLocked() error {
	f, err := v.store.OpenFile(HeadroomFile, true)
	if err != nil {
		return err
	}
	size, err := f.Size()
	if err == nil && size < v.Headroom {
		if err = f.Truncate(v.Headroom); err == nil {
			err = f.Flush()
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// Whatever part was allocated would only be quota lost.
		v.store.DeleteFile(HeadroomFile)
	}
	return err
}

// SpendHeadroom gives the reserve up: call it when an app's write failed
// with SQLITE_FULL.
func (v *FileVFS) SpendHeadroom() {
	if v.Headroom <= 0 {
		return
	}
	h := &v.headroom
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state == headroomReleased {
		return
	}
	if v.store.DeleteFile(HeadroomFile) == nil {
		h.state = headroomReleased
	}
}

// HeadroomHeld reports whether the reserve is in place.
func (v *FileVFS) HeadroomHeld() bool {
	v.headroom.mu.Lock()
	defer v.headroom.mu.Unlock()
	return v.headroom.state == headroomHeld
}

// ReclaimPragmas are the pragmas, in order, with which Reclaim gives space
// back: first the database's free pages are cut off its end (with
// auto_vacuum=INCREMENTAL; a no-op otherwise), which in WAL mode lowers the
// size the last commit records, then the WAL is checkpointed and emptied.
// The order matters at the quota: a checkpoint skips pages past the
// database's size, so after the vacuum it need not grow the database file
// before it can empty the WAL. With a rollback journal the checkpoint is a
// no-op.
var ReclaimPragmas = []string{
	"PRAGMA incremental_vacuum",
	"PRAGMA wal_checkpoint(TRUNCATE)",
}

// Reclaim takes the reserve back after it was spent. Call it after each
// committed write on c, a connection over this VFS with no transaction
// open; while the reserve is held it does nothing. Otherwise it gives space
// back (ReclaimPragmas) and grows the reserve again. The database must use
// auto_vacuum=INCREMENTAL for the app's deletes to shrink it; without it
// only the WAL's space comes back. At the quota still, it fails and leaves
// the reserve spent: the next commit tries again.
func (v *FileVFS) Reclaim(c *sqlite3.Conn) error {
	if v.Headroom <= 0 {
		return nil
	}
	h := &v.headroom
	h.mu.Lock()
	state := h.state
	h.mu.Unlock()
	if state != headroomReleased {
		return nil
	}
	for _, p := range ReclaimPragmas {
		if err := c.Exec(p); err != nil {
			return fmt.Errorf("sqlitevfs: reclaiming headroom: %s: %w", p, err)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state != headroomReleased {
		return nil
	}
	if err := v.growHeadroomLocked(); err != nil {
		return fmt.Errorf("sqlitevfs: reclaiming headroom: %w", err)
	}
	h.state = headroomHeld
	return nil
}
