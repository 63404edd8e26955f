// Chromium tracing over CDP, and the few things the benchmark reads from a
// trace: wasm compile and code-cache events, user-timing marks (to line the
// trace clock up with the page's marks) and CPU-profile samples.

/** Starts tracing the page's renderer (workers included); returns stop() → events. */
export async function startTrace(context, page, categories) {
  const cdp = await context.newCDPSession(page);
  const events = [];
  cdp.on('Tracing.dataCollected', (d) => { for (const e of d.value) events.push(e); });
  await cdp.send('Tracing.start', {
    traceConfig: { includedCategories: categories, recordMode: 'recordAsMuchAsPossible' },
    transferMode: 'ReportEvents',
  });
  return async () => {
    const done = new Promise((resolve) => cdp.once('Tracing.tracingComplete', resolve));
    await cdp.send('Tracing.end');
    await done;
    await cdp.detach().catch(() => {});
    return events;
  };
}

/** ts (µs, trace clock) of the last user-timing mark named name, or undefined. */
export function markTs(events, name) {
  let ts;
  for (const e of events) if (e.name === name && (e.cat ?? '').includes('user_timing')) ts = e.ts;
  return ts;
}

/**
 * Summarizes wasm work in [fromTs, toTs] (trace clock; omit for all): for
 * each module URL seen, whether its compiled code came from Chromium's code
 * cache, and totals for validation, lazy (first-call) Liftoff compiles,
 * TurboFan tier-up, memory growth and deserialization.
 */
export function wasmSummary(events, fromTs = -Infinity, toTs = Infinity) {
  const within = (e) => e.ts >= fromTs && e.ts <= toTs;
  const sum = (name) => {
    let n = 0, ms = 0;
    for (const e of events) if (e.name === name && within(e)) { n++; ms += (e.dur ?? 0) / 1000; }
    return { n, ms };
  };
  const urls = [];
  for (const e of events) if (e.name === 'wasm.SetUrl' && within(e) && e.args?.url) urls.push(e.args.url);
  return {
    urls,
    codeCacheHit: sum('wasm.Deserialize').n > 0,
    deserialize: sum('wasm.Deserialize'),
    validate: sum('wasm.ValidateFunctionsStreaming'),
    lazyCompile: sum('wasm.CompileLazy'),
    topTier: sum('wasm.TopTierCompilation'),
    growMemory: sum('wasm.GrowMemory'),
    serialize: sum('wasm.SerializeModule'),
  };
}

/**
 * Time by function per sampled thread, from the trace's ProfileChunk
 * events (V8's sampling CPU profiler: nodes arrive incrementally per
 * profile; a sample's time is the next sample's delta). Each thread is
 * {name, total, self, incl, callers}: self and inclusive milliseconds by
 * function name (inclusive counts a function once per sample's stack), and
 * with callersOf, the call chains (callerDepth frames up) above that
 * function's samples; with timeline, samples: each sample's trace-clock
 * time (µs) and its stack's function names, innermost first.
 */
