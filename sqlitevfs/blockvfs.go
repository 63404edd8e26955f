package sqlitevfs

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

// Defaults for [BlockOptions].
const (
	DefaultBlockSize = 8192     // bytes; SQLite then picks 8192-byte pages for new databases
	DefaultCacheSize = 8 << 20  // bytes of clean blocks cached per open file
	DefaultReadAhead = 16       // blocks fetched per cache miss (128 KiB at the default block size)
	DefaultMaxDirty  = 32 << 20 // bytes of unsynced blocks per file before an early commit
)

// BlockOptions configures a [BlockVFS]. Zero fields take the defaults.
type BlockOptions struct {
	// BlockSize is the size of every stored block: a power of two from 512
	// to 65536. It is a property of the store: reopening a store with a
	// different block size fails with SQLITE_IOERR_READ (see ErrBlockSize).
	// Pages larger than a block span several blocks, pages smaller than a
	// block share one; both are correct, but page_size == BlockSize makes
	// every page write a whole-block write that needs no read first.
	BlockSize int
	// CacheSize bounds the bytes of clean (committed) blocks cached per open
	// file, least recently used first out. At least one block is always
	// cached. Unsynced blocks are held in addition to this.
	CacheSize int64
	// ReadAhead is how many consecutive blocks one cache miss fetches, in a
	// single ReadBlocks call.
	ReadAhead int
	// MaxDirty bounds the bytes of unsynced blocks per file outside a
	// batch-atomic write; past it they are committed early. SQLite allows
	// unsynced writes to reach storage at any time, so this only bounds
	// memory for huge transactions. Negative: never commit early.
	MaxDirty int64
}

// StoreStats counts the calls a [BlockVFS] made to its store.
type StoreStats struct {
	ReadBlocks    int64 // ReadBlocks calls
	FileSize      int64 // FileSize calls
	Commit        int64 // Commit calls
	DeleteFile    int64 // DeleteFile calls
	ListFiles     int64 // ListFiles calls
	BlocksRead    int64 // blocks requested by ReadBlocks calls
	BlocksWritten int64 // blocks sent in Commit calls
}

// RoundTrips is the number of store calls: in the browser, each one is an
// IndexedDB request or transaction and costs far more than the bytes moved.
func (s StoreStats) RoundTrips() int64 {
	return s.ReadBlocks + s.FileSize + s.Commit + s.DeleteFile + s.ListFiles
}

type storeCounters struct {
	readBlocks, fileSize, commit, deleteFile, listFiles atomic.Int64
	blocksRead, blocksWritten                           atomic.Int64
}

// BlockVFS is an SQLite VFS over a [BlockStore] (IndexedDB in the browser).
// Each open file has an LRU cache of committed blocks and holds its written
// blocks in memory until Sync, which sends all of them in one atomic Commit.
// The main database implements batch-atomic writes, so a transaction that
// fits in SQLite's page cache needs no rollback journal and costs exactly one
// Commit. A process that dies without Sync leaves the last committed state.
//
// The VFS assumes it is the only user of its store while it runs: it caches
// blocks and which files exist.
type BlockVFS struct {
	store       BlockStore
	blockSize   int64
	cacheBlocks int
	readAhead   int64
	maxDirty    int // blocks; 0: no limit
	ioCaps      vfs.DeviceCharacteristic
	zeros       []byte // one block of zeros, never written
	temps       *tempNamer
	stats       storeCounters

	// HeadroomBytes: as [FileVFS.HeadroomBytes], kept as blocks of
	// [HeadroomFile].
	HeadroomBytes int64
	Headroom
	mainDB string // the store name of the last main database opened; guarded by mu

	mu    sync.Mutex
	files map[string]*blockFile // every file learnt about, present or not
}

var (
	_ vfs.VFS                  = (*BlockVFS)(nil)
	_ vfs.FileLockState        = (*blockHandle)(nil)
	_ vfs.FileBatchAtomicWrite = (*blockHandle)(nil)
)

