// Hearth client: a SQLite database in a Web Worker, driven from the page.
// Plain ESM, no dependencies. See hearth.d.ts for the typed API.
import { encode, decodeInSlices, VERSION } from './protocol.js';
// The declarations are the contract: every export below is typed with its
// declaration from hearth.d.ts (`make test-types` checks the code against it).
/** @import * as api from './hearth.js' */
/** @import { Operations, Op, OpenReply, WireRows, LiveRows, RowsDelta, Push, WorkerMessage, WatchRowsReply, WatchSyncReply } from './protocol.js' */

/** An error from Hearth, with a stable code (SQLITE_CONSTRAINT_UNIQUE, BAD_REQUEST, CLOSED, …). */
export class HearthError extends Error {
  /**
   * @param {api.ErrorCode} code
   * @param {string} message
   * @param {number} [index]
   */
  constructor(code, message, index) {
    super(message);
    this.name = 'HearthError';
    this.code = code;
    /** @type {number | undefined} */
    if (index !== undefined) this.index = index;
  }
}

/**
 * @typedef {object} Waiter A request in flight.
 * @property {(ok: any) => void} resolve
 * @property {(err: api.HearthError) => void} reject
 * @property {((progress: api.Progress) => void) | undefined} onProgress
 */

/**
 * @typedef {{value: unknown, rest: import('./protocol.js').RestOfMessage | null}} Decoded
 * @typedef {object} Inbound A message from the worker, as far as it is decoded.
 * @property {unknown} data the message event's data
 * @property {Decoded} [decoded]
 * @property {Error} [failed] why it could not be decoded
 */

// A message's arrays of more elements than this (a result's rows) are
// decoded a slice at a time, each slice at most SLICE_MS of the page's
// thread (a frame is 16.7 ms at 60 Hz; the page has its own work in it).
const DEFER_ARRAYS_OVER = 1024;
const SLICE_MS = 6;
const now = () => performance.now();

/**
 * Runs fn in a task of its own, after the ones already due (a frame the
 * browser is due to paint among them).
 * @param {() => void} fn
 */
function nextTask(fn) {
  const scheduler = /** @type {{scheduler?: {postTask?: (fn: () => void) => Promise<void>}}} */ (globalThis).scheduler;
  if (typeof scheduler?.postTask === 'function') scheduler.postTask(fn);
  else setTimeout(fn, 0);
}

/**
 * Decodes m until the deadline: true once it is decoded, or has failed
 * (m.failed); false when its large arrays are still being filled.
 * @param {Inbound} m
 * @param {number} deadline
 */
function decodeSome(m, deadline) {
  if (!(m.data instanceof Uint8Array) && !(m.data instanceof ArrayBuffer)) return true;
  try {
    m.decoded ??= decodeInSlices(m.data, DEFER_ARRAYS_OVER);
    return !m.decoded.rest || m.decoded.rest.fill(deadline, now);
  } catch (err) {
    m.failed = /** @type {Error} */ (err);
    return true;
  }
}

/**
 * The compiled wasm of the first worker started from each worker URL ('' for
 * the default one), which it sends once compiled: a later worker of the same
 * URL in this page (after terminate(), or beside it) starts from it, without
 * a download or a compile, and with every function the first one compiled
 * on its first call. The module stays while the page lives: it is shared
 * with the running worker, and costs the page memory only once every
 * worker has been terminated. The worker's SQLite, a module of its own
 * (docs/sqlite-module.md), comes with it: the notice is kept as it came.
 * @type {Map<string, {hearthModule: WebAssembly.Module, hearthSQLite?: unknown}>}
 */
const compiledModules = new Map();

/**
 * One Hearth worker and the requests in flight to it. Requests may be issued
 * concurrently; replies are matched by id.
 * @implements {api.HearthWorker}
 */
export class HearthWorker {
  /** @param {api.WorkerOptions} [options] */
  constructor({ workerURL, wasmURL } = {}) {
    if (workerURL === undefined && wasmURL === undefined) {
      // The literal form bundlers (Vite, webpack 5, Parcel) recognize: they
      // build the worker as an entry of its own and copy its wasm. Keep it
      // literal: a computed URL is invisible to them.
      this.worker = new Worker(new URL('./hearth-worker.js', import.meta.url), { type: 'module', name: 'hearth' });
      this.moduleKey = '';
    } else {
      const url = new URL(workerURL ?? './hearth-worker.js', import.meta.url);
      if (wasmURL) url.searchParams.set('wasm', new URL(wasmURL, globalThis.location?.href).href);
      this.worker = new Worker(url, { type: 'module', name: 'hearth' });
      this.moduleKey = url.href;
    }
    // The first message: the modules an earlier worker of the same URL
    // compiled (see compiledModules).
    const modules = compiledModules.get(this.moduleKey);
    try {
      if (modules) this.worker.postMessage(modules);
    } catch {
      // An engine that cannot send a module: the worker downloads it.
    }
    /** @type {Map<number, Waiter>} */
    this.pending = new Map();
    /** @type {Map<number, (push: Push) => void>} the watches' handlers, by subscription id */
    this.subscriptions = new Map();
    this.nextID = 1;
    /** @type {api.HearthError | null} */
    this.failure = null;
    /** @type {Set<string>} Names of the databases this tab's worker owns (leads) now; see hearth-tabs.js. */
    this.leading = new Set();
    /** @type {(err: api.HearthError) => void} Called for replies that match no request (e.g. an undecodable message). */
    this.onUnmatchedError = (err) => console.warn('hearth:', err);
    this.worker.onmessage = (event) => this.#receive(event.data);
    this.worker.onerror = (event) => {
      event.preventDefault?.();
      this.#fail(new HearthError('WORKER_FAILED', `the Hearth worker failed to load: ${event.message ?? 'unknown error'}`));
    };
    this.#forwardNetworkSignal();
  }

