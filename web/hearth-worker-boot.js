// The Hearth worker's start, shared by its two entry points: the repo's
// hearth-worker.js (the content-hashed wasm that `make build` names in
// dist/bundle.js) and the npm package's hearth-worker.npm.js (dist/hearth.wasm
// named literally, so that bundlers copy and hash it). The entry imports
// Go's wasm_exec.js first; this module hands every message to Go, queueing
// those that arrive while the module compiles.
import { hearthStorage } from './hearth-storage.js';
import { adoptingWebSocket } from './hearth-socket.js';
import { createTabRouter } from './hearth-tabs.js';
import { compileWasm, installSQLite } from './hearth-worker-wasm.js';
import { isHeadStartHint, workerHeadStart } from './hearth-head-start.js';

/**
 * Loads the wasm and runs Go (the entry resolves wasmURL with
 * hearth-worker-wasm.js). No top-level await: bundlers may emit the worker
 * as a classic (iife) script.
 * @param {URL} wasmURL
 * @param {{ wasm?: import('./hearth-worker-wasm.js').WasmSource, queued?: unknown[] }} [early]
 *   the wasm's download and compile (with the SQLite module it carries),
 *   if the entry has started them, and the messages for Go that arrived
 *   before this ran (oldest first)
 */
export function startWorker(wasmURL, { wasm = compileWasm(wasmURL), queued = [] } = {}) {
  // The storage glue Go awaits (sqlitevfs/browser).
  globalThis.hearthStorage = hearthStorage;
  // The sync server's socket, in a relay worker (syncworker/browserws);
  // Go's first dial takes the one the head start opened, if it did.
  globalThis.hearthWebSocket = adoptingWebSocket;
  // Go's fetch of a replica file (wasm/replica.go), which takes the head
  // start's, begun for the page's first open of a new database while the
  // wasm compiled (hearth-head-start.js).
  const replicas = workerHeadStart();
  /** @type {any} */ (globalThis).hearthFetchReplica = replicas.fetchReplica;

  /** @type {Uint8Array[]} messages for Go that arrived before it was ready */
  const pending = [];
  /** @type {((msg: Uint8Array) => void) | null} */
  let receive = null;
  const postToPage = self.postMessage.bind(self);

  function toGo(msg) {
    if (receive) receive(msg);
    else pending.push(msg);
  }

  // Requests for a database another tab's worker owns are forwarded there;
  // see hearth-tabs.js.
  const router = createTabRouter({
    toGo,
    toPage: (bytes) => postToPage(bytes, [bytes.buffer]),
    // Tests (the conformance kit's killLeaderTab) and apps want to know
    // which tab owns a database; only the worker knows, so it says so. A
    // plain object like hearthFatal: clients skip what is not binary.
    onLeadership: (name, leading) => postToPage({ hearthLeader: { name, leading } }),
  });

  /** @param {unknown} data a message from the page for Go */
  const fromPage = (data) => {
    // A head start message is the bootstrap's alone, and still of use
    // once Go runs: the open it announces may come much later.
    if (isHeadStartHint(data)) {
      replicas.peek(data);
      return;
    }
    if (!receive) replicas.peek(data);
    router.fromPage(data);
  };
  for (const data of queued.splice(0)) fromPage(data);
  self.onmessage = (event) => { if (!wasm.fromPage(event.data)) fromPage(event.data); };

  // Go posts its replies with postMessage: route them (most go to the page).
  globalThis.postMessage = (msg) => router.fromGo(msg);

  // Called by Go's main with the function that takes each message.
  globalThis.__hearthReady = (fn) => {
    receive = fn;
    for (const msg of pending.splice(0)) fn(msg);
  };

  function fatal(message) {
    // A plain object, not a binary reply: the page tells them apart by type.
    postToPage({ hearthFatal: String(message) });
  }

  const go = new globalThis.Go();
  // Streaming compile starts while the bytes arrive; with a cacheable
  // response Chromium also reuses its compiled-code cache on the next start.
  // The page keeps the module for its next worker (compileWasm); a page
  // that does not (the Go client's) drops the notice.
  // SQLite, a module of its own carried in Go's (compileWasm), goes to the
  // page with it; Go instantiates SQLite once per connection (installSQLite).
  Promise.all([wasm.compiled, wasm.sqlite]).then(async ([module, sqliteModule]) => {
    try {
      if (!wasm.adopted) postToPage({ hearthModule: module, hearthSQLite: sqliteModule });
    } catch {
      // An engine that cannot send a module: the page's next worker compiles its own.
    }
    const withGo = sqliteModule ? installSQLite(go, sqliteModule) : null;
    const instance = await WebAssembly.instantiate(module, go.importObject);
    withGo?.(instance);
    return instance;
  }).then(
    (instance) => go.run(instance).then(
      () => fatal('the Hearth worker exited'),
      (err) => fatal(`the Hearth worker crashed: ${err?.message ?? err}`),
    ),
    (err) => fatal(`loading ${wasmURL} failed: ${err?.message ?? err}`),
  );
}
