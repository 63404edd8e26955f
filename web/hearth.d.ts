/** A SQL value as Hearth returns it. Integers beyond ±(2^53-1) come back as BigInt. */
export type SQLValue = null | number | bigint | string | Uint8Array;
/** A bindable parameter value; booleans bind as 1/0. */
export type SQLParam = SQLValue | boolean;
/** Positional (`?`) or named (`:name`, `@name`, `$name`; keys with or without the prefix) parameters. */
export type Params = SQLParam[] | { [name: string]: SQLParam };

export type StorageChoice = 'auto' | 'memory' | 'opfs' | 'idb';

/**
 * Stable codes: SQLite extended result code names (`SQLITE_CONSTRAINT_UNIQUE`, …)
 * or Hearth's own: the worker's (wasm/protocol/messages.go) and the page
 * client's (WORKER_FAILED, BAD_REPLY, LEADER_CHANGED, SCHEMA_UNAVAILABLE).
 *
 * A database open in several tabs changes hands when the leading tab
 * closes; apps do not see it: requests in flight are sent again to the new
 * leader, and writes apply exactly once. Only a transaction open on the
 * leader that died is lost (rolled back whole): its calls reject with
 * TX_FINISHED. LEADER_CHANGED is left only for a request that outlived 8
 * hand-overs in a row.
 */
export type ErrorCode =
  | 'BAD_REQUEST'
  | 'CLOSED'
  | 'STORAGE_UNAVAILABLE'
  | 'STORAGE_QUOTA'
  | 'INTERNAL'
  | 'MIGRATION_FAILED'
  | 'WRONG_KEY'
  | 'LEADER_CHANGED'
  | 'BUSY'
  | 'SCHEMA_TOO_NEW'
  | 'NOT_FOUND'
  | 'WORKER_FAILED'
  | 'BAD_REPLY'
  | 'SCHEMA_UNAVAILABLE'
  | 'TX_FINISHED'
  | 'TEXT_OP_OUT_OF_RANGE'
  | 'TEXT_TOO_LARGE'
  | `SQLITE_${string}`;

export declare class HearthError extends Error {
  readonly code: ErrorCode;
  /** For a failed batch: the index of the statement that failed. */
  readonly index?: number;
}

export interface ExecResult {
  changes: number;
  lastInsertRowid: number | bigint;
}

export interface QueryResult<Row = Record<string, SQLValue>> {
  columns: string[];
  rows: Row[];
}

export interface RowModeOption {
  /** 'object' (default): rows are objects keyed by column name; 'array': rows are arrays. */
  rowMode?: 'object' | 'array';
}

export interface Statement {
  sql: string;
  params?: Params;
}

export interface WorkerOptions {
  /**
   * URL of the worker script (default: hearth-worker.js next to hearth.js,
   * named so that Vite and webpack 5 bundle it; esbuild needs it given).
   */
  workerURL?: string | URL;
  /**
   * URL of the worker's wasm (default: the worker's own, dist/hearth.wasm in
   * the npm package). Given without workerURL, the worker is looked up next
   * to hearth.js, which a bundler does not see: give both when bundling.
   */
  wasmURL?: string | URL;
}

/**
 * A Hearth worker. The first one of a worker URL in a page sends the page
 * its compiled wasm; a later one of the same URL (after terminate(), or
 * beside it) starts from that module: no download, no compile, and the
 * functions already compiled are shared. The page keeps the module while
 * it lives.
 */
export declare class HearthWorker {
  constructor(options?: WorkerOptions);
  /** Receives error replies that match no request, such as the answer to an undecodable message. */
  onUnmatchedError: (err: HearthError) => void;
  /**
   * Starts the head start of a database the app will open later, with the
   * same name, storage and sync as that open: if this origin stores no
   * database of that name yet, the worker asks for its replica file and
   * opens its sync connection now, while its wasm loads, and the open
   * takes both. For an app whose open comes late (its framework boots
   * first); the first headStart or open of a worker decides. Not for a
   * database opened with a key: its open takes no replica file, and the
   * server's build would go unused. It posts the worker
   * `{hearthHeadStart: {name, storage, sync: {url, token, replica}}}`
   * (sync as syncOption gives it), which a page that started the worker
   * itself may post as well (the task board's boot.js does).
   */
  headStart(options: HeadStartOptions): void;
  /** Stops the worker; requests in flight reject with CLOSED. */
  terminate(): void;
}

