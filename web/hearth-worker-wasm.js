// Which wasm the Hearth worker runs and how it gets its compiled module,
// for both of its entry points (hearth-worker.js, hearth-worker.npm.js).
// The repo's entry starts this before the bootstrap has loaded, so it
// lives here, beside neither.

/**
 * The worker URL's `wasm` query parameter (the page's wasmURL option) or
 * the entry's own default.
 * @param {URL} defaultURL the wasm the entry names
 * @returns {URL}
 */
export function wasmURLFor(defaultURL) {
  const override = new URL(self.location.href).searchParams.get('wasm');
  return override ? new URL(override, self.location.href) : defaultURL;
}

/**
 * Starts the wasm's download and streaming compile, and takes the page's
 * compiled module instead if the page's first message brings one
 * ({hearthModule}: hearth.js keeps the module of the first worker it
 * started, and hands it to the next one of the same URL). A module posted
 * to a worker shares its compiled code: the worker neither downloads nor
 * compiles, and the functions the first worker compiled on their first
 * call are compiled already. The first message comes right after the
 * entry has run, so the download it stops has barely begun.
 *
 * SQLite is a module of its own (docs/sqlite-module.md), carried inside
 * the worker's wasm as its custom section "hearth.sqlite", so that an app
 * loads one wasm file: it is compiled from there once Go's module has
 * compiled, or taken from the page ({hearthSQLite}) with Go's.
 * @param {URL} wasmURL
 */
export function compileWasm(wasmURL) {
  const download = new AbortController();
  /** @type {(modules: {go: WebAssembly.Module, sqlite: WebAssembly.Module | null}) => void} */
  let adopt = () => {};
  /** @type {Promise<{go: WebAssembly.Module, sqlite: WebAssembly.Module | null}>} */
  const given = new Promise((resolve) => { adopt = resolve; });
  const streamed = WebAssembly.compileStreaming(fetch(wasmURL, { signal: download.signal })).then((go) => ({ go, sqlite: null }));
  streamed.catch(() => {}); // the race below reports what counts
  const modules = Promise.race([given, streamed]).then(async ({ go, sqlite }) => {
    if (sqlite) return { go, sqlite };
    const [bytes] = WebAssembly.Module.customSections(go, 'hearth.sqlite');
    return { go, sqlite: bytes ? await WebAssembly.compile(bytes) : null };
  });
  let first = true;
  return {
    /** The module, given or compiled. */
    compiled: modules.then((m) => m.go),
    /** The SQLite module, given or compiled; null for a worker without one. */
    sqlite: modules.then((m) => m.sqlite),
    /** Whether the modules came from the page. */
    adopted: false,
    /**
     * Takes the page's modules from its first message; true when data was
     * such a message (it is not for Go).
     * @param {unknown} data
     */
    fromPage(data) {
      const isFirst = first;
      first = false;
      const notice = /** @type {{hearthModule?: unknown, hearthSQLite?: unknown} | null} */ (data);
      const module = notice?.hearthModule;
      if (!(module instanceof WebAssembly.Module)) return false;
      if (isFirst) {
        this.adopted = true;
        const sqlite = notice?.hearthSQLite instanceof WebAssembly.Module ? notice.hearthSQLite : null;
        adopt({ go: module, sqlite });
        download.abort();
      }
      return true;
    },
  };
}

/** @typedef {ReturnType<typeof compileWasm>} WasmSource */

/**
 * The SQLite module's memory needs, from its dylink.0 section
 * (WASM_DYLINK_MEM_INFO): it is a position-independent side module, placed
 * at an address Go chooses.
 * @param {WebAssembly.Module} module
 */
function dylinkInfo(module) {
  const [section] = WebAssembly.Module.customSections(module, 'dylink.0');
  if (!section) throw new Error('the SQLite module has no dylink.0 section');
  const bytes = new Uint8Array(section);
  let i = 0;
  const leb = () => {
    let value = 0;
    let shift = 0;
    let b;
    do {
      b = bytes[i++];
      value |= (b & 0x7f) << shift;
      shift += 7;
    } while (b & 0x80);
    return value >>> 0;
  };
  while (i < bytes.length) {
    const type = bytes[i++];
    const end = leb() + i;
    if (type === 1) return { memSize: leb(), memAlign: leb(), tableSize: leb(), tableAlign: leb() };
    i = end;
  }
  throw new Error('the SQLite module has no WASM_DYLINK_MEM_INFO');
}

