// Where one live update's time goes (issue 15, goal 5): a fresh page on a
// fresh profile opens a database (LIVE_TRACE_STORAGE: opfs, idb or memory),
// watches a 500-row query and makes LIVE_TRACE_WRITES writes (default 100)
// under a Chromium trace with V8's sampling CPU profiler. Prints, for the
// page's main thread and for the worker, the functions with the most self
// time (wasm functions by their Go names when the worker is built by
// `make wasm-names`), and the garbage collections seen; LIVE_TRACE_OUT writes
// the raw trace (JSON, for chrome://tracing or Perfetto). Asserts nothing.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServer, launchPersistent, loopbackOnly, hearthPage } from '../harness.mjs';
import { startTrace, cpuProfiles } from './trace.mjs';
import { printHelpIfAsked } from './common.mjs';

if (printHelpIfAsked(import.meta.url)) process.exit(0);

const storage = process.env.LIVE_TRACE_STORAGE ?? 'opfs';
const writes = Number(process.env.LIVE_TRACE_WRITES ?? 100);
const warmup = Number(process.env.LIVE_TRACE_WARMUP ?? 0);
// LIVE_TRACE_CALLERS=<function name> also prints where its self time is
// called from (LIVE_TRACE_DEPTH frames up, default 4).
const callersOf = process.env.LIVE_TRACE_CALLERS;
const callerDepth = Number(process.env.LIVE_TRACE_DEPTH ?? 4);

const server = await startServer();
const dir = mkdtempSync(path.join(tmpdir(), 'hearth-live-trace-'));
const context = await launchPersistent(dir);
try {
  await loopbackOnly(context);
  const page = await hearthPage(context, server.url);
  await page.evaluate(async ([storage]) => {
    const db = await hearth.open({ name: 'live-trace', storage });
    await db.exec('DROP TABLE IF EXISTS tasks; CREATE TABLE tasks(id TEXT PRIMARY KEY, title TEXT, project TEXT, pos REAL); CREATE INDEX tasks_project ON tasks(project)');
    await db.batch(Array.from({ length: 1000 }, (_, i) => ({ sql: 'INSERT INTO tasks VALUES (?, ?, ?, ?)', params: [`t${i}`, `task ${i}`, i % 2 ? 'a' : 'b', i] })));
    window.liveDB = db;
    window.liveNext = null;
    window.liveStop = await db.watch("SELECT id, title, pos FROM tasks WHERE project = 'a' ORDER BY pos", [], () => window.liveNext?.());
  }, [storage]);
  const run = (n, from) => page.evaluate(async ([n, from]) => {
    const lat = [];
    for (let i = from; i < from + n; i++) {
      const seen = new Promise((r) => { window.liveNext = r; });
      const t0 = performance.now();
      window.liveDB.exec('UPDATE tasks SET title = ? WHERE id = ?', [`edit ${i}`, `t${1 + 2 * (i % 500)}`]);
      await seen;
      lat.push(performance.now() - t0);
    }
    return lat;
  }, [n, from]);
  if (warmup) await run(warmup, 0);
  const stop = await startTrace(context, page, ['disabled-by-default-v8.cpu_profiler', 'v8', 'disabled-by-default-v8.gc', 'blink.user_timing', '__metadata']);
  const lat = await run(writes, warmup);
  const events = await stop();
  if (process.env.LIVE_TRACE_OUT) writeFileSync(process.env.LIVE_TRACE_OUT, JSON.stringify({ traceEvents: events }));
  lat.sort((a, b) => a - b);
  const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
  console.log(`${storage}: ${writes} writes after ${warmup} warm-up: p50 ${q(0.5).toFixed(2)} ms, p95 ${q(0.95).toFixed(2)} ms, max ${lat[lat.length - 1].toFixed(2)} ms`);
  const names = new Map();
  for (const e of events) if (e.ph === 'M' && e.name === 'thread_name') names.set(`${e.pid}:${e.tid}`, e.args?.name);
  for (const t of cpuProfiles(events, { callersOf, callerDepth })) {
    if (t.total < 1) continue;
    console.log(`\n${t.name}: ${t.total.toFixed(0)} ms sampled`);
    const top = [...t.self].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.LIVE_TRACE_TOP ?? 30));
    for (const [name, ms] of top) console.log(`  ${ms.toFixed(1).padStart(8)} ms ${(100 * ms / t.total).toFixed(1).padStart(5)}%  ${name}`);
    if (t.callers.size) {
      console.log(`  ${callersOf} is called from:`);
      for (const [chain, ms] of [...t.callers].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`  ${ms.toFixed(1).padStart(8)} ms  ${chain}`);
    }
  }
  const gcs = new Map();
  for (const e of events) {
    if (e.ph !== 'X' || !/^(MinorGC|MajorGC|V8\.GC_SCAVENGER|V8\.GC_MARK_COMPACTOR|V8\.GCScavenger|V8\.GCFinalizeMC)$/.test(e.name)) continue;
    const k = `${names.get(`${e.pid}:${e.tid}`) ?? e.tid} ${e.name}`;
    const cur = gcs.get(k) ?? { n: 0, ms: 0, max: 0 };
    cur.n++; cur.ms += (e.dur ?? 0) / 1000; cur.max = Math.max(cur.max, (e.dur ?? 0) / 1000);
    gcs.set(k, cur);
  }
  console.log('\nJS garbage collections (the Go heap is collected inside the wasm: runtime.* above)');
  for (const [k, v] of gcs) console.log(`  ${k}: ${v.n}, ${v.ms.toFixed(1)} ms, max ${v.max.toFixed(1)} ms`);
  await page.evaluate(() => window.liveStop());
} finally {
  await context.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
