// Browser benchmark: Hearth vs the official SQLite WASM build, in the same
// Chromium run, on the same workload. Prints a table (medians of BENCH_REPS
// visits) and a cold-start breakdown, and writes e2e/artifacts/bench-latest.json.
// It never asserts on times: it exits non-zero only when something fails to run.
//
//   node e2e/bench/run.mjs            (make bench-browser; needs `make build`; --help: this text)
//   BENCH_REPS=5                      visits after the first (default 5)
//   BENCH_BREAKDOWN_VISITS=4          visits in the cold-start breakdown (default 4)
//   BENCH_STORAGE=only | 0            only the storage bench (storage.mjs) | skip it
//
// The storage bench (storage.mjs, issue "Durable storage") runs at the end:
// Hearth memory / OPFS / IndexedDB against opfs-sahpool, wa-sqlite's
// OPFSCoopSyncVFS and IDBBatchAtomicVFS, in one more Chromium launch
// (~1.5 minutes). Its numbers go to bench-latest.json under `storage` and to
// e2e/artifacts/bench-storage-latest.json.
//
// Method. Every visit launches Chromium on a persistent profile (so the HTTP
// cache and V8's wasm code cache persist across visits as for a real user),
// opens the bench page served by the real `hearth serve`, and for each engine
// (order alternating) times, on the page: a cold start (new Worker() → open →
// `select 1`), the workload, and a second start in the same page. Visit 0 is
// the first load on a fresh profile; the table reports it apart and takes
// medians over visits 1..N. Memory is measured in separate launches (an
// instrumented Hearth bootstrap reports the wasm memory size; see
// probe-hooks.js), so the timed runs use Hearth's bootstrap untouched.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { chromiumPath, repoRoot, startServer } from '../harness.mjs';
import { benchArgs, log, median, onCleanup, openBench, gotoBench, Monitor, runBench, started, tempDir } from './common.mjs';
import { bundleWasmName, stageWebRoot } from './serve.mjs';
import { runStorageBench, printStorage, writeStorageArtifact } from './storage.mjs';
import { startTrace, markTs, wasmSummary } from './trace.mjs';
import { measureSizes } from './sizes.mjs';

const REPS = Math.max(1, Number(process.env.BENCH_REPS ?? 5));
const BREAKDOWN_VISITS = Math.max(2, Number(process.env.BENCH_BREAKDOWN_VISITS ?? 4));
const STORAGE = process.env.BENCH_STORAGE ?? '1';
const ENGINES = ['hearth', 'official'];
const MB = 1024 * 1024;
const TEN_MB = 10 * 1000 * 1000;

// --- phase 1: timed visits -----------------------------------------------------

async function timedVisits(url) {
  const profile = tempDir('hearth-bench-profile-');
  const visits = [];
  for (let v = 0; v <= REPS; v++) {
    const order = v % 2 === 0 ? ENGINES : [...ENGINES].reverse();
    const visit = { visit: v, order };
    for (const engine of order) {
      // One launch per engine and visit: nothing one engine's worker left
      // running (background tier-up) can slow the other down.
      const { context, page, errors } = await openBench(profile, url);
      const monitor = await Monitor.open(context);
      try {
        const settled = await monitor.quiesce();
        const stopTrace = await startTrace(context, page, ['v8.wasm', 'blink.user_timing']);
        const cold = await page.evaluate((e) => bench.coldStart(e), engine);
        const work = await page.evaluate(() => bench.workload());
        const events = await stopTrace();
        const wasm = wasmSummary(events, markTs(events, 'bench:create'), markTs(events, 'bench:select1'));
        const wasmAll = wasmSummary(events);
        // The same workload again on the same worker once background
        // compilation has finished: the steady state.
        const waited = await monitor.quiesce();
        const steady = await page.evaluate(async () => { await bench.dropAll(); return bench.workload(); });
        // A second worker in the same page: V8 may reuse the compiled module.
        await monitor.quiesce();
        const again = await page.evaluate((e) => bench.coldStart(e), engine);
        await page.evaluate(() => bench.stop());
        visit[engine] = { cold, work, steady, again, wasm, wasmAll, settledMs: settled, tierUpWaitMs: waited };
        if (errors.length) throw new Error(errors.join('\n'));
        log(`visit ${v} ${engine.padEnd(8)} start ${cold.select1.toFixed(0)} ms (code cache ${wasm.codeCacheHit ? 'hit' : 'miss'}),`,
          `insert ${work.insertBatchMs.toFixed(0)}→${steady.insertBatchMs.toFixed(0)} ms, select500 ${work.select500.p50.toFixed(1)}→${steady.select500.p50.toFixed(1)} ms,`,
          `rt p50 ${work.roundTrip.p50.toFixed(3)}→${steady.roundTrip.p50.toFixed(3)} ms (idle after ${(waited / 1000).toFixed(1)} s)`);
      } finally {
        await monitor.close();
        await context.close();
      }
    }
    visits.push(visit);
  }
  return visits;
}

