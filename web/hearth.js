// Hearth client: a SQLite database in a Web Worker, driven from the page.
// Plain ESM, no dependencies. See hearth.d.ts for the typed API.
import { encode, decode, VERSION } from './protocol.js';

/** An error from Hearth, with a stable code (SQLITE_CONSTRAINT_UNIQUE, BAD_REQUEST, CLOSED, …). */
export class HearthError extends Error {
  constructor(code, message, index) {
    super(message);
    this.name = 'HearthError';
    this.code = code;
    if (index !== undefined) this.index = index;
  }
}

const defaultWorkerURL = new URL('./hearth-worker.js', import.meta.url);

/**
 * One Hearth worker and the requests in flight to it. Requests may be issued
 * concurrently; replies are matched by id.
 */
export class HearthWorker {
  constructor({ workerURL = defaultWorkerURL, wasmURL } = {}) {
    const url = new URL(workerURL, import.meta.url);
    if (wasmURL) url.searchParams.set('wasm', new URL(wasmURL, globalThis.location?.href).href);
    this.worker = new Worker(url, { type: 'module', name: 'hearth' });
    this.pending = new Map();
    this.subscriptions = new Map();
    this.nextID = 1;
    this.failure = null;
    /** Names of the databases this tab's worker owns (leads) now; see hearth-tabs.js. */
    this.leading = new Set();
    /** Called with a HearthError for replies that match no request (e.g. an undecodable message). */
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
    const tell = (online) => this.request('network', { online }).catch(() => {});
    globalThis.addEventListener('online', () => tell(true));
    globalThis.addEventListener('offline', () => tell(false));
    if (navigator.onLine === false) tell(false);
  }

  #receive(data) {
    if (!(data instanceof Uint8Array) && !(data instanceof ArrayBuffer)) {
      if (data && typeof data.hearthFatal === 'string') this.#fail(new HearthError('WORKER_FAILED', data.hearthFatal));
      if (data?.hearthLeader) {
        const { name, leading } = data.hearthLeader;
        if (leading) this.leading.add(name);
        else this.leading.delete(name);
      }
      return;
    }
    let reply;
    try {
      reply = decode(data);
    } catch (err) {
      this.onUnmatchedError(new HearthError('BAD_REPLY', `undecodable reply from the worker: ${err.message}`));
      return;
    }
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
    this.pending.delete(reply.id);
    if (reply.error) waiter.reject(new HearthError(reply.error.code, reply.error.message, reply.error.index));
    else waiter.resolve(reply.ok);
  }

  #fail(err) {
    this.failure = err;
    for (const waiter of this.pending.values()) waiter.reject(err);
    this.pending.clear();
  }

  /** Sends one request and resolves with its result; onProgress receives progress reports. */
  request(op, fields, onProgress) {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextID++;
    let msg;
    try {
      msg = encode({ v: VERSION, id, op, ...fields });
    } catch (err) {
      return Promise.reject(new HearthError('BAD_REQUEST', err.message));
    }
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress });
      // Transfer the buffer: the worker receives it without a copy.
      this.worker.postMessage(msg, [msg.buffer]);
    });
  }

  /** Stops the worker; requests in flight reject with CLOSED. */
  terminate() {
    this.worker.terminate();
    this.#fail(new HearthError('CLOSED', 'the Hearth worker was terminated'));
  }
}

let sharedWorker = null;

/**
 * Starts the shared worker now, so that loading and compiling the bundle
 * overlaps with the app's own start-up. open() uses the same worker.
 */
export function preload(options) {
  sharedWorker ??= new HearthWorker(options);
  return sharedWorker;
}

function rowsToObjects(columns, rows) {
  const out = new Array(rows.length);
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r];
    const obj = {};
    for (let c = 0; c < columns.length; c++) obj[columns[c]] = row[c];
    out[r] = obj;
  }
  return out;
}

function shapeResult(result, rowMode) {
  if (!result.columns) return result;
  return rowMode === 'array' ? result : { columns: result.columns, rows: rowsToObjects(result.columns, result.rows) };
}

function decodeRows(columns, rows, rowMode) {
  return rowMode === 'array' ? rows : rowsToObjects(columns, rows);
}

/**
 * The page-side copy of one live query: kept current by applying the deltas
 * the worker pushes (removed indices, then inserted rows, then changed rows).
 */
class LiveResult {
  constructor(result, rowMode) {
    this.rowMode = rowMode;
    this.columns = result.columns;
    this.keyed = result.keyed;
    this.rows = decodeRows(result.columns, result.rows, rowMode);
  }

  apply(push) {
    if (push.full) {
      this.columns = push.full.columns;
      this.keyed = push.full.keyed;
      this.rows = decodeRows(push.full.columns, push.full.rows, this.rowMode);
      return { kind: 'full' };
    }
    const d = push.delta;
    const rows = this.rows.slice();
    for (let i = d.removed.length - 1; i >= 0; i--) rows.splice(d.removed[i], 1);
    const one = (row) => (this.rowMode === 'array' ? row : rowsToObjects(this.columns, [row])[0]);
    for (const [at, row] of d.inserted) rows.splice(at, 0, one(row));
    for (const [at, row] of d.changed) rows[at] = one(row);
    this.rows = rows;
    return { kind: 'delta', removed: d.removed.length, inserted: d.inserted.length, changed: d.changed.length };
  }

  snapshot() {
    return { columns: this.columns, rows: this.rows };
  }
}

/** An open database. */
export class Database {
  constructor(worker, info) {
    this.worker = worker;
    this.handle = info.db;
    this.name = info.name;
    this.storage = info.storage;
    this.storageReason = info.reason;
    this.version = info.version;
    this.persistent = info.persistent;
    this.synced = info.sync === true;
  }

