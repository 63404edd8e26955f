// Experiments behind the cold-start findings (BENCH_EXPLORE=1; several
// minutes). None of these feed the headline table:
//   A. HTTP cache policy vs Chromium's wasm code cache (same files and headers
//      as `hearth serve`, served by static-server.mjs with a chosen
//      Cache-Control).
//   B. V8 flags, to learn where the time goes (never used for headlines).
//   C. A CPU profile of the worker with function names (an unstripped build of
//      the current tree, in a temporary directory).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../harness.mjs';
import { benchArgs, openBench, median, Monitor } from './run.mjs';
import { startStaticServer } from './static-server.mjs';
import { stageFile } from './serve.mjs';
import { startTrace, markTs, wasmSummary, cpuProfile } from './trace.mjs';
import { wasmInfo, largestFunctions } from './wasm-info.mjs';

const VISITS = Number(process.env.BENCH_EXPLORE_VISITS ?? 5);

/**
 * One Hearth visit as in the timed visits: cold start + workload (traced),
 * then, once idle, the workload again; waits for idle before closing so code
 * caching can finish.
 */
async function hearthVisit(profile, url, args, { workload = true, again = true } = {}) {
  const { context, page, errors } = await openBench(profile, url, { args });
  const monitor = await Monitor.open(context);
  try {
    await monitor.quiesce();
    const stop = await startTrace(context, page, ['v8.wasm', 'blink.user_timing']);
    const cold = await page.evaluate(() => bench.coldStart('hearth'));
    const work = workload ? await page.evaluate(() => bench.workload()) : null;
    const events = await stop();
    await monitor.quiesce();
    if (workload && again) {
      await page.evaluate(async () => { await bench.dropAll(); return bench.workload(); });
      await monitor.quiesce();
    }
    await page.evaluate(() => bench.stop());
    if (errors.length) throw new Error(errors.join('\n'));
    return {
      select1: cold.select1,
      open: cold.open,
      wasm: wasmSummary(events, markTs(events, 'bench:create'), markTs(events, 'bench:select1')),
      all: wasmSummary(events),
      insert: work?.insertBatchMs,
      select500: work?.select500.p50,
      rt: work?.roundTrip.p50,
    };
  } finally {
    await monitor.close();
    await context.close();
  }
}

async function cachePolicy({ root, log, tempDir }) {
  const out = {};
  for (const cacheControl of ['no-cache', 'max-age=31536000, immutable']) {
    const server = await startStaticServer(root, { cacheControl });
    const profile = tempDir('hearth-bench-explore-');
    const visits = [];
    try {
      for (let v = 0; v < VISITS; v++) {
        visits.push(await hearthVisit(profile, server.url, benchArgs));
        log(`explore cache "${cacheControl}" visit ${v}: ${visits[v].select1.toFixed(0)} ms, code cache ${visits[v].wasm.codeCacheHit ? 'hit' : 'miss'}`);
      }
    } finally {
      await server.stop();
    }
    out[cacheControl] = visits;
  }
  return out;
}

const FLAG_SETS = [
  { name: 'default', flags: [] },
  { name: '--liftoff-only (no TurboFan tier-up)', flags: ['--js-flags=--liftoff-only'] },
  { name: '--no-wasm-lazy-compilation', flags: ['--js-flags=--no-wasm-lazy-compilation'] },
  { name: '--wasm-lazy-validation', flags: ['--js-flags=--wasm-lazy-validation'] },
];

async function flags({ serverUrl, log, tempDir }) {
  const out = {};
  for (const set of FLAG_SETS) {
    const profile = tempDir('hearth-bench-explore-');
    const visits = [];
    for (let v = 0; v < 3; v++) visits.push(await hearthVisit(profile, serverUrl, [...benchArgs, ...set.flags]));
    out[set.name] = visits;
    log(`explore flags ${set.name}: start ${visits.map((x) => x.select1.toFixed(0)).join('/')} ms, insert ${visits.map((x) => x.insert.toFixed(0)).join('/')} ms`);
  }
  return out;
}

