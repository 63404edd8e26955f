// What V8's optimizing tier costs a first visit (issue 15, goals 2 and 3):
// a fresh profile starts each engine and runs the bench page's workload
// (bench.html: `select 1`, the 10,000-row insert, the reads) while V8
// reports every TurboFan compile (--trace-wasm-compilation-times: the
// function, its time, its zone memory). Prints the compiles by function,
// largest zone first, and by Go package, beside the official build's, then
// the renderer's peak memory growth over the start and workload with V8's
// defaults and with --liftoff-only (no optimizing tier): what tier-up adds
// to the peak. `make wasm-names` first names Hearth's functions (otherwise
// wasm-function#N); `make build` restores the shipped worker. Last, the
// compiles the workload's 200 autocommit inserts alone set off (goal 3).
//
//   node e2e/bench/tierup.mjs      TIERUP_TOP=15 rows, TIERUP_RUNS=2 launches per variant
//
// Chromium is started here rather than through Playwright's launch, and
// Playwright connects to it over CDP: V8 prints its trace on the browser's
// standard output, which Playwright's launch does not hand over.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { chromiumPath, startServer } from '../harness.mjs';
import { benchArgs, gotoBench, log, median, Monitor, onCleanup, runBench, tempDir } from './common.mjs';
import { bundleWasmName, stageWebRoot } from './serve.mjs';
import { wasmFunctions } from './trace.mjs';

const TOP = Number(process.env.TIERUP_TOP ?? 15);
const RUNS = Math.max(1, Number(process.env.TIERUP_RUNS ?? 2));
const MB = 1024 * 1024;

// One line of --trace-wasm-compilation-times (src/wasm/function-compiler.cc):
// "Compiled function 0x…#17 using TurboFan, took 123 μs and 4567 / 8910
// max/total bytes; bodysize 42 codesize 99 name …".
const compiledLine = /Compiled function \S*#(\d+) using TurboFan, took (\d+) μs and (\d+) \/ (\d+) max\/total bytes; bodysize (\d+)/;

/** Starts Chromium on a fresh profile; resolves with its context through Playwright over CDP, its standard output's lines and close(). */
async function launch(jsFlags) {
  const profile = tempDir('hearth-tierup-');
  const args = [...benchArgs, '--headless', '--remote-debugging-port=0', `--user-data-dir=${profile}`];
  if (jsFlags) args.push(`--js-flags=${jsFlags}`);
  const proc = spawn(chromiumPath(), [...args, 'about:blank'], { stdio: ['ignore', 'pipe', 'pipe'] });
  // 'close': the process has ended and its output streams are drained.
  const stopped = new Promise((resolve) => proc.once('close', resolve));
  const lines = [];
  let partial = '';
  proc.stdout.setEncoding('utf8').on('data', (d) => {
    const parts = (partial + d).split('\n');
    partial = parts.pop();
    lines.push(...parts);
  });
  const endpoint = await new Promise((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`Chromium gave no DevTools endpoint in 30 s: ${err.slice(-2000)}`)), 30000);
    proc.stderr.setEncoding('utf8').on('data', (d) => {
      err += d;
      const m = err.match(/DevTools listening on (ws:\/\/\S+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`Chromium exited (${code}): ${err.slice(-2000)}`)); });
  });
  const browser = await chromium.connectOverCDP(endpoint);
  const close = async () => {
    await browser.close().catch(() => {});
    proc.kill('SIGTERM');
    await stopped;
    if (partial) lines.push(partial);
    partial = '';
  };
  onCleanup(close);
  return { context: browser.contexts()[0], lines, close };
}

/** One first visit: engine's start and the workload; the renderer's peak growth and V8's TurboFan compiles meanwhile. */
async function visit(url, engine, jsFlags, workloadOpts = {}) {
  const { context, lines, close } = await launch(jsFlags);
  let peakGrowth;
  try {
    const page = context.pages()[0] ?? await context.newPage();
    await gotoBench(page, url);
    const monitor = await Monitor.open(context);
    await monitor.quiesce();
    const before = await monitor.rendererPrivate();
    const stopSampling = monitor.sample();
    await page.evaluate((e) => bench.coldStart(e), engine);
    await page.evaluate((o) => bench.workload(o), workloadOpts);
    await monitor.quiesce(15000);
    const peak = await stopSampling();
    await monitor.close();
    const pid = Object.keys(peak).sort((a, b) => (peak[b] - (before[b] ?? 0)) - (peak[a] - (before[a] ?? 0)))[0];
    peakGrowth = peak[pid] - (before[pid] ?? 0);
  } finally {
    // Read V8's lines once Chromium has ended: its output is flushed then.
    await close();
  }
  const compiles = [];
  for (const line of lines) {
    const m = line.match(compiledLine);
    if (m) compiles.push({ index: Number(m[1]), us: Number(m[2]), zoneMax: Number(m[3]), zoneTotal: Number(m[4]), body: Number(m[5]) });
  }
  return { peakGrowth, compiles };
}

// Go packages in the linker's names (cmd/link writes / and - as _).
const groups = [
  ['SQLite translated to Go (go-sqlite3-wasm)', /^github\.com_ncruces_go_sqlite3_wasm/],
  ['go-sqlite3', /^github\.com_ncruces_go_sqlite3/],
  ["Hearth's packages", /^github\.com_hearthdb_hearth/],
  ['Go runtime', /^runtime\.|^internal_/],
];
const groupOf = (name) => (name ? groups.find(([, re]) => re.test(name))?.[0] ?? 'other' : 'unnamed (make wasm-names)');