// --- phase 2: memory ---------------------------------------------------------

async function memoryRuns(url) {
  const profile = tempDir('hearth-bench-profile-mem-');
  // Warm the HTTP cache so these launches look like the timed visits.
  {
    const { context, page } = await openBench(profile, url);
    for (const e of ENGINES) await page.evaluate((x) => bench.coldStart(x), e);
    await page.evaluate(() => bench.stop());
    await context.close();
  }
  const out = {};
  for (const scenario of ['workload', 'tenMB']) {
    for (const engine of ENGINES) {
      const { context, page, errors } = await openBench(profile, url);
      const monitor = await Monitor.open(context);
      try {
        await monitor.quiesce();
        const before = await monitor.rendererPrivate();
        const stopSampling = monitor.sample();
        await page.evaluate((e) => bench.coldStart(e, e === 'hearth' ? { probe: true } : {}), engine);
        let detail;
        if (scenario === 'workload') detail = await page.evaluate(() => bench.workload());
        else detail = await page.evaluate((n) => bench.fill(n), TEN_MB);
        const idleAfterMs = await monitor.quiesce(15000);
        const peak = await stopSampling();
        const stats = await page.evaluate(() => bench.engineStats());
        const ua = await page.evaluate(() => bench.uaMemory());
        const settled = await monitor.rendererPrivate();
        // Where a steady one-row query's time goes: inside the worker
        // (message event → reply posted) vs the rest (page-side encode,
        // decode and the two postMessage hops).
        let split = null;
        if (scenario === 'workload') {
          const rts = await page.evaluate(() => bench.pointQueries(1000));
          const after = await page.evaluate(() => bench.engineStats());
          const inside = after.handling.slice(-rts.length);
          if (inside.length === rts.length) {
            split = { roundTrip: median(rts), worker: median(inside), outside: median(rts.map((x, i) => x - inside[i])) };
          }
        }
        await page.evaluate(() => bench.stop());
        await page.waitForTimeout(2000);
        const afterStop = await monitor.rendererPrivate();
        // The page's renderer: the one that grew most.
        const pid = Object.keys(settled).sort((a, b) => (settled[b] - (before[b] ?? 0)) - (settled[a] - (before[a] ?? 0)))[0];
        const workerJs = ua.available ? Object.values(ua.workers).reduce((a, b) => a + b, 0) : null;
        out[`${scenario}:${engine}`] = {
          wasmMemory: stats?.wasmMemory ?? null,
          workerJsHeap: workerJs,
          workerJsHeapByScript: ua.available ? ua.workers : null,
          renderer: {
            pid: Number(pid),
            before: before[pid],
            peak: peak[pid],
            settled: settled[pid],
            afterTerminate: afterStop[pid],
            // What the worker held once idle: freed when it was terminated.
            workerReleased: settled[pid] - afterStop[pid],
            peakGrowth: peak[pid] - before[pid],
            settledGrowth: settled[pid] - before[pid],
            idleAfterMs,
          },
          db: scenario === 'tenMB' ? { rows: detail.rows, bytes: detail.dbBytes } : null,
          roundTripSplit: split,
        };
        if (errors.length) throw new Error(errors.join('\n'));
        const m = out[`${scenario}:${engine}`];
        log(`memory ${scenario} ${engine}: wasm ${(m.wasmMemory / MB).toFixed(1)} MB, worker JS ${(workerJs / MB).toFixed(1)} MB,`,
          `renderer peak +${(m.renderer.peakGrowth / MB).toFixed(0)} MB, freed on terminate ${(m.renderer.workerReleased / MB).toFixed(0)} MB`);
      } finally {
        await monitor.close();
        await context.close();
      }
    }
  }
  return out;
}

// --- phase 3: cold-start breakdown ---------------------------------------------

