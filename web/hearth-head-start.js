// The head start of the page's first open of a new synced database (one
// the origin does not store), in the worker: its replica file (PROTOCOL.md,
// "Replica files") and its sync connection. Go can ask for the file and
// dial the sync server only once its wasm has downloaded, compiled and
// started: on a first visit the server's build of the file, its download
// and the connection's handshakes all came after that. So the worker's
// bootstrap starts both as soon as the page's first open request reaches
// it, before Go runs, and Go takes them instead of starting its own: the
// file through fetchReplica (a response already coming), the socket
// through hearth-socket.js's adoptingWebSocket (a connection already
// open). The file's body stays in this thread, read only by Go, as Go's
// own fetch's would. A database the origin stores gets neither: its open
// is quick and Go's own dial as soon, and on the board's reload an early
// socket (a relay worker starting beside the page's own start) made the
// tasks paint later.
//
// An app whose open comes late (its framework boots first, or Go in a
// wasm of its own sends it, as the task board's does) can start the same
// head start sooner: HearthWorker#headStart posts the message HINT names
// ({hearthHeadStart: {name, storage, sync}}, the open's own options) as
// soon as the worker exists. The first hint or open decides; a hint never
// reaches Go, and a later open of another database or layout leaves the
// file untaken (dropped after keepMs).
//
// What Go alone knows is left to Go: the request names no schema (the
// server then builds with its own and names it in Hearth-Replica-Schema),
// and Go's fetch takes the response only if that is its own fingerprint
// and the endpoint and layout are the ones it asks for; anything else is
// fetched as without a head start. e2e/head-start.test.mjs fails when the
// layouts or the endpoint here drift from Go's (the head start would go
// unused).
import { decode, peekHead } from './protocol.js';
import { hearthStorage } from './hearth-storage.js';
import { preopen as preopenSocket } from './hearth-socket.js';

/** The response header naming the schema the file was built with. */
const SCHEMA_HEADER = 'Hearth-Replica-Schema';
/** The sync connection's subprotocol (syncworker/wire Subprotocol). */
const SUBPROTOCOL = 'hearth-sync.v1';

/**
 * The key of the page's head start message. hearth.js's
 * HearthWorker#headStart and the board's boot.js spell it out: neither
 * imports this worker module.
 */
const HINT = 'hearthHeadStart';

/**
 * Whether a message from the page is a head start message: the worker
 * keeps it from Go (it is not a request).
 * @param {unknown} data
 */
export function isHeadStartHint(data) {
  return data !== null && typeof data === 'object' && !(data instanceof Uint8Array) && HINT in data;
}

/**
 * A database's open as far as the head start needs it.
 * @typedef {{ name: string, storage: string, sync: {url: string, token?: unknown, replica?: boolean | string} }} HeadStartTarget
 */

/**
 * The target of a head start message, or null when it is malformed.
 * @param {unknown} data
 * @returns {HeadStartTarget | null}
 */
function hintTarget(data) {
  const hint = /** @type {Record<string, any>} */ (data)[HINT];
  if (!hint || typeof hint !== 'object' || typeof hint.name !== 'string') return null;
  const sync = hint.sync;
  if (!sync || typeof sync !== 'object' || typeof sync.url !== 'string') return null;
  return { name: hint.name, storage: typeof hint.storage === 'string' ? hint.storage : 'auto', sync };
}

/**
 * The target of the page's open request, or null when it takes no head
 * start: unsynced, encrypted (its file is not built for it), or without
 * a schema (migrations).
 * @param {Uint8Array} data an open request
 * @returns {HeadStartTarget | null}
 */
function openTarget(data) {
  let req;
  try {
    req = /** @type {Record<string, any>} */ (decode(data));
  } catch {
    return null; // Go answers it with the error
  }
  const sync = req.sync;
  if (!sync || typeof sync.url !== 'string' || req.key != null || !Array.isArray(req.migrations) || req.migrations.length === 0) return null;
  if (typeof req.name !== 'string') return null;
  return { name: req.name, storage: req.storage ?? 'auto', sync };
}

/**
 * A new database's page size and auto-vacuum mode on each storage, as Go
 * lays it out (wasm/storage.go, NewLayout): the request must name them.
 */