  /** Runs SQL that returns no rows (several statements allowed without params). */
  exec(sql, params) {
    return this.worker.request('exec', { db: this.handle, sql, params });
  }

  /** Runs one statement and returns {columns, rows}; rows are objects, or arrays with rowMode 'array'. */
  async query(sql, params, { rowMode = 'object' } = {}) {
    return shapeResult(await this.worker.request('query', { db: this.handle, sql, params }), rowMode);
  }

  /** Runs statements in one transaction, all or none. Rejects with error.index naming the failing statement. */
  async batch(statements, { rowMode = 'object' } = {}) {
    const list = statements.map((s) => (typeof s === 'string' ? { sql: s } : { sql: s.sql, params: s.params }));
    const { results } = await this.worker.request('batch', { db: this.handle, statements: list });
    return results.map((r) => shapeResult(r, rowMode));
  }

  /**
   * Watches a query: onResult gets {columns, rows} now and again after every
   * commit that changes the result (the worker sends only deltas). Resolves
   * to a function that ends the watch.
   */
  async watch(sql, params, onResult, { rowMode = 'object', onError } = {}) {
    const w = this.worker;
    let live = null;
    const early = [];
    const handler = (push) => {
      if (!live) { early.push(push); return; }
      if (push.error) {
        (onError ?? ((e) => console.warn('hearth watch:', e)))(new HearthError(push.error.code, push.error.message));
        return;
      }
      const change = live.apply(push);
      onResult(live.snapshot(), change);
    };
    const { sub, result } = await w.request('watch', { db: this.handle, sql, params });
    w.subscriptions.set(sub, handler);
    live = new LiveResult(result, rowMode);
    onResult(live.snapshot(), { kind: 'initial' });
    for (const push of early.splice(0)) handler(push);
    return async () => {
      w.subscriptions.delete(sub);
      await w.request('unwatch', { db: this.handle, sub });
    };
  }

  /** The async-iterator form of watch: yields {columns, rows} on every change. */
  async *live(sql, params, options) {
    const queue = [];
    let wake = null;
    const stop = await this.watch(sql, params, (result) => {
      queue.push(result);
      wake?.();
    }, options);
    try {
      for (;;) {
        while (queue.length) yield queue.shift();
        await new Promise((resolve) => { wake = resolve; });
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

  /** The sync status now (rejects with BAD_REQUEST when opened without sync). */
  syncStatus() {
    return this.worker.request('sync', { db: this.handle });
  }

  /**
   * Calls onStatus with the sync status now and on every change (pending
   * count, connection, errors, initial-sync progress). Resolves to a
   * function that ends the subscription.
   */
  async onSyncStatus(onStatus) {
    const w = this.worker;
    const early = [];
    let ready = false;
    const handler = (push) => {
      if (!ready) { early.push(push); return; }
      if (push.status) onStatus(push.status);
    };
    const { sub, status } = await w.request('watch', { db: this.handle, sync: true });
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
   */
  async retryQuarantined(quarantineId, rename) {
    return (await this.worker.request('retryQuarantined', { db: this.handle, quarantineId, rename })).seq;
  }

  /**
   * Gives sync a new bearer token (after sign-in or when the old one
   * expired: status state 'paused-auth', lastError.code AUTH_EXPIRED). Sync
   * resumes at once; nothing written meanwhile is lost.
   */
  async setSyncToken(token) {
    await this.worker.request('setSyncToken', { db: this.handle, token });
  }

  /** Drops a quarantined change for good. */
  async discardQuarantined(quarantineId) {
    await this.worker.request('discardQuarantined', { db: this.handle, quarantineId });
  }

  /** Deletes a flagged or refused journal entry the app has shown (by _hearth_journal.seq). */
  async dismissChange(seq) {
    await this.worker.request('dismissChange', { db: this.handle, seq });
  }

  /** Storage in use and why, queue depth and live-query statistics. */
  async info() {
    const info = await this.worker.request('info', { db: this.handle });
    return { name: this.name, version: this.version, persistent: this.persistent, ...info };
  }

  /** Closes the database; later calls reject with CLOSED. */
  close() {
    return this.worker.request('close', { db: this.handle });
  }
}

/**
 * The sync option as the worker takes it: a relative or http(s) URL is
 * resolved against the page and given the WebSocket scheme.
 */
export function syncOption(sync, base = globalThis.location?.href) {
  if (!sync) return undefined;
  const url = new URL(sync.url ?? '/sync', base);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  if (url.protocol === 'https:') url.protocol = 'wss:';
  return { url: url.href, tables: sync.tables, token: sync.token };
}

/**
 * Opens (creating if needed) a database by name, applying pending
 * migrations ([{version, sql}], in order, each in its own transaction).
 * With sync: {url, tables}, the listed tables replicate through a Hearth
 * sync server in the background.
 */
export async function open({ name, storage = 'auto', key, durability, migrations, sync, onProgress, worker } = {}) {
  const w = worker ?? preload();
  const info = await w.request('open', { name, storage, key, durability, migrations, sync: syncOption(sync) }, onProgress);
  return new Database(w, info);
}

/** Lists the databases stored on this origin: [{name, storage}]. */
export function listDatabases({ worker } = {}) {
  return (worker ?? preload()).request('databases', {});
}

/**
 * Deletes a database and every byte it stored, in OPFS and IndexedDB (for
 * account removal). It must not be open in this worker.
 */
export async function deleteDatabase(name, { worker } = {}) {
  await (worker ?? preload()).request('drop', { name });
}