const BREAKDOWN_CATEGORIES = ['v8.wasm', 'disabled-by-default-v8.wasm.detailed', 'blink.user_timing'];

function hearthStages(cold, probe) {
  const c = cold.marks.create;
  const m = probe.marks;
  const at = (x) => (x == null ? NaN : x - c);
  const res = probe.resources.find((r) => /\.wasm(\?|$)/.test(r.name));
  const origin = m.workerOrigin;
  const firstJs = Math.min(...Object.entries(probe.firstImport).filter(([k]) => k.startsWith('syscall/js.')).map(([, v]) => v));
  return {
    points: {
      workerStarted: at(origin),
      bootstrapEvaluated: at(m.bootstrapEvaluated),
      fetchCalled: at(m.fetchCalled),
      responseStart: res ? at(origin + res.responseStart) : NaN,
      responseEnd: res ? at(origin + res.responseEnd) : NaN,
      instantiated: at(m.instantiated),
      goRun: at(m.goRun),
      firstSyscallJs: at(firstJs),
      hearthReady: at(m.hearthReady),
      openHandled: at(probe.repliesOut[0]),
      openOnPage: cold.open,
      select1Received: at(probe.messagesIn[1]),
      select1Handled: at(probe.repliesOut[1]),
      select1OnPage: cold.select1,
    },
    transfer: res ? { transferSize: res.transferSize, encodedBodySize: res.encodedBodySize, decodedBodySize: res.decodedBodySize } : null,
    memoryGrowsBeforeReady: probe.importCalls['runtime.resetMemoryDataView'] ?? 0,
  };
}

function officialStages(cold, stats) {
  const c = cold.marks.create;
  const m = stats.marks;
  const res = stats.resources.find((r) => /sqlite3\.wasm/.test(r.name));
  return {
    points: {
      workerStarted: m.workerOrigin - c,
      scriptEvaluated: m.scriptStart - c,
      wasmResponseEnd: res ? m.workerOrigin + res.responseEnd - c : NaN,
      initDone: m.initDone - c,
      opened: m.opened - c,
      openOnPage: cold.open,
      select1OnPage: cold.select1,
    },
    transfer: res ? { transferSize: res.transferSize, encodedBodySize: res.encodedBodySize, decodedBodySize: res.decodedBodySize } : null,
  };
}

async function breakdownVisits(url) {
  const profile = tempDir('hearth-bench-profile-bd-');
  const visits = [];
  for (let v = 0; v < BREAKDOWN_VISITS; v++) {
    const visit = { visit: v };
    for (const engine of ENGINES) {
      const { context, page, errors } = await openBench(profile, url);
      const monitor = await Monitor.open(context);
      try {
        await monitor.quiesce();
        const stopTrace = await startTrace(context, page, BREAKDOWN_CATEGORIES);
        const cold = await page.evaluate((e) => bench.coldStart(e, e === 'hearth' ? { probe: true } : {}), engine);
        const stats = await page.evaluate(() => bench.engineStats());
        // Use the worker as the timed visits do, so tier-up and code caching
        // happen as they would for a user (the last visit skips it).
        if (v < BREAKDOWN_VISITS - 1) await page.evaluate(() => bench.workload());
        const events = await stopTrace();
        await page.evaluate(() => bench.stop());
        const wasm = wasmSummary(events, markTs(events, 'bench:create'), markTs(events, 'bench:select1'));
        visit[engine] = {
          cold,
          wasm,
          stages: engine === 'hearth' ? hearthStages(cold, stats) : officialStages(cold, stats),
          probe: engine === 'hearth' ? stats : undefined,
        };
        if (errors.length) throw new Error(errors.join('\n'));
      } finally {
        await monitor.close();
        await context.close();
      }
    }
    log(`breakdown visit ${v}: hearth ${visit.hearth.cold.select1.toFixed(0)} ms (code cache ${visit.hearth.wasm.codeCacheHit ? 'hit' : 'miss'}), official ${visit.official.cold.select1.toFixed(0)} ms`);
    visits.push(visit);
  }
  return visits;
}

// --- summary -------------------------------------------------------------------

