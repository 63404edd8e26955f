// Where a reload of the task board spends its time (issue 15, goals 2 and
// 6): a first visit to a board with 5,000 synced tasks, BOARD_RELOAD_WARM
// reloads (default 2: by then Chromium usually has a code cache for the
// worker's wasm; 0 traces the first reload, which has none), then one more
// under a Chromium trace. Prints the board's milestones, the wasm summary
// (code cache, lazy compiles, tier-up), a timeline of the wasm events of
// both modules (the board's and the worker's) beside the board's marks,
// and the worker's CPU profile: self time, and the inclusive time of
// Hearth's functions. `make wasm-names` builds the worker with Go names.
// Asserts nothing. BOARD_RELOAD_TASKS changes the seed;
// BOARD_RELOAD_DWELL (ms, default 3000) is how long the board rests before
// the traced reload. BOARD_RELOAD_WARM=-1 traces the first visit itself
// (nothing cached), and then also prints, per 50 ms, how busy the page's
// main thread and the worker were, with the page's layouts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServer, launchPersistent, loopbackOnly } from '../harness.mjs';
import { startTrace, cpuProfiles, wasmSummary } from './trace.mjs';
import { printHelpIfAsked, waitForQuietBoard } from './common.mjs';

if (printHelpIfAsked(import.meta.url)) process.exit(0);

const tasks = Number(process.env.BOARD_RELOAD_TASKS ?? 5000);
const warm = Number(process.env.BOARD_RELOAD_WARM ?? 2);
const dwell = Number(process.env.BOARD_RELOAD_DWELL ?? 3000);
const server = await startServer(['-seed-tasks', String(tasks)]);
const dir = mkdtempSync(path.join(tmpdir(), 'hearth-board-reload-'));
const context = await launchPersistent(dir);
await loopbackOnly(context);
const page = context.pages()[0] ?? await context.newPage();
const url = new URL('board/', server.url).href;

/** Loads the board and waits for it at rest: live, synced, the offline shell installed. */
async function visit() {
  await page.goto(url);
  await page.waitForFunction(() => window.boardMilestones?.['tasks-live'] > 0, null, { timeout: 180000 });
  await waitForQuietBoard(page);
  await page.evaluate(() => Promise.race([navigator.serviceWorker.ready, new Promise((r) => setTimeout(r, 30000))]).then(() => true));
}

const firstVisit = warm < 0;
try {
  if (!firstVisit) {
    await visit();
    for (let i = 0; i < warm; i++) {
      await page.waitForTimeout(3000); // Chromium writes its code cache after a quiet moment
      await visit();
    }
    await page.waitForTimeout(dwell);
  }
  const categories = ['disabled-by-default-v8.cpu_profiler', 'v8.wasm', 'v8', 'blink.user_timing', '__metadata'];
  const stop = await startTrace(context, page, firstVisit ? [...categories, 'devtools.timeline'] : categories);
  await page.goto(url);
  await page.waitForFunction(() => window.boardMilestones?.['tasks-live'] > 0, null, { timeout: 180000 });
  const marks = await page.evaluate(() => ({
    ...window.boardMilestones,
    fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime,
  }));
  const events = await stop();
  const round = (v) => (typeof v === 'number' ? Math.round(v) : v);
  console.log(firstVisit ? `first visit, ${tasks} tasks (ms from navigation):` : `reload after ${warm} warm reloads, ${tasks} tasks (ms from navigation):`);
  for (const k of ['fcp', 'savedFrame', 'wasmReady', 'tasks-painted', 'open', 'tasks-live']) console.log(`  ${k.padEnd(14)} ${round(marks[k])}`);
  const s = wasmSummary(events);
  console.log(`wasm: code cache ${s.codeCacheHit ? 'hit' : 'miss'} (deserialize ${round(s.deserialize.ms)} ms), lazy compiles ${s.lazyCompile.n} / ${round(s.lazyCompile.ms)} ms, validation ${round(s.validate.ms)} ms, tier-up ${round(s.topTier.ms)} ms on background threads`);

  // The timeline: each module's streaming, deserialization and
  // instantiation (by thread: the page's is the board's), and the marks.
  const shown = /^wasm\.(StartStreamingCompilation|FinishStreaming|Deserialize|SyncInstantiate)$/;
  const rows = events.filter((e) => shown.test(e.name) || ((e.cat ?? '').includes('user_timing') && e.name.startsWith('board:')));
  const t0 = Math.min(...rows.map((e) => e.ts));
  console.log('\ntimeline (ms from the first wasm event; thread id; duration):');
  for (const e of rows.sort((a, b) => a.ts - b.ts)) {
    console.log(`  ${((e.ts - t0) / 1000).toFixed(0).padStart(6)}  ${String(e.tid).padStart(6)}  ${e.dur ? `${(e.dur / 1000).toFixed(0)} ms` : ''.padEnd(2)}  ${e.name}`);
  }

  for (const t of cpuProfiles(events)) {
    if (t.total < 50 || ![...t.self.keys()].some((n) => n.includes('hearthdb'))) continue; // the worker's thread only
    console.log(`\nthe worker: ${t.total.toFixed(0)} ms sampled`);
    for (const [name, ms] of [...t.self].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${ms.toFixed(1).padStart(8)} ms  ${name}`);
    console.log('  inclusive, Hearth:');
    const hearth = [...t.incl].filter(([n]) => n.includes('hearthdb')).sort((a, b) => b[1] - a[1]).slice(0, 25);
    for (const [name, ms] of hearth) console.log(`  ${ms.toFixed(1).padStart(8)} ms  ${name}`);
  }

  if (firstVisit) {
    // Who waits for whom on a first visit: each sampled thread's busy
    // share per 50 ms (the page's main thread is the one with the board's
    // marks), and the page's layouts.
    const bucket = 50000;
    const mainTid = rows.find((e) => e.name.startsWith('board:'))?.tid;
    const layouts = events.filter((e) => e.tid === mainTid && e.name === 'Layout' && (e.dur ?? 0) > 5000);
    for (const t of cpuProfiles(events, { timeline: true })) {
      if (t.total < 200) continue;
      const busy = new Map();
      for (const smp of t.samples) {
        const k = Math.floor((smp.ts - t0) / bucket);
        const b = busy.get(k) ?? [0, 0];
        b[0]++;
        if (smp.stack.length > 0 && smp.stack[0] !== '(idle)') b[1]++;
        busy.set(k, b);
      }
      // Told apart by their JavaScript: the worker's bootstrap, the
      // board's render call (wasm names are there only with make wasm-names).
      const fns = [...t.self.keys()];
      const who = fns.some((n) => n === 'startWorker' || n.includes('hearthdb')) ? 'the worker'
        : fns.some((n) => n.includes('vuguRender')) ? 'the page\'s main thread' : 'another thread';
      console.log(`\n${who}, busy per 50 ms from the first wasm event:`);
      const line = [...busy].sort((x, y) => x[0] - y[0]).map(([k, [n, b]]) => `${k * 50}:${Math.round((100 * b) / n)}%`);
      for (let i = 0; i < line.length; i += 10) console.log(`  ${line.slice(i, i + 10).join('  ')}`);
    }
    console.log('\nthe page\'s layouts over 5 ms (ms from the first wasm event; duration; objects):');
    for (const e of layouts) console.log(`  ${((e.ts - t0) / 1000).toFixed(0).padStart(6)}  ${(e.dur / 1000).toFixed(0)} ms  ${e.args?.beginData?.totalObjects ?? '?'}`);
  }
} finally {
  await context.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
