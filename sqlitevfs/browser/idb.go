//go:build js && wasm

package browser

import (
	"fmt"
	"slices"
	"strings"
	"syscall/js"

	"github.com/hearthdb/hearth/sqlitevfs"
)

// IDBStore is a sqlitevfs.BlockStore on IndexedDB, for browsers without OPFS
// sync access handles. Each Commit is one readwrite transaction, so a commit
// is atomic; the blocks of a read or a commit cross between Go and JS as one
// buffer.
//
// The VFS's own files (its reserve, sqlitevfs.HeadroomFile, and
// sqlitevfs.ProbeFile) each live in an IndexedDB database of their own
// (databaseOf): WebKit counts an origin's usage by the size of its
// IndexedDB files, and deleting records does not shrink them, so a reserve
// kept as records of the database would free nothing when spent. Deleting
// a whole IndexedDB database does give its space back.
type IDBStore struct {
	database  string
	blockSize int
	// strict asks IndexedDB to flush to disk before reporting a commit
	// (durability "strict"), the equivalent of synchronous=FULL.
	strict bool
}

// NewIDBStore returns the block store of one database. blockSize must match
// the VFS's BlockOptions.BlockSize.
func NewIDBStore(database string, blockSize int, strict bool) *IDBStore {
	return &IDBStore{database: database, blockSize: blockSize, strict: strict}
}

// IDBBlockSize is the size of the blocks database stores, 0 when it stores
// none yet: a store keeps the block size it was first written with.
func IDBBlockSize(database string) (int, error) {
	v, err := call("idbBlockSize", database)
	if err != nil {
		return 0, classify(err)
	}
	return v.Int(), nil
}

// vfsFile reports whether file is one of the VFS's own files.
func vfsFile(file string) bool { return file == sqlitevfs.HeadroomFile || file == sqlitevfs.ProbeFile }

// databaseOf is the IndexedDB database that stores file: database+file for
// the VFS's own files. No database name contains '%'
// (engine.ValidateName), so these names are nobody else's.
func databaseOf(database, file string) string {
	if vfsFile(file) {
		return database + file
	}
	return database
}

func (s *IDBStore) databaseOf(file string) string { return databaseOf(s.database, file) }

// ReadBlocks implements sqlitevfs.BlockStore.
func (s *IDBStore) ReadBlocks(file string, first, count int64) ([][]byte, error) {
	r, err := call("idbRead", s.databaseOf(file), file, float64(first), float64(count))
	if err != nil {
		return nil, classify(err)
	}
	indexes, data := r.Get("indexes"), r.Get("data")
	all := make([]byte, data.Length())
	if len(all) > 0 {
		js.CopyBytesToGo(all, data)
	}
	n := indexes.Length()
	if n == 0 {
		return nil, nil
	}
	last := int64(indexes.Index(n - 1).Int())
	out := make([][]byte, last-first+1)
	for i := range n {
		idx := int64(indexes.Index(i).Int())
		start := i * s.blockSize
		if start+s.blockSize > len(all) {
			return nil, fmt.Errorf("idb %s/%s block %d: %w", s.database, file, idx, sqlitevfs.ErrBlockSize)
		}
		out[idx-first] = all[start : start+s.blockSize : start+s.blockSize]
	}
	return out, nil
}

// FileSize implements sqlitevfs.BlockStore.
func (s *IDBStore) FileSize(file string) (int64, bool, error) {
	v, err := call("idbFileSize", s.databaseOf(file), file)
	if err != nil {
		return 0, false, err
	}
	size := int64(v.Float())
	if size < 0 {
		return 0, false, nil
	}
	return size, true, nil
}

// Commit implements sqlitevfs.BlockStore: every change in one IndexedDB
// transaction. The VFS's own files commit alone (the VFS never batches
// them with the database's): one transaction cannot span two databases.
func (s *IDBStore) Commit(batch sqlitevfs.Batch) error {
	database := s.database
	for _, fc := range batch.Files {
		if vfsFile(fc.Name) {
			if len(batch.Files) > 1 {
				return fmt.Errorf("idb commit %s: %s must be committed alone", s.database, fc.Name)
			}
			database = s.databaseOf(fc.Name)
		}
	}
	total := 0
	changes := make([]any, len(batch.Files))
	for i, fc := range batch.Files {
		indexes := make([]any, len(fc.Blocks))
		for j, b := range fc.Blocks {
			if len(b.Data) != s.blockSize {
				return fmt.Errorf("idb commit %s: block %d has %d bytes, want %d: %w", fc.Name, b.Index, len(b.Data), s.blockSize, sqlitevfs.ErrBlockSize)
			}
			indexes[j] = float64(b.Index)
		}
		total += len(fc.Blocks) * s.blockSize
		changes[i] = map[string]any{"name": fc.Name, "size": float64(fc.Size), "truncateFrom": float64(fc.TruncateFrom), "indexes": indexes, "delete": fc.Delete}
	}
	data := make([]byte, 0, total)
	for _, fc := range batch.Files {
		for _, b := range fc.Blocks {
			data = append(data, b.Data...)
		}
	}
	buf := js.Global().Get("Uint8Array").New(len(data))
	js.CopyBytesToJS(buf, data)
	durability := "relaxed"
	if s.strict {
		durability = "strict"
	}
	_, err := call("idbCommit", database, changes, buf, s.blockSize, durability)
	return classify(err)
}

// DeleteFile implements sqlitevfs.BlockStore. Deleting one of the VFS's
// own files deletes its database: only that gives its space back (see
// IDBStore).
func (s *IDBStore) DeleteFile(file string) error {
	if vfsFile(file) {
		_, err := call("idbDropDatabase", s.databaseOf(file))
		return err
	}
	_, err := call("idbDelete", s.database, file)
	return err
}

// ListFiles implements sqlitevfs.BlockStore.
func (s *IDBStore) ListFiles() ([]string, error) {
	v, err := call("idbList", s.database)
	if err != nil {
		return nil, err
	}
	return stringsOf(v), nil
}

// IDBDatabases lists the databases stored in IndexedDB (not the VFS's
// own files' databases).
func IDBDatabases() ([]string, error) {
	v, err := call("idbDatabases")
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(stringsOf(v), func(name string) bool {
		return strings.HasSuffix(name, sqlitevfs.HeadroomFile) || strings.HasSuffix(name, sqlitevfs.ProbeFile)
	}), nil
}

// DropIDBDatabase deletes a database's IndexedDB database, every block of
// it, and those of the VFS's own files.
func DropIDBDatabase(database string) error {
	for _, name := range []string{database, databaseOf(database, sqlitevfs.HeadroomFile), databaseOf(database, sqlitevfs.ProbeFile)} {
		if _, err := call("idbDropDatabase", name); err != nil {
			return err
		}
	}
	return nil
}

// StorageHealth is what navigator.storage says about this origin.
type StorageHealth struct {
	Persisted     bool
	PersistReason string
	Usage, Quota  int64 // bytes; -1 when unknown
}

// Health asks the browser about persistence and quota (navigator.storage).
func Health() StorageHealth {
	h := StorageHealth{Usage: -1, Quota: -1}
	v, err := call("health")
	if err != nil {
		h.PersistReason = err.Error()
		return h
	}
	h.Persisted = v.Get("persisted").Truthy()
	h.PersistReason = v.Get("persistReason").String()
	h.Usage = int64(v.Get("usage").Float())
	h.Quota = int64(v.Get("quota").Float())
	return h
}