function summarize(visits, memory, sizes) {
  const cached = visits.filter((v) => v.visit > 0);
  const first = visits[0];
  const med = (engine, f) => median(cached.map((v) => f(v[engine])));
  const row = (metric, unit, f, { firstVisit = false, note = '', diagnostic = false } = {}) => {
    const h = firstVisit ? f(first.hearth) : med('hearth', f);
    const o = firstVisit ? f(first.official) : med('official', f);
    return { metric, unit, hearth: h, official: o, ratio: h / o, note, diagnostic };
  };
  const rows = [
    { section: 'Cold start: new Worker() on the page → answer on the page' },
    row('first load, fresh profile: open answered', 'ms', (e) => e.cold.open, { firstVisit: true }),
    row('first load, fresh profile: select 1 answered', 'ms', (e) => e.cold.select1, { firstVisit: true }),
    row('HTTP-cached visit: open answered', 'ms', (e) => e.cold.open),
    row('HTTP-cached visit: select 1 answered', 'ms', (e) => e.cold.select1),
    row('second worker in the same page: select 1', 'ms', (e) => e.again.select1),
    { section: 'Workload (10,000 rows, 20 projects), timed on the page, right after the cold start' },
    row('one-row query round trip p50 (1,000 sequential)', 'ms', (e) => e.work.roundTrip.p50),
    row('one-row query round trip p95', 'ms', (e) => e.work.roundTrip.p95),
    row('10,000-row insert, one batch', 'ms', (e) => e.work.insertBatchMs),
    row('10,000-row insert, one batch — first load', 'ms', (e) => e.work.insertBatchMs, { firstVisit: true }),
    row('500-row select as objects, p50 of 19', 'ms', (e) => e.work.select500.p50),
    row('500-row select as objects, first call', 'ms', (e) => e.work.select500.first),
    row('autocommit insert p50 (200 sequential)', 'ms', (e) => e.work.autocommit.p50),
    row('autocommit insert p95', 'ms', (e) => e.work.autocommit.p95),
    { section: 'Same workload again on the same worker once Chromium is idle (steady state)' },
    row('one-row query round trip p50', 'ms', (e) => e.steady.roundTrip.p50),
    ...splitRows(memory),
    row('one-row query round trip p95', 'ms', (e) => e.steady.roundTrip.p95),
    row('10,000-row insert, one batch', 'ms', (e) => e.steady.insertBatchMs),
    row('500-row select as objects, p50 of 20', 'ms', (e) => e.steady.select500.p50, { note: '' }),
    row('autocommit insert p50', 'ms', (e) => e.steady.autocommit.p50),
    row('autocommit insert p95', 'ms', (e) => e.steady.autocommit.p95),
    { section: 'Diagnostics (from Chromium traces of the timed visits; not goals)' },
    row('TurboFan tier-up CPU during start + first workload', 'ms', (e) => e.wasmAll.topTier.ms, { note: 'background threads', diagnostic: true }),
    row('lazy Liftoff compiles during start + first workload', 'ms', (e) => e.wasmAll.lazyCompile.ms, { note: 'on the worker thread', diagnostic: true }),
  ];
  const mem = (scenario, f) => ({ hearth: f(memory[`${scenario}:hearth`]), official: f(memory[`${scenario}:official`]) });
  const memRow = (metric, scenario, f, note = '') => {
    const { hearth, official } = mem(scenario, f);
    return { metric, unit: 'MB', hearth: hearth / MB, official: official / MB, ratio: hearth / official, note };
  };
  const h10 = memory['tenMB:hearth'].db;
  rows.push(
    { section: 'Worker memory after the workload (one launch each, measured once idle)' },
    memRow('wasm linear memory', 'workload', (m) => m.wasmMemory),
    memRow('worker JS heap (measureUserAgentSpecificMemory)', 'workload', (m) => m.workerJsHeap),
    memRow('renderer memory freed when the worker ends', 'workload', (m) => m.renderer.workerReleased, 'private bytes, /proc via CDP pid'),
    memRow('renderer peak growth during start + workload', 'workload', (m) => m.renderer.peakGrowth, 'page side included'),
    { section: `Worker memory with a ${(h10.bytes / 1e6).toFixed(1)} MB database (${h10.rows} rows)` },
    memRow('wasm linear memory', 'tenMB', (m) => m.wasmMemory),
    memRow('worker JS heap (measureUserAgentSpecificMemory)', 'tenMB', (m) => m.workerJsHeap),
    memRow('renderer memory freed when the worker ends', 'tenMB', (m) => m.renderer.workerReleased),
    memRow('renderer peak growth during start + fill', 'tenMB', (m) => m.renderer.peakGrowth, 'page side included'),
    { section: 'Bundle (Hearth: hearth.wasm + wasm_exec.js + hearth-worker.js + hearth-worker-boot.js + hearth.js + protocol.js; official: sqlite3.wasm + index.mjs)' },
    { metric: 'raw', unit: 'KB', hearth: sizes.hearth.raw / 1024, official: sizes.official.raw / 1024, ratio: sizes.hearth.raw / sizes.official.raw },
    { metric: 'gzip -9', unit: 'KB', hearth: sizes.hearth.gzip / 1024, official: sizes.official.gzip / 1024, ratio: sizes.hearth.gzip / sizes.official.gzip },
    { metric: 'brotli -q 11', unit: 'KB', hearth: sizes.hearth.brotli / 1024, official: sizes.official.brotli / 1024, ratio: sizes.hearth.brotli / sizes.official.brotli },
    {
      metric: 'as served here (wasm .br at q9, JS raw)', unit: 'KB', hearth: sizes.hearth.shippedTotal / 1024, official: sizes.official.servedTotal / 1024,
      ratio: sizes.hearth.shippedTotal / sizes.official.servedTotal, note: `make build's wasm .br alone: ${(sizes.hearth.shippedWasmBr / 1024).toFixed(0)} KB`,
    },
  );
  return rows;
}

