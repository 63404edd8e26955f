//go:build js && wasm

package main

import (
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/hearthdb/hearth/sqlitevfs"
	"github.com/hearthdb/hearth/sqlitevfs/browser"
	"github.com/hearthdb/hearth/wasm/engine"
	"github.com/hearthdb/hearth/wasm/protocol"
	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
	"github.com/ncruces/go-sqlite3/vfs/adiantum"
)

// dbFile is the database's file name inside its OPFS directory or
// IndexedDB database; SQLite adds -journal and -wal to it.
const dbFile = "db.sqlite"

// browserStorage resolves storage choices to the browser's backends. OPFS
// (sync access handles) is preferred: it is the fastest and needs no page
// cache of its own. IndexedDB is the fallback where sync handles are missing
// (Safari in some contexts, older browsers, private modes). Memory is the
// last resort, and says that it will not persist.
type browserStorage struct {
	mu         sync.Mutex
	probed     bool
	opfsReason string // "" when OPFS sync access handles work
	registered map[string]vfs.VFS
	// mirrors holds the write-behind store of each registered IndexedDB
	// VFS (sqlitevfs.MirrorStore), which its connections flush.
	mirrors map[string]*sqlitevfs.MirrorStore
	// opens counts the open connections on each registered VFS. At zero
	// the VFS is dropped: it caches blocks and file lists, and while this
	// worker has the database closed, another worker may change the store.
	opens map[string]int
}

func newBrowserStorage() *browserStorage {
	return &browserStorage{registered: map[string]vfs.VFS{}, mirrors: map[string]*sqlitevfs.MirrorStore{}, opens: map[string]int{}}
}

// opfsAvailable tries OPFS once per worker and remembers why it failed.
func (b *browserStorage) opfsAvailable() (bool, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.probed {
		b.opfsReason = browser.ProbeOPFS()
		b.probed = true
	}
	return b.opfsReason == "", b.opfsReason
}

func (b *browserStorage) Resolve(req engine.OpenRequest) (engine.Location, error) {
	switch req.Storage {
	case engine.StorageMemory:
		return engine.MemoryStorage{}.Resolve(req)
	case engine.StorageOPFS:
		if ok, why := b.opfsAvailable(); !ok {
			return engine.Location{}, protocol.Errorf(protocol.CodeStorageUnavailable, "OPFS cannot be used here: %s", why)
		}
		return b.opfs(req, "OPFS requested")
	case engine.StorageIDB:
		return b.idb(req, "IndexedDB requested")
	case engine.StorageAuto:
		return b.auto(req)
	}
	return engine.Location{}, protocol.Errorf(protocol.CodeBadRequest, "unknown storage %q (want auto, memory, opfs or idb)", req.Storage)
}

// auto prefers OPFS, but never opens an empty database in one backend while
// the app's data sits in the other: an existing database decides.
func (b *browserStorage) auto(req engine.OpenRequest) (engine.Location, error) {
	inIDB, idbErr := contains(browser.IDBDatabases, req.Name)
	inOPFS, _ := contains(browser.OPFSDatabases, req.Name)
	opfsOK, why := b.opfsAvailable()
	switch {
	case opfsOK && inIDB && !inOPFS:
		return b.idb(req, "an existing database was found in IndexedDB (OPFS is available, but the data lives in IndexedDB)")
	case opfsOK:
		reason := "OPFS sync access handles are available"
		if inIDB {
			reason += "; note: a database of the same name also exists in IndexedDB and was not opened"
		}
		return b.opfs(req, reason)
	case inOPFS:
		return engine.Location{}, protocol.Errorf(protocol.CodeStorageUnavailable,
			"database %q exists in OPFS, but OPFS cannot be used here (%s); refusing to open an empty IndexedDB copy instead", req.Name, why)
	case idbErr == nil:
		return b.idb(req, "fell back to IndexedDB: "+why)
	}
	loc, err := engine.MemoryStorage{}.Resolve(engine.OpenRequest{Name: req.Name, Storage: engine.StorageMemory})
	loc.Reason = fmt.Sprintf("no durable storage here (OPFS: %s; IndexedDB: %v): the data lives in memory only", why, idbErr)
	loc.PersistReason = loc.Reason
	return loc, err
}

func contains(list func() ([]string, error), name string) (bool, error) {
	names, err := list()
	return slices.Contains(names, name), err
}

