//go:build js && wasm

package browser

import (
	"fmt"
	"io"
	"io/fs"
	"slices"
	"syscall/js"

	"github.com/hack-pad/safejs"
	"github.com/hearthdb/hearth/sqlitevfs"
)

// OPFSStore is a sqlitevfs.FileStore on the Origin Private File System: one
// directory per database, each file read and written through a
// FileSystemSyncAccessHandle. Only opening, deleting and listing await a
// promise; reads, writes and flushes are synchronous calls on the handle.
type OPFSStore struct {
	database string
}

// NewOPFSStore returns the store for one database's directory.
func NewOPFSStore(database string) *OPFSStore { return &OPFSStore{database: database} }

// ProbeOPFS tries to create a sync access handle. It returns "" when OPFS
// works here, else why not.
func ProbeOPFS() string {
	v, err := call("probeOPFS")
	if err != nil {
		return err.Error()
	}
	return v.String()
}

// OpenFile implements sqlitevfs.FileStore.
func (s *OPFSStore) OpenFile(name string, create bool) (sqlitevfs.StoredFile, error) {
	h, err := call("opfsOpen", s.database, name, create)
	switch {
	case isName(err, "NotFoundError"):
		return nil, fmt.Errorf("opfs %s/%s: %w", s.database, name, fs.ErrNotExist)
	case isName(err, "NoModificationAllowedError"):
		return nil, fmt.Errorf("opfs %s/%s is open in another tab or worker: %w", s.database, name, err)
	case err != nil:
		return nil, classify(fmt.Errorf("opfs open %s/%s: %w", s.database, name, err))
	}
	at := safejs.Safe(js.Global().Get("Object").New())
	return &opfsFile{name: name, handle: safejs.Safe(h), views: map[int]safejs.Value{}, at: at}, nil
}

// DeleteFile implements sqlitevfs.FileStore.
func (s *OPFSStore) DeleteFile(name string) error {
	_, err := call("opfsDelete", s.database, name)
	return err
}

// FileExists implements sqlitevfs.FileStore.
func (s *OPFSStore) FileExists(name string) (bool, error) {
	names, err := s.ListFiles()
	return slices.Contains(names, name), err
}

// ListFiles implements sqlitevfs.FileStore.
func (s *OPFSStore) ListFiles() ([]string, error) {
	v, err := call("opfsList", s.database)
	if err != nil {
		return nil, err
	}
	return stringsOf(v), nil
}

// opfsFile is one open sync access handle.
type opfsFile struct {
	name   string
	handle safejs.Value
	// views are reusable JS buffers by length: SQLite reads and writes
	// whole pages, so one view per page size covers nearly every call and
	// no JS allocation happens per I/O.
	views map[int]safejs.Value
	at    safejs.Value // the reused {at: offset} options object
}

func (f *opfsFile) view(n int) (safejs.Value, error) {
	if v, ok := f.views[n]; ok {
		return v, nil
	}
	v, err := safejs.Safe(js.Global().Get("Uint8Array")).New(n)
	if err != nil {
		return v, err
	}
	if len(f.views) < 8 {
		f.views[n] = v
	}
	return v, nil
}

func (f *opfsFile) options(off int64) (safejs.Value, error) {
	return f.at, f.at.Set("at", float64(off))
}

func (f *opfsFile) ReadAt(p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	v, err := f.view(len(p))
	if err != nil {
		return 0, err
	}
	opts, err := f.options(off)
	if err != nil {
		return 0, err
	}
	r, err := f.handle.Call("read", v, opts)
	if err != nil {
		return 0, classify(fmt.Errorf("opfs read %s: %w", f.name, asJSError(err)))
	}
	n, err := r.Int()
	if err != nil {
		return 0, err
	}
	if n > 0 {
		if _, err := safejs.CopyBytesToGo(p[:n], v); err != nil {
			return 0, err
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *opfsFile) WriteAt(p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	v, err := f.view(len(p))
	if err != nil {
		return 0, err
	}
	if _, err := safejs.CopyBytesToJS(v, p); err != nil {
		return 0, err
	}
	opts, err := f.options(off)
	if err != nil {
		return 0, err
	}
	r, err := f.handle.Call("write", v, opts)
	if err != nil {
		return 0, classify(fmt.Errorf("opfs write %s: %w", f.name, asJSError(err)))
	}
	n, err := r.Int()
	if err != nil {
		return 0, err
	}
	if n < len(p) {
		// A short write on a sync handle means the quota ran out mid-write.
		return n, fmt.Errorf("opfs write %s: wrote %d of %d bytes: %w", f.name, n, len(p), sqlitevfs.ErrQuota)
	}
	return n, nil
}

func (f *opfsFile) Truncate(size int64) error {
	if _, err := f.handle.Call("truncate", float64(size)); err != nil {
		return classify(fmt.Errorf("opfs truncate %s: %w", f.name, asJSError(err)))
	}
	return nil
}

func (f *opfsFile) Size() (int64, error) {
	r, err := f.handle.Call("getSize")
	if err != nil {
		return 0, classify(fmt.Errorf("opfs size %s: %w", f.name, asJSError(err)))
	}
	n, err := r.Float()
	return int64(n), err
}

func (f *opfsFile) Flush() error {
	if _, err := f.handle.Call("flush"); err != nil {
		return classify(fmt.Errorf("opfs flush %s: %w", f.name, asJSError(err)))
	}
	return nil
}

func (f *opfsFile) Close() error {
	if _, err := f.handle.Call("close"); err != nil {
		return fmt.Errorf("opfs close %s: %w", f.name, asJSError(err))
	}
	return nil
}

// classify marks quota exhaustion so the VFS reports SQLITE_FULL and the
// worker STORAGE_QUOTA.
func classify(err error) error {
	if isName(err, "QuotaExceededError") {
		return fmt.Errorf("%w: %w", sqlitevfs.ErrQuota, err)
	}
	return err
}

func stringsOf(v js.Value) []string {
	n := v.Length()
	out := make([]string, n)
	for i := range n {
		out[i] = v.Index(i).String()
	}
	return out
}

// OPFSDatabases lists the databases that have an OPFS directory.
func OPFSDatabases() ([]string, error) {
	v, err := call("opfsDatabases")
	if err != nil {
		return nil, err
	}
	return stringsOf(v), nil
}

// DropOPFSDatabase removes a database's directory and every file in it.
func DropOPFSDatabase(database string) error {
	_, err := call("opfsDropDatabase", database)
	return err
}