/** What HearthWorker#headStart needs of the open to come. */
export interface HeadStartOptions {
  name: string;
  storage?: 'auto' | 'opfs' | 'idb';
  sync: Pick<SyncOptions, 'url' | 'token' | 'replica'>;
}

/** Starts the shared worker early so the bundle compiles while the app boots. */
export declare function preload(options?: WorkerOptions): HearthWorker;

export interface Migration {
  /** Positive, strictly increasing; recorded in PRAGMA user_version. */
  version: number;
  sql: string;
}

/**
 * open()'s progress: 'replica' while a new database downloads the replica
 * file its sync server built (done and total in bytes; total 0 when the
 * server did not say), then 'migrate' before each migration (done and total
 * in migrations).
 */
export type Progress =
  | {
      phase: 'migrate';
      /** The migration about to run. */
      version: number;
      done: number;
      total: number;
    }
  | { phase: 'replica'; version: 0; done: number; total: number };

export interface OpenOptions {
  name: string;
  /**
   * Encrypts the database at rest (Adiantum, 4 KiB blocks, no MAC): a
   * 32-byte Uint8Array used as is, or a passphrase stretched with Argon2id
   * (about a second). A wrong key rejects with WRONG_KEY.
   */
  key?: Uint8Array | string;
  /**
   * 'full' (default): a commit is on disk before it is acknowledged.
   * 'normal': faster; a power cut may lose the last commits, never corrupt.
   */
  durability?: 'full' | 'normal';
  /**
   * Applied in order, each in its own transaction. A failing migration leaves
   * the database as it was and open rejects with MIGRATION_FAILED; a database
   * newer than the last migration is refused with SCHEMA_TOO_NEW.
   */
  migrations?: Migration[];
  onProgress?: (progress: Progress) => void;
  /** Where the database lives; 'auto' picks the best durable storage available. */
  storage?: StorageChoice;
  /** A worker of your own instead of the shared one. */
  worker?: HearthWorker;
  /** Replicate tables through a Hearth sync server in the background. */
  sync?: SyncOptions;
  /**
   * Keep the last result of each watched query in the page's IndexedDB and
   * deliver it at once (change.kind 'cached') on the next watch of the same
   * query, before the live result. Off by default: the copy is stored
   * outside the database and unencrypted, so open rejects it together with
   * key (BAD_REQUEST). See CacheOptions.
   */
  cache?: boolean | CacheOptions;
}

/**
 * The result cache's options. Entries are per origin and keyed by database
 * name, scope, SQL and parameter values; at most maxBytes and 256 entries
 * are kept, the least recently used evicted first. deleteDatabase and
 * clearCachedResults remove a database's entries.
 */
export interface CacheOptions {
  /**
   * Part of every entry's key (default ''): put in it what must not share
   * a cached result, such as the signed-in user when one database name
   * serves several, or the schema generation when a migration changes a
   * query's rows.
   */
  scope?: string;
  /** The bound on all cached results, bytes (default 8 MiB); a bigger result is not cached. */
  maxBytes?: number;
}

/** A cached result: the rows a live query last had, possibly out of date. */
export interface CachedResult<Row = Record<string, SQLValue>> extends QueryResult<Row> {
  stale: true;
  /** Unix ms when these rows were the live result. */
  savedAt: number;
}

/**
 * The last result cached for this query (by a watch on a database opened
 * with cache, or saveCachedResult), or null: for painting before the
 * database is open. Never rejects: a cache that cannot be read gives null.
 */
