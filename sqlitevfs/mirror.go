package sqlitevfs

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
)

// MirrorStore is a [BlockStore] that holds every file of another block
// store (IndexedDB in the browser) in memory and writes behind: its reads,
// commits and deletes are memory operations that never wait, and Flush
// sends everything committed since the last Flush to the backing store in
// one atomic Commit.
//
// Why: a [BlockVFS] calls its store inside SQLite's calls, and IndexedDB
// answers only through the event loop. While SQLite is Go code (today's
// build) a VFS method may park its goroutine on a promise; once SQLite runs
// as its own module (docs/sqlite-module.md) nothing may wait inside its
// calls. So the waiting moves out: LoadMirror reads the whole store before
// SQLite opens it, and the runtime calls Flush after a commit, outside
// SQLite, before it tells anyone the commit happened.
//
// Durability: a commit is durable once a Flush after it has returned nil.
// A process that dies before leaves the state of the last successful
// Flush: a state SQLite had committed (each Flush is one atomic Commit of
// the image as it stood, and the runtime never flushes inside a
// transaction). If a Flush fails (quota, or the store broke), the changes
// it carried and any made since are not in the backing store; Flush keeps
// failing until Revert, which returns the image to the last durable state.
// SQLite's connection must be closed before Revert and opened again after
// it (its page cache holds the lost state), and the BlockVFS told to
// Forget what it knew of the files.
//
// The VFS's own files ([HeadroomFile], [ProbeFile]) are not mirrored:
// their calls go straight to the backing store, and are made only outside
// SQLite's calls.
//
// Memory: the image holds every file whole, and the durable state shares
// its unchanged blocks (stored blocks are never modified in place).
type MirrorStore struct {
	backing   BlockStore
	blockSize int

	flushMu sync.Mutex // one Flush at a time

	mu      sync.Mutex // guards everything below
	image   map[string]*mirrorFile
	durable map[string]*mirrorFile // what the backing store holds
	pending map[string]*pendingFile
	failed  error // the last Flush's error, until Revert
}

type mirrorFile struct {
	size   int64
	blocks map[int64][]byte // never shared between image and durable; the slices are
}

func (f *mirrorFile) clone() *mirrorFile {
	return &mirrorFile{size: f.size, blocks: maps.Clone(f.blocks)}
}

// pendingFile is what the next Flush does to one file.
type pendingFile struct {
	// deleted: the file was deleted since the last Flush (if it exists
	// again, every stored block goes before its new ones are put).
	deleted      bool
	truncateFrom int64 // -1: none
	blocks       map[int64]struct{}
}

var _ BlockStore = (*MirrorStore)(nil)

// LoadMirror reads every file of backing into memory, chunk blocks per
// ReadBlocks call. blockSize is the store's block size.
func LoadMirror(backing BlockStore, blockSize int, chunk int64) (*MirrorStore, error) {
	m := &MirrorStore{backing: backing, blockSize: blockSize, image: map[string]*mirrorFile{},
		durable: map[string]*mirrorFile{}, pending: map[string]*pendingFile{}}
	names, err := backing.ListFiles()
	if err != nil {
		return nil, fmt.Errorf("sqlitevfs: load mirror: list files: %w", err)
	}
	chunk = max(chunk, 1)
	for _, name := range names {
		if ownFile(name) {
			continue
		}
		size, ok, err := backing.FileSize(name)
		if err != nil {
			return nil, fmt.Errorf("sqlitevfs: load mirror: size of %q: %w", name, err)
		}
		if !ok {
			continue
		}
		f := &mirrorFile{size: size, blocks: map[int64][]byte{}}
		count := blockCount(size, int64(blockSize))
		for first := int64(0); first < count; first += chunk {
			got, err := backing.ReadBlocks(name, first, min(chunk, count-first))
			if err != nil {
				return nil, fmt.Errorf("sqlitevfs: load mirror: read %q: %w", name, err)
			}
			for i, data := range got {
				if data == nil {
					continue
				}
				if len(data) != blockSize {
					return nil, fmt.Errorf("sqlitevfs: load mirror: block %d of %q has %d bytes, want %d: %w",
						first+int64(i), name, len(data), blockSize, ErrBlockSize)
				}
				f.blocks[first+int64(i)] = data
			}
		}
		m.image[name] = f
		m.durable[name] = f.clone()
	}
	return m, nil
}

// ownFile reports whether name is one of the VFS's own files, which are
// not mirrored.
func ownFile(name string) bool { return name == HeadroomFile || name == ProbeFile }

// ReadBlocks implements [BlockStore] from memory.
func (m *MirrorStore) ReadBlocks(file string, first, count int64) ([][]byte, error) {
	if ownFile(file) {
		return m.backing.ReadBlocks(file, first, count)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.image[file]
	if f == nil || first < 0 || count <= 0 {
		return nil, nil
	}
	out := make([][]byte, count)
	for i := range out {
		if b, ok := f.blocks[first+int64(i)]; ok {
			out[i] = slices.Clone(b) // the VFS takes ownership
		}
	}
	return out, nil
}

// FileSize implements [BlockStore] from memory.
func (m *MirrorStore) FileSize(file string) (int64, bool, error) {
	if ownFile(file) {
		return m.backing.FileSize(file)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if f := m.image[file]; f != nil {
		return f.size, true, nil
	}
	return 0, false, nil
}

// ListFiles implements [BlockStore] from memory: the mirrored files.
func (m *MirrorStore) ListFiles() ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.image)), nil
}

