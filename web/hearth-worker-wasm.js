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
 * @param {URL} wasmURL
 */
export function compileWasm(wasmURL) {
  const download = new AbortController();
  /** @type {(module: WebAssembly.Module) => void} */
  let adopt = () => {};
  /** @type {Promise<WebAssembly.Module>} */
  const given = new Promise((resolve) => { adopt = resolve; });
  const streamed = WebAssembly.compileStreaming(fetch(wasmURL, { signal: download.signal }));
  streamed.catch(() => {}); // the race below reports what counts
  let first = true;
  return {
    /** The module, given or compiled. */
    compiled: Promise.race([given, streamed]),
    /** Whether the module came from the page. */
    adopted: false,
    /**
     * Takes the page's module from its first message; true when data was
     * such a message (it is not for Go).
     * @param {unknown} data
     */
    fromPage(data) {
      const isFirst = first;
      first = false;
      const module = /** @type {{hearthModule?: unknown} | null} */ (data)?.hearthModule;
      if (!(module instanceof WebAssembly.Module)) return false;
      if (isFirst) {
        this.adopted = true;
        adopt(module);
        download.abort();
      }
      return true;
    },
  };
}

/** @typedef {ReturnType<typeof compileWasm>} WasmSource */