export declare function cachedResult<Row = Record<string, SQLValue>>(
  name: string, sql: string, params?: Params, options?: { scope?: string; rowMode?: 'object' },
): Promise<CachedResult<Row> | null>;
export declare function cachedResult(
  name: string, sql: string, params: Params | undefined, options: { scope?: string; rowMode: 'array' },
): Promise<CachedResult<SQLValue[]> | null>;

/**
 * Stores result (rows as arrays) as the last result of this query, for
 * clients that do not watch through Database (the Go client's pages).
 * Never rejects: full or refused storage stores nothing.
 */
export declare function saveCachedResult(
  name: string, sql: string, params: Params | undefined, result: { columns: string[]; rows: SQLValue[][] }, options?: CacheOptions,
): Promise<void>;

/**
 * Reads every cached result of database name at once, in one IndexedDB
 * transaction, so that the cachedResult calls that follow answer from
 * memory (each preloaded result is used once). Call it as early as the
 * page knows the name, while the app's own code still loads.
 */
export declare function preloadCachedResults(name: string): Promise<void>;

/** Deletes the cached results of database name, or of every database without one (e.g. at sign-out). */
export declare function clearCachedResults(name?: string): Promise<void>;

export interface SyncTable {
  name: string;
  /** Let a newer re-insert bring back a deleted row (default: the delete wins for good). */
  resurrect?: boolean;
  /**
   * Collaborative text columns (each TEXT NOT NULL): concurrent edits merge
   * character by character instead of the last writer winning. Plain SQL
   * UPDATEs work; the server's config must list the same columns.
   */
  text?: string[];
}

export interface SyncOptions {
  /** The server's sync endpoint; relative and http(s) URLs are resolved against the page (default '/sync'). */
  url?: string;
  /** The tables that replicate; each needs a PRIMARY KEY (text/UUID ids recommended). */
  tables: Array<string | SyncTable>;
  /** A bearer token for the server, sent as the token query parameter. */
  token?: string;
  /**
   * An initial sync of 2,000 rows or more drops the synced tables' plain
   * indexes (CREATE INDEX, not UNIQUE) and builds each once at its end: far
   * fewer writes, but until then queries that would use them scan. false
   * keeps them throughout (default true).
   */
  deferIndexes?: boolean;
  /**
   * A new database (nothing stored yet) begins as a replica file its sync
   * server builds (hearth serve: GET /v1/replica, next to /sync): every row
   * the token may read, with its sync state, in one download, instead of a
   * snapshot applied row by row. open() waits for it, reporting
   * onProgress({phase: 'replica', done, total}) in bytes; if the server
   * has no such endpoint, refuses, does not answer within 30 s, or the
   * download stalls for 10 s, or the schema differs from the server's byte
   * for byte, the database syncs by snapshot as without it
   * (syncStatus().replica says which and why). false never downloads one;
   * a URL (relative to the page) names the endpoint when it is not the
   * sync URL's …/v1/replica. Default true.
   *
   * A worker whose wasm is still downloading or compiling when the page's
   * first open reaches it asks for the file at once if the origin stores
   * no database of that name (on a first visit the server builds it
   * meanwhile); Go takes that response if it is the file it would ask
   * for (syncStatus().replica.headStart).
   */
  replica?: boolean | string;
}

/** Why a sync attempt failed. */
export type SyncErrorClass = 'offline' | 'timeout' | 'auth' | 'schema' | 'server' | 'protocol' | 'local' | 'replica';

/** The sync loop's states (syncworker/client/status.go). */
export type SyncState =
  | 'starting'
  | 'connecting'
  | 'initial-sync'
  | 'syncing'
  | 'backoff'
  /** The device reported no network; nothing is tried until it reports one. */
  | 'offline'
  /** The server does not accept this schema version; local writes wait for a migration. */
  | 'paused-schema'
  /** The server refused the token or it expired (AUTH_EXPIRED); call setSyncToken. */
  | 'paused-auth'
  /**
   * The server refused this replica's client id as another user's (lastError.code CLIENT_TAKEN,
   * class 'replica'), e.g. the device's user changed. Retrying cannot help: open the database under
   * a new name for the new user. Sync retries only on setSyncToken (the owner signing back in).
   */
  | 'paused-replica'
  | 'stopped';

