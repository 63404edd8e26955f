package engine

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/hearthdb/hearth/sqlitevfs"
	"github.com/hearthdb/hearth/wasm/protocol"
	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

// Storage choices a page may ask for at open.
const (
	StorageAuto   = "auto"
	StorageMemory = "memory"
	StorageOPFS   = "opfs"
	StorageIDB    = "idb"
)

// Location says where a database lives once its storage is chosen.
type Location struct {
	// URI is the SQLite filename to open (a file: URI naming the VFS).
	URI string
	// Backend is the storage actually used: "memory", "opfs" or "idb".
	Backend string
	// Reason explains the choice, most usefully when "auto" fell back.
	Reason string
	// NewLayout is the page size and auto-vacuum mode of a database
	// created here: its Pragmas are among Pragmas, where the storage's
	// order needs them. Declared rather than read after the open so that
	// a new database's replica file, which must be built with both, can
	// be asked for before the open. Zero: not declared, and the replica
	// is asked for once the open has read them.
	NewLayout Layout
	// Pragmas run right after open, before anything else.
	Pragmas []string
	// Persistent says whether the data survives the page: false for memory,
	// and for browser storage that may be wiped (private mode, eviction).
	Persistent bool
	// PersistReason says why Persistent is false.
	PersistReason string
	// Encrypted: a key was given, so a wrong key must be told apart from a
	// corrupt file right after open.
	Encrypted bool
	// WholeFile: the storage's VFS keeps a file that no connection has
	// open, so a new database's replica file is written to it whole
	// (Conn.replaceFile) rather than copied in page by page through
	// SQLite's backup. Not for memory storage, whose file goes with its last
	// connection; an encrypted database is always copied in (its VFS
	// encrypts each page).
	WholeFile bool
	// Prepare, when set, runs before the database is first opened, and
	// outside SQLite's calls: the storage does there whatever must wait
	// for the browser (opening files, learning which exist), so that
	// SQLite's calls into it need not (sqlitevfs.FileVFS.Prepare). Its
	// error fails the open, and the storage is released.
	Prepare func() error
	// Flush, when set, makes every commit so far durable: the storage
	// writes behind (sqlitevfs.MirrorStore), and a commit is durable
	// only once a Flush after it returned nil. The engine calls it
	// outside SQLite's calls before anyone hears of a commit
	// (durable.go). After an error the commits since the last durable
	// one are lost, and Flush keeps failing until Recover.
	Flush func() error
	// Recover, set with Flush, takes the storage back to its last
	// durable state after a failed Flush, with the connection closed;
	// the connection is then opened again.
	Recover func() error
	// Release, when set, runs after the connection closes: it gives up
	// storage handles another worker may need. With Flush set, it
	// flushes first.
	Release func() error
	// Headroom, when set, is the storage's reserve for deletes at the
	// quota (sqlitevfs.Headroom, embedded in both of its VFSes).
	Headroom Headroom
}

// Layout is a database file's page size and auto-vacuum mode (0 none,
// 1 full, 2 incremental).
type Layout struct {
	PageSize, AutoVacuum int
}

// Pragmas set the layout on a database with no tables yet: page_size
// before the first page is written (journal_mode = WAL writes it),
// auto_vacuum before the first table. On any other database they change
// nothing until a VACUUM.
func (l Layout) Pragmas() []string {
	return []string{fmt.Sprintf("PRAGMA page_size = %d", l.PageSize), fmt.Sprintf("PRAGMA auto_vacuum = %d", l.AutoVacuum)}
}

// fileExists asks the location's VFS, as SQLite would, whether its
// database file is there.
func (loc Location) fileExists() (bool, error) {
	v, name, err := loc.vfsFile()
	if err != nil {
		return false, err
	}
	return v.Access(name, vfs.ACCESS_EXISTS)
}

// vfsFile is the VFS the location's URI names and the database file's
// name in it.
func (loc Location) vfsFile() (vfs.VFS, string, error) {
	u, err := url.Parse(loc.URI)
	if err != nil {
		return nil, "", err
	}
	name := u.Path
	if name == "" {
		name = u.Opaque
	}
	v := vfs.Find(u.Query().Get("vfs"))
	if v == nil {
		return nil, "", fmt.Errorf("no VFS %q", u.Query().Get("vfs"))
	}
	return v, name, nil
}

// Headroom is a reserve of storage space that lets an app delete at its
// quota: the engine spends it when a page's request fails with
// STORAGE_QUOTA (the app has been told, and its deletes come next), and
// offers to take it back after each commit. Only the page's failures
// spend it: a sync write that fails must not hand the reserve to the
// pulls that follow.
type Headroom interface {
	SpendHeadroom()
	// Reclaim runs on the connection with no transaction open; its error
	// is not the commit's (the next commit tries again).
	Reclaim(*sqlite3.Conn) error
}

