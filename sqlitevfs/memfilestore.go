package sqlitevfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"slices"
	"sync"
)

// memFilePage is the granularity at which MemoryFileStore tracks unflushed
// writes.
const memFilePage = 4096

// errHandleOpen mirrors OPFS, where a file has at most one sync access handle
// and cannot be removed while it is open.
var errHandleOpen = errors.New("file has an open handle")

// MemoryFileStore is an in-memory [FileStore] with test hooks: a byte quota,
// fault injection, call counting and crash snapshots. Like OPFS it allows one
// open handle per file and refuses to delete an open file. Writes become
// durable only at Flush: Crash drops everything written since. It is safe for
// concurrent use.
type MemoryFileStore struct {
	mu    sync.Mutex
	files map[string]*memFileData
	used  int64 // bytes in all files
	quota int64 // 0: unlimited
	calls int64
	fault Fault
}

type memFileData struct {
	data    []byte             // current contents
	durable []byte             // contents as of the last Flush
	minSize int64              // smallest len(data) since the last Flush
	dirty   map[int64]struct{} // memFilePage pages written since the last Flush
	open    bool
}

// NewMemoryFileStore returns an empty store.
func NewMemoryFileStore() *MemoryFileStore {
	return &MemoryFileStore{files: map[string]*memFileData{}}
}

// SetQuota limits the total bytes of all files; a write or truncate that
// would grow past it fails with an error wrapping [ErrQuota] and writes
// nothing. 0 removes the limit.
func (s *MemoryFileStore) SetQuota(bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quota = bytes
}

// SetFault installs f (nil removes it).
func (s *MemoryFileStore) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

// Calls returns how many calls the store and its files have received.
func (s *MemoryFileStore) Calls() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Used returns the total bytes of all files.
func (s *MemoryFileStore) Used() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used
}

// Crash returns a new store holding what a process dying now would leave:
// every file as of its last Flush. Open handles are not carried over. The
// copy has no quota and no fault.
func (s *MemoryFileStore) Crash() *MemoryFileStore {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := NewMemoryFileStore()
	for name, f := range s.files {
		c.files[name] = &memFileData{
			data:    slices.Clone(f.durable),
			durable: slices.Clone(f.durable),
			minSize: int64(len(f.durable)),
			dirty:   map[int64]struct{}{},
		}
		c.used += int64(len(f.durable))
	}
	return c
}

// begin counts a call and consults the fault hook; s.mu must be held.
func (s *MemoryFileStore) begin(op string) error {
	s.calls++
	if s.fault != nil {
		if err := s.fault(s.calls, op); err != nil {
			return fmt.Errorf("memory file store: %s: %w", op, err)
		}
	}
	return nil
}

// OpenFile implements [FileStore].
func (s *MemoryFileStore) OpenFile(name string, create bool) (StoredFile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin("OpenFile"); err != nil {
		return nil, err
	}
	f := s.files[name]
	switch {
	case f == nil && !create:
		return nil, fmt.Errorf("memory file store: open %q: %w", name, fs.ErrNotExist)
	case f == nil:
		f = &memFileData{dirty: map[int64]struct{}{}}
		s.files[name] = f
	case f.open:
		return nil, fmt.Errorf("memory file store: open %q: %w", name, errHandleOpen)
	}
	f.open = true
	return &memFileHandle{store: s, name: name, file: f}, nil
}

// DeleteFile implements [FileStore].
func (s *MemoryFileStore) DeleteFile(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin("DeleteFile"); err != nil {
		return err
	}
	f := s.files[name]
	if f == nil {
		return nil
	}
	if f.open {
		return fmt.Errorf("memory file store: delete %q: %w", name, errHandleOpen)
	}
	s.used -= int64(len(f.data))
	delete(s.files, name)
	return nil
}

// FileExists implements [FileStore].
func (s *MemoryFileStore) FileExists(name string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin("FileExists"); err != nil {
		return false, err
	}
	return s.files[name] != nil, nil
}

// ListFiles implements [FileStore].
func (s *MemoryFileStore) ListFiles() ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin("ListFiles"); err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(s.files)), nil
}