export interface SyncStatus {
  state: SyncState;
  connected: boolean;
  /** The page's last network signal. */
  online: boolean;
  /** Unix ms when nothing was left to push and everything was pulled; 0 for never. */
  lastSyncedAt: number;
  /** Local changes not yet acknowledged by the server. */
  pending: number;
  /** Server log position applied here, and the server's head. */
  cursor: number;
  head: number;
  retries: Record<SyncErrorClass, number>;
  lastError: { class: SyncErrorClass; code: string; message: string; at: number } | null;
  /** Unix ms of the next attempt while backing off; 0 otherwise. */
  nextAttemptAt: number;
  /**
   * The initial sync's progress, and where its time went so far: chunks and
   * bytes received; ms waiting for chunks (network and server), decoding them,
   * waiting for the database (the app's requests and live queries ran
   * first), merging rows, building the synced tables' indexes (a large snapshot
   * builds them once, at its end), and committing (state, commit, storage
   * writes).
   */
  initialSync: {
    active: boolean; rows: number; total: number;
    chunks: number; bytes: number; waitMs: number; decodeMs: number; queueMs: number; mergeMs: number; indexMs: number; commitMs: number;
  };
  /**
   * How a new database began: as a replica file the server built (its
   * rows and sync state in one download, no snapshot: used, bytes, the
   * download's and the copy's time), or, when the database was new and
   * none was used, why not (reason; the initial sync then ran by
   * snapshot). headStart: the worker had begun the download as the
   * open reached it, before its wasm had started (see SyncOptions.replica).
   * All zero and empty for a database that was not new.
   */
  replica: { used: boolean; bytes: number; downloadMs: number; restoreMs: number; headStart: boolean; reason: string };
  /** Periodic checksum comparisons with the server, and how many found a table different. */
  checksums: number;
  divergences: number;
  divergedTables: string[];
  /** Average local commit → server acknowledgment, ms. */
  reconcileLatencyMs: number;
  /** Changes the server flagged (invariant violations), refused, or that were quarantined locally. */
  flagged: number;
  refused: number;
  quarantined: number;
  schema: { local: number; serverMin: number; serverMax: number };
}

/** A write's place in the merge order: its hybrid logical clock, its wall-clock part (ms) and the device (replica id) that made it. */
export interface WriteStamp {
  hlc: number | bigint;
  at: number;
  node: string;
}

/** db.history(table, key): who won each field of one row on this replica, what lost, and the journal. */
export interface RowHistory {
  table: string;
  key: SQLValue[];
  /** The row is in the table now. */
  exists: boolean;
  /** The newest full-row write and delete this replica knows of (null: none, or the table does not sync). */
  inserted: WriteStamp | null;
  deleted: WriteStamp | null;
  fields: Array<{
    column: string;
    value: SQLValue;
    /** The winning write: the field's newest update, or the row's insert when that is newer (byInsert). */
    writer: WriteStamp | null;
    byInsert: boolean;
    /** A collaborative text column: every writer's characters are in it; writer is the newest. */
    merged: boolean;
  }>;
  /** Values that lost a merge on this replica, newest first (kept 30 days). */
  lost: Array<{
    column: string;
    value: SQLValue;
    writer: WriteStamp;
    lostTo: WriteStamp;
    lostToOp: 'insert' | 'update' | 'delete';
    recordedAt: number;
  }>;
  /** The row's journal entries and quarantined changes, newest first. */
  journal: Array<{
    seq: number;
    op: 'insert' | 'update' | 'delete';
    state: 'pending' | 'sent' | 'acknowledged' | 'flagged' | 'refused' | 'quarantined';
    code: string;
    detail: string;
    stamp: WriteStamp;
    /** The columns written (a collaborative text column's are its character ops, as bytes). */
    values: Record<string, SQLValue> | null;
    quarantineId?: number;
    direction?: 'outgoing' | 'incoming';
  }>;
}