func (b *browserStorage) opfs(req engine.OpenRequest, reason string) (engine.Location, error) {
	name := "hearth-opfs:" + req.Name
	base, _ := b.register(name, func() (vfs.VFS, error) {
		v := sqlitevfs.NewFileVFS(browser.NewOPFSStore(req.Name))
		if req.Durability != "normal" {
			// Every OPFS call crosses into the browser: a transaction's
			// WAL frames go out in a few large writes instead of two per
			// page. Safe only when every commit syncs (FULL), which
			// writes the buffer out; the durability of the first open in
			// this worker decides for the database's later opens.
			v.CoalesceWrites = 1 << 20
		}
		// A WAL is read a page per call when it is recovered on open and
		// when it is checkpointed; in an incognito window each OPFS call
		// is a round trip to the browser process (~0.6 ms): read it in
		// blocks instead.
		v.ReadAheadWAL = 64 << 10
		// At the quota a delete needs room for its WAL frames: the
		// reserve is what it gets (sqlitevfs/headroom.go).
		v.HeadroomBytes = sqlitevfs.DefaultHeadroom
		v.RemoveTempFiles()
		return v, nil
	})
	v := base.(*sqlitevfs.FileVFS)
	loc := b.location(req, name, engine.StorageOPFS, reason)
	// A sync access handle is exclusive: give the files up on close so
	// another worker (another tab, a restarted worker) can open them.
	loc.Release = func() error {
		err := v.ReleaseHandles()
		b.release(name)
		return err
	}
	// WAL commits append to one file and flush it once; exclusive locking
	// is what lets WAL work without shared memory (one connection per
	// database, owned by the leader worker). Encrypted databases keep a
	// rollback journal (TRUNCATE: the journal file and its handle stay):
	// the Adiantum wrapper over this VFS cannot reopen an encrypted WAL.
	mode := "PRAGMA journal_mode = WAL"
	if loc.Encrypted {
		mode = "PRAGMA journal_mode = TRUNCATE"
	}
	// A new database's layout: 4096-byte pages (the VFS's sector size,
	// SQLite's default) and incremental auto-vacuum (it must precede the
	// first table), which lets the deletes made at the quota shrink the
	// file, so the reserve can come back after each commit (Reclaim). Its
	// pragmas after the locking mode (an existing WAL database read
	// without it would need shared memory), before the journal mode.
	// Temporary files in memory: a statement journal (every multi-row
	// write in a transaction that already changed pages keeps one, and
	// the initial sync writes 64 rows a statement) spills past 64 KiB to
	// a temporary file, and on OPFS each is a new sync access handle,
	// opened, written, read back and closed: in a traced initial sync of
	// 5,000 tasks that was a third of the merge phase.
	loc.NewLayout = engine.Layout{PageSize: 4096, AutoVacuum: 2}
	pragmas := append([]string{"PRAGMA locking_mode = EXCLUSIVE"}, loc.NewLayout.Pragmas()...)
	loc.Pragmas = append(append(pragmas, mode, "PRAGMA temp_store = MEMORY"), loc.Pragmas...)
	loc.Headroom = v
	// The files SQLite will open, ready before it runs: the database,
	// and the journal a new database's switch to WAL writes (or the
	// encrypted one's TRUNCATE journal), and the WAL.
	companions := []string{"/" + dbFile + "-journal"}
	if !loc.Encrypted {
		companions = append(companions, "/"+dbFile+"-wal")
	}
	loc.Prepare = func() error {
		return engine.StorageError(v.Prepare("/"+dbFile, companions...), sqlite3.ExtendedErrorCode(sqlite3.CANTOPEN))
	}
	return loc, nil
}

