// Hearth worker entry as `make build` lays it out: Go's wasm_exec.js and the
// content-hashed wasm that dist/bundle.js names (served as immutable, so a
// repeat visit neither revalidates nor recompiles). The npm package ships
// hearth-worker.npm.js instead. hearth-worker-boot.js does the work.
import './dist/wasm_exec.js';
import { wasmFile } from './dist/bundle.js';
import { startWorker } from './hearth-worker-boot.js';

startWorker(new URL(`./dist/${wasmFile}`, import.meta.url));
