package engine

import (
	"net/url"
	"strings"

	"github.com/hearthdb/hearth/wasm/protocol"
	_ "github.com/ncruces/go-sqlite3/vfs/memdb" // registers the "memdb" VFS used for memory storage
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
	// Pragmas run right after open, before anything else.
	Pragmas []string
	// Persistent says whether the data survives the page: false for memory,
	// and for browser storage that may be wiped (private mode, eviction).
	Persistent bool
}

// StorageResolver turns (name, storage choice) into a Location. The worker's
// main provides one that knows which browser backends exist; natively only
// memory storage is available.
type StorageResolver interface {
	Resolve(name, choice string) (Location, error)
}

// MemoryStorage resolves every choice it can to in-memory databases. It
// refuses "opfs" and "idb" rather than silently giving a database that will
// not survive a reload.
type MemoryStorage struct{}

// Resolve implements StorageResolver.
func (MemoryStorage) Resolve(name, choice string) (Location, error) {
	switch choice {
	case StorageMemory:
		return MemoryLocation(name, "memory storage requested"), nil
	case StorageAuto:
		return MemoryLocation(name, "no durable storage backend is available in this runtime"), nil
	case StorageOPFS, StorageIDB:
		return Location{}, protocol.Errorf(protocol.CodeStorageUnavailable, "storage %q is not available in this runtime", choice)
	}
	return Location{}, protocol.Errorf(protocol.CodeBadRequest, "unknown storage %q (want auto, memory, opfs or idb)", choice)
}

// MemoryLocation is an in-memory database shared by every connection of this
// worker that opens the same name.
func MemoryLocation(name, reason string) Location {
	return Location{URI: "file:/" + url.PathEscape(name) + "?vfs=memdb", Backend: StorageMemory, Reason: reason}
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