/** Rows for the steady round trip split, measured in the memory launches. */
function splitRows(memory) {
  const h = memory['workload:hearth'].roundTripSplit;
  const o = memory['workload:official'].roundTripSplit;
  if (!h || !o) return [];
  const r = (metric, k, note = '') => ({ metric, unit: 'ms', hearth: h[k], official: o[k], ratio: h[k] / o[k], note, diagnostic: true });
  return [
    r('  of which inside the worker, p50', 'worker', 'message event → reply posted (memory launch)'),
    r('  of which page side + messaging, p50', 'outside', 'round trip − worker time'),
  ];
}

function fmt(x, unit) {
  if (x == null || Number.isNaN(x)) return 'n/a';
  if (unit === 'KB') return `${x.toFixed(0)} KB`;
  if (unit === 'MB') return `${x.toFixed(1)} MB`;
  if (x >= 100) return `${x.toFixed(0)} ms`;
  if (x >= 10) return `${x.toFixed(1)} ms`;
  return `${x.toFixed(3)} ms`;
}

function printTable(rows) {
  const w = [54, 12, 12, 7];
  const line = (a, b, c, d, e = '') => `${a.padEnd(w[0])} | ${b.padStart(w[1])} | ${c.padStart(w[2])} | ${d.padStart(w[3])}${e ? `  ${e}` : ''}`;
  console.log(line('metric', 'Hearth', 'official', 'ratio'));
  console.log(`${'-'.repeat(w[0])}-+-${'-'.repeat(w[1])}-+-${'-'.repeat(w[2])}-+-${'-'.repeat(w[3])}`);
  for (const r of rows) {
    if (r.section) { console.log(`${r.section}`); continue; }
    const ratio = Number.isFinite(r.ratio) ? `${r.ratio.toFixed(2)}×` : 'n/a';
    console.log(line(`  ${r.metric}`, fmt(r.hearth, r.unit), fmt(r.official, r.unit), ratio, r.note));
  }
}

function goals(rows, memory) {
  const byMetric = (m) => rows.find((r) => r.metric === m);
  const cachedStart = byMetric('HTTP-cached visit: select 1 answered');
  const timedOrSized = rows.filter((r) => !r.section && !r.diagnostic);
  const worse = timedOrSized.filter((r) => Number.isFinite(r.ratio) && r.ratio > 1);
  const m10 = memory['tenMB:hearth'];
  const released = m10.renderer.workerReleased;
  return [
    {
      goal: 'cached cold start ≤ 300 ms',
      met: cachedStart.hearth <= 300,
      detail: `Hearth ${cachedStart.hearth.toFixed(0)} ms (official ${cachedStart.official.toFixed(0)} ms)`,
    },
    {
      goal: 'every row at or better than official (ratio ≤ 1)',
      met: worse.length === 0,
      detail: `${timedOrSized.length - worse.length}/${timedOrSized.length} rows at ratio ≤ 1; worse: ${worse.map((r) => `${r.metric} ${r.ratio.toFixed(2)}×`).join('; ') || 'none'}`,
    },
    {
      goal: 'worker memory ≤ 100 MB with a 10 MB database',
      met: released <= 100 * MB,
      detail: `renderer memory freed when the worker ends: ${(released / MB).toFixed(1)} MB (wasm linear memory ${(m10.wasmMemory / MB).toFixed(1)} MB,`
        + ` worker JS heap ${(m10.workerJsHeap / MB).toFixed(1)} MB; peak renderer growth while filling ${(m10.renderer.peakGrowth / MB).toFixed(0)} MB)`,
    },
  ];
}

