package sqlitevfs

import (
	"fmt"
	"maps"
	"slices"
	"sync"
)

// Fault decides whether a call to a memory store fails. call counts the
// store's calls from 1 (for a MemoryFileStore, calls on its open files count
// too) and op names the method ("Commit", "ReadBlocks", "WriteAt", ...). A
// non-nil result fails the call before it has any effect.
type Fault func(call int64, op string) error

// FailCall returns a Fault that fails only the call-th call with err.
func FailCall(call int64, err error) Fault {
	return func(n int64, _ string) error {
		if n == call {
			return err
		}
		return nil
	}
}

// FailFrom returns a Fault that fails the call-th call and every later one
// with err: the store has become unreachable. Together with Crash this models
// the process dying at that call.
func FailFrom(call int64, err error) Fault {
	return func(n int64, _ string) error {
		if n >= call {
			return err
		}
		return nil
	}
}

// MemoryBlockStore is an in-memory [BlockStore] with test hooks: a byte quota,
// fault injection, call counting and crash snapshots. Commit is atomic, as
// IndexedDB transactions are. It is safe for concurrent use.
type MemoryBlockStore struct {
	mu    sync.Mutex
	files map[string]*memBlockFile
	used  int64 // bytes of block data stored (held, with keepFreed)
	quota int64 // 0: unlimited
	// keepFreed counts storage as WebKit counts IndexedDB
	// (SetKeepFreedSpace).
	keepFreed bool
	calls     int64
	fault     Fault
}

type memBlockFile struct {
	size   int64
	blocks map[int64][]byte
	held   int64 // with keepFreed: the most bytes of blocks it ever held
}

func (f *memBlockFile) bytes() int64 {
	var n int64
	for _, b := range f.blocks {
		n += int64(len(b))
	}
	return n
}

// NewMemoryBlockStore returns an empty store.
func NewMemoryBlockStore() *MemoryBlockStore {
	return &MemoryBlockStore{files: map[string]*memBlockFile{}}
}

// SetQuota limits the bytes of block data the store holds; a Commit that
// would end above it fails with an error wrapping [ErrQuota]. 0 removes the
// limit.
func (s *MemoryBlockStore) SetQuota(bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quota = bytes
}

// SetKeepFreedSpace makes the store count its quota as WebKit counts
// IndexedDB's: each file is counted at the most bytes it ever held until
// it is deleted (WebKit's IndexedDB files do not shrink when records are
// deleted), and a commit must fit every byte it writes, whether or not it
// replaces blocks, and its files' size records (WebKit asks the quota for
// each put's size). Set it before the first Commit.
func (s *MemoryBlockStore) SetKeepFreedSpace(keep bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keepFreed = keep
}

// SetFault installs f (nil removes it).
func (s *MemoryBlockStore) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

// Calls returns how many calls the store has received.
func (s *MemoryBlockStore) Calls() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Used returns the bytes of block data stored.
func (s *MemoryBlockStore) Used() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used
}

// Crash returns a new store holding exactly what a process dying now would
// leave behind: every committed change and nothing else. Since the store only
// changes by atomic Commit and DeleteFile, that is a copy. The copy has
// no quota and no fault.
func (s *MemoryBlockStore) Crash() *MemoryBlockStore {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := NewMemoryBlockStore()
	c.used = s.used
	for name, f := range s.files {
		// Stored slices are never modified in place, so sharing them is safe.
		c.files[name] = &memBlockFile{size: f.size, blocks: maps.Clone(f.blocks), held: f.held}
	}
	return c
}

// begin counts a call and consults the fault hook; s.mu must be held.
func (s *MemoryBlockStore) begin(op string) error {
	s.calls++
	if s.fault != nil {
		if err := s.fault(s.calls, op); err != nil {
			return fmt.Errorf("memory block store: %s: %w", op, err)
		}
	}
	return nil
}

