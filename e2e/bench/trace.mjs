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
 * Self time per function name on threads whose name matches threadPattern,
 * from the disabled-by-default-v8.cpu_profiler category, within [fromTs, toTs].
 */
export function cpuProfile(events, threadPattern, fromTs = -Infinity, toTs = Infinity) {
  const threadNames = new Map();
  for (const e of events) if (e.name === 'thread_name') threadNames.set(`${e.pid}:${e.tid}`, e.args?.name ?? '');
  const profiles = new Map();
  for (const e of events) {
    if (e.name === 'Profile') {
      profiles.set(e.id, { thread: threadNames.get(`${e.pid}:${e.tid}`) ?? '', t: e.args.data.startTime, nodes: new Map(), samples: [] });
    }
  }
  for (const e of events) {
    if (e.name !== 'ProfileChunk') continue;
    const p = profiles.get(e.id);
    if (!p) continue;
    const cp = e.args.data.cpuProfile ?? {};
    for (const n of cp.nodes ?? []) {
      const cf = n.callFrame ?? {};
      p.nodes.set(n.id, { name: cf.functionName || cf.url || '(anonymous)', parent: n.parent });
    }
    const deltas = e.args.data.timeDeltas ?? [];
    (cp.samples ?? []).forEach((s, i) => p.samples.push([s, deltas[i] ?? 0]));
  }
  const self = new Map();
  let total = 0;
  for (const p of profiles.values()) {
    if (!threadPattern.test(p.thread)) continue;
    let t = p.t;
    for (const [s, dt] of p.samples) {
      t += dt;
      if (t < fromTs || t > toTs) continue;
      const name = p.nodes.get(s)?.name ?? '?';
      self.set(name, (self.get(name) ?? 0) + dt / 1000);
      total += dt / 1000;
    }
  }
  return { totalMs: total, self: [...self.entries()].sort((a, b) => b[1] - a[1]) };
}
