// Hearth worker entry in the npm package (shipped as hearth-worker.js, the
// package's "./worker" export). The wasm is named literally beside
// import.meta.url, the form Vite, webpack 5 and Parcel recognize: they copy
// dist/hearth.wasm into the app's build and give it a content hash. An app
// without such a bundler serves the package's files as they are, or passes
// the wasmURL option. hearth-worker-boot.js does the work.
import './dist/wasm_exec.js';
import { startWorker } from './hearth-worker-boot.js';
import { wasmURLFor } from './hearth-worker-wasm.js';

startWorker(wasmURLFor(new URL('./dist/hearth.wasm', import.meta.url)));
