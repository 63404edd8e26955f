package sqlitevfs

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"

	"github.com/ncruces/go-sqlite3"
)

// HeadroomFile is the store file that holds a VFS's reserve, and
// ProbeFile the one Reclaim writes and deletes to check that the store has
// physical room for it. No SQLite name maps to either: storeName escapes
// a '%' as "%25", and temporary files begin with TempFilePrefix.
const (
	HeadroomFile = "%headroom"
	ProbeFile    = "%probe"
)

// DefaultHeadroom is the reserve the browser's databases keep: room for a
// delete's WAL frames or journal pages (512 pages of 4 KiB) at a cost no
// quota notices.
const DefaultHeadroom = 2 << 20

// Headroom is a VFS's reserve of store space, for both VFSes.
//
// At a quota even a DELETE fails: SQLite must write the changed pages to
// the WAL or the rollback journal before it can free anything, so an app
// that filled its storage could never empty it. The VFS therefore keeps a store file of Headroom bytes from the
// first main database it opens, which the runtime deletes (SpendHeadroom)
// once an app's write has failed on the quota, the app having been told it
// is full: the writes that follow, the app's deletes, find room. Reclaim
// takes the reserve back once those deletes have given space back.
//
// The VFS does not spend the reserve on its own at the first quota error
// it sees: in WAL mode that is usually an automatic checkpoint growing the
// database file, which SQLite ignores, and the app's next inserts would
// silently use up the reserve.
type headroom struct {
	mu    sync.Mutex
	state headroomState
	// failures counts the reclaims that failed in a row, skip the calls
	// still to pass up before the next: while storage stays full each try
	// costs a vacuum and a checkpoint, so they come at commits 1, 2, 4, …
	// apart, at most maxReclaimGap.
	failures, skip int
	// reclaimBelow is what the database's files held when the reserve was
	// spent, less a reserve: it comes back once they hold no more, so that
	// after it is back there is still a reserve's room free. Taking it back
	// as soon as it fits would put the store at its quota again before the
	// app's deletes had run.
	reclaimBelow int64
}

// maxReclaimGap bounds the commits between two reclaims that find no room.
const maxReclaimGap = 256

type headroomState int

const (
	headroomUnknown  headroomState = iota // not looked at in this session
	headroomHeld                          // the file holds the reserve
	headroomReleased                      // spent: given to the writes after a quota error
)

// reserveStore is what a VFS does to its store for the reserve.
type reserveStore interface {
	// growReserve makes HeadroomFile hold the reserve's bytes, or fails
	// leaving nothing allocated.
	growReserve() error
	// releaseReserve deletes HeadroomFile.
	releaseReserve() error
	// probeRoom writes ProbeFile with the reserve's bytes and deletes it:
	// whether the store has room for another reserve, in its own terms.
	probeRoom() error
	// settle hands the store what the VFS still holds back from it, so
	// that the store's usage is the database's files.
	settle() error
	// sizes sums the sizes of the store's files whose names pass keep.
	sizes(keep func(name string) bool) (int64, error)
	// mainName is the store name of the main database file.
	mainName() string
}

// usedBytes is the bytes of the database's files (not temporary ones; the
// reserve is not a file the VFS opens).
func usedBytes(s reserveStore) (int64, error) {
	return s.sizes(func(name string) bool { return !strings.HasPrefix(name, TempFilePrefix) })
}

// mainBytes is the size of the main database file.
func mainBytes(s reserveStore) (int64, error) {
	main := s.mainName()
	return s.sizes(func(name string) bool { return name == main })
}

// queryInt runs a statement that returns one integer.
func queryInt(c *sqlite3.Conn, sql string) (int64, error) {
	st, _, err := c.Prepare(sql)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	if !st.Step() {
		if err := st.Err(); err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("%s returned no row", sql)
	}
	return st.ColumnInt64(0), nil
}

// ensure creates or completes the reserve once per session; at the quota
// it stays released until reclaim finds room.
func (h *headroom) ensure(s reserveStore) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state != headroomUnknown {
		return
	}
	h.state = headroomReleased
	if s.growReserve() == nil {
		h.state = headroomHeld
	}
}

// spend releases the reserve. The files are measured before h.mu is
// taken: Open holds the VFS's lock while it takes h.mu (ensure), so h.mu
// must never wait for the VFS's lock.
func (h *headroom) spend(s reserveStore, size int64) {
	used, err := usedBytes(s)
	if err != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state == headroomReleased || s.releaseReserve() != nil {
		return
	}
	h.state, h.failures, h.skip = headroomReleased, 0, 0
	h.reclaimBelow = used - size
}

func (h *headroom) held() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state == headroomHeld
}