// NewBlockVFS returns a VFS over store. It panics if opts.BlockSize is not a
// power of two from 512 to 65536. Register it with vfs.Register and open
// databases with "file:/name.db?vfs=NAME".
func NewBlockVFS(store BlockStore, opts BlockOptions) *BlockVFS {
	bs := cmp.Or(opts.BlockSize, DefaultBlockSize)
	if bs < 512 || bs > 65536 || bits.OnesCount(uint(bs)) != 1 {
		panic(fmt.Sprintf("sqlitevfs: block size %d is not a power of two from 512 to 65536", bs))
	}
	cacheSize := cmp.Or(opts.CacheSize, DefaultCacheSize)
	readAhead := max(cmp.Or(opts.ReadAhead, DefaultReadAhead), 1)
	maxDirty := cmp.Or(opts.MaxDirty, DefaultMaxDirty)

	// Nothing reaches the store except by atomic Commit, which makes these
	// claims true: a write never damages bytes it did not write (powersafe
	// overwrite); a file's size and the data appended under it are committed
	// together (safe append, which spares SQLite a journal header rewrite
	// and sync); and writes of every power of two up to the block size are
	// atomic, which also makes SQLite choose page_size = min(BlockSize, 8192)
	// for new databases.
	caps := vfs.IOCAP_POWERSAFE_OVERWRITE | vfs.IOCAP_SAFE_APPEND | vfs.IOCAP_SUBPAGE_READ
	for n := 512; n <= bs; n *= 2 {
		caps |= vfs.DeviceCharacteristic(n >> 8) // IOCAP_ATOMIC512 ... IOCAP_ATOMIC64K
	}

	v := &BlockVFS{
		store:       store,
		blockSize:   int64(bs),
		cacheBlocks: int(max(cacheSize/int64(bs), 1)),
		readAhead:   int64(readAhead),
		ioCaps:      caps,
		zeros:       make([]byte, bs),
		temps:       newTempNamer(),
		files:       map[string]*blockFile{},
	}
	if maxDirty > 0 {
		v.maxDirty = int(max(maxDirty/int64(bs), 1))
	}
	v.Headroom = Headroom{store: blockReserve{v}, size: func() int64 { return v.HeadroomBytes }}
	return v
}

// Stats returns the store calls made so far.
func (v *BlockVFS) Stats() StoreStats {
	c := &v.stats
	return StoreStats{
		ReadBlocks:    c.readBlocks.Load(),
		FileSize:      c.fileSize.Load(),
		Commit:        c.commit.Load(),
		DeleteFile:    c.deleteFile.Load(),
		ListFiles:     c.listFiles.Load(),
		BlocksRead:    c.blocksRead.Load(),
		BlocksWritten: c.blocksWritten.Load(),
	}
}

// ResetStats sets all counters to zero.
func (v *BlockVFS) ResetStats() {
	c := &v.stats
	for _, n := range []*atomic.Int64{&c.readBlocks, &c.fileSize, &c.commit, &c.deleteFile, &c.listFiles, &c.blocksRead, &c.blocksWritten} {
		n.Store(0)
	}
}

// The store is only ever called through these, so that Stats is exact.

func (v *BlockVFS) readBlocks(name string, first, count int64) ([][]byte, error) {
	v.stats.readBlocks.Add(1)
	v.stats.blocksRead.Add(count)
	blocks, err := v.store.ReadBlocks(name, first, count)
	if err != nil {
		return nil, fmt.Errorf("read blocks %d..%d of %q: %w", first, first+count-1, name, err)
	}
	return blocks, nil
}

func (v *BlockVFS) fileSize(name string) (int64, bool, error) {
	v.stats.fileSize.Add(1)
	size, ok, err := v.store.FileSize(name)
	if err != nil {
		return 0, false, fmt.Errorf("size of %q: %w", name, err)
	}
	return size, ok, nil
}

func (v *BlockVFS) commit(change FileChange) error {
	v.stats.commit.Add(1)
	v.stats.blocksWritten.Add(int64(len(change.Blocks)))
	if err := v.store.Commit(Batch{Files: []FileChange{change}}); err != nil {
		return fmt.Errorf("commit %d blocks of %q: %w", len(change.Blocks), change.Name, err)
	}
	return nil
}

func (v *BlockVFS) deleteFile(name string) error {
	v.stats.deleteFile.Add(1)
	if err := v.store.DeleteFile(name); err != nil {
		return fmt.Errorf("delete %q: %w", name, err)
	}
	return nil
}

func (v *BlockVFS) listFiles() ([]string, error) {
	v.stats.listFiles.Add(1)
	names, err := v.store.ListFiles()
	if err != nil {
		return nil, fmt.Errorf("list files: %w", err)
	}
	return names, nil
}

