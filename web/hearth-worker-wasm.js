// Which wasm the Hearth worker runs, for both of its entry points
// (hearth-worker.js, hearth-worker.npm.js): the worker URL's `wasm` query
// parameter (the page's wasmURL option) or the entry's own default. The
// repo's entry requests it before the bootstrap has loaded, so the rule
// lives here, beside neither.

/**
 * @param {URL} defaultURL the wasm the entry names
 * @returns {URL}
 */
export function wasmURLFor(defaultURL) {
  const override = new URL(self.location.href).searchParams.get('wasm');
  return override ? new URL(override, self.location.href) : defaultURL;
}
