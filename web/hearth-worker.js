// Hearth worker entry as `make build` lays it out: Go's wasm_exec.js and the
// content-hashed wasm that dist/bundle.js names (served as immutable, so a
// repeat visit neither revalidates nor recompiles). The npm package ships
// hearth-worker.npm.js instead. hearth-worker-boot.js does the work.
//
// Every module the worker runs is asked for at once, as this entry runs:
// a module's static imports are only fetched once it has arrived, so the
// bootstrap's own imports (and theirs) came one level after another, and
// on a first visit the worker waited for the fifth level before it could
// start Go. Asking for them here puts them all in one level; the module
// map fetches each once, so static imports find them loading or loaded.
// Keep the modules asked for here closed under their static imports
// (web/worker-modules.test.mjs checks it): one left out is still loaded,
// a level later. First come those the wasm's request waits for
// (dist/bundle.js names the wasm) and the head start's
// (hearth-head-start.js and its imports: it looks at the page's first
// open as soon as it has loaded); over HTTP/1.1 the browser opens at most
// six connections to a server, so the order counts. Messages that arrive
// meanwhile wait, in order, for the bootstrap.
const WORKER_MODULES = ['./dist/wasm_exec.js', './hearth-worker-boot.js', './hearth-tabs.js'];

/** @type {unknown[]} messages from the page before the wasm's source exists */
const early = [];
/** @type {unknown[]} messages for the bootstrap */
const queued = [];
/** @type {((data: unknown) => boolean) | null} */
let fromPage = null;
/** @type {((data: unknown) => void) | null} the head start's look at a message for Go */
let peek = null;
self.onmessage = (event) => {
  peek?.(event.data);
  if (!fromPage) early.push(event.data);
  else if (!fromPage(event.data)) queued.push(event.data);
};

const fatal = (err) => self.postMessage({ hearthFatal: `loading the Hearth worker failed: ${err?.message ?? err}` });
const source = Promise.all([import('./dist/bundle.js'), import('./hearth-worker-wasm.js')]);
const headStart = Promise.all([import('./protocol.js'), import('./hearth-storage.js'), import('./hearth-socket.js'), import('./hearth-head-start.js')]);
const rest = Promise.all(WORKER_MODULES.map((m) => import(m)));
rest.catch(() => {}); // reported below, with the wasm's source
headStart.then(([, , , { workerHeadStart }]) => {
  const replicas = workerHeadStart();
  peek = (data) => replicas.peek(data);
  for (const data of [...early, ...queued]) peek(data);
}, () => {}); // the bootstrap imports it too, and reports it
source.then(([{ wasmFile }, { compileWasm, wasmURLFor }]) => {
  const wasmURL = wasmURLFor(new URL(`./dist/${wasmFile}`, import.meta.url));
  const wasm = compileWasm(wasmURL);
  wasm.compiled.catch(() => {}); // reported by the bootstrap (hearthFatal)
  fromPage = (data) => wasm.fromPage(data);
  for (const data of early.splice(0)) if (!wasm.fromPage(data)) queued.push(data);
  return rest.then(([, { startWorker }]) => startWorker(wasmURL, { wasm, queued }));
}).catch(
  // A plain object, not a binary reply, as hearth-worker-boot.js's fatal.
  fatal,
);