// Commit implements [BlockStore]: the batch changes the image at once and
// reaches the backing store at the next Flush. Its own files are
// committed to the backing store directly, alone.
func (m *MirrorStore) Commit(batch Batch) error {
	for _, fc := range batch.Files {
		if ownFile(fc.Name) {
			if len(batch.Files) > 1 {
				return fmt.Errorf("sqlitevfs: mirror commit: %s must be committed alone", fc.Name)
			}
			return m.backing.Commit(batch)
		}
		for _, b := range fc.Blocks {
			if len(b.Data) != m.blockSize {
				return fmt.Errorf("sqlitevfs: mirror commit: block %d of %q has %d bytes, want %d: %w",
					b.Index, fc.Name, len(b.Data), m.blockSize, ErrBlockSize)
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, fc := range batch.Files {
		if fc.Delete {
			m.deleteLocked(fc.Name)
			continue
		}
		f := m.image[fc.Name]
		if f == nil {
			f = &mirrorFile{blocks: map[int64][]byte{}}
			m.image[fc.Name] = f
		}
		p := m.pendingLocked(fc.Name)
		if fc.TruncateFrom >= 0 {
			for i := range f.blocks {
				if i >= fc.TruncateFrom {
					delete(f.blocks, i)
				}
			}
			for i := range p.blocks {
				if i >= fc.TruncateFrom {
					delete(p.blocks, i)
				}
			}
			if p.truncateFrom < 0 || fc.TruncateFrom < p.truncateFrom {
				p.truncateFrom = fc.TruncateFrom
			}
		}
		for _, b := range fc.Blocks {
			f.blocks[b.Index] = slices.Clone(b.Data)
			p.blocks[b.Index] = struct{}{}
		}
		f.size = fc.Size
	}
	return nil
}

// DeleteFile implements [BlockStore]: the file leaves the image at once
// and the backing store at the next Flush. Its own files are deleted from
// the backing store directly.
func (m *MirrorStore) DeleteFile(file string) error {
	if ownFile(file) {
		return m.backing.DeleteFile(file)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.deleteLocked(file)
	return nil
}

func (m *MirrorStore) deleteLocked(file string) {
	delete(m.image, file)
	m.pending[file] = &pendingFile{deleted: true, truncateFrom: -1, blocks: map[int64]struct{}{}}
}

func (m *MirrorStore) pendingLocked(file string) *pendingFile {
	p := m.pending[file]
	if p == nil {
		p = &pendingFile{truncateFrom: -1, blocks: map[int64]struct{}{}}
		m.pending[file] = p
	}
	return p
}

// Pending reports whether there are changes a Flush would send.
func (m *MirrorStore) Pending() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.pending) > 0 || m.failed != nil
}

// Flush sends every change since the last Flush to the backing store in
// one atomic Commit and waits for it: call it outside SQLite's calls,
// never inside a transaction. After an error it fails until Revert.
func (m *MirrorStore) Flush() error {
	m.flushMu.Lock()
	defer m.flushMu.Unlock()

	m.mu.Lock()
	if m.failed != nil {
		defer m.mu.Unlock()
		return m.failed
	}
	if len(m.pending) == 0 {
		m.mu.Unlock()
		return nil
	}
	var batch Batch
	next := map[string]*mirrorFile{} // the durable state once it lands; nil: deleted
	for _, name := range slices.Sorted(maps.Keys(m.pending)) {
		p, f := m.pending[name], m.image[name]
		if f == nil {
			if m.durable[name] == nil {
				continue // created and deleted since the last Flush
			}
			batch.Files = append(batch.Files, FileChange{Name: name, Delete: true, TruncateFrom: -1})
			next[name] = nil
			continue
		}
		fc := FileChange{Name: name, Size: f.size, TruncateFrom: p.truncateFrom}
		if p.deleted {
			fc.TruncateFrom = 0
		}
		for _, i := range slices.Sorted(maps.Keys(p.blocks)) {
			if data, ok := f.blocks[i]; ok {
				fc.Blocks = append(fc.Blocks, Block{Index: i, Data: data})
			}
		}
		batch.Files = append(batch.Files, fc)
		next[name] = f.clone()
	}
	clear(m.pending)
	m.mu.Unlock()
	if len(batch.Files) == 0 {
		return nil
	}

	err := m.backing.Commit(batch)

	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.failed = fmt.Errorf("sqlitevfs: flush %d files: %w", len(batch.Files), err)
		return m.failed
	}
	for name, f := range next {
		if f == nil {
			delete(m.durable, name)
		} else {
			m.durable[name] = f
		}
	}
	return nil
}

// Revert returns the image to what the backing store holds (the last
// successful Flush) and drops every change since: after a failed Flush,
// with SQLite's connections closed. Their BlockVFS must Forget its files.
func (m *MirrorStore) Revert() {
	m.flushMu.Lock()
	defer m.flushMu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.image)
	for name, f := range m.durable {
		m.image[name] = f.clone()
	}
	clear(m.pending)
	m.failed = nil
}

// errFilesOpen is Forget's refusal while SQLite has files open.
var errFilesOpen = errors.New("sqlitevfs: files are open")

// Forget drops what the VFS knows of its files (sizes, cached blocks,
// which exist), so that it asks the store again: after the store went
// back to an earlier state (MirrorStore.Revert). Every file must be
// closed.
func (v *BlockVFS) Forget() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, name := range slices.Sorted(maps.Keys(v.files)) {
		if v.files[name].refs > 0 {
			return fmt.Errorf("%w: %q", errFilesOpen, name)
		}
	}
	clear(v.files)
	return nil
}