// fileLocked returns the state of the file with store name key, asking the
// store about it the first time; v.mu must be held.
func (v *BlockVFS) fileLocked(key string) (*blockFile, error) {
	if f := v.files[key]; f != nil {
		return f, nil
	}
	f := &blockFile{vfs: v, name: key, blocks: map[int64]*cachedBlock{}}
	f.lru.next, f.lru.prev = &f.lru, &f.lru
	// A fresh temporary name cannot exist: skip the round trip.
	if !strings.HasPrefix(key, TempFilePrefix) {
		size, ok, err := v.fileSize(key)
		if err != nil {
			return nil, err
		}
		f.exists, f.inStore = ok, ok
		f.size, f.committedSize = size, size
		f.storeExtent = blockCount(size, v.blockSize)
		f.storeLimit = f.storeExtent
	}
	v.files[key] = f
	return f, nil
}

// Open implements vfs.VFS.
func (v *BlockVFS) Open(name string, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	var key string
	if name == "" {
		key = v.temps.next()
	} else {
		var err error
		if key, err = storeName(name); err != nil {
			return nil, flags, vfs.SystemError(err, sqlite3.CANTOPEN)
		}
	}
	create := flags&vfs.OPEN_CREATE != 0

	v.mu.Lock()
	defer v.mu.Unlock()
	f, err := v.fileLocked(key)
	if err != nil {
		return nil, flags, storeError(err, sqlite3.ExtendedErrorCode(sqlite3.CANTOPEN))
	}
	if !f.exists {
		if !create {
			return nil, flags, sqlite3.CANTOPEN
		}
		// The store learns about the file at its first Commit; until then
		// it exists only here, and a crash loses it like any unsynced write.
		f.exists = true
	} else if create && flags&vfs.OPEN_EXCLUSIVE != 0 {
		return nil, flags, sqlite3.CANTOPEN
	}
	if flags&vfs.OPEN_MAIN_DB != 0 {
		v.mainDB = key
		v.ensureHeadroom()
	}
	f.refs++
	if flags&vfs.OPEN_DELETEONCLOSE != 0 {
		f.deleteOnClose = true
	}

	h := &blockHandle{
		lockHandle: lockHandle{locks: &f.locks, readOnly: flags&vfs.OPEN_READONLY != 0},
		file:       f,
		mainDB:     flags&vfs.OPEN_MAIN_DB != 0,
	}
	return h, flags, nil
}

// Delete implements vfs.VFS.
func (v *BlockVFS) Delete(name string, syncDir bool) error {
	key, err := storeName(name)
	if err != nil {
		return vfs.SystemError(err, sqlite3.IOERR_DELETE)
	}
	v.mu.Lock()
	defer v.mu.Unlock()

	f := v.files[key]
	if f == nil {
		if err := v.deleteFile(key); err != nil {
			return storeError(err, sqlite3.IOERR_DELETE)
		}
		return nil
	}
	if !f.exists {
		return sqlite3.IOERR_DELETE_NOENT
	}
	if f.refs > 0 {
		// SQLite always closes a file before deleting it.
		return vfs.SystemError(fmt.Errorf("delete %q: file is open", key), sqlite3.IOERR_DELETE)
	}
	return storeError(v.removeLocked(f), sqlite3.IOERR_DELETE)
}

// removeLocked deletes f from the store (if it ever reached it) and forgets
// its contents; v.mu must be held.
func (v *BlockVFS) removeLocked(f *blockFile) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.inStore {
		if err := v.deleteFile(f.name); err != nil {
			return err
		}
	}
	f.reset()
	f.exists = false
	f.deleteOnClose = false
	if strings.HasPrefix(f.name, TempFilePrefix) {
		delete(v.files, f.name) // never reused
	}
	return nil
}