/**
 * One step of db.editText, at a position of the text as the steps before it left it:
 * `{ at, insert }` types `insert` before the character at `at`; `{ at, delete }` removes
 * `delete` characters from `at`. Positions and counts are Unicode code points, not
 * UTF-16 units: an emoji such as 👋 is one character (`[...text].length`, not `text.length`).
 */
export type TextOp = { at: number; insert: string; delete?: undefined } | { at: number; delete: number; insert?: undefined };

export interface DatabaseInfo {
  name: string;
  /** Schema version (PRAGMA user_version) after migrations. */
  version: number;
  /** Whether the data survives the page (false for memory, and for storage the browser may wipe: private windows, persist() denied). */
  persistent: boolean;
  /** Why persistent is false. */
  persistReason: string;
  /** navigator.storage.persisted(): the browser promised not to evict this origin. */
  persisted: boolean;
  /** navigator.storage.estimate(), bytes; -1 when unknown. */
  usage: number;
  quota: number;
  /** The storage actually in use. */
  storage: 'memory' | 'opfs' | 'idb';
  /** Why that storage was chosen. */
  storageReason: string;
  /** Requests waiting in the worker's queue. */
  queueDepth: number;
  liveQueries: number;
  subscriptions: number;
  /** How many times live queries have been run whole. */
  liveQueryRuns: number;
  /** How many times a live query's result was patched after a commit (only the rows the commit changed re-read) instead of run whole. */
  liveQueryPatches: number;
  /**
   * Each live query, slowest total first: its SQL, subscribers, whole runs,
   * patches, the last and total time of both (ms), and why a commit re-runs
   * it whole instead of patching it ('' when it is patched: one table, a
   * WHERE on the row's own columns, an ORDER BY of result columns and at
   * most a LIMIT of a number, its table's primary key among the result's
   * columns).
   */
  /**
   * Each live query: its runs and patches, and the commits it was spared
   * (they wrote a table it reads, but only columns it does not name).
   */
  liveQueryStats: Array<{ sql: string; subscribers: number; runs: number; patches: number; spared: number; whyRerun: string; lastMs: number; totalMs: number }>;
  inTransaction: boolean;
  /** Requests waiting for the open transaction (db.transaction) to end. */
  heldByTransaction: number;
}

export interface TransactionOptions {
  /**
   * Roll the transaction back when none of its own statements arrives for
   * this long, ms (1…300000; default 15000): a tab that died or a callback
   * that hangs cannot hold the database for ever.
   */
  timeoutMs?: number;
}

/**
 * The handle a transaction's callback gets. Its statements run inside the
 * transaction; once the callback has settled, every call rejects with
 * TX_FINISHED (as do calls after the worker rolled it back, e.g. because
 * the tab that owned the database closed while it was open: nothing of it
 * is applied then).
 */
export declare class Transaction {
  readonly id: number;
  /** True once the callback settled (committing or rolling back). */
  readonly finished: boolean;
  exec(sql: string, params?: Params): Promise<ExecResult>;
  query<Row = Record<string, SQLValue>>(sql: string, params?: Params, options?: { rowMode?: 'object' }): Promise<QueryResult<Row>>;
  query(sql: string, params: Params | undefined, options: { rowMode: 'array' }): Promise<QueryResult<SQLValue[]>>;
  batch(statements: Array<Statement | string>, options?: RowModeOption): Promise<Array<ExecResult | QueryResult<any>>>;
  /** A nested transaction (a SAVEPOINT): when fn throws, only its part is undone, and the error propagates. */
  transaction<T>(fn: (tx: Transaction) => Promise<T> | T): Promise<T>;
}