function printBreakdown(bd) {
  const visits = bd.map((v) => v.visit);
  const head = (label) => `${label.padEnd(50)}${visits.map((v) => (v === 0 ? 'first load' : `visit ${v + 1}`).padStart(12)).join('')}`;
  const num = (x) => (Number.isFinite(x) ? x.toFixed(0) : 'n/a').padStart(12);
  const seg = (label, f) => console.log(`${label.padEnd(50)}${bd.map((v) => num(f(v))).join('')}`);
  const txt = (label, f) => console.log(`${label.padEnd(50)}${bd.map((v) => String(f(v)).padStart(12)).join('')}`);
  console.log('\nCold-start breakdown, Hearth (ms; instrumented bootstrap, probe-hooks.js; each visit a fresh launch)');
  console.log(head('stage'));
  const P = (v) => v.hearth.stages.points;
  seg('  new Worker() → worker thread running', (v) => P(v).workerStarted);
  seg('  → hearth-worker.js + dist/bundle.js loaded: wasm requested', (v) => P(v).fetchCalled - P(v).workerStarted);
  seg('  → fetch(hearth.wasm) → response headers', (v) => P(v).responseStart - P(v).fetchCalled);
  seg('  → last byte (decompress; streaming compile)', (v) => P(v).responseEnd - P(v).responseStart);
  seg('  → compiled + instantiated', (v) => P(v).instantiated - P(v).responseEnd);
  seg('  → Go runtime init (run → first syscall/js call)', (v) => P(v).firstSyscallJs - P(v).goRun);
  seg('  → Go package init + main → __hearthReady', (v) => P(v).hearthReady - P(v).firstSyscallJs);
  seg('  → open run in the worker (queued request)', (v) => P(v).openHandled - P(v).hearthReady);
  seg('  → open reply on the page', (v) => P(v).openOnPage - P(v).openHandled);
  seg('  → select 1: page → worker', (v) => P(v).select1Received - P(v).openOnPage);
  seg('  → select 1 run in the worker', (v) => P(v).select1Handled - P(v).select1Received);
  seg('  → select 1 reply on the page', (v) => P(v).select1OnPage - P(v).select1Handled);
  seg('  = total (new Worker() → select 1 on the page)', (v) => P(v).select1OnPage);
  console.log('  from the trace, new Worker() → select 1:');
  const W = (v) => v.hearth.wasm;
  txt('    wasm code cache', (v) => (W(v).codeCacheHit ? `hit ${W(v).deserialize.ms.toFixed(0)}ms` : 'miss'));
  seg('    function validation (streaming), ms', (v) => W(v).validate.ms);
  txt('    lazy Liftoff compiles on first call: n / ms', (v) => `${W(v).lazyCompile.n}/${W(v).lazyCompile.ms.toFixed(0)}`);
  txt('    memory.grow: n / ms', (v) => `${W(v).growMemory.n}/${W(v).growMemory.ms.toFixed(0)}`);
  seg('    TurboFan tier-up on background threads, ms', (v) => W(v).topTier.ms);
  txt('    bundle bytes over the wire', (v) => v.hearth.stages.transfer?.transferSize ?? 'n/a');

  console.log('\nCold-start breakdown, official (ms; marks in anchor-worker.js)');
  console.log(head('stage'));
  const Q = (v) => v.official.stages.points;
  seg('  new Worker() → worker thread running', (v) => Q(v).workerStarted);
  seg('  → index.mjs (650 KB JS) loaded + evaluated', (v) => Q(v).scriptEvaluated - Q(v).workerStarted);
  seg('  → sqlite3InitModule() done (wasm, OPFS VFS init)', (v) => Q(v).initDone - Q(v).scriptEvaluated);
  seg('  → DB opened in the worker', (v) => Q(v).opened - Q(v).initDone);
  seg('  → open reply on the page', (v) => Q(v).openOnPage - Q(v).opened);
  seg('  → select 1 round trip', (v) => Q(v).select1OnPage - Q(v).openOnPage);
  seg('  = total', (v) => Q(v).select1OnPage);
  txt('    wasm code cache', (v) => (v.official.wasm.codeCacheHit ? 'hit' : 'miss'));
}