func (b *browserStorage) idb(req engine.OpenRequest, reason string) (engine.Location, error) {
	name := "hearth-idb:" + req.Name
	strict := req.Durability != "normal"
	base, err := b.register(name, func() (vfs.VFS, error) {
		// A database keeps the block size it was first written with
		// (8 KiB before 2026-12-07); a new one gets idbBlockSize.
		blockSize := idbBlockSize
		if stored, err := browser.IDBBlockSize(req.Name); err == nil && stored > 0 {
			blockSize = stored
		}
		// The whole database in memory, written behind: IndexedDB
		// answers only through the event loop, which nothing inside
		// SQLite's calls may wait for once SQLite runs as its own module
		// (docs/sqlite-module.md), so it is read here, before SQLite
		// opens it, and written by the engine's Flush after each commit.
		mirror, err := sqlitevfs.LoadMirror(browser.NewIDBStore(req.Name, blockSize, strict), blockSize, max(idbLoadChunk/int64(blockSize), 1))
		if err != nil {
			return nil, engine.StorageError(err, sqlite3.ExtendedErrorCode(sqlite3.CANTOPEN))
		}
		v := sqlitevfs.NewBlockVFS(mirror, sqlitevfs.BlockOptions{
			BlockSize: blockSize,
			CacheSize: idbCacheSize,
			ReadAhead: max(idbReadAhead/blockSize, 1),
		})
		// A batch-atomic delete needs no journal room, but its IndexedDB
		// transaction still needs quota: WebKit refuses even a small one
		// at the quota. The reserve (its own IndexedDB database, see
		// browser.IDBStore) is the room it gets.
		v.HeadroomBytes = sqlitevfs.DefaultHeadroom
		// Written in the background once the database has been open a
		// while: 2 MiB of IndexedDB writes added 0.4–0.8 s to a first
		// open in WebKitGTK 2.50 (2026-12-05, a loaded 2-core machine).
		v.HeadroomLater = true
		time.AfterFunc(idbReserveDelay, func() {
			// Under b.mu: a database deleted meanwhile (Delete
			// unregisters it first) gets no reserve to orphan.
			b.mu.Lock()
			defer b.mu.Unlock()
			if b.registered[name] == vfs.VFS(v) {
				v.EnsureHeadroom()
			}
		})
		v.RemoveTempFiles()
		b.mirrors[name] = mirror
		return v, nil
	})
	if err != nil {
		return engine.Location{}, err
	}
	v := base.(*sqlitevfs.BlockVFS)
	b.mu.Lock()
	mirror := b.mirrors[name]
	b.mu.Unlock()
	// The VFS commits a transaction's pages in one IndexedDB transaction
	// (batch-atomic), so SQLite writes no rollback journal.
	loc := b.location(req, name, engine.StorageIDB, reason)
	loc.Flush = mirror.Flush
	loc.Recover = func() error {
		mirror.Revert()
		return v.Forget()
	}
	loc.Release = func() error {
		err := mirror.Flush()
		b.release(name)
		return engine.StorageError(err, sqlite3.IOERR_FSYNC)
	}
	// Temporary files (statement journals) in memory, as on OPFS. No
	// auto-vacuum: its only use here would be Reclaim's, which IndexedDB
	// databases skip (spentUntilReopened). 8 KiB pages (several to a
	// block in a new database).
	loc.NewLayout = engine.Layout{PageSize: 8192}
	// A replica file is written whole: through SQLite's backup it went
	// in page by page, 1.19 s for 100,000 tasks against 0.87–0.98 s so
	// (2026-12-07, README "Initial sync"). Not on OPFS: there the close
	// and reopen remove and re-create the WAL (two asynchronous OPFS
	// calls), and the board's first visit copied its 412 KiB file in
	// 1.4–2.5 s (median 1.8) against 1.0–1.6 s (median 1.2) through the
	// backup (its service worker filling Cache Storage meanwhile, likely
	// what those calls waited behind), with no gain on a warm device.
	loc.WholeFile = true
	pragmas := append([]string{"PRAGMA locking_mode = EXCLUSIVE"}, loc.NewLayout.Pragmas()...)
	loc.Pragmas = append(append(pragmas, "PRAGMA temp_store = MEMORY"), loc.Pragmas...)
	loc.Headroom = spentUntilReopened{v}
	return loc, nil
}

// idbCacheSize bounds the blocks an IndexedDB database's VFS keeps
// (sqlitevfs.BlockOptions.CacheSize). The whole database is in memory in
// its MirrorStore, so a miss is a copy from there, not an IndexedDB read
// (which cost a transaction, a structured clone and a copy into Go: a
// re-read of 30,000 tasks took 1.18–1.51 s with an 8 MiB cache, Chromium,
// 2026-12-06): the cache only saves those copies, and every byte of it is
// a second copy of the database's.
const idbCacheSize = 2 << 20

// idbLoadChunk is how many bytes of blocks one IndexedDB read takes while
// a database is loaded into memory: IndexedDB's cost is per request and
// per record far more than per byte (e2e/bench/idb-records.mjs: 16 MiB
// read back as 64 KiB records in one request, 112–214 ms).
const idbLoadChunk = 8 << 20

// idbBlockSize is the size of the IndexedDB records a new database is
// stored in. IndexedDB's cost is per record far more than per byte
// (e2e/bench/idb-records.mjs, Chromium, 2026-12-07, a 2-core machine):
// 16 MiB as 8 KiB records took 372–812 ms to write in one transaction and
// 720–795 ms to read back, as 64 KiB records 87–97 ms and 112–214 ms; 256
// KiB records were slower again. A commit writes whole blocks, so a small
// one now carries 64 KiB per block it touches (a commit of two records:
// 2.5 against 1.5 ms, p50).
const idbBlockSize = 64 << 10