/** What changed in a watched result. */
export type ResultChange =
  /**
   * The cached result (open({cache})), delivered before the live one and
   * possibly out of date; an 'initial' change with the live result follows.
   */
  | { kind: 'cached'; savedAt: number }
  | { kind: 'initial' }
  | { kind: 'full' }
  | { kind: 'delta'; removed: number; inserted: number; changed: number };

export interface WatchOptions extends RowModeOption {
  /** Called when re-running the query fails (e.g. its table was dropped). */
  onError?: (err: HearthError) => void;
  /** false: neither show nor save a cached result for this watch though the database was opened with cache (default true). */
  cache?: boolean;
}

export declare class Database {
  readonly name: string;
  exec(sql: string, params?: Params): Promise<ExecResult>;
  query<Row = Record<string, SQLValue>>(sql: string, params?: Params, options?: { rowMode?: 'object' }): Promise<QueryResult<Row>>;
  query(sql: string, params: Params | undefined, options: { rowMode: 'array' }): Promise<QueryResult<SQLValue[]>>;
  batch(statements: Array<Statement | string>, options?: RowModeOption): Promise<Array<ExecResult | QueryResult<any>>>;
  /**
   * Watches a query: onResult gets the result now and after every commit that
   * changes it. Resolves to a function that ends the watch. On a database
   * opened with cache, the last cached result comes first, with change.kind
   * 'cached', if it is read before the live result arrives.
   */
  watch<Row = Record<string, SQLValue>>(
    sql: string,
    params: Params | undefined,
    onResult: (result: QueryResult<Row>, change: ResultChange) => void,
    options?: WatchOptions,
  ): Promise<() => Promise<void>>;
  /**
   * Runs fn in a transaction and resolves to its value: it commits when fn
   * resolves, and rolls back when fn throws (the error propagates) or
   * idles past options.timeoutMs. It is exclusive: every other request on
   * this database — from this tab or, through the leader, from others;
   * reads, watches and sync included — waits and runs after it ends, so
   * nobody sees its uncommitted work and reads see the committed state.
   * Inside fn, use tx, never this database: a db call there waits for the
   * transaction and so times it out. Live queries refresh once after the
   * commit, never after a rollback; synced changes are journaled inside it
   * and pushed after the commit. A tab that dies mid-transaction has it
   * rolled back.
   */
  transaction<T>(fn: (tx: Transaction) => Promise<T> | T, options?: TransactionOptions): Promise<T>;
  /** The async-iterator form of watch. */
  live<Row = Record<string, SQLValue>>(sql: string, params?: Params, options?: WatchOptions): AsyncIterableIterator<QueryResult<Row>>;
  info(): Promise<DatabaseInfo>;
  /** Whether this tab's worker owns (leads) the database now; it moves when the leader's tab closes. */
  isLeader(): boolean;
  /** The sync status now; rejects with BAD_REQUEST when the database was opened without sync. */
  syncStatus(): Promise<SyncStatus>;
  /**
   * onStatus gets the sync status now and on every change, at most once
   * per 50 ms: the first change of a burst at once, the newest of the rest
   * when the 50 ms end. Resolves to a function that ends it.
   */
  onSyncStatus(onStatus: (status: SyncStatus) => void): Promise<() => Promise<void>>;
  /** Re-journals a quarantined outgoing change (_hearth_quarantine.id), renaming columns if given; resolves to its journal seq. */
  retryQuarantined(quarantineId: number, rename?: Record<string, string>): Promise<number>;
  /** Gives sync a new bearer token (state 'paused-auth' after AUTH_EXPIRED); sync resumes at once, losing nothing. */
  setSyncToken(token: string): Promise<void>;
  /** Drops a quarantined change for good. */
  discardQuarantined(quarantineId: number): Promise<void>;
  /** Deletes a flagged or refused journal entry (_hearth_journal.seq) once the app has shown it; NOT_FOUND if gone. */
  dismissChange(seq: number): Promise<void>;
  /**
   * Who won each field of one row, the values that lost a merge on this replica (with their devices and clocks),
   * and the journal entries that touched the row. key is the primary key's value, or its values in key order.
   */
  history(table: string, key: SQLValue | SQLValue[]): Promise<RowHistory>;
  /**
   * Applies an editor's edits, in order, to one collaborative text column (listed in the
   * table's `text`) and resolves to the field's new text. Each op merges at exactly its
   * position: a plain `UPDATE` is diffed, and a diff cannot tell where in "aa" an "a" was
   * typed, so a concurrent edit could land on the wrong side. All ops apply or none;
   * live queries over the table refresh, and sync sends ordinary character ops.
   * Rejects with BAD_REQUEST (not a collaborative text column of a synced table, a
   * malformed op), NOT_FOUND (no such table or row), TEXT_OP_OUT_OF_RANGE (a position
   * past the text as the ops before it left it) or TEXT_TOO_LARGE (more than 1,024 ops,
   * or more characters than a field may ever hold).
   *
   * @example
   * // "milk, eggs" → "oat milk & eggs 👋"
   * await db.editText('notes', 'n1', 'body', [
   *   { at: 0, insert: 'oat ' },   // "oat milk, eggs"
   *   { at: 8, delete: 2 },        // "oat milkeggs"
   *   { at: 8, insert: ' & ' },    // "oat milk & eggs"
   *   { at: 15, insert: ' 👋' },   // positions count code points: 👋 is one
   * ]);
   */
  editText(table: string, key: SQLValue | SQLValue[], column: string, ops: TextOp[]): Promise<string>;
  /** Whether the database was opened with sync. */
  readonly synced: boolean;
  readonly version: number;
  readonly persistent: boolean;
  readonly storage: 'memory' | 'opfs' | 'idb';
  readonly storageReason: string;
  close(): Promise<void>;
}

