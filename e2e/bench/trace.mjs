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