  // Sync clients live in the worker; the page's online/offline events are
  // the most reliable network signal (a dedicated worker gets them late or,
  // under some test harnesses' emulation, not at all).
  #forwardNetworkSignal() {
    if (typeof globalThis.addEventListener !== 'function' || typeof navigator === 'undefined') return;
    /** @param {boolean} online */
    const tell = (online) => this.request('network', { online }).catch(() => {});
    globalThis.addEventListener('online', () => tell(true));
    globalThis.addEventListener('offline', () => tell(false));
    if (navigator.onLine === false) tell(false);
  }

  /**
   * The worker's messages not yet handled, in the order they came: the
   * first may be a large one being decoded a slice at a time (see #drain).
   * @type {Inbound[]}
   */
  #inbox = [];

  /** @param {unknown} data */
  #receive(data) {
    this.#inbox.push({ data });
    if (this.#inbox.length === 1) this.#drain(now() + SLICE_MS);
  }

  // Handles the inbox's first message, or decodes it until the slice's time
  // is up: a large result (100,000 rows take over 100 ms to decode in
  // Chromium on a slow machine) then goes on in a later task, so that the
  // page paints meanwhile. Messages that came after it wait, and each then
  // has a task of its own, as when the worker's message event delivered
  // it: the app sees every reply and push in the order the worker sent
  // them, with its promise reactions run in between.
  /** @param {number} deadline */
  #drain(deadline) {
    const m = this.#inbox[0];
    if (!m) return; // terminated meanwhile
    if (!decodeSome(m, deadline)) {
      nextTask(() => this.#drain(now() + SLICE_MS));
      return;
    }
    this.#inbox.shift();
    if (this.#inbox.length > 0) nextTask(() => this.#drain(now() + SLICE_MS));
    this.#dispatch(m);
  }

  /** @param {Inbound} m a message decoded by decodeSome */
  #dispatch(m) {
    const data = m.data;
    if (!(data instanceof Uint8Array) && !(data instanceof ArrayBuffer)) {
      // The worker's plain-object notices (hearth-worker.js).
      const notice = /** @type {{hearthFatal?: unknown, hearthLeader?: {name: string, leading: boolean}, hearthModule?: unknown, hearthSQLite?: unknown} | null | undefined} */ (data);
      if (notice && typeof notice.hearthFatal === 'string') this.#fail(new HearthError('WORKER_FAILED', notice.hearthFatal));
      if (notice?.hearthLeader) {
        const { name, leading } = notice.hearthLeader;
        if (leading) this.leading.add(name);
        else this.leading.delete(name);
      }
      if (notice?.hearthModule instanceof WebAssembly.Module && !compiledModules.has(this.moduleKey)) {
        compiledModules.set(this.moduleKey, { hearthModule: notice.hearthModule, hearthSQLite: notice.hearthSQLite });
      }
      return;
    }
    if (m.failed) {
      const bad = new HearthError('BAD_REPLY', `undecodable reply from the worker: ${m.failed.message}`);
      // A reply whose head was read fails its request; else the app hears.
      const id = /** @type {{id?: unknown} | undefined} */ (m.decoded?.value)?.id;
      const waiter = typeof id === 'number' ? this.pending.get(id) : undefined;
      if (waiter) {
        this.pending.delete(/** @type {number} */ (id));
        waiter.reject(bad);
      } else {
        this.onUnmatchedError(bad);
      }
      return;
    }
    const reply = /** @type {WorkerMessage} */ (/** @type {Decoded} */ (m.decoded).value);
    if (reply.sub !== undefined) {
      this.subscriptions.get(reply.sub)?.(reply);
      return;
    }
    const waiter = reply.id == null ? undefined : this.pending.get(reply.id);
    if (waiter && reply.progress) {
      waiter.onProgress?.(reply.progress);
      return;
    }
    if (!waiter) {
      if (reply.error) this.onUnmatchedError(new HearthError(reply.error.code, reply.error.message));
      return;
    }
    this.pending.delete(/** @type {number} */ (reply.id));
    if (reply.error) waiter.reject(new HearthError(reply.error.code, reply.error.message, reply.error.index));
    else waiter.resolve(reply.ok);
  }

  /** @param {api.HearthError} err */
  #fail(err) {
    this.failure = err;
    for (const waiter of this.pending.values()) waiter.reject(err);
    this.pending.clear();
  }

  /**
   * Sends one request and resolves with its result; onProgress receives
   * progress reports. Internal (not in hearth.d.ts): apps use Database.
   * @template {Op} O
   * @param {O} op
   * @param {Operations[O]['fields']} fields
   * @param {(progress: api.Progress) => void} [onProgress]
   * @returns {Promise<Operations[O]['result']>}
   */
  request(op, fields, onProgress) {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextID++;
    let msg;
    try {
      msg = encode({ v: VERSION, id, op, ...fields });
    } catch (err) {
      return Promise.reject(new HearthError('BAD_REQUEST', /** @type {Error} */ (err).message));
    }
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress });
      // Transfer the buffer: the worker receives it without a copy.
      this.worker.postMessage(msg, [msg.buffer]);
    });
  }

  /**
   * Starts the head start of a database the app will open later: if the
   * origin stores no database of that name yet, the worker asks for its
   * replica file and opens its sync connection now, and the open takes
   * them (web/hearth-head-start.js).
   * @param {api.HeadStartOptions} options
   */
  headStart({ name, storage = 'auto', sync }) {
    const s = syncOption(sync && { ...sync, tables: [] });
    if (!s) throw new HearthError('BAD_REQUEST', 'headStart: sync is required (a head start is of a synced database)');
    // The open's own sync option, so that the worker asks what Go will.
    this.worker.postMessage({ hearthHeadStart: { name, storage, sync: { url: s.url, token: s.token, replica: s.replica } } });
  }

  /** Stops the worker; requests in flight reject with CLOSED. */
  terminate() {
    this.worker.terminate();
    this.#inbox.length = 0;
    this.#fail(new HearthError('CLOSED', 'the Hearth worker was terminated'));
  }
}

/** @type {HearthWorker | null} */
let sharedWorker = null;