/**
 * Prepares a Go instance to run SQLite as its own module: Go's
 * //go:wasmimport "sqlite" functions (internal/sqlite3wasm) take the
 * instance's id first and are forwarded here to that connection's SQLite
 * instance, and globalThis.hearthSQLite is what Go's X_initialize calls to
 * instantiate one, synchronously, on Go's own memory, at the addresses Go
 * allocated for it. SQLite calls Go back through Go's //go:wasmexport
 * functions, given to it as its imports without JS in between. Call before
 * instantiating Go (it adds go.importObject.sqlite); the returned function
 * takes Go's instance once it exists.
 * @param {{ importObject: Record<string, any> }} go
 * @param {WebAssembly.Module} module the SQLite module
 * @returns {(goInstance: WebAssembly.Instance) => void}
 */
export function installSQLite(go, module) {
  const info = dylinkInfo(module);
  const imports = WebAssembly.Module.imports(module);
  const gotFuncs = imports.filter((i) => i.module === 'GOT.func');
  const envFuncs = imports.filter((i) => i.module === 'env' && i.kind === 'function');
  /** @type {(WebAssembly.Exports | null)[]} live instances' exports, by id */
  const instances = [];
  /** @type {number[]} ids of released instances, for reuse */
  const free = [];
  // One forwarder per imported name; no SQLite function takes more than
  // ten arguments after the id (sqlite3_create_window_function: ten).
  go.importObject.sqlite = new Proxy({}, {
    get: (_, name) => (/** @type {number} */ id, a, b, c, d, e, f, g, h, i, j) =>
      /** @type {any} */ (instances[id])[name](a, b, c, d, e, f, g, h, i, j),
  });
  /** @type {WebAssembly.Exports | null} */
  let goExports = null;
  const global = (/** @type {number} */ value, /** @type {boolean} */ mutable) =>
    new WebAssembly.Global({ value: 'i32', mutable }, value);
  /** @type {any} */ (globalThis).hearthSQLite = {
    info: () => info,
    /**
     * Instantiates SQLite with its data at memoryBase, its C stack below
     * stackTop and its first heap pool in [heapBase, heapEnd), all in Go's
     * memory; returns the instance's id.
     * @param {number} memoryBase @param {number} stackTop @param {number} heapBase @param {number} heapEnd
     */
    load(memoryBase, stackTop, heapBase, heapEnd) {
      if (!goExports) throw new Error('SQLite loaded before Go was instantiated');
      const exports = goExports;
      // Each instance has its own table: the functions SQLite takes the
      // address of (its own, then Go's callbacks, GOT.func) are slots in it.
      const table = new WebAssembly.Table({ initial: info.tableSize + gotFuncs.length, element: 'anyfunc' });
      /** @type {Record<string, Record<string, any>>} */
      const imp = {
        env: {
          memory: exports.mem,
          __indirect_function_table: table,
          __stack_pointer: global(stackTop, true),
          __memory_base: global(memoryBase, false),
          __table_base: global(0, false),
        },
        'GOT.mem': { __heap_base: global(heapBase, true), __heap_end: global(heapEnd, true) },
        'GOT.func': {},
      };
      let slot = info.tableSize;
      for (const { name } of gotFuncs) {
        table.set(slot, /** @type {any} */ (exports[name]));
        imp['GOT.func'][name] = global(slot++, true);
      }
      for (const { name } of envFuncs) imp.env[name] = exports[name];
      const instance = new WebAssembly.Instance(module, imp);
      /** @type {any} */ (instance.exports).__wasm_apply_data_relocs();
      const id = free.length ? /** @type {number} */ (free.pop()) : instances.length;
      instances[id] = instance.exports;
      return id;
    },
    /** Drops a closed connection's instance (Go frees its memory). @param {number} id */
    release(id) {
      instances[id] = null;
      free.push(id);
    },
  };
  return (goInstance) => {
    const exports = goInstance.exports;
    // A worker built without the replacement package (a translated
    // SQLite) exports none of SQLite's callbacks: say so now, not at the
    // first query.
    const missing = [...gotFuncs, ...envFuncs].map((i) => i.name).filter((n) => typeof exports[n] !== 'function');
    if (missing.length) {
      throw new Error(`the worker's wasm does not export what the SQLite module imports (${missing.slice(0, 5).join(', ')}…): it was not built with SQLITE=module`);
    }
    goExports = exports;
  };
}