// idbReadAhead is how many bytes of blocks one cache miss reads (128 KiB:
// sixteen 8 KiB blocks, two of 64 KiB).
const idbReadAhead = 128 << 10

// idbReserveDelay is how long after an IndexedDB database's first open its
// reserve is written.
const idbReserveDelay = 3 * time.Second

// spentUntilReopened is an IndexedDB database's reserve: spent at the
// quota, taken back only when the database is next opened (a new page or
// worker), never after a commit. In WebKit, once a commit to grow it back
// had been refused at the quota, every later request of the origin's
// IndexedDB failed, reads included, until the page was reloaded (the
// storage scenario, 2026-12-05); without that try, the app's writes after
// its deletes went through.
type spentUntilReopened struct{ *sqlitevfs.BlockVFS }

func (spentUntilReopened) Reclaim(*sqlite3.Conn) error { return nil }

// register installs a VFS under name once per worker, wrapped for
// encryption under name+":adiantum", and returns the base VFS. make runs
// under b.mu, only for the first.
func (b *browserStorage) register(name string, make func() (vfs.VFS, error)) (vfs.VFS, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if v := b.registered[name]; v != nil {
		b.opens[name]++
		return v, nil
	}
	base, err := make()
	if err != nil {
		return nil, err
	}
	b.opens[name]++
	vfs.Register(name, base)
	vfs.Register(name+":adiantum", adiantum.Wrap(base, nil))
	b.registered[name] = base
	return base, nil
}

// release undoes one register; the last one drops the VFS.
func (b *browserStorage) release(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.opens[name]--; b.opens[name] > 0 {
		return
	}
	delete(b.opens, name)
	if b.registered[name] != nil {
		vfs.Unregister(name)
		vfs.Unregister(name + ":adiantum")
		delete(b.registered, name)
		delete(b.mirrors, name)
	}
}

func (b *browserStorage) unregister(database string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, name := range []string{"hearth-opfs:" + database, "hearth-idb:" + database} {
		if b.registered[name] != nil {
			vfs.Unregister(name)
			vfs.Unregister(name + ":adiantum")
			delete(b.registered, name)
			delete(b.mirrors, name)
		}
	}
}

func (b *browserStorage) location(req engine.OpenRequest, vfsName, backend, reason string) engine.Location {
	q := url.Values{}
	q.Set("vfs", vfsName)
	encrypted := len(req.Key) > 0 || req.Passphrase != ""
	if encrypted {
		q.Set("vfs", vfsName+":adiantum")
		if len(req.Key) > 0 {
			q.Set("hexkey", hex.EncodeToString(req.Key))
		} else {
			q.Set("textkey", req.Passphrase)
		}
	}
	sync := "FULL"
	if req.Durability == "normal" {
		sync = "NORMAL"
	}
	return engine.Location{
		URI:        "file:/" + dbFile + "?" + q.Encode(),
		Backend:    backend,
		Reason:     reason,
		Pragmas:    []string{"PRAGMA synchronous = " + sync},
		Persistent: true,
		Encrypted:  encrypted,
	}
}

func (b *browserStorage) Databases() ([]engine.StoredDatabase, error) {
	var out []engine.StoredDatabase
	if names, err := browser.OPFSDatabases(); err == nil {
		for _, n := range names {
			out = append(out, engine.StoredDatabase{Name: n, Storage: engine.StorageOPFS})
		}
	}
	names, err := browser.IDBDatabases()
	if err != nil {
		return out, nil // IndexedDB absent (some private modes): nothing stored there
	}
	for _, n := range names {
		out = append(out, engine.StoredDatabase{Name: n, Storage: engine.StorageIDB})
	}
	return out, nil
}

// Delete removes every file and block of a database from both backends.
func (b *browserStorage) Delete(name string) error {
	b.unregister(name)
	if err := browser.DropOPFSDatabase(name); err != nil {
		return fmt.Errorf("deleting %q from OPFS: %w", name, err)
	}
	if err := browser.DropIDBDatabase(name); err != nil {
		return fmt.Errorf("deleting %q from IndexedDB: %w", name, err)
	}
	return nil
}

func (b *browserStorage) Health() engine.StorageHealth {
	h := browser.Health()
	return engine.StorageHealth{Persisted: h.Persisted, PersistReason: h.PersistReason, Usage: h.Usage, Quota: h.Quota}
}
