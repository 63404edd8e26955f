// A first visit's head start on its replica file (PROTOCOL.md, "Replica
// files"). A new synced database begins as a file the server builds, but
// the worker can ask for it only once Go runs: on a first visit that is
// after the bundle's download and compile, and the server's build then
// comes on top. So the page asks first, when open() is called on an
// origin that stores nothing yet (no database can exist), and hands the
// response to the worker, whose fetch for the same file takes it instead
// of asking again. What the page cannot know it leaves to the worker:
// the request names no schema (the server answers with its own and says
// which), and the worker takes the response only if that schema, the
// endpoint and the layout are what Go would have asked for; anything else
// is fetched as without a head start. Both halves are here, so that the
// page's notices and the worker's reading of them stay one protocol.

/** The plain-object notice's key (the worker's other notices: hearthModule…). */
const NOTICE = 'hearthHeadStart';
/** The response header naming the schema the file was built with. */
const SCHEMA_HEADER = 'Hearth-Replica-Schema';

/**
 * A new database's page size and auto-vacuum mode on each storage, as the
 * worker lays it out (wasm/storage.go, NewLayout): the request must name
 * them. e2e/head-start.test.mjs fails when they differ from the worker's
 * (the head start would go unused).
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
 * The replica endpoint the worker asks (wasm/engine replicaURL): sync.replica
 * when it names one, else the sync URL's …/sync made …/v1/replica over
 * HTTP; null when there is none.
 * @param {{url: string, replica?: boolean | string}} sync the worker's sync option (syncOption)
 */
export function replicaEndpoint(sync) {
  if (sync.replica === false) return null;
  if (typeof sync.replica === 'string') return sync.replica;
  const u = new URL(sync.url);
  if (!u.pathname.endsWith('/sync')) return null;
  u.protocol = u.protocol === 'wss:' ? 'https:' : u.protocol === 'ws:' ? 'http:' : u.protocol;
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
  u.pathname = `${u.pathname.slice(0, -'/sync'.length)}/v1/replica`;
  u.search = '';
  u.hash = '';
  return u.href;
}

/**
 * Whether this origin stores no database at all, in IndexedDB or OPFS:
 * then the database about to be opened is new. False when either cannot
 * be checked.
 */
async function originStoresNothing() {
  try {
    if (typeof indexedDB?.databases !== 'function') return false;
    if ((await indexedDB.databases()).length > 0) return false;
    if (typeof navigator.storage?.getDirectory === 'function') {
      const root = await navigator.storage.getDirectory();
      // eslint-disable-next-line no-unreachable-loop
      for await (const _ of /** @type {any} */ (root).keys()) return false;
    }
    return true;
  } catch {
    return false;
  }
}

let tried = false;

/**
 * Starts a head start for the page's first open(), if it may need one:
 * sync with a replica endpoint, on OPFS or IndexedDB, not encrypted, with
 * migrations, a worker still compiling (one that runs already asks as
 * soon), and an origin that stores nothing. Resolves once the worker has
 * been told (before the open request is posted, so that the worker's
 * fetch finds the notice), or at once when there is no head start.
 * @param {{
 *   post: (message: unknown, transfer?: Transferable[]) => void,
 *   workerRunning: boolean,
 *   storage: string, key: unknown, migrations: unknown[] | undefined,
 *   sync: {url: string, replica?: boolean | string, token?: string} | undefined,
 *   fetch?: typeof globalThis.fetch,
 * }} options
 */