// ReadBlocks implements [BlockStore].
func (s *MemoryBlockStore) ReadBlocks(file string, first, count int64) ([][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin("ReadBlocks"); err != nil {
		return nil, err
	}
	if first < 0 || count < 0 {
		return nil, fmt.Errorf("memory block store: ReadBlocks(%q, %d, %d): bad range", file, first, count)
	}
	out := make([][]byte, count)
	if f := s.files[file]; f != nil {
		for i := range out {
			if b, ok := f.blocks[first+int64(i)]; ok {
				out[i] = slices.Clone(b)
			}
		}
	}
	return out, nil
}

// FileSize implements [BlockStore].
func (s *MemoryBlockStore) FileSize(file string) (int64, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin("FileSize"); err != nil {
		return 0, false, err
	}
	f := s.files[file]
	if f == nil {
		return 0, false, nil
	}
	return f.size, true, nil
}

// Commit implements [BlockStore]. It applies the batch while keeping an undo
// log, and undoes it all if the result does not fit the quota, so a failed
// Commit changes nothing.
func (s *MemoryBlockStore) Commit(batch Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin("Commit"); err != nil {
		return err
	}
	for _, ch := range batch.Files {
		if ch.Size < 0 || ch.Name == "" {
			return fmt.Errorf("memory block store: Commit: bad change for %q (size %d)", ch.Name, ch.Size)
		}
		for _, b := range ch.Blocks {
			if b.Index < 0 {
				return fmt.Errorf("memory block store: Commit: negative block index for %q", ch.Name)
			}
		}
	}

	type savedBlock struct {
		file  *memBlockFile
		index int64
		data  []byte // nil: the block did not exist
	}
	type savedFile struct {
		name    string
		file    *memBlockFile
		size    int64
		created bool
		deleted bool
	}
	var blocks []savedBlock
	var files []savedFile
	used := s.used
	for _, ch := range batch.Files {
		f := s.files[ch.Name]
		if ch.Delete {
			if f != nil {
				files = append(files, savedFile{name: ch.Name, file: f, size: f.size, deleted: true})
				used -= f.bytes()
				if s.keepFreed {
					used -= max(f.held-f.bytes(), 0)
				}
				delete(s.files, ch.Name)
			}
			continue
		}
		files = append(files, savedFile{name: ch.Name, file: f, created: f == nil})
		if f == nil {
			f = &memBlockFile{blocks: map[int64][]byte{}}
			s.files[ch.Name] = f
			files[len(files)-1].file = f
		}
		files[len(files)-1].size = f.size
		if ch.TruncateFrom >= 0 {
			for i, b := range f.blocks {
				if i >= ch.TruncateFrom {
					blocks = append(blocks, savedBlock{f, i, b})
					used -= int64(len(b))
					delete(f.blocks, i)
				}
			}
		}
		for _, b := range ch.Blocks {
			old := f.blocks[b.Index]
			blocks = append(blocks, savedBlock{f, b.Index, old})
			used += int64(len(b.Data)) - int64(len(old))
			f.blocks[b.Index] = slices.Clone(b.Data)
		}
		f.size = ch.Size
	}

	over := used > s.used && used > s.quota
	if s.keepFreed {
		var written int64
		for _, ch := range batch.Files {
			written += 16 // the file's size record
			for _, b := range ch.Blocks {
				written += int64(len(b.Data))
			}
		}
		over = s.used+written > s.quota
		used = 0
		for _, f := range s.files {
			used += max(f.held, f.bytes())
		}
	}
	if s.quota > 0 && over {
		for i := len(blocks) - 1; i >= 0; i-- {
			b := blocks[i]
			if b.data == nil {
				delete(b.file.blocks, b.index)
			} else {
				b.file.blocks[b.index] = b.data
			}
		}
		for i := len(files) - 1; i >= 0; i-- {
			f := files[i]
			f.file.size = f.size
			switch {
			case f.created:
				delete(s.files, f.name)
			case f.deleted:
				s.files[f.name] = f.file
			}
		}
		return fmt.Errorf("memory block store: commit needs %d bytes, quota is %d: %w", used, s.quota, ErrQuota)
	}
	if s.keepFreed {
		for _, f := range s.files {
			f.held = max(f.held, f.bytes())
		}
	}
	s.used = used
	return nil
}

// DeleteFile implements [BlockStore].
func (s *MemoryBlockStore) DeleteFile(file string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin("DeleteFile"); err != nil {
		return err
	}
	if f := s.files[file]; f != nil {
		s.used -= f.bytes()
		if s.keepFreed {
			s.used -= max(f.held-f.bytes(), 0)
		}
		delete(s.files, file)
	}
	return nil
}

// ListFiles implements [BlockStore].
func (s *MemoryBlockStore) ListFiles() ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin("ListFiles"); err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(s.files)), nil
}