// reclaim takes the reserve back after it was spent: see Headroom.Reclaim.
func (h *headroom) reclaim(s reserveStore, c *sqlite3.Conn, reserve int64) error {
	h.mu.Lock()
	if h.state != headroomReleased {
		h.mu.Unlock()
		return nil
	}
	if h.skip > 0 {
		h.skip--
		h.mu.Unlock()
		return nil
	}
	h.mu.Unlock()
	err := h.giveBack(s, c, reserve)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		h.skip = min(1<<min(h.failures, 8), maxReclaimGap) - 1
		h.failures++
		return fmt.Errorf("sqlitevfs: reclaiming headroom: %w", err)
	}
	h.state, h.failures, h.skip = headroomHeld, 0, 0
	return nil
}

// errStillFull: the database's files have not shrunk enough yet.
var errStillFull = fmt.Errorf("the app has not freed a reserve's worth of space yet: %w", ErrQuota)

// giveBack frees what it can and grows the reserve. First the database's
// free pages are cut off its end (with auto_vacuum=INCREMENTAL; a no-op
// otherwise), which in WAL mode lowers the size the last commit records;
// then the WAL is checkpointed and emptied (a no-op with a rollback
// journal), but only if the checkpoint need not grow the database file by
// more than a quarter of the reserve: at the quota a larger growth would
// eat the very room the app's deletes need, and fail half way. A
// checkpoint skips pages past the database's size, so after the app's
// deletes and the vacuum it seldom grows the file much.
func (h *headroom) giveBack(s reserveStore, c *sqlite3.Conn, reserve int64) error {
	if err := c.Exec("PRAGMA incremental_vacuum"); err != nil {
		return fmt.Errorf("incremental_vacuum: %w", err)
	}
	pages, err := queryInt(c, "PRAGMA page_count")
	if err != nil {
		return err
	}
	pageSize, err := queryInt(c, "PRAGMA page_size")
	if err != nil {
		return err
	}
	mainSize, err := mainBytes(s)
	if err != nil {
		return err
	}
	if pages*pageSize-mainSize <= reserve/4 {
		if err := c.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			return fmt.Errorf("wal_checkpoint: %w", err)
		}
	}
	used, err := usedBytes(s)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state != headroomReleased {
		return nil
	}
	if used > h.reclaimBelow {
		return errStillFull
	}
	// The database's files shrinking is not the store giving space back:
	// WebKit counts IndexedDB's usage by the size of its own SQLite
	// files, which deleted records do not shrink. Had the reserve come
	// back into the room the app's deletes were meant to make, the app's
	// next write would fail. So it stays only if a reserve's worth still
	// fits beside it: written, then deleted (which gives it back in every
	// store).
	if err := s.settle(); err != nil {
		return err
	}
	if err := s.growReserve(); err != nil {
		return err
	}
	if err := s.probeRoom(); err != nil {
		if rerr := s.releaseReserve(); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	return nil
}

// ---- the VFSes' side ----

// Headroom is the reserve's side of both VFSes (embedded): its methods are
// the runtime's.
type Headroom struct {
	// HeadroomLater leaves writing the reserve to EnsureHeadroom instead
	// of the first open of a main database: it is HeadroomBytes of writes
	// an open need not wait for.
	HeadroomLater bool
	headroom
	// store and size are set by the VFS's constructor.
	store reserveStore
	size  func() int64
}

// SpendHeadroom gives the reserve up: call it when an app's write failed
// with SQLITE_FULL.
func (r *Headroom) SpendHeadroom() {
	if n := r.size(); n > 0 {
		r.spend(r.store, n)
	}
}

// HeadroomHeld reports whether the reserve is in place.
func (r *Headroom) HeadroomHeld() bool { return r.held() }

// Reclaim takes the reserve back after it was spent. Call it after each
// committed write on c, a connection over this VFS with no transaction
// open; while the reserve is held it does nothing. Otherwise it gives space
// back (giveBack) and grows the reserve again. The database must use
// auto_vacuum=INCREMENTAL for the app's deletes to shrink it; without it
// only the WAL's space comes back. While the app has not freed a reserve's
// worth, it fails and leaves the reserve spent: a later commit tries again.
func (r *Headroom) Reclaim(c *sqlite3.Conn) error {
	n := r.size()
	if n <= 0 {
		return nil
	}
	return r.reclaim(r.store, c, n)
}

func (r *Headroom) ensureHeadroom() {
	if r.size() > 0 && !r.HeadroomLater {
		r.ensure(r.store)
	}
}

// EnsureHeadroom writes the reserve if this session has not yet, once a
// main database has been opened: with HeadroomLater, the runtime calls it
// when the reserve's writes are in nobody's way.
func (r *Headroom) EnsureHeadroom() {
	if r.size() > 0 && r.store.mainName() != "" {
		r.ensure(r.store)
	}
}

type fileReserve struct{ v *FileVFS }

