package sqlitevfs

import (
	"errors"
	"io"
)

// ErrQuota reports that durable storage is full (a browser quota was hit).
// Backends return an error wrapping it; the VFSes turn it into SQLITE_FULL so
// SQLite rolls the failing transaction back and the database stays usable.
var ErrQuota = errors.New("sqlitevfs: storage quota exceeded")

// ErrBlockSize reports a stored block whose length is not the configured
// block size: the store was written with a different BlockOptions.BlockSize.
var ErrBlockSize = errors.New("sqlitevfs: stored block has the wrong size")

// FileStore is a flat namespace of byte files: in the browser, one OPFS
// directory per database, each file reached through a
// FileSystemSyncAccessHandle.
//
// Names are the VFS's store names: the SQLite name without leading slashes,
// with '%', '/', '\\' and NUL percent-escaped ("app.db", "app.db-journal",
// "app.db-wal"), or [TempFilePrefix] and a unique suffix. Methods may be
// called from several goroutines.
type FileStore interface {
	// OpenFile opens name, creating an empty file if create is set. When
	// create is not set and the file is absent, the error wraps
	// fs.ErrNotExist. The VFS opens each file at most once at a time and
	// keeps the handle until the file is deleted or [FileVFS.ReleaseHandles]
	// is called.
	OpenFile(name string, create bool) (StoredFile, error)
	// DeleteFile removes name. An absent file is not an error. The VFS
	// closes its handle first.
	DeleteFile(name string) error
	// FileExists reports whether name exists.
	FileExists(name string) (bool, error)
	// ListFiles returns the names of all files in the store.
	ListFiles() ([]string, error)
}

// StoredFile is an open file of a [FileStore].
//
// ReadAt follows io.ReaderAt: a read past the end returns the bytes that
// exist and an error (io.EOF is best). WriteAt past the end grows the file,
// zero-filling any gap. Writes may be lost on a crash until Flush returns.
// Errors that mean "storage is full" must wrap [ErrQuota].
type StoredFile interface {
	io.ReaderAt
	io.WriterAt
	Truncate(size int64) error
	Size() (int64, error)
	Flush() error
	Close() error
}

// BlockStore keeps files as numbered fixed-size blocks plus a byte size per
// file, and applies a set of changes atomically. In the browser this is
// IndexedDB: one record per block keyed (file, index), one record per file
// holding its size, and each Commit is one readwrite transaction.
//
// The store never needs to know the block size: every block the VFS writes
// has exactly the configured size, and ReadBlocks hands back what was stored.
// File names are as for [FileStore]. Methods may be called from several
// goroutines (for different files).
type BlockStore interface {
	// ReadBlocks returns blocks first..first+count-1 of file, in order, in
	// one round trip. Blocks that are not stored (holes, or beyond the end,
	// or the whole file absent) are nil. The result may be shorter than
	// count when the trailing blocks are all missing. The VFS takes
	// ownership of the returned slices.
	ReadBlocks(file string, first, count int64) ([][]byte, error)
	// FileSize returns the size recorded for file and whether it exists.
	FileSize(file string) (size int64, exists bool, err error)
	// Commit applies every change of the batch or none of them, even if
	// the process dies part way. It must not keep references to the block
	// slices after it returns. Errors that mean "storage is full" must wrap
	// [ErrQuota].
	Commit(batch Batch) error
	// DeleteFile removes file, its size record and all of its blocks. An
	// absent file is not an error.
	DeleteFile(file string) error
	// ListFiles returns the names of all files that have a size record.
	ListFiles() ([]string, error)
}

// Batch is a set of file changes committed atomically by [BlockStore.Commit].
type Batch struct {
	Files []FileChange
}

// FileChange is what one Commit does to one file, applied in this order:
//  1. if TruncateFrom >= 0, delete every stored block with index >= TruncateFrom;
//  2. store each of Blocks, replacing any block with the same index;
//  3. record Size as the file's size, creating the file if it is absent.
//
// With Delete set it does none of that: the file, its size record and all
// of its blocks are removed (an absent file is not an error), as
// DeleteFile would, but atomically with the rest of the batch. A batch
// names each file at most once.
type FileChange struct {
	Name         string
	Size         int64
	TruncateFrom int64 // -1: delete nothing
	Blocks       []Block
	Delete       bool
}

// Block is one block of a file; Data always has the VFS's block size.
type Block struct {
	Index int64
	Data  []byte
}

// blockCount is the number of blocks needed to hold size bytes.
func blockCount(size, blockSize int64) int64 {
	return (size + blockSize - 1) / blockSize
}
