// Hearth worker entry as `make build` lays it out: Go's wasm_exec.js and the
// content-hashed wasm that dist/bundle.js names (served as immutable, so a
// repeat visit neither revalidates nor recompiles). The npm package ships
// hearth-worker.npm.js instead. hearth-worker-boot.js does the work.
//
// The wasm's request and its streaming compile start as soon as
// dist/bundle.js, which names it, has loaded; Go's loader and the
// bootstrap (with its own two levels of imports) load beside them. As
// static imports they came first: the request waited for four levels of
// module requests, one after another. Messages that arrive meanwhile
// wait, in order, for the bootstrap.
import { wasmFile } from './dist/bundle.js';
import { compileWasm, wasmURLFor } from './hearth-worker-wasm.js';

const wasmURL = wasmURLFor(new URL(`./dist/${wasmFile}`, import.meta.url));
const wasm = compileWasm(wasmURL);
wasm.compiled.catch(() => {}); // reported by the bootstrap (hearthFatal)
/** @type {unknown[]} */
const queued = [];
self.onmessage = (event) => { if (!wasm.fromPage(event.data)) queued.push(event.data); };
Promise.all([import('./dist/wasm_exec.js'), import('./hearth-worker-boot.js')]).then(
  ([, { startWorker }]) => startWorker(wasmURL, { wasm, queued }),
  // A plain object, not a binary reply, as hearth-worker-boot.js's fatal.
  (err) => self.postMessage({ hearthFatal: `loading the Hearth worker failed: ${err?.message ?? err}` }),
);