export function cpuProfiles(events, { callersOf = '', callerDepth = 4, wasmNames = null, timeline = false } = {}) {
  // V8 names a wasm function by its index when it compiled the function
  // lazily under the profiler (a first visit's); wasmNames maps it back.
  // Only the worker's own module's: the SQLite module, compiled from the
  // bytes of its custom section, has no URL of its own (V8 gives it a
  // wasm:// one), and its indexes are not Go's.
  const rename = (fn, url) => {
    if ((url ?? '').startsWith('wasm://')) return fn?.startsWith('wasm-function[') ? `sqlite ${fn}` : fn;
    const m = wasmNames && /^wasm-function\[(\d+)\]$/.exec(fn ?? '');
    return (m && wasmNames.get(Number(m[1]))) || fn;
  };
  const names = new Map();
  for (const e of events) if (e.ph === 'M' && e.name === 'thread_name') names.set(`${e.pid}:${e.tid}`, e.args?.name);
  // A profile's samples are timed by deltas from its Profile event's
  // startTime, chunk after chunk.
  const starts = new Map();
  for (const e of events) if (e.name === 'Profile') starts.set(e.id, e.args?.data?.startTime ?? e.ts);
  const threads = new Map();
  for (const e of events) {
    if (e.name !== 'ProfileChunk') continue;
    let t = threads.get(e.id);
    if (!t) {
      t = { name: names.get(`${e.pid}:${e.tid}`) ?? `thread ${e.tid}`, nodes: new Map(), self: new Map(), incl: new Map(), callers: new Map(), total: 0, samples: [], clock: starts.get(e.id) ?? 0 };
      threads.set(e.id, t);
    }
    const prof = e.args?.data?.cpuProfile ?? {};
    for (const n of prof.nodes ?? []) t.nodes.set(n.id, { ...n.callFrame, functionName: rename(n.callFrame?.functionName, n.callFrame?.url), parent: n.parent });
    const samples = prof.samples ?? [];
    const deltas = e.args?.data?.timeDeltas ?? [];
    for (let i = 0; i < samples.length; i++) {
      t.clock += deltas[i] ?? 0;
      const dt = (deltas[i + 1] ?? deltas[i] ?? 0) / 1000;
      const f = t.nodes.get(samples[i]);
      const name = f ? (f.functionName || `(anonymous ${(f.url || '').split('/').pop()}:${f.lineNumber})`) : '?';
      t.self.set(name, (t.self.get(name) ?? 0) + dt);
      t.total += dt;
      const seen = new Set();
      const stack = [];
      for (let id = samples[i], depth = 0; id !== undefined && depth < 500; id = t.nodes.get(id)?.parent, depth++) {
        const fn = t.nodes.get(id)?.functionName;
        if (fn) stack.push(fn);
        if (fn && !seen.has(fn)) { seen.add(fn); t.incl.set(fn, (t.incl.get(fn) ?? 0) + dt); }
      }
      if (timeline) t.samples.push({ ts: t.clock, stack });
      if (callersOf && name === callersOf) {
        const chain = [];
        for (let up = f?.parent; up !== undefined && chain.length < callerDepth; up = t.nodes.get(up)?.parent) {
          chain.push(t.nodes.get(up)?.functionName || '?');
        }
        const k = chain.join(' < ');
        t.callers.set(k, (t.callers.get(k) ?? 0) + dt);
      }
    }
  }
  return [...threads.values()];
}

/**
 * The function names of a wasm module's name section (a build without
 * -ldflags='-s -w': make wasm-names), by function index (imports counted),
 * as V8's wasm-function[N] numbers them. Empty when the module has none.
 */
export function wasmFunctionNames(bytes) {
  return wasmFunctions(bytes).names;
}

/**
 * A wasm module's functions by index (imports counted): names, from the
 * name section when there is one, and sizes, each defined function's body
 * in bytes.
 */
export function wasmFunctions(bytes) {
  const names = new Map();
  const sizes = new Map();
  let pos = 8, imports = 0;
  const leb = () => {
    let result = 0, shift = 0, b;
    do { b = bytes[pos++]; result += (b & 0x7f) * 2 ** shift; shift += 7; } while (b & 0x80);
    return result;
  };
  const text = (n) => { const s = new TextDecoder().decode(bytes.subarray(pos, pos + n)); pos += n; return s; };
  while (pos < bytes.length) {
    const id = bytes[pos++];
    const size = leb();
    const end = pos + size;
    if (id === 2) { // imports: functions among them take the first indexes
      for (let i = leb(); i > 0; i--) {
        for (let name = 0; name < 2; name++) { const n = leb(); pos += n; } // module and field names
        const kind = bytes[pos++];
        if (kind === 0) { imports++; leb(); } else if (kind === 1) { pos++; if (bytes[pos++] & 1) { leb(); } leb(); } else if (kind === 2) { if (bytes[pos++] & 1) { leb(); } leb(); } else { pos += 2; }
      }
    } else if (id === 10) {
      const count = leb();
      for (let i = 0; i < count; i++) { const n = leb(); sizes.set(imports + i, n); pos += n; }
    } else if (id === 0 && text(leb()) === 'name') {
      while (pos < end) {
        const sub = bytes[pos++];
        const subEnd = leb() + pos;
        if (sub === 1) for (let n = leb(); n > 0; n--) { const idx = leb(); names.set(idx, text(leb())); }
        pos = subEnd;
      }
    }
    pos = end;
  }
  return { names, sizes };
}