export async function startHeadStart({ post, workerRunning, storage, key, migrations, sync, fetch = globalThis.fetch }) {
  if (tried) return;
  tried = true;
  if (!sync || workerRunning || key !== undefined || !migrations?.length) return;
  const kind = storage === 'auto' ? (typeof navigator.storage?.getDirectory === 'function' ? 'opfs' : 'idb') : storage;
  const layout = NEW_LAYOUTS[/** @type {'opfs' | 'idb'} */ (kind)];
  const endpoint = replicaEndpoint(sync);
  if (!layout || !endpoint || !(await originStoresNothing())) return;
  const u = new URL(endpoint);
  u.searchParams.set('page_size', String(layout.pageSize));
  u.searchParams.set('auto_vacuum', String(layout.autoVacuum));
  const id = headStartKey(u.href);
  post({ [NOTICE]: { key: id } });
  /** @type {Record<string, string>} */
  const headers = {};
  if (sync.token) headers.Authorization = `Bearer ${sync.token}`;
  fetch(u.href, { headers, cache: 'no-store' }).then(async (resp) => {
    if (resp.status !== 200 || !resp.body) {
      resp.body?.cancel().catch(() => {});
      post({ [NOTICE]: { key: id, failed: `HTTP ${resp.status}` } });
      return;
    }
    const answer = { key: id, headers: [...resp.headers] };
    try {
      // The body as it streams in, where streams can be transferred
      // (the worker then reports the download's progress)…
      post({ [NOTICE]: { ...answer, body: resp.body } }, [/** @type {any} */ (resp.body)]);
    } catch {
      // …else whole.
      const body = await resp.arrayBuffer();
      post({ [NOTICE]: { ...answer, body } }, [body]);
    }
  }).catch((err) => post({ [NOTICE]: { key: id, failed: String(err?.message ?? err) } }));
}

/**
 * The worker's half: keeps the page's head starts and answers the
 * worker's replica fetches (globalThis.hearthFetchReplica, called by Go's
 * fetchReplica) with them when they are what was asked for. A head start
 * nobody takes is dropped after keepMs.
 * @param {{fetch?: typeof globalThis.fetch, keepMs?: number}} [options]
 */
export function headStarts({ fetch = globalThis.fetch, keepMs = 120000 } = {}) {
  /**
   * Head starts by key, from the page's first notice until the page's
   * answer has been taken (or dropped).
   * @type {Map<string, {answer: Promise<Response | null>, settle: (r: Response | null) => void, taken: boolean}>}
   */
  const headStarts = new Map();
  return {
    /**
     * Takes a head-start notice; true when data was one (it is not for Go).
     * @param {unknown} data
     */
    fromPage(data) {
      const notice = /** @type {Record<string, any> | null} */ (data)?.[NOTICE];
      if (typeof notice?.key !== 'string') return false;
      let entry = headStarts.get(notice.key);
      if (!entry) {
        /** @type {(r: Response | null) => void} */
        let settle = () => {};
        const answer = new Promise((resolve) => { settle = resolve; });
        const made = { answer, settle, taken: false };
        entry = made;
        headStarts.set(notice.key, made);
        // Unref'd where timers can be (Node), so that it holds nothing up.
        /** @type {any} */ (setTimeout(() => {
          if (made.taken || headStarts.get(notice.key) !== made) return;
          headStarts.delete(notice.key);
          answer.then((r) => r?.body?.cancel().catch(() => {}));
          settle(null);
        }, keepMs))?.unref?.();
      }
      if (notice.body instanceof ReadableStream || notice.body instanceof ArrayBuffer) {
        const resp = new Response(notice.body, { status: 200, headers: notice.headers });
        /** @type {any} */ (resp).hearthHeadStart = true;
        entry.settle(resp);
      } else if ('failed' in notice) {
        entry.settle(null);
      }
      return true;
    },
    /**
     * fetch(url, init) for a replica file: the page's response when it
     * began the same request (same endpoint and layout) and the server
     * built it with the schema url names; else the network's.
     * @param {string} url
     * @param {RequestInit} init
     * @returns {Promise<Response>}
     */
    async fetchReplica(url, init) {
      const id = headStartKey(url);
      const entry = headStarts.get(id);
      if (entry && !entry.taken) {
        entry.taken = true;
        const signal = init?.signal;
        const aborted = new Promise((_, reject) => {
          if (signal?.aborted) reject(signal.reason);
          signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
        });
        try {
          const resp = await Promise.race([entry.answer, aborted]);
          if (resp && resp.headers.get(SCHEMA_HEADER) === new URL(url).searchParams.get('schema')) return resp;
          resp?.body?.cancel().catch(() => {});
        } finally {
          headStarts.delete(id);
        }
      }
      return fetch(url, init);
    },
  };
}