async function profileNamed({ root, serverUrl, log, tempDir }) {
  const dir = tempDir('hearth-bench-named-');
  const wasm = path.join(dir, 'hearth.wasm');
  try {
    execFileSync('go', ['build', '-trimpath', '-ldflags=-w', '-o', wasm, './wasm'], {
      cwd: repoRoot, env: { ...process.env, GOOS: 'js', GOARCH: 'wasm' }, stdio: ['ignore', 'ignore', 'pipe'],
    });
  } catch (err) {
    return { skipped: `go build of an unstripped bundle failed: ${String(err.stderr ?? err).slice(0, 400)}` };
  }
  stageFile(root, 'dist-named/hearth.wasm', wasm);
  const info = wasmInfo(wasm);
  const profile = tempDir('hearth-bench-explore-');
  const { context, page, errors } = await openBench(profile, serverUrl);
  const monitor = await Monitor.open(context);
  const cats = ['disabled-by-default-v8.cpu_profiler', 'v8.wasm', 'blink.user_timing', '__metadata'];
  try {
    await monitor.quiesce();
    let stop = await startTrace(context, page, cats);
    await page.evaluate(() => bench.coldStart('hearth', { wasmURL: '/dist-named/hearth.wasm' }));
    let events = await stop();
    const cold = cpuProfile(events, /DedicatedWorker/, markTs(events, 'bench:create'), markTs(events, 'bench:select1'));
    await page.evaluate(() => bench.workload());
    await monitor.quiesce();
    stop = await startTrace(context, page, cats);
    await page.evaluate(async () => { await bench.dropAll(); return bench.workload(); });
    events = await stop();
    const from = markTs(events, 'bench:point:start');
    const to = markTs(events, 'bench:point:end');
    const worker = cpuProfile(events, /DedicatedWorker/, from, to);
    const main = cpuProfile(events, /CrRendererMain/, from, to);
    await page.evaluate(() => bench.stop());
    if (errors.length) throw new Error(errors.join('\n'));
    const codeBytes = info.bodies.reduce((a, b) => a + b.size, 0);
    const byPkg = new Map();
    for (const b of info.bodies) {
      const name = info.names.get(b.index) ?? '?';
      const pkg = name.startsWith('github.com_ncruces_go_sqlite3_wasm') ? 'SQLite (wasm2go translation)'
        : name.startsWith('runtime.') ? 'Go runtime' : 'other Go';
      byPkg.set(pkg, (byPkg.get(pkg) ?? 0) + b.size);
    }
    log('explore: named-build profiles done');
    return {
      sections: info.sections.filter((s) => s.size > 1000).map((s) => ({ name: s.name, size: s.size })),
      codeBytes,
      codeByOrigin: Object.fromEntries(byPkg),
      functions: info.bodies.length,
      largest: largestFunctions(info, 8),
      coldStartWorker: { totalMs: cold.totalMs, top: cold.self.slice(0, 15) },
      pointQueriesWorker: { totalMs: worker.totalMs, top: worker.self.slice(0, 15) },
      pointQueriesPage: { totalMs: main.totalMs, top: main.self.slice(0, 8) },
    };
  } finally {
    await monitor.close();
    await context.close();
  }
}

export async function runExperiments(ctx) {
  const out = {};
  if (process.env.BENCH_EXPLORE_ONLY === 'cache') { out.cachePolicy = await cachePolicy(ctx); return out; }
  out.cachePolicy = await cachePolicy(ctx);
  out.flags = await flags(ctx);
  out.named = await profileNamed(ctx);
  return out;
}

export function printExperiments(x) {
  console.log('\nExperiments (BENCH_EXPLORE=1; Hearth only; not used for the table)');
  console.log('A. HTTP cache policy vs wasm code cache (same files and headers as hearth serve, Cache-Control varied)');
  for (const [policy, visits] of Object.entries(x.cachePolicy)) {
    console.log(`  ${policy.padEnd(30)} select 1 per visit: ${visits.map((v) => `${v.select1.toFixed(0)}${v.wasm.codeCacheHit ? '(hit)' : '(miss)'}`).join(' ')} ms;`
      + ` cached-visit median ${median(visits.slice(1).map((v) => v.select1)).toFixed(0)} ms; 10k insert right after start, median ${median(visits.slice(1).map((v) => v.insert)).toFixed(0)} ms`);
  }
  if (!x.flags) return;
  console.log('B. V8 flags (fresh profile: first load, then 2 cached visits)');
  for (const [name, visits] of Object.entries(x.flags)) {
    const f = (k, d = 0) => visits.map((v) => v[k].toFixed(d)).join('/');
    console.log(`  ${name.padEnd(38)} select 1 ${f('select1')} ms | 10k insert ${f('insert')} ms | 500-row select ${f('select500', 1)} ms | rt p50 ${f('rt', 3)} ms`
      + ` | TurboFan CPU ${visits.map((v) => v.all.topTier.ms.toFixed(0)).join('/')} ms`);
  }
  const n = x.named;
  console.log('C. Unstripped build of the current tree: where the bytes and the worker time go');
  if (n.skipped) { console.log(`  skipped: ${n.skipped}`); return; }
  console.log(`  code ${(n.codeBytes / 1e6).toFixed(2)} MB in ${n.functions} functions: ${Object.entries(n.codeByOrigin).map(([k, v]) => `${k} ${(v / 1e6).toFixed(2)} MB`).join(', ')}`);
  console.log(`  sections: ${n.sections.map((s) => `${s.name} ${(s.size / 1e6).toFixed(2)} MB`).join(', ')}`);
  console.log(`  largest functions: ${n.largest.map((f) => `${f.name.replace(/^github\.com_ncruces_go_sqlite3_wasm_v6\.__Module_\./, '')} ${(f.size / 1024).toFixed(0)} KB`).join(', ')}`);
  const top = (p) => p.top.slice(0, 10).map(([k, v]) => `${k.replace(/^github\.com_ncruces_go_sqlite3_wasm_v6\.__Module_\./, 'sqlite:').slice(0, 48)} ${v.toFixed(0)}`).join(', ');
  console.log(`  worker self time, new Worker() → select 1 (${n.coldStartWorker.totalMs.toFixed(0)} ms sampled): ${top(n.coldStartWorker)}`);
  console.log(`  worker self time, 1,050 steady point queries (${n.pointQueriesWorker.totalMs.toFixed(0)} ms): ${top(n.pointQueriesWorker)}`);
  console.log(`  page self time, same queries (${n.pointQueriesPage.totalMs.toFixed(0)} ms): ${top(n.pointQueriesPage)}`);
}
