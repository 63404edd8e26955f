// Where a fresh device's initial sync spends its time: one warm-up sync,
// then one more (5,000 tasks from a real `hearth serve` on 127.0.0.1, OPFS)
// under a Chromium trace with V8's sampling CPU profiler; prints the
// worker's self time by function. `make wasm-names` builds the worker
// with Go names. SYNC_TRACE_TOP sets how many.
// SYNC_TRACE_FIRST=1 traces the worker's first database instead (a first
// visit's: no warm-up, the worker's code compiling as it is first called);
// SYNC_TRACE_FIRST=visit does the same without starting the worker first:
// the open starts it, as on a first visit (the bundle compiling too).
// SYNC_TRACE_REPLICA=0 syncs by snapshot rather than from a replica file.
// SYNC_TRACE_TIMELINE=N prints the worker's open() and sync in N ms steps: in each,
// what its samples were in most (the innermost of Hearth's own functions
// on the stack, else the innermost), to see what the open waits behind.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startServer, hearthPage, repoRoot, appSchema } from '../harness.mjs';
import { startTrace, cpuProfiles, markTs, wasmFunctionNames } from './trace.mjs';
import { cleanup, freshDevice, printHelpIfAsked } from './common.mjs';

if (printHelpIfAsked(import.meta.url)) process.exit(0);

const TASKS = Number(process.env.BENCH_SYNC_TASKS ?? 5000);
// BENCH_SYNC_STORAGE: opfs (default) or idb.
const STORAGE = process.env.BENCH_SYNC_STORAGE ?? 'opfs';
const schema = appSchema();

const FIRST = ['1', 'visit'].includes(process.env.SYNC_TRACE_FIRST);
const VISIT = process.env.SYNC_TRACE_FIRST === 'visit';
const REPLICA = process.env.SYNC_TRACE_REPLICA !== '0';
const TIMELINE_MS = Number(process.env.SYNC_TRACE_TIMELINE ?? 0);

// The open's steps (see SYNC_TRACE_TIMELINE) on the thread with the most
// samples in it, from the page's marks.
function printTimeline(threads, fromTs, toTs, stepMs) {
  const within = (t) => t.samples.filter((x) => x.ts >= fromTs && x.ts <= toTs);
  const busiest = threads.map((t) => ({ t, samples: within(t) }))
    .map((x) => ({ ...x, busy: x.samples.filter((s) => s.stack[0] !== '(idle)').length }))
    .sort((a, b) => b.busy - a.busy)[0];
  if (!busiest) return;
  console.log(`\nopen() to synced on ${busiest.t.name}, ${stepMs} ms steps (ms from the page's call: what the samples were in, sampled ms):`);
  const label = (stack) => stack.find((fn) => /hearthdb_hearth|hearthdb\/hearth/.test(fn)) ?? stack[0] ?? '?';
  for (let from = fromTs; from < toTs; from += stepMs * 1000) {
    const inStep = busiest.samples.filter((x) => x.ts >= from && x.ts < from + stepMs * 1000);
    const by = new Map();
    for (let i = 0; i < inStep.length; i++) {
      const dt = ((inStep[i + 1]?.ts ?? Math.min(from + stepMs * 1000, toTs)) - inStep[i].ts) / 1000;
      const k = label(inStep[i].stack);
      by.set(k, (by.get(k) ?? 0) + dt);
    }
    const top = [...by].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([k, ms]) => `${k} ${ms.toFixed(0)}`).join(', ');
    console.log(`  ${String(Math.round((from - fromTs) / 1000)).padStart(5)}  ${top}`);
  }
}

async function initialSync([schema, name, storage, replica]) {
  performance.mark('trace-open');
  const t0 = performance.now();
  const db = await hearth.open({ name, storage, migrations: schema.migrations, sync: { url: '/sync', tables: schema.tables, replica } });
  const opened = performance.now() - t0;
  performance.mark('trace-opened');
  const phases = await new Promise((resolve, reject) => {
    db.onSyncStatus((st) => {
      if (st.connected && !st.initialSync.active && st.head > 0 && st.cursor >= st.head) {
        performance.mark('trace-synced');
        resolve(st.initialSync);
      }
    });
    setTimeout(() => reject(new Error('no initial sync in 120 s')), 120000);
  });
  const ms = performance.now() - t0;
  const began = (await db.syncStatus()).replica;
  await db.close();
  return { ms, opened, phases, began };
}

const server = await startServer(['-seed-tasks', String(TASKS)]);
// A persistent profile, as sync.mjs (why at freshDevice).
const ctx = await freshDevice('hearth-sync-trace-');
try {
  const page = await hearthPage(ctx, server.url);
  if (!VISIT) await page.evaluate(() => hearth.preload().request('databases', {}));
  if (!FIRST) await page.evaluate(initialSync, [schema, 'trace-warm', STORAGE, REPLICA]);
  const stop = await startTrace(ctx, page, ['disabled-by-default-v8.cpu_profiler', 'v8', 'blink.user_timing', '__metadata']);
  const r = await page.evaluate(initialSync, [schema, 'trace-run', STORAGE, REPLICA]);
  const events = await stop();
  const p = r.phases;
  const b = r.began;
  if (b?.used) console.log(`open() ${r.opened.toFixed(0)} ms, from a replica file: ${b.bytes} bytes downloaded in ${b.downloadMs} ms, copied in ${b.restoreMs} ms`);
  else console.log(`open() ${r.opened.toFixed(0)} ms${REPLICA ? `; no replica file: ${b?.reason}` : ''}`);
  console.log(`initial sync ${r.ms.toFixed(0)} ms: wait ${p.waitMs.toFixed(0)}, decode ${p.decodeMs.toFixed(0)}, queued ${(p.queueMs ?? 0).toFixed(0)}, merge ${p.mergeMs.toFixed(0)}, indexes ${(p.indexMs ?? 0).toFixed(0)}, commit ${p.commitMs.toFixed(0)} ms`);
  const wasmNames = wasmFunctionNames(readFileSync(path.join(repoRoot, 'web', 'dist', 'hearth.wasm')));
  const threads = cpuProfiles(events, { wasmNames, timeline: TIMELINE_MS > 0 });
  if (TIMELINE_MS > 0) printTimeline(threads, markTs(events, 'trace-open'), markTs(events, 'trace-synced'), TIMELINE_MS);
  for (const t of threads) {
    if (t.total < 20) continue;
    console.log(`\n${t.name}: ${t.total.toFixed(0)} ms sampled`);
    const top = [...t.self].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.SYNC_TRACE_TOP ?? 40));
    for (const [name, ms] of top) console.log(`  ${ms.toFixed(1).padStart(8)} ms ${(100 * ms / t.total).toFixed(1).padStart(5)}%  ${name}`);
    // SYNC_TRACE_FOCUS (a regular expression): inclusive time of the
    // functions it matches.
    const focus = new RegExp(process.env.SYNC_TRACE_FOCUS ?? '^(github\\.com/hearthdb/hearth/syncworker/(merge|collabtext|client|journal)\\.|runtime\\.(gcBgMarkWorker|mallocgc|gcStart)$)');
    const incl = [...t.incl].filter(([n]) => focus.test(n)).sort((a, b) => b[1] - a[1]).slice(0, 40);
    if (incl.length) console.log('  inclusive:');
    for (const [name, ms] of incl) console.log(`  ${ms.toFixed(1).padStart(8)} ms ${(100 * ms / t.total).toFixed(1).padStart(5)}%  ${name}`);
  }
} finally {
  await cleanup();
  await server.stop();
}