/**
 * Starts the shared worker now, so that loading and compiling the bundle
 * overlaps with the app's own start-up. open() uses the same worker.
 * @param {api.WorkerOptions} [options]
 * @returns {HearthWorker}
 */
export function preload(options) {
  sharedWorker ??= new HearthWorker(options);
  return sharedWorker;
}

/**
 * The app's worker, or the shared one. hearth.d.ts declares HearthWorker
 * without request (internal), so a declared worker is this class.
 * @param {api.HearthWorker | undefined} worker
 * @returns {HearthWorker}
 */
function workerOrShared(worker) {
  return /** @type {HearthWorker | undefined} */ (worker) ?? preload();
}

/** @typedef {'object' | 'array'} RowMode */
/** @typedef {Record<string, api.SQLValue> | api.SQLValue[]} Row a row as the app asked for it */

/**
 * @param {string[]} columns
 * @param {api.SQLValue[][]} rows
 * @returns {Record<string, api.SQLValue>[]}
 */
function rowsToObjects(columns, rows) {
  const out = new Array(rows.length);
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r];
    /** @type {Record<string, api.SQLValue>} */
    const obj = {};
    for (let c = 0; c < columns.length; c++) obj[columns[c]] = row[c];
    out[r] = obj;
  }
  return out;
}

/**
 * @param {api.ExecResult | WireRows} result
 * @param {RowMode} rowMode
 * @returns {api.ExecResult | api.QueryResult<any>}
 */
function shapeResult(result, rowMode) {
  if (!('columns' in result)) return result;
  return rowMode === 'array' ? result : { columns: result.columns, rows: rowsToObjects(result.columns, result.rows) };
}

/**
 * @param {string[]} columns
 * @param {api.SQLValue[][]} rows
 * @param {RowMode} rowMode
 * @returns {Row[]}
 */
function decodeRows(columns, rows, rowMode) {
  return rowMode === 'array' ? rows : rowsToObjects(columns, rows);
}

/**
 * The page-side copy of one live query: kept current by applying the deltas
 * the worker pushes (removed indices, then inserted rows, then changed rows).
 */
class LiveResult {
  /**
   * @param {LiveRows} result
   * @param {RowMode} rowMode
   */
  constructor(result, rowMode) {
    this.rowMode = rowMode;
    this.columns = result.columns;
    this.keyed = result.keyed;
    this.rows = decodeRows(result.columns, result.rows, rowMode);
  }

  /**
   * @param {{full: LiveRows} | {full?: undefined, delta: RowsDelta}} push
   * @returns {api.ResultChange}
   */
  apply(push) {
    if (push.full) {
      this.columns = push.full.columns;
      this.keyed = push.full.keyed;
      this.rows = decodeRows(push.full.columns, push.full.rows, this.rowMode);
      return { kind: 'full' };
    }
    const d = push.delta;
    /** @param {api.SQLValue[]} row @returns {Row} */
    const one = (row) => (this.rowMode === 'array' ? row : rowsToObjects(this.columns, [row])[0]);
    // One pass, not a splice a row (which moved the rows after it each
    // time: 5,000 rows inserted into 100,000 moved 500 million). removed is
    // ascending, in the old result's positions; inserted ascending, in the
    // new one's (wasm/engine/live.go diff).
    const old = this.rows;
    const rows = new Array(old.length - d.removed.length + d.inserted.length);
    let from = 0, removed = 0, inserted = 0;
    for (let at = 0; at < rows.length; at++) {
      if (inserted < d.inserted.length && d.inserted[inserted][0] === at) {
        rows[at] = one(d.inserted[inserted++][1]);
        continue;
      }
      while (removed < d.removed.length && d.removed[removed] === from) { removed++; from++; }
      rows[at] = old[from++];
    }
    for (const [at, row] of d.changed) rows[at] = one(row);
    this.rows = rows;
    return { kind: 'delta', removed: d.removed.length, inserted: d.inserted.length, changed: d.changed.length };
  }

  /**
   * The rows as arrays, for the cache, and their size as resultBytes
   * counts it; rows is null, and nothing converted, once the size passes
   * maxBytes (a 100,000-row result is not cached, and not copied either).
   * @param {number} maxBytes
   * @returns {SizedRows}
   */
  arrays(maxBytes) {
    const columns = this.columns;
    const objects = this.rowMode === 'object';
    let bytes = headerBytes(columns);
    for (const row of this.rows) {
      bytes += 16;
      for (let c = 0; c < columns.length; c++) {
        bytes += valueBytes(objects ? /** @type {Record<string, api.SQLValue>} */ (row)[columns[c]] : /** @type {api.SQLValue[]} */ (row)[c]);
      }
      if (bytes > maxBytes) return { columns, rows: null, bytes };
    }
    if (!objects) return { columns, rows: /** @type {api.SQLValue[][]} */ (this.rows), bytes };
    return { columns, rows: this.rows.map((r) => columns.map((c) => /** @type {Record<string, api.SQLValue>} */ (r)[c])), bytes };
  }

  /** @returns {api.QueryResult<any>} */
  snapshot() {
    return { columns: this.columns, rows: this.rows };
  }
}

/**
 * An interactive transaction: statements carry its id, so the worker runs
 * them inside it while every other request on the database waits.
 * @implements {api.Transaction}
 */
export class Transaction {
  /**
   * @param {Database} db
   * @param {number} id
   */
  constructor(db, id) {
    this.db = db;
    this.id = id;
    this.finished = false;
    this.nextSavepoint = 1;
  }