export declare function open(options: OpenOptions): Promise<Database>;

/** The sync option as the worker takes it (URL resolved, ws/wss scheme). */
export declare function syncOption(sync: SyncOptions | undefined, base?: string): { url: string; tables: Array<string | SyncTable>; token?: string; deferIndexes?: boolean; replica?: boolean | string } | undefined;

export interface StoredDatabase {
  name: string;
  storage: 'opfs' | 'idb';
}

/** Lists the databases stored on this origin. */
export declare function listDatabases(options?: { worker?: HearthWorker }): Promise<StoredDatabase[]>;

/** Deletes a database and every byte it stored (OPFS and IndexedDB), its cached results included. It must not be open in this worker. */
export declare function deleteDatabase(name: string, options?: { worker?: HearthWorker }): Promise<void>;

/** An app's schema as its sync server publishes it (hearth serve: GET /v1/schema). */
export interface AppSchema {
  migrations: Migration[];
  tables: SyncTable[];
}

export interface LoadSchemaOptions {
  /** The fetch to use (default: globalThis.fetch). */
  fetch?: typeof globalThis.fetch;
  /** Where the last copy is kept for offline starts (default: localStorage; null keeps none). */
  storage?: { getItem(key: string): string | null; setItem(key: string, value: string): void } | null;
  /**
   * With a stored copy, how long to wait for the server's schema before
   * using the copy (default 2000 ms): a network that accepts requests and
   * never answers must not hold the app's start. A later answer is stored
   * for the next start. Without a copy, loadSchema waits for the server.
   */
  waitMs?: number;
}

/**
 * Loads the migrations and synced tables a sync server publishes (default
 * '/v1/schema'), for open({migrations, sync: {tables}}): the page and the
 * server then run the same files. When the server cannot be reached, or
 * does not answer within waitMs, it returns the last copy it stored; with
 * none, it waits for the server and rejects with SCHEMA_UNAVAILABLE if
 * that fails.
 */
export declare function loadSchema(url?: string | URL, options?: LoadSchemaOptions): Promise<AppSchema>;