// memFileHandle is a [StoredFile] of a MemoryFileStore.
type memFileHandle struct {
	store  *MemoryFileStore
	name   string
	file   *memFileData
	closed bool
}

// begin locks the store, counts the call and checks the handle; on success
// the caller must unlock.
func (h *memFileHandle) begin(op string) error {
	h.store.mu.Lock()
	if err := h.store.begin(op); err != nil {
		h.store.mu.Unlock()
		return err
	}
	if h.closed {
		h.store.mu.Unlock()
		return fmt.Errorf("memory file store: %s %q: %w", op, h.name, fs.ErrClosed)
	}
	return nil
}

func (h *memFileHandle) ReadAt(p []byte, off int64) (int, error) {
	if err := h.begin("ReadAt"); err != nil {
		return 0, err
	}
	defer h.store.mu.Unlock()
	if off < 0 {
		return 0, fmt.Errorf("memory file store: read %q at %d: negative offset", h.name, off)
	}
	if off >= int64(len(h.file.data)) {
		return 0, io.EOF
	}
	n := copy(p, h.file.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (h *memFileHandle) WriteAt(p []byte, off int64) (int, error) {
	if err := h.begin("WriteAt"); err != nil {
		return 0, err
	}
	defer h.store.mu.Unlock()
	if off < 0 {
		return 0, fmt.Errorf("memory file store: write %q at %d: negative offset", h.name, off)
	}
	if len(p) == 0 {
		return 0, nil
	}
	end := off + int64(len(p))
	if err := h.resize(max(end, int64(len(h.file.data)))); err != nil {
		return 0, err
	}
	copy(h.file.data[off:], p)
	for page := off / memFilePage; page <= (end-1)/memFilePage; page++ {
		h.file.dirty[page] = struct{}{}
	}
	return len(p), nil
}

func (h *memFileHandle) Truncate(size int64) error {
	if err := h.begin("Truncate"); err != nil {
		return err
	}
	defer h.store.mu.Unlock()
	if size < 0 {
		return fmt.Errorf("memory file store: truncate %q to %d: negative size", h.name, size)
	}
	return h.resize(size)
}

// resize sets the file's length, zero-filling growth and charging it to the
// quota; the store's mutex must be held.
func (h *memFileHandle) resize(size int64) error {
	f := h.file
	grow := size - int64(len(f.data))
	if grow > 0 && h.store.quota > 0 && h.store.used+grow > h.store.quota {
		return fmt.Errorf("memory file store: grow %q to %d bytes: %w", h.name, size, ErrQuota)
	}
	if grow > 0 {
		f.data = append(f.data, make([]byte, grow)...)
	} else {
		f.data = f.data[:size]
		f.minSize = min(f.minSize, size)
	}
	h.store.used += grow
	return nil
}

func (h *memFileHandle) Size() (int64, error) {
	if err := h.begin("Size"); err != nil {
		return 0, err
	}
	defer h.store.mu.Unlock()
	return int64(len(h.file.data)), nil
}

// Flush makes the current contents what a crash leaves behind.
func (h *memFileHandle) Flush() error {
	if err := h.begin("Flush"); err != nil {
		return err
	}
	defer h.store.mu.Unlock()
	f := h.file
	size := int64(len(f.data))
	// Bytes past the smallest size since the last flush were cut off, so the
	// old durable bytes there are dead: start from zeros.
	keep := min(int64(len(f.durable)), f.minSize, size)
	f.durable = append(f.durable[:keep], make([]byte, size-keep)...)
	for page := range f.dirty {
		lo := page * memFilePage
		if lo < size {
			copy(f.durable[lo:min(lo+memFilePage, size)], f.data[lo:])
		}
	}
	clear(f.dirty)
	f.minSize = size
	return nil
}

func (h *memFileHandle) Close() error {
	h.store.mu.Lock()
	defer h.store.mu.Unlock()
	// Close is not counted and cannot fail, so that fault injection never
	// leaves a handle open (OPFS would then refuse to delete the file).
	if !h.closed {
		h.closed = true
		h.file.open = false
	}
	return nil
}
