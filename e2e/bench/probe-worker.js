// Hearth's real worker bootstrap, instrumented for the benchmark: the hooks
// module is evaluated first (ES modules evaluate their imports in order), so
// it sees wasm_exec.js define Go and the bootstrap fetch and run the bundle.
import './probe-hooks.js';
import '../hearth-worker.js';