// growReserve makes the reserve file Headroom bytes long.
func (r fileReserve) growReserve() error { return r.allocate(HeadroomFile) }

func (r fileReserve) probeRoom() error {
	err := r.allocate(ProbeFile)
	if derr := r.v.store.DeleteFile(ProbeFile); err == nil {
		err = derr
	}
	return err
}

// allocate makes name Headroom bytes long (a truncate that grows a file
// counts against a browser's quota like a write), or deletes it.
func (r fileReserve) allocate(name string) error {
	v := r.v
	f, err := v.store.OpenFile(name, true)
	if err != nil {
		return err
	}
	size, err := f.Size()
	if err == nil && size < v.HeadroomBytes {
		if err = f.Truncate(v.HeadroomBytes); err == nil {
			err = f.Flush()
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// Whatever part was allocated would only be quota lost.
		v.store.DeleteFile(name)
	}
	return err
}

// settle has nothing to do: a FileVFS truncates the store's files at once.
func (r fileReserve) settle() error { return nil }

func (r fileReserve) releaseReserve() error { return r.v.store.DeleteFile(HeadroomFile) }

func (r fileReserve) mainName() string {
	r.v.mu.Lock()
	defer r.v.mu.Unlock()
	return r.v.mainDB
}

// sizes sums the sizes of the open files whose names pass keep.
func (r fileReserve) sizes(keep func(name string) bool) (int64, error) {
	v := r.v
	v.mu.Lock()
	entries := make([]*fileEntry, 0, len(v.entries))
	for name, e := range v.entries {
		if keep(name) {
			entries = append(entries, e)
		}
	}
	v.mu.Unlock()
	var total int64
	for _, e := range entries {
		e.ioMu.Lock()
		n, err := e.file.Size()
		e.ioMu.Unlock()
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

type blockReserve struct{ v *BlockVFS }

func (r blockReserve) growReserve() error {
	v := r.v
	v.stats.fileSize.Add(1)
	if size, exists, err := v.store.FileSize(HeadroomFile); err == nil && exists && size >= blockCount(v.HeadroomBytes, v.blockSize)*v.blockSize {
		return nil // kept from an earlier session: every page load need not write it again
	}
	return r.commitRandom(HeadroomFile)
}

func (r blockReserve) probeRoom() error {
	err := r.commitRandom(ProbeFile)
	if derr := r.v.store.DeleteFile(ProbeFile); err == nil {
		err = derr
	}
	r.v.stats.deleteFile.Add(1)
	return err
}

// commitRandom commits name as Headroom bytes of random blocks: a store
// that compresses its records (Chromium's IndexedDB does) would keep
// zeros in no space at all.
func (r blockReserve) commitRandom(name string) error {
	v := r.v
	n := blockCount(v.HeadroomBytes, v.blockSize)
	change := FileChange{Name: name, Size: n * v.blockSize, TruncateFrom: -1}
	rng := rand.NewChaCha8([32]byte{'h', 'e', 'a', 'r', 't', 'h'})
	for i := range n {
		block := make([]byte, v.blockSize)
		rng.Read(block)
		change.Blocks = append(change.Blocks, Block{Index: i, Data: block})
	}
	err := v.store.Commit(Batch{Files: []FileChange{change}})
	v.stats.commit.Add(1)
	return err
}

// settle commits the truncations that wait for the next commit: the
// incremental vacuum's shrinking of the database file leaves its blocks in
// the store until then.
func (r blockReserve) settle() error {
	v := r.v
	v.mu.Lock()
	files := make([]*blockFile, 0, len(v.files))
	for _, f := range v.files {
		if f.exists {
			files = append(files, f)
		}
	}
	v.mu.Unlock()
	var errs []error
	for _, f := range files {
		f.mu.Lock()
		if f.batch == nil {
			errs = append(errs, f.commit())
		}
		f.mu.Unlock()
	}
	return errors.Join(errs...)
}

func (r blockReserve) mainName() string {
	r.v.mu.Lock()
	defer r.v.mu.Unlock()
	return r.v.mainDB
}

// sizes sums the sizes of the files whose names pass keep.
func (r blockReserve) sizes(keep func(name string) bool) (int64, error) {
	v := r.v
	v.mu.Lock()
	files := make([]*blockFile, 0, len(v.files))
	for name, f := range v.files {
		if f.exists && keep(name) {
			files = append(files, f)
		}
	}
	v.mu.Unlock()
	var total int64
	for _, f := range files {
		f.mu.Lock()
		total += f.size // a truncation SQLite has not synced yet counts: the next commit applies it
		f.mu.Unlock()
	}
	return total, nil
}

func (r blockReserve) releaseReserve() error {
	r.v.stats.deleteFile.Add(1)
	return r.v.store.DeleteFile(HeadroomFile)
}
