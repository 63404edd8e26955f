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
// The VFS's reserve (sqlitevfs.HeadroomFile) lives in an IndexedDB database
// of its own (reserveDatabase): WebKit counts an origin's usage by the size
// of its IndexedDB files, and deleting records does not shrink them, so a
// reserve kept as records of the database frees nothing when it is spent.
// Deleting a whole IndexedDB database does give its space back.
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

// reserveDatabase names the IndexedDB database that holds the reserve. No
// database name contains '%' (engine.ValidateName), so it is nobody's.
func reserveDatabase(database string) string { return database + sqlitevfs.HeadroomFile }

// databaseOf is the IndexedDB database that stores file.
func (s *IDBStore) databaseOf(file string) string {
	if file == sqlitevfs.HeadroomFile {
		return reserveDatabase(s.database)
	}
	return s.database
}

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
// transaction. The reserve commits alone (the VFS never batches it with
// the database's files): one transaction cannot span two databases.
func (s *IDBStore) Commit(batch sqlitevfs.Batch) error {
	database := s.database
	for _, fc := range batch.Files {
		if fc.Name == sqlitevfs.HeadroomFile {
			if len(batch.Files) > 1 {
				return fmt.Errorf("idb commit %s: the reserve must be committed alone", s.database)
			}
			database = reserveDatabase(s.database)
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
		changes[i] = map[string]any{"name": fc.Name, "size": float64(fc.Size), "truncateFrom": float64(fc.TruncateFrom), "indexes": indexes}
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

// DeleteFile implements sqlitevfs.BlockStore. Deleting the reserve deletes
// its database: only that gives its space back (see IDBStore).
func (s *IDBStore) DeleteFile(file string) error {
	if file == sqlitevfs.HeadroomFile {
		_, err := call("idbDropDatabase", reserveDatabase(s.database))
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

// IDBDatabases lists the databases stored in IndexedDB (not their
// reserves).
func IDBDatabases() ([]string, error) {
	v, err := call("idbDatabases")
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(stringsOf(v), func(name string) bool {
		return strings.HasSuffix(name, sqlitevfs.HeadroomFile)
	}), nil
}

// DropIDBDatabase deletes a database's IndexedDB database, every block of
// it, and its reserve's.
func DropIDBDatabase(database string) error {
	if _, err := call("idbDropDatabase", database); err != nil {
		return err
	}
	_, err := call("idbDropDatabase", reserveDatabase(database))
	return err
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
