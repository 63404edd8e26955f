// Package sqlitevfs stores SQLite databases (github.com/ncruces/go-sqlite3)
// on browser storage, through two small storage interfaces that the js/wasm
// backends implement: [FileStore] for OPFS and [BlockStore] for IndexedDB.
// Everything here is plain Go, so it is tested natively against the
// in-memory stores [NewMemoryFileStore] and [NewMemoryBlockStore], which
// model quotas, faults and crashes.
//
// # FileVFS: one store file per SQLite file
//
// [FileVFS] maps each SQLite file (database, -journal, -wal, temporary files)
// onto one file of a FileStore. OPFS sync access handles are fast,
// synchronous and exclusive, but opening one is slow, so handles are opened
// once and kept. Sync is Flush. The store promises no atomicity, so crash
// safety comes from SQLite's own journal, as on a disk. Opening, deleting
// and listing files wait for the browser; [FileVFS.Prepare] does all of
// that before SQLite opens a database, so that none of SQLite's calls
// waits: a database's WAL and journal are kept as empty spares that SQLite
// sees as absent, and "deleting" one empties it.
//
// # MemoryVFS: databases that live in memory
//
// [MemoryVFS] keeps each database in 64 KiB sectors of Go memory, shared by
// every connection of the process that opens its name and gone with the
// last of them (or kept, for one [MemoryVFS.Create] put there, until
// [MemoryVFS.Drop]). SQLite keeps its journals in memory. The engine's
// memory storage and its replica copies use it.
//
// # BlockVFS: fixed-size blocks and atomic commits
//
// [BlockVFS] keeps each file as numbered blocks plus a size. IndexedDB has
// no byte files, but it has transactions, and the design leans on them:
//
//   - Writes stay in memory as dirty blocks. Sync sends all of a file's dirty
//     blocks, its new size and any truncation in one [BlockStore.Commit],
//     which the store applies atomically (one IndexedDB transaction). A
//     process that dies loses what was not committed and nothing else, which
//     is exactly what SQLite expects of unsynced writes.
//
//   - The main database implements batch-atomic writes (IOCAP_BATCH_ATOMIC):
//     SQLite then skips the rollback journal and brackets its page writes with
//     BeginAtomicWrite and CommitAtomicWrite. A transaction costs one Commit
//     and no other store call. RollbackAtomicWrite restores the file from an
//     in-memory undo record without touching the store. If the Commit fails
//     with an I/O error SQLite retries through a journal; if it fails with
//     SQLITE_FULL the transaction fails cleanly. Transactions larger than
//     SQLite's page cache use the journal instead: a Commit for the journal,
//     one for the database, and a DeleteFile.
//
//   - Block size. The default is 8 KiB. The VFS advertises atomic writes of
//     every power of two up to the block size, which makes SQLite choose
//     page_size = min(BlockSize, 8192) for new databases, so by default a page
//     is a block: a page write replaces a whole block and needs no read, and
//     each page is one IndexedDB record. 8 KiB keeps the per-record overhead
//     of IndexedDB and the number of records per range read low, without
//     making small updates write much more than they change. Other page
//     sizes are correct too: smaller pages share a block (the first partial
//     write of an uncached block reads it), larger pages span blocks (still
//     atomic, since the whole Sync is one Commit).
//
//   - Write-behind. Over a [MirrorStore] the whole store is in memory and
//     a Commit is a memory operation: nothing waits for IndexedDB inside
//     SQLite's calls, and the runtime makes commits durable with
//     MirrorStore.Flush, outside them, before anyone hears of them (the
//     browser's IndexedDB databases work this way).
//
//   - Cache. Each open file has an LRU cache of clean blocks bounded by
//     BlockOptions.CacheSize; dirty blocks are pinned until committed. A
//     miss fetches a run of BlockOptions.ReadAhead blocks in one ReadBlocks
//     call. The VFS also remembers which files exist, because SQLite checks
//     for a hot journal at the start of every read transaction: once warm,
//     reads cost no store calls at all. [BlockVFS.Stats] counts round trips.
//
//   - Memory bound. Outside a batch, a file whose unsynced blocks exceed
//     BlockOptions.MaxDirty commits them early, which SQLite permits. There
//     is one ordering hazard, handled explicitly: after a failed batch
//     commit SQLite writes its journal and then the database pages without
//     a sync in between, so before committing database blocks early the VFS
//     commits the journal's.
//
//   - Change counter. SQLite, built as go-sqlite3 builds it (with both
//     SQLITE_ENABLE_ATOMIC_WRITE and SQLITE_ENABLE_BATCH_ATOMIC_WRITE), does
//     not increment the database's file change counter on a batch-atomic
//     commit. Other connections rely on that counter to notice that their
//     page caches are stale, so batch-atomic writes are offered only while
//     the database has a single open handle; with two connections every
//     commit goes through the journal.
//
// # Locking
//
// On js/wasm go-sqlite3 has neither file locks nor shared memory, so both
// VFSes implement SQLite's lock levels in process, shared by every handle on
// a file, in the style of the memdb VFS. A lock that is not free returns
// SQLITE_BUSY at once and SQLite's busy handler decides. Without shared
// memory, WAL mode requires PRAGMA locking_mode=EXCLUSIVE (set before
// journal_mode=WAL); the -wal file is then an ordinary file. Locks are only
// in-process: a VFS must be the only user of its store, so the runtime must
// ensure that one worker at a time opens a database (e.g. with Web Locks).
//
// # Errors
//
// A store error wrapping [ErrQuota] reaches SQLite as SQLITE_FULL, whatever
// the operation: the transaction rolls back and the database stays usable.
// Other store errors become the matching SQLITE_IOERR_* code (read errors are
// SQLITE_IOERR_READ). A read past the end of a file returns io.EOF, which the
// vfs layer turns into a zero-filled short read, as SQLite requires.
//
// At the quota even a DELETE needs room (WAL frames or journal pages).
// With HeadroomBytes set, either VFS keeps that much store space in reserve
// ([HeadroomFile]); the runtime spends it when an app's write fails with
// SQLITE_FULL and calls Reclaim after commits to take it back once the
// app's deletes have freed as much and the store has room for it and a
// reserve's worth besides (headroom.go says why it is not spent on the
// first quota error the VFS sees, and why the room is checked by writing).
//
// # Recommended settings
//
// BlockVFS: keep journal_mode=DELETE and synchronous=FULL (the defaults) for
// batch-atomic commits. With synchronous=OFF nothing is committed before the
// database closes; WAL mode works but, at this build's default
// synchronous=NORMAL, commits reach IndexedDB only at checkpoints.
// FileVFS: journal_mode=TRUNCATE or PERSIST avoid creating and deleting an
// OPFS file per transaction; WAL with locking_mode=EXCLUSIVE also works.
// Call RemoveTempFiles at startup to clear temporary files left by a crash.
package sqlitevfs