  /**
   * @template {'exec' | 'query' | 'batch'} O
   * @param {O} op
   * @param {Omit<Operations[O]['fields'], 'db' | 'tx'>} fields
   * @returns {Promise<Operations[O]['result']>}
   */
  #request(op, fields) {
    if (this.finished) return Promise.reject(txFinished(this.id));
    return this.db.worker.request(op, /** @type {Operations[O]['fields']} */ ({ ...fields, db: this.db.handle, tx: this.id }));
  }

  /**
   * @param {string} sql
   * @param {api.Params} [params]
   * @returns {Promise<api.ExecResult>}
   */
  exec(sql, params) {
    return this.#request('exec', { sql, params });
  }

  /**
   * @param {string} sql
   * @param {api.Params} [params]
   * @param {api.RowModeOption} [options]
   * @returns {Promise<api.QueryResult<any>>}
   */
  async query(sql, params, { rowMode = 'object' } = {}) {
    return /** @type {api.QueryResult<any>} */ (shapeResult(await this.#request('query', { sql, params }), rowMode));
  }

  /**
   * @param {Array<api.Statement | string>} statements
   * @param {api.RowModeOption} [options]
   */
  async batch(statements, { rowMode = 'object' } = {}) {
    const list = statements.map((s) => (typeof s === 'string' ? { sql: s } : { sql: s.sql, params: s.params }));
    const { results } = await this.#request('batch', { statements: list });
    return results.map((r) => shapeResult(r, rowMode));
  }

  /**
   * A nested transaction, as a savepoint: when fn throws, only its part is
   * undone and the error propagates.
   * @template T
   * @param {(tx: api.Transaction) => Promise<T> | T} fn
   * @returns {Promise<T>}
   */
  async transaction(fn) {
    const name = `hearth_tx_${this.nextSavepoint++}`;
    await this.exec(`SAVEPOINT ${name}`);
    let result;
    try {
      result = await fn(this);
    } catch (err) {
      if (!this.finished) {
        await this.exec(`ROLLBACK TO ${name}`);
        await this.exec(`RELEASE ${name}`);
      }
      throw err;
    }
    await this.exec(`RELEASE ${name}`);
    return result;
  }
}

/** @param {number} id */
function txFinished(id) {
  return new HearthError('TX_FINISHED', `transaction ${id} is finished; use it only inside its callback`);
}

/**
 * An open database.
 * @implements {api.Database}
 */
export class Database {
  /**
   * @param {HearthWorker} worker
   * @param {OpenReply} info
   * @param {api.CacheOptions | null} [cache] the result cache's options, null for none
   */
  constructor(worker, info, cache = null) {
    this.worker = worker;
    this.cache = cache;
    this.handle = info.db;
    this.name = info.name;
    this.storage = info.storage;
    this.storageReason = info.reason;
    this.version = info.version;
    this.persistent = info.persistent;
    this.synced = info.sync === true;
  }

  /**
   * Runs SQL that returns no rows (several statements allowed without params).
   * @param {string} sql
   * @param {api.Params} [params]
   * @returns {Promise<api.ExecResult>}
   */
  exec(sql, params) {
    return this.worker.request('exec', { db: this.handle, sql, params });
  }

  /**
   * Runs one statement and returns {columns, rows}; rows are objects, or arrays with rowMode 'array'.
   * @param {string} sql
   * @param {api.Params} [params]
   * @param {api.RowModeOption} [options]
   * @returns {Promise<api.QueryResult<any>>}
   */
  async query(sql, params, { rowMode = 'object' } = {}) {
    return /** @type {api.QueryResult<any>} */ (shapeResult(await this.worker.request('query', { db: this.handle, sql, params }), rowMode));
  }

  /**
   * Runs statements in one transaction, all or none. Rejects with error.index naming the failing statement.
   * @param {Array<api.Statement | string>} statements
   * @param {api.RowModeOption} [options]
   */
  async batch(statements, { rowMode = 'object' } = {}) {
    const list = statements.map((s) => (typeof s === 'string' ? { sql: s } : { sql: s.sql, params: s.params }));
    const { results } = await this.worker.request('batch', { db: this.handle, statements: list });
    return results.map((r) => shapeResult(r, rowMode));
  }

  /**
   * Runs fn in a transaction: it commits when fn resolves (to fn's value)
   * and rolls back when fn throws (rethrowing). Other requests on the
   * database, from this tab or others, wait until it ends.
   * @template T
   * @param {(tx: api.Transaction) => Promise<T> | T} fn
   * @param {api.TransactionOptions} [options]
   * @returns {Promise<T>}
   */
  async transaction(fn, { timeoutMs } = {}) {
    const { tx: id } = await this.worker.request('begin', { db: this.handle, timeoutMs });
    const tx = new Transaction(this, id);
    let result;
    try {
      result = await fn(tx);
    } catch (err) {
      tx.finished = true;
      // Already over (timed out, its SQL ended it): the app's error counts.
      await this.worker.request('rollback', { db: this.handle, tx: id }).catch(() => {});
      throw err;
    }
    tx.finished = true;
    await this.worker.request('commit', { db: this.handle, tx: id });
    return result;
  }

  /**
   * Watches a query: onResult gets {columns, rows} now and again after every
   * commit that changes the result (the worker sends only deltas). Resolves
   * to a function that ends the watch.
   * @param {string} sql
   * @param {api.Params | undefined} params
   * @param {(result: api.QueryResult<any>, change: api.ResultChange) => void} onResult
   * @param {api.WatchOptions} [options]
   * @returns {Promise<() => Promise<void>>}
   */
  async watch(sql, params, onResult, { rowMode = 'object', onError, cache = true } = {}) {
    const w = this.worker;
    /** @type {LiveResult | null} */
    let live = null;
    const cacheOptions = cache ? this.cache : null;
    const writer = cacheOptions ? new CacheWriter(this.name, sql, params, cacheOptions) : null;
    let failed = false;
    if (cacheOptions) {
      // The cached result, shown only if it comes before the live one
      // (and never after the watch failed).
      cachedResult(this.name, sql, params, { scope: cacheOptions.scope, rowMode }).then((cached) => {
        if (cached && !live && !failed) onResult(cached, { kind: 'cached', savedAt: cached.savedAt });
      });
    }
    /** @type {Push[]} pushes that overtook the watch's reply */
    const early = [];
    /** @param {Push} push */
    const handler = (push) => {
      if (!live) { early.push(push); return; }
      if (push.error) {
        (onError ?? ((e) => console.warn('hearth watch:', e)))(new HearthError(push.error.code, push.error.message));
        return;
      }
      if (push.status !== undefined) return; // a sync status: not for a query's watch
      const change = live.apply(push);
      onResult(live.snapshot(), change);
      const current = live;
      writer?.save((maxBytes) => current.arrays(maxBytes));
    };
    // A query's watch is answered with its rows (a {sync: true} watch with the status).
    /** @type {WatchRowsReply} */
    let reply;
    try {
      reply = /** @type {WatchRowsReply} */ (await w.request('watch', { db: this.handle, sql, params }));
    } catch (err) {
      failed = true;
      throw err;
    }
    const { sub, result } = reply;
    w.subscriptions.set(sub, handler);
    live = new LiveResult(result, rowMode);
    onResult(live.snapshot(), { kind: 'initial' });
    const first = live;
    writer?.save((maxBytes) => first.arrays(maxBytes));
    for (const push of early.splice(0)) handler(push);
    return async () => {
      writer?.flush();
      w.subscriptions.delete(sub);
      await w.request('unwatch', { db: this.handle, sub });
    };
  }

  /**
   * The async-iterator form of watch: yields {columns, rows} on every change.
   * @param {string} sql
   * @param {api.Params} [params]
   * @param {api.WatchOptions} [options]
   * @returns {AsyncGenerator<api.QueryResult<any>, void, undefined>}
   */
  async *live(sql, params, options) {
    /** @type {api.QueryResult<any>[]} */
    const queue = [];
    /** @type {(() => void) | null} */
    let wake = null;
    const stop = await this.watch(sql, params, (result) => {
      queue.push(result);
      wake?.();
    }, options);
    try {
      for (;;) {
        for (let next = queue.shift(); next; next = queue.shift()) yield next;
        await new Promise((resolve) => { wake = () => resolve(undefined); });
        wake = null;
      }
    } finally {
      await stop();
    }
  }

  /**
   * Whether this tab's worker owns the database now (the other tabs
   * forward to it); it moves when the leader's tab closes.
   */
  isLeader() {
    return this.worker.leading.has(this.name);
  }

  /**
   * The sync status now (rejects with BAD_REQUEST when opened without sync).
   * @returns {Promise<api.SyncStatus>}
   */
  syncStatus() {
    return this.worker.request('sync', { db: this.handle });
  }

  /**
   * Calls onStatus with the sync status now and on every change (pending
   * count, connection, errors, initial-sync progress). Resolves to a
   * function that ends the subscription.
   * @param {(status: api.SyncStatus) => void} onStatus
   * @returns {Promise<() => Promise<void>>}
   */
  async onSyncStatus(onStatus) {
    const w = this.worker;
    /** @type {Push[]} pushes that overtook the watch's reply */
    const early = [];
    let ready = false;
    /** @param {Push} push */
    const handler = (push) => {
      if (!ready) { early.push(push); return; }
      if (push.status) onStatus(push.status);
    };
    // A {sync: true} watch is answered with the status.
    const { sub, status } = /** @type {WatchSyncReply} */ (await w.request('watch', { db: this.handle, sync: true }));
    w.subscriptions.set(sub, handler);
    onStatus(status);
    ready = true;
    for (const push of early.splice(0)) handler(push);
    return async () => {
      w.subscriptions.delete(sub);
      await w.request('unwatch', { db: this.handle, sub });
    };
  }

  /**
   * Puts a quarantined outgoing change (a row of _hearth_quarantine) back in
   * the journal, optionally renaming columns ({old: new}); resolves to its
   * new journal seq.
   * @param {number} quarantineId
   * @param {Record<string, string>} [rename]
   * @returns {Promise<number>}
   */
  async retryQuarantined(quarantineId, rename) {
    return (await this.worker.request('retryQuarantined', { db: this.handle, quarantineId, rename })).seq;
  }

  /**
   * Gives sync a new bearer token (after sign-in or when the old one
   * expired: status state 'paused-auth', lastError.code AUTH_EXPIRED). Sync
   * resumes at once; nothing written meanwhile is lost.
   * @param {string} token
   * @returns {Promise<void>}
   */
  async setSyncToken(token) {
    await this.worker.request('setSyncToken', { db: this.handle, token });
  }

  /**
   * Drops a quarantined change for good.
   * @param {number} quarantineId
   * @returns {Promise<void>}
   */
  async discardQuarantined(quarantineId) {
    await this.worker.request('discardQuarantined', { db: this.handle, quarantineId });
  }

  /**
   * Deletes a flagged or refused journal entry the app has shown (by _hearth_journal.seq).
   * @param {number} seq
   * @returns {Promise<void>}
   */
  async dismissChange(seq) {
    await this.worker.request('dismissChange', { db: this.handle, seq });
  }

  /**
   * Who won each field of one row, the values that lost a merge on this
   * replica, and the journal entries that touched the row.
   * @param {string} table
   * @param {api.SQLValue | api.SQLValue[]} key the primary key's value, or its values in key order
   * @returns {Promise<api.RowHistory>}
   */
  async history(table, key) {
    return this.worker.request('history', { db: this.handle, table, key: Array.isArray(key) ? key : [key] });
  }

  /**
   * Applies an editor's edits, in order, to one collaborative text column
   * at their exact positions (Unicode code points) and resolves to the
   * field's new text; all or none.
   * @param {string} table
   * @param {api.SQLValue | api.SQLValue[]} key the primary key's value, or its values in key order
   * @param {string} column a column listed in the table's `text`
   * @param {api.TextOp[]} ops
   * @returns {Promise<string>}
   */
  async editText(table, key, column, ops) {
    const r = await this.worker.request('editText', { db: this.handle, table, key: Array.isArray(key) ? key : [key], column, ops });
    return r.text;
  }

  /**
   * Storage in use and why, queue depth and live-query statistics.
   * @returns {Promise<api.DatabaseInfo>}
   */
  async info() {
    const info = await this.worker.request('info', { db: this.handle });
    // The worker's persistent is the current answer (the browser may have
    // withdrawn persistence since open); name and version are the page's.
    return { name: this.name, version: this.version, ...info };
  }

  /**
   * Closes the database; later calls reject with CLOSED.
   * @returns {Promise<void>}
   */
  async close() {
    await this.worker.request('close', { db: this.handle });
  }
}

/**
 * The sync option as the worker takes it: a relative or http(s) URL is
 * resolved against the page and given the WebSocket scheme; a replica URL
 * is resolved against the page.
 * @type {typeof api.syncOption}
 */
export function syncOption(sync, base = globalThis.location?.href) {
  if (!sync) return undefined;
  const url = new URL(sync.url ?? '/sync', base);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  if (url.protocol === 'https:') url.protocol = 'wss:';
  let replica = sync.replica;
  if (typeof replica === 'string') replica = new URL(replica, base).href;
  return { url: url.href, tables: sync.tables, token: sync.token, deferIndexes: sync.deferIndexes, replica };
}

/**
 * Opens (creating if needed) a database by name, applying pending
 * migrations ([{version, sql}], in order, each in its own transaction).
 * With sync: {url, tables}, the listed tables replicate through a Hearth
 * sync server in the background.
 * @type {typeof api.open}
 */
export async function open({ name, storage = 'auto', key, durability, migrations, sync, onProgress, worker, cache }) {
  if (cache && key !== undefined) {
    // The cache would keep the encrypted database's rows in plaintext.
    throw new HearthError('BAD_REQUEST', 'open: cache cannot be used with key (the cached results would be stored unencrypted)');
  }
  const w = workerOrShared(worker);
  const info = await w.request('open', { name, storage, key, durability, migrations, sync: syncOption(sync) }, onProgress);
  const cacheOptions = cache ? { scope: '', ...(cache === true ? {} : cache) } : null;
  return new Database(w, info, cacheOptions);
}

/**
 * Lists the databases stored on this origin: [{name, storage}].
 * @type {typeof api.listDatabases}
 */
export function listDatabases({ worker } = {}) {
  return workerOrShared(worker).request('databases', {});
}

/**
 * Deletes a database and every byte it stored, in OPFS and IndexedDB (for
 * account removal). It must not be open in this worker.
 * @type {typeof api.deleteDatabase}
 */
export async function deleteDatabase(name, { worker } = {}) {
  await workerOrShared(worker).request('drop', { name });
  // Its cached results go with it (whether or not it was opened with cache).
  await clearCachedResults(name).catch(() => {});
}

// The schema a sync server publishes (hearth serve: GET /v1/schema), so
// that the page and the server run the same migration files. The last copy
// is kept in localStorage: a page that opens offline, while the server is
// down, or on a network that accepts requests and never answers, opens with
// the schema it last saw instead of not at all.
const schemaCachePrefix = 'hearth.schema:';
/** How long a page with a stored copy waits for the server's (ms). */
const schemaWaitMs = 2000;

/**
 * Loads {migrations, tables} from a sync server, for open({migrations,
 * sync: {tables}}).
 * @type {typeof api.loadSchema}
 */
export async function loadSchema(url = '/v1/schema', { fetch: fetchFn = globalThis.fetch, storage = globalThis.localStorage, waitMs = schemaWaitMs } = {}) {
  const href = new URL(url, globalThis.location?.href).href;
  const key = schemaCachePrefix + href;
  /** @type {api.AppSchema | null} */
  let stored = null;
  try {
    const copy = storage?.getItem(key) ?? null;
    if (copy !== null) stored = checkSchema(JSON.parse(copy));
  } catch { /* disabled storage, or a damaged copy: no copy */ }
  const fromServer = (async () => {
    const res = await fetchFn(href, { cache: 'no-cache', credentials: 'same-origin' });
    if (!res.ok) throw new Error(`${res.status} ${res.statusText}`);
    const schema = checkSchema(await res.json());
    try { storage?.setItem(key, JSON.stringify(schema)); } catch { /* full or disabled: the fetch still counts */ }
    return schema;
  })();
  if (stored === null) {
    try {
      return await fromServer;
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new HearthError('SCHEMA_UNAVAILABLE', `loading the schema from ${href} failed and no earlier copy is stored: ${reason}`);
    }
  }
  // With a copy, the server's schema (a deploy's new migrations) if it
  // answers within waitMs, else the copy; a late answer is stored for the
  // next start.
  fromServer.catch(() => {});
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  const waited = new Promise((resolve) => { timer = setTimeout(() => resolve(null), waitMs); });
  try {
    return (await Promise.race([fromServer, waited])) ?? stored;
  } catch {
    return stored;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Returns s as a schema if it is one ({migrations: [{version, sql}],
 * tables: [{name, resurrect, text}]}), else throws.
 * @param {any} s
 * @returns {api.AppSchema}
 */
function checkSchema(s) {
  const ok = s && Array.isArray(s.migrations) && Array.isArray(s.tables)
    && s.migrations.every((/** @type {any} */ m) => Number.isSafeInteger(m?.version) && m.version > 0 && typeof m.sql === 'string')
    && s.tables.every((/** @type {any} */ t) => typeof t?.name === 'string' && (t.resurrect === undefined || typeof t.resurrect === 'boolean')
      && (t.text === undefined || (Array.isArray(t.text) && t.text.every((/** @type {any} */ c) => typeof c === 'string'))));
  if (!ok) throw new Error('the reply is not a Hearth schema ({migrations, tables})');
  return {
    migrations: s.migrations.map((/** @type {any} */ m) => ({ version: m.version, sql: m.sql })),
    tables: s.tables.map((/** @type {any} */ t) => ({ name: t.name, resurrect: !!t.resurrect, ...(t.text?.length ? { text: [...t.text] } : {}) })),
  };
}

// ---- the result cache: the last result of each live query, kept in the
// page's IndexedDB so that a reload paints it before the worker is up ----
//
// Opt-in (open({cache}) or cachedResult): the copy sits outside the
// database — unencrypted, outside its storage — and an app must choose
// that. Entries are keyed by database name, scope (the app's: the user,
// its schema generation), SQL and parameter values; they are bounded in
// bytes and count and evicted least recently used first.

const cacheDBName = 'hearth-result-cache';
const cacheStore = 'results';
/** Bumped when an entry's shape changes: older entries are never read. */
const cacheFormat = 1;
const cacheDefaultBytes = 8 << 20;
const cacheMaxEntries = 256;
/** A live result is saved at most this often (ms), its last state always. */
const cacheWriteDelayMs = 300;

/** @type {Promise<IDBDatabase | null> | null} */
let cacheDB = null;

/**
 * The cache's IndexedDB, or null where IndexedDB is missing or refused
 * (a private window, a sandboxed frame): then nothing is cached.
 * @returns {Promise<IDBDatabase | null>}
 */
function openCacheDB() {
  cacheDB ??= new Promise((resolve) => {
    if (typeof indexedDB === 'undefined') { resolve(null); return; }
    let req;
    try {
      req = indexedDB.open(cacheDBName, 1);
    } catch {
      resolve(null);
      return;
    }
    req.onupgradeneeded = () => {
      const store = req.result.createObjectStore(cacheStore, { keyPath: 'key' });
      store.createIndex('db', 'db');
      store.createIndex('usedAt', 'usedAt');
    };
    req.onsuccess = () => {
      const db = req.result;
      // Another tab deleting or upgrading the cache: let it.
      db.onversionchange = () => { db.close(); cacheDB = null; };
      resolve(db);
    };
    req.onerror = () => resolve(null);
    req.onblocked = () => resolve(null);
  });
  return cacheDB;
}

/**
 * @param {string} name
 * @param {string} scope
 * @param {string} sql
 * @param {api.Params | undefined} params
 */
function cacheKey(name, scope, sql, params) {
  return JSON.stringify([cacheFormat, name, scope, sql, valuesKey(params)]);
}

/**
 * A key equal for equal parameter values (named ones in any order;
 * bigints, bytes and non-finite numbers kept apart from look-alikes).
 * @param {api.Params | undefined} params
 */
function valuesKey(params) {
  // No parameters and an empty list are the same query.
  if (Array.isArray(params) && params.length === 0) params = undefined;
  return JSON.stringify(params ?? null, (_, value) => {
    if (typeof value === 'bigint') return { bigint: value.toString() };
    if (typeof value === 'number' && !Number.isFinite(value)) return { number: String(value) };
    if (value instanceof Uint8Array) return { bytes: Array.from(value) };
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      /** @type {Record<string, unknown>} */
      const sorted = {};
      for (const k of Object.keys(value).sort()) sorted[k] = value[k];
      return sorted;
    }
    return value;
  });
}

/**
 * About how many bytes a result takes in storage (for the size bound).
 * @param {string[]} columns
 * @param {api.SQLValue[][]} rows
 */
function resultBytes(columns, rows) {
  let n = headerBytes(columns);
  for (const row of rows) {
    n += 16;
    for (const v of row) n += valueBytes(v);
  }
  return n;
}

/** @param {string[]} columns */
function headerBytes(columns) {
  let n = 64;
  for (const c of columns) n += 2 * c.length + 8;
  return n;
}

/** @param {api.SQLValue} v */
function valueBytes(v) {
  if (typeof v === 'string') return 2 * v.length + 8;
  if (v instanceof Uint8Array) return v.byteLength + 16;
  return 9;
}

/** @typedef {{columns: string[], rows: api.SQLValue[][] | null, bytes: number}} SizedRows rows null: over the bound */

/**
 * @template T
 * @param {IDBRequest<T>} req
 * @returns {Promise<T>}
 */
function settled(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/**
 * @typedef {object} CacheEntry one stored result
 * @property {string} key
 * @property {string} db the database's name (to clear them all)
 * @property {string[]} columns
 * @property {api.SQLValue[][]} rows
 * @property {number} bytes
 * @property {number} savedAt Unix ms when the result was live
 * @property {number} usedAt Unix ms of the last read or write (LRU)
 */

/** @type {Map<string, Promise<Map<string, CacheEntry>>>} preloaded entries by database name, each used once */
const preloadedCache = new Map();

/**
 * Reads every cached result of database name now, in one IndexedDB
 * transaction, so that cachedResult answers from memory later.
 * @type {typeof api.preloadCachedResults}
 */
export function preloadCachedResults(name) {
  let entries = preloadedCache.get(name);
  if (!entries) {
    entries = (async () => {
      /** @type {Map<string, CacheEntry>} */
      const byKey = new Map();
      const db = await openCacheDB();
      if (!db) return byKey;
      try {
        const store = db.transaction(cacheStore, 'readonly').objectStore(cacheStore);
        const all = /** @type {CacheEntry[]} */ (await settled(store.index('db').getAll(name)));
        for (const e of all) byKey.set(e.key, e);
      } catch { /* no cache: cachedResult reads (and fails) on its own */ }
      return byKey;
    })();
    preloadedCache.set(name, entries);
  }
  return entries.then(() => undefined);
}

/**
 * The last result cached for this query, or null. (JSDoc cannot type a
 * function by an overloaded declaration: hearth.d.ts has both.)
 * @param {string} name
 * @param {string} sql
 * @param {api.Params | undefined} [params]
 * @param {{scope?: string, rowMode?: RowMode}} [options]
 * @returns {Promise<api.CachedResult<any> | null>}
 */
export async function cachedResult(name, sql, params, { scope = '', rowMode = 'object' } = {}) {
  const key = cacheKey(name, scope, sql, params);
  const preloaded = await preloadedCache.get(name);
  const early = preloaded?.get(key);
  if (early) {
    // Used once: a later read sees what was saved since.
    preloaded?.delete(key);
    return { columns: early.columns, rows: decodeRows(early.columns, early.rows, rowMode), stale: true, savedAt: early.savedAt };
  }
  const db = await openCacheDB();
  if (!db) return null;
  try {
    const store = db.transaction(cacheStore, 'readwrite').objectStore(cacheStore);
    const entry = /** @type {CacheEntry | undefined} */ (await settled(store.get(key)));
    if (!entry) return null;
    entry.usedAt = Date.now();
    store.put(entry); // the LRU clock; its failure costs nothing
    return /** @type {api.CachedResult<any>} */ ({
      columns: entry.columns, rows: decodeRows(entry.columns, entry.rows, rowMode), stale: true, savedAt: entry.savedAt,
    });
  } catch {
    return null; // a cache that cannot be read is no cache
  }
}

/**
 * Stores a result as the last one of this query and evicts the least
 * recently used entries beyond maxBytes or 256 entries.
 * @param {string} name
 * @param {string} sql
 * @param {api.Params | undefined} params
 * @param {{columns: string[], rows: api.SQLValue[][]}} result rows as arrays
 * @param {{scope?: string, maxBytes?: number}} [options]
 * @returns {Promise<void>}
 */
export function saveCachedResult(name, sql, params, result, options = {}) {
  return storeResult(name, sql, params, { ...result, bytes: resultBytes(result.columns, result.rows) }, options);
}

/**
 * saveCachedResult's work, for a result already sized (rows null when it
 * is over the bound: its older copy is deleted).
 * @param {string} name
 * @param {string} sql
 * @param {api.Params | undefined} params
 * @param {SizedRows} result
 * @param {{scope?: string, maxBytes?: number}} options
 */
async function storeResult(name, sql, params, result, { scope = '', maxBytes = cacheDefaultBytes }) {
  preloadedCache.delete(name); // older than what is saved now
  const db = await openCacheDB();
  if (!db) return;
  const now = Date.now();
  const bytes = result.rows ? result.bytes : Infinity;
  const key = cacheKey(name, scope, sql, params);
  /** @param {IDBTransaction} tx */
  const done = (tx) => new Promise((resolve, reject) => { tx.oncomplete = resolve; tx.onerror = () => reject(tx.error); tx.onabort = () => reject(tx.error); });
  try {
    // The entry in a transaction of its own, committed at once: a save made
    // as the page goes away (pagehide) has one request to finish, not a
    // cursor walk that needs the page's script to go on.
    const tx = db.transaction(cacheStore, 'readwrite');
    const store = tx.objectStore(cacheStore);
    if (bytes > maxBytes) {
      store.delete(key); // too big to keep: an older copy would mislead
    } else {
      /** @type {CacheEntry} */
      const entry = { key, db: name, columns: result.columns, rows: /** @type {api.SQLValue[][]} */ (result.rows), bytes, savedAt: now, usedAt: now };
      store.put(entry);
    }
    tx.commit?.();
    await done(tx);
    if (bytes > maxBytes) return;
    // Then the bounds: newest first, keep while within them, delete the rest.
    const evict = db.transaction(cacheStore, 'readwrite');
    let total = 0, count = 0;
    const cursors = evict.objectStore(cacheStore).index('usedAt').openCursor(null, 'prev');
    cursors.onsuccess = () => {
      const cursor = cursors.result;
      if (!cursor) return;
      const e = /** @type {CacheEntry} */ (cursor.value);
      total += e.bytes;
      count++;
      if (e.key !== key && (total > maxBytes || count > cacheMaxEntries)) cursor.delete();
      cursor.continue();
    };
    await done(evict);
  } catch {
    // Full or refused storage: the live result still counts.
  }
}

/**
 * Deletes the cached results of one database (all of them without a
 * name): at sign-out, or when the data must not outlive the session.
 * @type {typeof api.clearCachedResults}
 */
export async function clearCachedResults(name) {
  if (name === undefined) preloadedCache.clear();
  else preloadedCache.delete(name);
  const db = await openCacheDB();
  if (!db) return;
  const tx = db.transaction(cacheStore, 'readwrite');
  const store = tx.objectStore(cacheStore);
  if (name === undefined) store.clear();
  else {
    const keys = await settled(store.index('db').getAllKeys(name));
    for (const k of keys) store.delete(k);
  }
  await new Promise((resolve, reject) => { tx.oncomplete = resolve; tx.onerror = () => reject(tx.error); tx.onabort = () => reject(tx.error); });
}

/**
 * Saves a watched query's result as it changes: at most every
 * cacheWriteDelayMs, always its latest state.
 */
class CacheWriter {
  /**
   * @param {string} name
   * @param {string} sql
   * @param {api.Params | undefined} params
   * @param {{scope?: string, maxBytes?: number}} options
   */
  constructor(name, sql, params, options) {
    this.name = name;
    this.sql = sql;
    this.params = params;
    this.options = options;
    /** @type {((maxBytes: number) => SizedRows) | null} */
    this.latest = null;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.timer = null;
  }

  /** @param {(maxBytes: number) => SizedRows} result the result as arrays and its size, read when saved */
  save(result) {
    this.latest = result;
    if (this.timer === null) {
      this.timer = setTimeout(() => this.flush(), cacheWriteDelayMs);
      pendingCacheWriters.add(this);
    }
  }

  flush() {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    pendingCacheWriters.delete(this);
    const latest = this.latest;
    this.latest = null;
    if (latest) storeResult(this.name, this.sql, this.params, latest(this.options.maxBytes ?? cacheDefaultBytes), this.options);
  }
}

/**
 * The writers holding a result back for their delay. A page that reloads or
 * goes away within the delay of a change saves it then: otherwise the next
 * visit would paint the result before the change (a deleted row back for a
 * moment). pagehide covers a reload or navigation; visibilitychange to
 * hidden is the last event a mobile browser promises before it may discard
 * the page.
 * @type {Set<CacheWriter>}
 */
const pendingCacheWriters = new Set();
const flushCacheWriters = () => { for (const w of [...pendingCacheWriters]) w.flush(); };
if (typeof addEventListener === 'function') {
  addEventListener('pagehide', flushCacheWriters);
  if (typeof document !== 'undefined') {
    document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'hidden') flushCacheWriters(); });
  }
}