function printCompiles(label, runs, names, { rows = true } = {}) {
  const last = runs.at(-1).compiles;
  const ms = (r) => r.compiles.reduce((a, c) => a + c.us, 0) / 1000;
  console.log(`\n${label}: ${last.length} TurboFan compiles in the last launch; their time (on V8's background threads) ${runs.map((r) => ms(r).toFixed(0)).join(', ')} ms per launch;`,
    `the largest zone ${runs.map((r) => (Math.max(0, ...r.compiles.map((c) => c.zoneMax)) / MB).toFixed(1)).join(', ')} MB`);
  if (!rows || !last.length) return;
  console.log(`  largest zones (last launch):\n  ${'zone MB'.padStart(8)} ${'ms'.padStart(6)} ${'body B'.padStart(8)}  function`);
  for (const c of [...last].sort((a, b) => b.zoneMax - a.zoneMax).slice(0, TOP)) {
    console.log(`  ${(c.zoneMax / MB).toFixed(1).padStart(8)} ${(c.us / 1000).toFixed(0).padStart(6)} ${String(c.body).padStart(8)}  ${names?.get(c.index) ?? `wasm-function#${c.index}`}`);
  }
  if (!names) return;
  const by = new Map();
  for (const c of last) {
    const g = groupOf(names.get(c.index));
    const s = by.get(g) ?? { n: 0, ms: 0, body: 0 };
    s.n++; s.ms += c.us / 1000; s.body += c.body;
    by.set(g, s);
  }
  console.log('  by package (last launch): compiles, ms, wasm bytes compiled');
  for (const [g, s] of [...by].sort((a, b) => b[1].ms - a[1].ms)) console.log(`    ${g}: ${s.n}, ${s.ms.toFixed(0)} ms, ${s.body.toLocaleString('en-US')} B`);
}

/**
 * The functions TurboFan compiled in launches that ran the whole workload and
 * in none that stopped before its autocommit inserts: the tier-up those
 * inserts set off, on background threads while they ran. (Comparing
 * launches, since V8's standard output reaches us in buffered blocks and
 * cannot be cut at a point in time.)
 */
function printAddedCompiles(label, withRuns, withoutRuns, names) {
  const seen = new Set(withoutRuns.flatMap((r) => r.compiles.map((c) => c.index)));
  const added = new Map();
  for (const c of withRuns.at(-1).compiles) if (!seen.has(c.index)) added.set(c.index, c);
  const ms = [...added.values()].reduce((a, c) => a + c.us, 0) / 1000;
  console.log(`\n${label}: TurboFan compiles the 200 autocommit inserts set off (in the last full launch, in no launch without them): ${added.size}, ${ms.toFixed(0)} ms`);
  if (!names) return;
  for (const c of [...added.values()].sort((a, b) => b.us - a.us).slice(0, TOP)) {
    console.log(`  ${(c.us / 1000).toFixed(1).padStart(6)} ms ${String(c.body).padStart(8)} B  ${names.get(c.index) ?? `wasm-function#${c.index}`}`);
  }
}

await runBench(import.meta.url, async () => {
  const root = stageWebRoot();
  onCleanup(() => fs.rmSync(root, { recursive: true, force: true }));
  const server = await startServer([], { web: [root] });
  onCleanup(() => server.stop());
  const wasm = fs.readFileSync(path.join(root, 'dist', bundleWasmName(path.join(root, 'dist')) ?? 'hearth.wasm'));
  const names = wasmFunctions(wasm).names;
  log(`serving ${root}; Hearth's worker ${names.size ? 'has' : 'has no'} function names`);

  const variants = [
    { key: 'hearth', engine: 'hearth', flags: '--trace-wasm-compilation-times' },
    { key: 'hearth-liftoff', engine: 'hearth', flags: '--liftoff-only' },
    { key: 'official', engine: 'official', flags: '--trace-wasm-compilation-times' },
    // The workload without its last step (200 autocommit inserts): what
    // that step alone makes V8 compile (goal 3's slowest row).
    { key: 'hearth-no-autocommit', engine: 'hearth', flags: '--trace-wasm-compilation-times', workload: { inserts: 0 } },
    { key: 'official-no-autocommit', engine: 'official', flags: '--trace-wasm-compilation-times', workload: { inserts: 0 } },
  ];
  const results = Object.fromEntries(variants.map((v) => [v.key, []]));
  for (let run = 0; run < RUNS; run++) {
    for (const v of variants) {
      const r = await visit(server.url, v.engine, v.flags, v.workload);
      results[v.key].push(r);
      log(`${v.key}: renderer peak +${(r.peakGrowth / MB).toFixed(0)} MB, ${r.compiles.length} TurboFan compiles`);
    }
  }
  printCompiles('Hearth', results.hearth, names.size ? names : null);
  // Its module has no name section: only the totals say something.
  printCompiles('Official build', results.official, null, { rows: false });
  printAddedCompiles('Hearth', results.hearth, results['hearth-no-autocommit'], names.size ? names : null);
  printAddedCompiles('Official build', results.official, results['official-no-autocommit'], null);
  const peak = (k) => `${results[k].map((r) => (r.peakGrowth / MB).toFixed(0)).join(', ')} MB (median ${(median(results[k].map((r) => r.peakGrowth)) / MB).toFixed(0)})`;
  console.log('\nRenderer peak growth, first visit, start + workload (goal 2: ≤ 150 MB):');
  console.log(`  Hearth, V8's defaults:       ${peak('hearth')}`);
  console.log(`  Hearth, --liftoff-only:      ${peak('hearth-liftoff')}`);
  console.log(`  official, V8's defaults:     ${peak('official')}`);
});