// --- main ------------------------------------------------------------------------

async function main() {
  // hearth.wasm, or the content-hashed copy dist/bundle.js names.
  const wasm = `web/dist/${bundleWasmName(path.join(repoRoot, 'web', 'dist')) ?? 'hearth.wasm'}`;
  for (const f of [wasm, 'web/dist/wasm_exec.js', 'bin/hearth']) {
    if (!fs.existsSync(path.join(repoRoot, f))) throw new Error(`${f} is missing: run \`make build\` first`);
  }
  const root = stageWebRoot();
  onCleanup(() => fs.rmSync(root, { recursive: true, force: true }));
  const server = await startServer([], { web: [root] });
  onCleanup(() => server.stop());
  const chromiumVersion = execFileSync(chromiumPath(), ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  log(`serving ${root} at ${server.url}; ${chromiumVersion}; ${STORAGE === 'only' ? 'storage bench only' : `${REPS} cached visits`}`);

  const runStorage = async () => {
    log('storage bench: memory, OPFS and IndexedDB against the anchors, one Chromium launch');
    return runStorageBench({ url: server.url, root, log, tempDir });
  };
  if (STORAGE === 'only') {
    const storage = await runStorage();
    printStorage(storage, { chromium: chromiumVersion });
    const out = writeStorageArtifact(storage, { chromium: chromiumVersion, node: process.version, cpus: os.cpus().length, seconds: (Date.now() - started) / 1000 });
    console.log(`\nwrote ${path.relative(process.cwd(), out)} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
    return;
  }

  const visits = await timedVisits(server.url);
  const memory = await memoryRuns(server.url);
  const breakdown = await breakdownVisits(server.url);
  const storage = STORAGE === '0' ? null : await runStorage();
  log('bundle sizes (brotli -q 11 is slow the first time; cached by content hash)');
  const sizes = measureSizes();

  const rows = summarize(visits, memory, sizes);
  const goalList = goals(rows, memory);
  const info = visits[0].official.cold.info;
  console.log(`\nHearth vs official SQLite WASM ${info?.version ?? ''} — ${chromiumVersion}, ${os.cpus().length} CPUs`);
  console.log(`medians of ${REPS} HTTP-cached visits (visit 0, the first load, shown apart); ratio = Hearth ÷ official, lower is better\n`);
  printTable(rows);
  const hits = (e) => visits.map((v) => (v[e].wasm.codeCacheHit ? 'hit' : 'miss')).join(' ');
  console.log(`\nwasm code cache per visit (0..${REPS}): Hearth ${hits('hearth')}; official ${hits('official')}`);
  console.log(`journal mode: Hearth ${visits[0].hearth.work.journalMode}, official ${visits[0].official.work.journalMode};`,
    `official OPFS VFS installed at init: ${info?.opfsVfs ? 'yes (two proxy workers started)' : 'no'}`);
  printBreakdown(breakdown);
  console.log('\nGoals');
  for (const g of goalList) console.log(`  [${g.met ? 'met' : 'NOT met'}] ${g.goal}:\n      ${g.detail.replace(/; /g, ';\n      ')}`);
  if (storage) {
    printStorage(storage, { chromium: chromiumVersion });
    writeStorageArtifact(storage, { chromium: chromiumVersion, node: process.version, cpus: os.cpus().length });
  }

  const out = path.join(repoRoot, 'e2e', 'artifacts', 'bench-latest.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  let commit = null;
  try { commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch { /* not a checkout */ }
  fs.writeFileSync(out, JSON.stringify({
    date: new Date().toISOString(),
    commit,
    chromium: chromiumVersion,
    node: process.version,
    cpus: os.cpus().length,
    reps: REPS,
    chromiumArgs: benchArgs,
    rows,
    goals: goalList,
    visits,
    memory,
    breakdown,
    sizes,
    storage,
    seconds: (Date.now() - started) / 1000,
  }, null, 1));
  console.log(`\nwrote ${path.relative(process.cwd(), out)} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
}

await runBench(import.meta.url, main);