const NEW_LAYOUTS = {
  opfs: { pageSize: 4096, autoVacuum: 2 },
  idb: { pageSize: 8192, autoVacuum: 0 },
};

/**
 * The identity of a replica request without its schema: the endpoint and
 * the layout, query parameters sorted.
 * @param {string} url
 */
export function headStartKey(url) {
  const u = new URL(url);
  u.searchParams.delete('schema');
  u.searchParams.sort();
  return u.href;
}

/**
 * The replica endpoint Go asks (wasm/engine replicaURL): sync.replica
 * when it names one, else the sync URL's …/sync made …/v1/replica over
 * HTTP; null when there is none.
 * @param {{url: string, replica?: boolean | string}} sync the open request's sync option (hearth.js syncOption)
 */
export function replicaEndpoint(sync) {
  if (sync.replica === false) return null;
  try {
    const u = new URL(typeof sync.replica === 'string' ? sync.replica : sync.url);
    if (typeof sync.replica !== 'string') {
      if (!u.pathname.endsWith('/sync')) return null;
      u.protocol = u.protocol === 'wss:' ? 'https:' : u.protocol === 'ws:' ? 'http:' : u.protocol;
      u.pathname = `${u.pathname.slice(0, -'/sync'.length)}/v1/replica`;
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
    u.search = '';
    u.hash = '';
    return u.href;
  } catch {
    return null;
  }
}

/**
 * @typedef {{
 *   probeOPFS: () => Promise<string>,
 *   opfsDatabases: () => Promise<string[]>,
 *   idbDatabases: () => Promise<string[]>,
 * }} StorageLists the part of hearth-storage.js's hearthStorage this needs
 */

/**
 * Which storage Go will create the database in, as wasm/storage.go
 * resolves it, or null when the database exists (or cannot be told not
 * to) or the storage takes no replica file.
 * @param {StorageLists} storage
 * @param {string} name
 * @param {string} choice the open's storage option
 * @returns {Promise<'opfs' | 'idb' | null>}
 */
async function newDatabaseStorage(storage, name, choice) {
  if (choice !== 'auto' && choice !== 'opfs' && choice !== 'idb') return null;
  try {
    // At once: on a new profile each backend's first call is slow.
    const [inOPFS, inIDB, opfsWhyNot] = await Promise.all([storage.opfsDatabases(), storage.idbDatabases(), choice === 'auto' ? storage.probeOPFS() : '']);
    if (inOPFS.includes(name) || inIDB.includes(name)) return null;
    if (choice !== 'auto') return choice;
    return opfsWhyNot === '' ? 'opfs' : 'idb';
  } catch {
    return null;
  }
}

/**
 * The sync URL Go dials (syncworker/client dialServer): the open's, with
 * its token, if any, as the token query parameter.
 * @param {{url: string, token?: unknown}} sync
 */
export function syncSocketURL(sync) {
  const u = new URL(sync.url);
  if (typeof sync.token === 'string' && sync.token !== '') u.searchParams.set('token', sync.token);
  return u.href;
}

/**
 * The worker's head start: peek() looks at each message from the page
 * until Go runs; if the first open is of a synced database stored
 * nowhere yet, it asks for its replica file and opens its sync
 * connection (while the worker is online). fetchReplica is Go's fetch of a
 * replica file (globalThis.hearthFetchReplica, wasm/replica.go), which
 * takes the file when it is what Go asks for; a file nobody takes is
 * dropped after keepMs (the socket, by preopen's own bound).
 * @param {{
 *   storage: StorageLists,
 *   fetch?: typeof globalThis.fetch,
 *   preopen?: (url: string, protocols: string[]) => void,
 *   keepMs?: number,
 * }} options
 */
export function createHeadStart({ storage, fetch = globalThis.fetch, preopen = preopenSocket, keepMs = 30000 }) {
  let tried = false;
  /**
   * The head start, once decided (null: none); Go's fetch waits for the
   * decision (a few storage calls) rather than ask beside it.
   * @type {Promise<{ key: string, answer: Promise<Response | null>, taken: boolean } | null>}
   */
  let started = Promise.resolve(null);

  /**
   * @param {HeadStartTarget} req the page's first open, or its head start message
   * @returns {Promise<{ key: string, answer: Promise<Response | null>, taken: boolean } | null>}
   */
  async function start(req) {
    const sync = req.sync;
    const endpoint = replicaEndpoint(sync);
    if (!endpoint) return null;
    // A request for every open would build files nobody takes: only the
    // first, and only for a database stored nowhere yet.
    const kind = await newDatabaseStorage(storage, req.name, req.storage);
    if (!kind) return null;
    const u = new URL(endpoint);
    u.searchParams.set('page_size', String(NEW_LAYOUTS[kind].pageSize));
    u.searchParams.set('auto_vacuum', String(NEW_LAYOUTS[kind].autoVacuum));
    /** @type {Record<string, string>} */
    const headers = {};
    if (typeof sync.token === 'string' && sync.token !== '') headers.Authorization = `Bearer ${sync.token}`;
    const answer = fetch(u.href, { headers, cache: 'no-store' }).catch(() => null);
    // Go dials as the open begins, if online (wasm/engine preconnect).
    if (globalThis.navigator?.onLine !== false) {
      try {
        preopen(syncSocketURL(sync), [SUBPROTOCOL]);
      } catch {
        // A bad URL: Go's dial reports it.
      }
    }
    const entry = { key: headStartKey(u.href), answer, taken: false };
    // Unref'd where timers can be (Node), so that it holds nothing up.
    /** @type {any} */ (setTimeout(() => {
      if (entry.taken) return;
      entry.taken = true;
      answer.then((r) => r?.body?.cancel().catch(() => {}));
    }, keepMs))?.unref?.();
    return entry;
  }

  return {
    /**
     * Looks at a message from the page: a request (it goes on to Go as it
     * is) or a head start message.
     * @param {unknown} data
     */
    peek(data) {
      if (tried) return;
      let target;
      if (data instanceof Uint8Array) {
        if (peekHead(data).op !== 'open') return;
        tried = true;
        target = openTarget(data);
      } else if (isHeadStartHint(data)) {
        // A malformed message leaves the head start to the first open.
        target = hintTarget(data);
        if (!target) return;
        tried = true;
      }
      if (target) started = start(target).catch(() => null);
    },
    /**
     * fetch(url, init) for a replica file: the head start's response when
     * it asked for the same endpoint and layout and the server built the
     * file with the schema url names; else the network's. The response
     * taken from a head start has hearthHeadStart set.
     * @param {string} url
     * @param {RequestInit} init
     * @returns {Promise<Response>}
     */
    async fetchReplica(url, init) {
      const entry = await started;
      if (entry && !entry.taken && entry.key !== headStartKey(url)) {
        // Go asks for another file: this one would go unread.
        entry.taken = true;
        entry.answer.then((r) => r?.body?.cancel().catch(() => {}));
      }
      if (entry && !entry.taken) {
        entry.taken = true;
        const signal = init?.signal;
        const aborted = new Promise((_, reject) => {
          if (signal?.aborted) reject(signal.reason);
          signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
        });
        /** @type {Response | null} */
        let resp = null;
        try {
          resp = /** @type {Response | null} */ (await Promise.race([entry.answer, aborted]));
          if (signal?.aborted) throw signal.reason;
        } catch (err) {
          entry.answer.then((r) => r?.body?.cancel().catch(() => {}));
          throw err;
        }
        if (resp?.status === 200 && resp.headers.get(SCHEMA_HEADER) === new URL(url).searchParams.get('schema')) {
          signal?.addEventListener('abort', () => resp.body?.cancel().catch(() => {}), { once: true });
          /** @type {any} */ (resp).hearthHeadStart = true;
          return resp;
        }
        resp?.body?.cancel().catch(() => {});
      }
      return fetch(url, init);
    },
  };
}

/** @type {ReturnType<typeof createHeadStart> | undefined} */
let shared;

/**
 * The worker's one head start, on its storage: the entry peeks at the
 * page's messages with it as soon as this module has loaded, the
 * bootstrap until Go runs, and Go fetches through it.
 */
export function workerHeadStart() {
  shared ??= createHeadStart({ storage: hearthStorage });
  return shared;
}