// Access implements vfs.VFS. SQLite asks it about the journal at the start of
// every read transaction; after the first time the answer costs nothing.
func (v *BlockVFS) Access(name string, flags vfs.AccessFlag) (bool, error) {
	key, err := storeName(name)
	if err != nil {
		return false, vfs.SystemError(err, sqlite3.IOERR_ACCESS)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	f, err := v.fileLocked(key)
	if err != nil {
		return false, storeError(err, sqlite3.IOERR_ACCESS)
	}
	return f.exists, nil
}

// FullPathname implements vfs.VFS. Names are keys in a flat store, so they
// are used as given.
func (v *BlockVFS) FullPathname(name string) (string, error) {
	return name, nil
}

// RemoveTempFiles deletes temporary files left in the store by a previous
// session that crashed. Call it before opening databases.
func (v *BlockVFS) RemoveTempFiles() error {
	names, err := v.listFiles()
	if err != nil {
		return fmt.Errorf("sqlitevfs: %w", err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	var errs []error
	for _, name := range names {
		if !strings.HasPrefix(name, TempFilePrefix) {
			continue
		}
		if f := v.files[name]; f != nil && f.refs > 0 {
			continue
		}
		delete(v.files, name)
		errs = append(errs, v.deleteFile(name))
	}
	return errors.Join(errs...)
}

// blockFile is the state of one file, shared by all SQLite handles on it so
// that every connection sees the same cache and unsynced writes.
//
// Block bookkeeping: the store may hold blocks below storeExtent. After a
// shrinking Truncate, blocks at or past storeLimit are stale; they read as
// zeros and the next Commit deletes them (TruncateFrom). Every byte past size
// in a block we hold is zero, so growing a file needs no work.
type blockFile struct {
	vfs   *BlockVFS
	name  string
	locks fileLocks

	// Guarded by vfs.mu.
	refs          int
	exists        bool
	deleteOnClose bool

	mu            sync.Mutex // guards everything below
	inStore       bool       // the store has a record of the file
	size          int64      // current size, unsynced writes included
	committedSize int64      // size as of the last Commit
	storeExtent   int64
	storeLimit    int64
	blocks        map[int64]*cachedBlock // clean (cached) and dirty blocks
	lru           cachedBlock            // sentinel: lru.next is the most recently used clean block
	clean, dirty  int
	batch         *batchUndo // non-nil inside a batch-atomic write
}

type cachedBlock struct {
	index      int64
	data       []byte
	dirty      bool
	prev, next *cachedBlock // LRU links, clean blocks only
}

// batchUndo is what RollbackAtomicWrite needs to restore the file to the
// moment BeginAtomicWrite was called, unsynced writes from before included.
type batchUndo struct {
	size, storeLimit int64
	saved            map[int64][]byte // contents before the batch; nil: the block was not dirty
}

func (f *blockFile) reset() {
	clear(f.blocks)
	f.lru.next, f.lru.prev = &f.lru, &f.lru
	f.clean, f.dirty = 0, 0
	f.inStore = false
	f.size, f.committedSize, f.storeExtent, f.storeLimit = 0, 0, 0, 0
	f.batch = nil
}

func (f *blockFile) lruRemove(b *cachedBlock) {
	b.prev.next, b.next.prev = b.next, b.prev
	b.prev, b.next = nil, nil
}

func (f *blockFile) lruPushFront(b *cachedBlock) {
	b.prev, b.next = &f.lru, f.lru.next
	b.prev.next, b.next.prev = b, b
}

// insertClean caches a block read from the store as the most recently used.
func (f *blockFile) insertClean(index int64, data []byte) *cachedBlock {
	b := &cachedBlock{index: index, data: data}
	f.blocks[index] = b
	f.lruPushFront(b)
	f.clean++
	return b
}

// evict drops least recently used clean blocks beyond the cache bound.
func (f *blockFile) evict() {
	for f.clean > f.vfs.cacheBlocks {
		b := f.lru.prev
		f.lruRemove(b)
		delete(f.blocks, b.index)
		f.clean--
	}
}

func (f *blockFile) drop(b *cachedBlock) {
	delete(f.blocks, b.index)
	if b.dirty {
		f.dirty--
	} else {
		f.lruRemove(b)
		f.clean--
	}
}

// saveForUndo remembers block index as it was before the current batch, the
// first time the batch is about to change or drop it.
func (f *blockFile) saveForUndo(index int64) {
	if f.batch == nil {
		return
	}
	if _, ok := f.batch.saved[index]; ok {
		return
	}
	var data []byte
	if b := f.blocks[index]; b != nil && b.dirty {
		data = slices.Clone(b.data)
	}
	f.batch.saved[index] = data
}

// markDirty pins b in memory until the next Commit.
func (f *blockFile) markDirty(b *cachedBlock) {
	f.saveForUndo(b.index)
	if !b.dirty {
		f.lruRemove(b)
		f.clean--
		b.dirty = true
		f.dirty++
	}
}

// fetch reads block index from the store, with the blocks after it up to
// need (exclusive) or the read-ahead, whichever is further, stopping early at
// a block already held or past the stored ones. It returns the block for
// index, which is always cached (as the most recent) when fetch returns.
func (f *blockFile) fetch(index, need int64) (*cachedBlock, error) {
	v := f.vfs
	end := min(index+max(v.readAhead, need-index), f.storeLimit, index+int64(v.cacheBlocks))
	for i := index + 1; i < end; i++ {
		if f.blocks[i] != nil {
			end = i
			break
		}
	}
	got, err := v.readBlocks(f.name, index, end-index)
	if err != nil {
		return nil, err
	}
	// Insert backwards so that index ends up the most recently used.
	for i := end - 1; i >= index; i-- {
		var data []byte
		if k := i - index; k < int64(len(got)) {
			data = got[k]
		}
		switch {
		case data == nil:
			data = make([]byte, v.blockSize) // a hole reads as zeros
		case int64(len(data)) != v.blockSize:
			return nil, fmt.Errorf("block %d of %q has %d bytes, want %d: %w", i, f.name, len(data), v.blockSize, ErrBlockSize)
		}
		f.insertClean(i, data)
	}
	f.evict()
	return f.blocks[index], nil
}

// readAt is ReadAt; f.mu must be held.
func (f *blockFile) readAt(p []byte, off int64) (int, error) {
	if off >= f.size {
		return 0, io.EOF
	}
	bs := f.vfs.blockSize
	want := min(int64(len(p)), f.size-off)
	need := (off+want-1)/bs + 1
	for n := int64(0); n < want; {
		pos := off + n
		index, inner := pos/bs, pos%bs
		var data []byte
		switch b := f.blocks[index]; {
		case b != nil:
			if !b.dirty {
				f.lruRemove(b)
				f.lruPushFront(b)
			}
			data = b.data
		case index >= f.storeLimit:
			data = f.vfs.zeros
		default:
			b, err := f.fetch(index, need)
			if err != nil {
				return int(n), err
			}
			data = b.data
		}
		n += int64(copy(p[n:want], data[inner:]))
	}
	if want < int64(len(p)) {
		return int(want), io.EOF
	}
	return len(p), nil
}

// writableBlock returns block index ready to be modified, reading it first
// unless the write covers all of it or the store cannot hold it.
func (f *blockFile) writableBlock(index int64, whole bool, need int64) (*cachedBlock, error) {
	b := f.blocks[index]
	if b == nil {
		if whole || index >= f.storeLimit {
			f.saveForUndo(index)
			b = &cachedBlock{index: index, data: make([]byte, f.vfs.blockSize), dirty: true}
			f.blocks[index] = b
			f.dirty++
			return b, nil
		}
		var err error
		if b, err = f.fetch(index, need); err != nil {
			return nil, err
		}
	}
	f.markDirty(b)
	return b, nil
}

// writeAt is WriteAt; f.mu must be held. It reports whether the file now
// holds more unsynced data than it should and may be committed early.
func (f *blockFile) writeAt(p []byte, off int64) (n int, flush bool, err error) {
	bs := f.vfs.blockSize
	end := off + int64(len(p))
	need := (end-1)/bs + 1
	for n := int64(0); n < int64(len(p)); {
		pos := off + n
		index, inner := pos/bs, pos%bs
		chunk := min(int64(len(p))-n, bs-inner)
		b, err := f.writableBlock(index, chunk == bs, need)
		if err != nil {
			return int(n), false, err
		}
		copy(b.data[inner:], p[n:n+chunk])
		n += chunk
	}
	f.size = max(f.size, end)
	return len(p), f.overDirtyLimit(), nil
}

// overDirtyLimit reports whether f should commit early; f.mu must be held.
// Inside a batch it never should: the batch must reach the store whole.
func (f *blockFile) overDirtyLimit() bool {
	return f.batch == nil && f.vfs.maxDirty > 0 && f.dirty > f.vfs.maxDirty
}

// truncate is Truncate; f.mu must be held.
func (f *blockFile) truncate(size int64) error {
	if size >= f.size {
		f.size = size // the bytes past the old size are already zero
		return nil
	}
	bs := f.vfs.blockSize
	keep := blockCount(size, bs)

	// Read the new last block (if partial and stored) before changing
	// anything, so a failed read leaves the file as it was.
	var last *cachedBlock
	if size%bs != 0 {
		index := size / bs
		if last = f.blocks[index]; last == nil && index < f.storeLimit {
			var err error
			if last, err = f.fetch(index, index+1); err != nil {
				return err
			}
		}
	}

	for index, b := range f.blocks {
		if index >= keep {
			f.saveForUndo(index)
			f.drop(b)
		}
	}
	f.storeLimit = min(f.storeLimit, keep)
	if last != nil {
		f.markDirty(last)
		clear(last.data[size%bs:])
	}
	f.size = size
	return nil
}

// commit sends every change since the last Commit in one atomic store
// Commit; f.mu must be held. If it fails nothing changes, so it can be
// retried or (inside a batch) rolled back.
func (f *blockFile) commit() error {
	if f.inStore && f.dirty == 0 && f.size == f.committedSize && f.storeLimit >= f.storeExtent {
		return nil
	}
	change := FileChange{Name: f.name, Size: f.size, TruncateFrom: -1}
	if f.storeLimit < f.storeExtent {
		change.TruncateFrom = f.storeLimit
	}
	change.Blocks = make([]Block, 0, f.dirty)
	for _, b := range f.blocks {
		if b.dirty {
			change.Blocks = append(change.Blocks, Block{Index: b.index, Data: b.data})
		}
	}
	slices.SortFunc(change.Blocks, func(a, b Block) int { return cmp.Compare(a.Index, b.Index) })

	if err := f.vfs.commit(change); err != nil {
		return err
	}

	for _, blk := range change.Blocks {
		b := f.blocks[blk.Index]
		b.dirty = false
		f.dirty--
		f.lruPushFront(b)
		f.clean++
	}
	f.evict()
	f.inStore = true
	f.committedSize = f.size
	f.storeExtent = blockCount(f.size, f.vfs.blockSize)
	f.storeLimit = f.storeExtent
	return nil
}

func (f *blockFile) beginBatch() error {
	if f.batch != nil {
		return errors.New("batch-atomic write already in progress")
	}
	f.batch = &batchUndo{size: f.size, storeLimit: f.storeLimit, saved: map[int64][]byte{}}
	return nil
}

func (f *blockFile) rollbackBatch() {
	u := f.batch
	if u == nil {
		return
	}
	f.batch = nil
	for index, data := range u.saved {
		if b := f.blocks[index]; b != nil {
			f.drop(b)
		}
		if data != nil {
			f.blocks[index] = &cachedBlock{index: index, data: data, dirty: true}
			f.dirty++
		}
	}
	f.size = u.size
	f.storeLimit = u.storeLimit
}

// blockHandle is SQLite's handle on a BlockVFS file.
type blockHandle struct {
	lockHandle
	file   *blockFile
	mainDB bool
	closed bool
}

// Close implements vfs.File. The last handle to close commits what is left
// unsynced (as an OS would eventually write it back) and frees the cache;
// temporary files are deleted instead.
func (h *blockHandle) Close() error {
	if h.closed {
		return nil
	}
	h.closed = true
	h.Unlock(vfs.LOCK_NONE)

	f := h.file
	v := f.vfs
	v.mu.Lock()
	defer v.mu.Unlock()
	if f.refs--; f.refs > 0 {
		return nil
	}
	if f.deleteOnClose {
		return storeError(v.removeLocked(f), sqlite3.IOERR_CLOSE)
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	f.rollbackBatch() // never persist half a batch
	if err := f.commit(); err != nil {
		return storeError(err, sqlite3.IOERR_CLOSE)
	}
	clear(f.blocks)
	f.lru.next, f.lru.prev = &f.lru, &f.lru
	f.clean = 0
	return nil
}

// ReadAt implements vfs.File.
func (h *blockHandle) ReadAt(p []byte, off int64) (int, error) {
	h.file.mu.Lock()
	defer h.file.mu.Unlock()
	n, err := h.file.readAt(p, off)
	if err != nil && err != io.EOF {
		return n, storeError(err, sqlite3.IOERR_READ)
	}
	return n, err
}

// WriteAt implements vfs.File. Writes stay in memory until Sync, unless
// there are more than BlockOptions.MaxDirty of them.
func (h *blockHandle) WriteAt(p []byte, off int64) (int, error) {
	f := h.file
	f.mu.Lock()
	n, flush, err := f.writeAt(p, off)
	f.mu.Unlock()
	if err != nil || !flush {
		return n, storeError(err, sqlite3.IOERR_WRITE)
	}
	return n, storeError(h.commitEarly(), sqlite3.IOERR_WRITE)
}

// commitEarly commits a file's unsynced blocks before Sync. SQLite allows
// that for any file, with one exception: when a batch-atomic commit fails
// with an I/O error, SQLite writes its in-memory journal out and then the
// database pages without syncing the journal in between. So the journal's
// unsynced blocks go first: database pages never reach the store ahead of
// the journal that can undo them.
func (h *blockHandle) commitEarly() error {
	f := h.file
	if h.mainDB {
		v := f.vfs
		v.mu.Lock()
		journal := v.files[f.name+"-journal"]
		if journal != nil && journal.refs == 0 {
			journal = nil // a closed file committed its writes when it closed
		}
		v.mu.Unlock()
		if journal != nil {
			journal.mu.Lock()
			err := journal.commit()
			journal.mu.Unlock()
			if err != nil {
				return err
			}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.overDirtyLimit() {
		return nil
	}
	return f.commit()
}

// Truncate implements vfs.File.
func (h *blockHandle) Truncate(size int64) error {
	h.file.mu.Lock()
	defer h.file.mu.Unlock()
	return storeError(h.file.truncate(size), sqlite3.IOERR_TRUNCATE)
}

// Sync implements vfs.File: one atomic Commit of everything written since
// the last one.
func (h *blockHandle) Sync(vfs.SyncFlag) error {
	h.file.mu.Lock()
	defer h.file.mu.Unlock()
	if h.file.batch != nil {
		return nil // CommitAtomicWrite will persist the batch
	}
	return storeError(h.file.commit(), sqlite3.IOERR_FSYNC)
}

// Size implements vfs.File.
func (h *blockHandle) Size() (int64, error) {
	h.file.mu.Lock()
	defer h.file.mu.Unlock()
	return h.file.size, nil
}

// SectorSize implements vfs.File.
func (h *blockHandle) SectorSize() int {
	return int(h.file.vfs.blockSize)
}

// DeviceCharacteristics implements vfs.File.
//
// Batch-atomic writes are offered on the main database only while it has a
// single open handle. SQLite (built with both SQLITE_ENABLE_ATOMIC_WRITE and
// SQLITE_ENABLE_BATCH_ATOMIC_WRITE, as go-sqlite3 is) does not increment the
// file change counter on a batch-atomic commit, and that counter is how other
// connections learn that their page caches are stale. With two connections
// open, commits go through the rollback journal, which does increment it.
// SQLite asks again at every commit, so the switch takes effect at once.
func (h *blockHandle) DeviceCharacteristics() vfs.DeviceCharacteristic {
	v := h.file.vfs
	caps := v.ioCaps
	if h.mainDB {
		v.mu.Lock()
		if h.file.refs == 1 {
			caps |= vfs.IOCAP_BATCH_ATOMIC
		}
		v.mu.Unlock()
	}
	return caps
}

// BeginAtomicWrite implements vfs.FileBatchAtomicWrite: the writes until
// CommitAtomicWrite reach the store together or not at all.
func (h *blockHandle) BeginAtomicWrite() error {
	h.file.mu.Lock()
	defer h.file.mu.Unlock()
	return storeError(h.file.beginBatch(), sqlite3.IOERR_BEGIN_ATOMIC)
}

// CommitAtomicWrite implements vfs.FileBatchAtomicWrite with one store
// Commit. On failure SQLite calls RollbackAtomicWrite; for an I/O error it
// then retries the transaction with a rollback journal, while SQLITE_FULL
// (quota) fails the transaction.
func (h *blockHandle) CommitAtomicWrite() error {
	h.file.mu.Lock()
	defer h.file.mu.Unlock()
	if err := h.file.commit(); err != nil {
		return storeError(err, sqlite3.IOERR_COMMIT_ATOMIC)
	}
	h.file.batch = nil
	return nil
}

// RollbackAtomicWrite implements vfs.FileBatchAtomicWrite: the file returns
// to what it was at BeginAtomicWrite, without a store call.
func (h *blockHandle) RollbackAtomicWrite() error {
	h.file.mu.Lock()
	defer h.file.mu.Unlock()
	h.file.rollbackBatch()
	return nil
}