// OpenRequest is what the page asked for at open.
type OpenRequest struct {
	Name string
	// Storage is "auto", "memory", "opfs" or "idb".
	Storage string
	// Key encrypts the database at rest: 32 raw bytes, or a passphrase
	// (stretched with Argon2id, which takes about a second).
	Key        []byte
	Passphrase string
	// Durability is "full" (a commit is on disk before it is acknowledged)
	// or "normal" (faster; a power cut may lose the last commits, never
	// corrupt the database).
	Durability string
}

// StoredDatabase is a database found in durable storage.
type StoredDatabase struct {
	Name    string
	Storage string
}

// StorageHealth is what the browser says about durable storage.
type StorageHealth struct {
	// Persisted: the browser promised not to evict the origin's data.
	Persisted     bool
	PersistReason string
	Usage, Quota  int64 // bytes; -1 when unknown
}

// StorageResolver knows the storage backends of the runtime: it turns an
// open request into a Location, and lists, deletes and reports on stored
// databases. The worker's main provides the browser one; natively only
// memory storage exists.
type StorageResolver interface {
	Resolve(req OpenRequest) (Location, error)
	Databases() ([]StoredDatabase, error)
	Delete(name string) error
	Health() StorageHealth
}

// MemoryStorage resolves every choice it can to in-memory databases. It
// refuses "opfs" and "idb" rather than silently giving a database that will
// not survive a reload.
type MemoryStorage struct{}

// Resolve implements StorageResolver.
func (MemoryStorage) Resolve(req OpenRequest) (Location, error) {
	if len(req.Key) > 0 || req.Passphrase != "" {
		return Location{}, protocol.Errorf(protocol.CodeBadRequest, "encryption at rest needs durable storage (opfs or idb), not memory")
	}
	switch req.Storage {
	case StorageMemory:
		return MemoryLocation(req.Name, "memory storage requested"), nil
	case StorageAuto:
		return MemoryLocation(req.Name, "no durable storage backend is available in this runtime"), nil
	case StorageOPFS, StorageIDB:
		return Location{}, protocol.Errorf(protocol.CodeStorageUnavailable, "storage %q is not available in this runtime", req.Storage)
	}
	return Location{}, protocol.Errorf(protocol.CodeBadRequest, "unknown storage %q (want auto, memory, opfs or idb)", req.Storage)
}

// Databases implements StorageResolver: memory databases are not listed.
func (MemoryStorage) Databases() ([]StoredDatabase, error) { return nil, nil }

// Delete implements StorageResolver: memory databases vanish on close.
func (MemoryStorage) Delete(string) error { return nil }

// Health implements StorageResolver.
func (MemoryStorage) Health() StorageHealth {
	return StorageHealth{PersistReason: "memory storage does not persist", Usage: -1, Quota: -1}
}

// MemoryVFSName is the VFS of memory storage (sqlitevfs.MemoryVFS): a
// database there is shared by every connection of the process that opens
// its name, and goes with the last of them.
const MemoryVFSName = "hearth-memory"

// memoryVFS holds memory storage's databases, and the replica files that
// SQLite's backup copies from (Conn.restore).
var memoryVFS = sqlitevfs.NewMemoryVFS()

func init() { vfs.Register(MemoryVFSName, memoryVFS) }

// MemoryLocation is an in-memory database shared by every connection of this
// worker that opens the same name.
func MemoryLocation(name, reason string) Location {
	layout := Layout{PageSize: 4096}
	return Location{URI: "file:/" + url.PathEscape(name) + "?vfs=" + MemoryVFSName, Backend: StorageMemory, Reason: reason, NewLayout: layout, Pragmas: layout.Pragmas()}
}

// ValidateName checks a database name: it becomes a file name in OPFS and a
// key in IndexedDB, so it must be short and free of path syntax.
func ValidateName(name string) error {
	if name == "" || len(name) > 128 {
		return protocol.Errorf(protocol.CodeBadRequest, "database name must be 1 to 128 bytes, got %d", len(name))
	}
	if strings.ContainsAny(name, "/\\?#%\x00") || name == "." || name == ".." {
		return protocol.Errorf(protocol.CodeBadRequest, "database name %q may not contain / \\ ? # %% or NUL, nor be . or ..", name)
	}
	for _, r := range name {
		if r < 0x20 {
			return protocol.Errorf(protocol.CodeBadRequest, "database name %q contains a control character", name)
		}
	}
	return nil
}
