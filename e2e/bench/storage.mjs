// Storage benchmark (issue "Durable storage"): Hearth on memory, OPFS and
// IndexedDB against the anchors of each storage class, in ONE Chromium run
// on a persistent, on-disk profile, every time taken on the page end to end.
//
//   BENCH_STORAGE=only node e2e/bench/run.mjs   (run.mjs runs it last otherwise)
//   BENCH_STORAGE_PASSES=3            measured workload passes per backend
//   BENCH_STORAGE_REOPENS=3           fresh-worker opens of the 10 MB database per backend
//   BENCH_STORAGE_TARGETS=a,b         only these backends (ids below), for debugging
//
// Backends (one dedicated worker each, structured-clone RPC for the anchors):
//   memory: Hearth memory; official SQLite WASM :memory:
//   OPFS:   Hearth OPFS (WAL, exclusive locking, synchronous=FULL), and the
//           same with durability:'normal' (synchronous=NORMAL, autocommit
//           rows only); official opfs-sahpool (its defaults, and WAL +
//           exclusive locking); wa-sqlite OPFSCoopSyncVFS on the synchronous
//           build (its defaults, and WAL + exclusive locking)
//   IDB:    Hearth IndexedDB (batch-atomic commits, strict durability);
//           wa-sqlite IDBBatchAtomicVFS on the Asyncify build (its defaults:
//           synchronous=FULL, i.e. strict IndexedDB transactions)
// Workload per backend, run 1 + BENCH_STORAGE_PASSES times in one fresh
// worker, each time on a new database, waiting for Chromium to be idle in
// between: a first pass (diagnostic: the engine's wasm is still tiering up)
// and the measured passes: the 10,000-row tasks table of run.mjs inserted in
// one transaction (median over passes); the 500-row indexed read as objects
// (1 warm-up + 20 timed per pass, p50 pooled); 200 sequential single-row
// autocommit inserts (p50/p95 per pass, pooled). Then a ~10 MB database
// built, closed, then opened in a fresh worker (engine booted, Chromium idle)
// and `SELECT count(*)` run: open and open + first query, median of
// BENCH_STORAGE_REOPENS, plus one back-to-back cold open as a diagnostic.
// The table compares Hearth with the best anchor of the same storage class.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { repoRoot } from '../harness.mjs';
import { Monitor, median, openBench } from './common.mjs';

const REOPENS = Math.max(1, Number(process.env.BENCH_STORAGE_REOPENS ?? 3));
const PASSES = Math.max(1, Number(process.env.BENCH_STORAGE_PASSES ?? 3));
const ONLY = (process.env.BENCH_STORAGE_TARGETS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
const TEN_MB = 10 * 1000 * 1000;
const STEP_TIMEOUT_MS = 120000;
export const GOAL_RATIO = 1.5;

const OFFICIAL = './storage-official-worker.js';
const WASQLITE = './storage-wasqlite-worker.js';
// Both builds default to synchronous=NORMAL in WAL mode (no flush per
// commit): the WAL variants ask for FULL, Hearth's default durability.
const WAL = ['PRAGMA locking_mode = EXCLUSIVE', 'PRAGMA journal_mode = WAL', 'PRAGMA synchronous = FULL'];
const WAL_NORMAL = ['PRAGMA locking_mode = EXCLUSIVE', 'PRAGMA journal_mode = WAL', 'PRAGMA synchronous = NORMAL'];

export const TARGETS = [
  { id: 'hearth-memory', cls: 'memory', engine: 'hearth', label: 'Hearth memory', options: { storage: 'memory' } },
  { id: 'official-memory', cls: 'memory', engine: 'official', label: 'official :memory:', options: { worker: OFFICIAL, params: { vfs: 'memory' } } },
  { id: 'hearth-opfs', cls: 'opfs', engine: 'hearth', label: 'Hearth OPFS', options: { storage: 'opfs' } },
  // synchronous=NORMAL: the extra autocommit row pair, against the anchors
  // at NORMAL (not part of the goal, nor of the best anchor at FULL).
  {
    id: 'hearth-opfs-normal', cls: 'opfs', engine: 'hearth', label: "Hearth OPFS, durability 'normal'", normal: true, workloadOnly: true,
    options: { storage: 'opfs', durability: 'normal' },
  },
  { id: 'official-sahpool', cls: 'opfs', engine: 'official', label: 'official opfs-sahpool', options: { worker: OFFICIAL, params: { vfs: 'sahpool' } } },
  {
    id: 'official-sahpool-wal', cls: 'opfs', engine: 'official', label: 'official opfs-sahpool, WAL+excl',
    options: { worker: OFFICIAL, params: { vfs: 'sahpool', pragmas: WAL } },
  },
  { id: 'wasqlite-coop', cls: 'opfs', engine: 'wasqlite', label: 'wa-sqlite OPFSCoopSyncVFS', options: { worker: WASQLITE, params: { vfs: 'coop' } } },
  {
    id: 'wasqlite-coop-wal', cls: 'opfs', engine: 'wasqlite', label: 'wa-sqlite OPFSCoopSyncVFS, WAL+excl',
    options: { worker: WASQLITE, params: { vfs: 'coop', pragmas: WAL } },
  },
  {
    id: 'official-sahpool-wal-normal', cls: 'opfs', engine: 'official', label: 'official opfs-sahpool, WAL+excl, NORMAL', normal: true, workloadOnly: true,
    options: { worker: OFFICIAL, params: { vfs: 'sahpool', pragmas: WAL_NORMAL } },
  },
  {
    id: 'wasqlite-coop-wal-normal', cls: 'opfs', engine: 'wasqlite', label: 'wa-sqlite OPFSCoopSyncVFS, WAL+excl, NORMAL', normal: true, workloadOnly: true,
    options: { worker: WASQLITE, params: { vfs: 'coop', pragmas: WAL_NORMAL } },
  },
  { id: 'hearth-idb', cls: 'idb', engine: 'hearth', label: 'Hearth IndexedDB', options: { storage: 'idb' } },
  { id: 'wasqlite-idb', cls: 'idb', engine: 'wasqlite', label: 'wa-sqlite IDBBatchAtomicVFS', options: { worker: WASQLITE, params: { vfs: 'idb' } } },
];

// Each official opfs-sahpool variant gets pool directories of its own.
for (const t of TARGETS) if (t.engine === 'official') t.options.params.pool = t.id;

const CLASSES = [
  { cls: 'memory', name: 'memory', hearth: 'hearth-memory' },
  { cls: 'opfs', name: 'OPFS', hearth: 'hearth-opfs' },
  { cls: 'idb', name: 'IndexedDB', hearth: 'hearth-idb' },
];

/** The metrics, in table order: how to read each from a backend's result. */
const METRICS = [
  { key: 'insert', label: '10,000-row insert, one transaction', f: (r) => r.work?.insertBatchMs },
  { key: 'autocommitP50', label: 'autocommit insert p50 (200 sequential)', f: (r) => r.work?.autocommit.p50 },
  { key: 'autocommitP95', label: 'autocommit insert p95', f: (r) => r.work?.autocommit.p95 },
  { key: 'read500', label: '500-row indexed read as objects, p50', f: (r) => r.work?.read500.p50 },
  { key: 'open', label: '10 MB database: open (fresh worker)', f: (r) => r.open?.openMs, persistentOnly: true },
  { key: 'openQuery', label: '10 MB database: open + first count(*)', f: (r) => r.open?.openQueryMs, persistentOnly: true },
];
const DIAGNOSTICS = [
  { key: 'firstInsert', label: 'first pass: 10,000-row insert', f: (r) => r.first?.insertBatchMs },
  { key: 'firstAutocommitP50', label: 'first pass: autocommit insert p50', f: (r) => r.first?.autocommit.p50 },
  { key: 'firstRead500', label: 'first pass: 500-row read p50', f: (r) => r.first?.read500.p50 },
  { key: 'build', label: '10 MB build (1,000-row transactions)', f: (r) => r.build?.ms, persistentOnly: true },
  { key: 'cold', label: '10 MB: new Worker() → count(*) answered', f: (r) => r.open?.coldMs, persistentOnly: true },
];

const SYNC = { 0: 'OFF', 1: 'NORMAL', 2: 'FULL', 3: 'EXTRA' };

function config(r) {
  const p = r.work?.pragmas;
  if (!p) return 'n/a';
  return `${p.journalMode}/${SYNC[p.synchronous] ?? p.synchronous}/${String(p.lockingMode).slice(0, 4)}`;
}

function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function summary(samples) {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p95: percentile(s, 95), min: s[0], max: s[s.length - 1], n: s.length };
}

/** The measured passes as one: median insert, pooled read and autocommit samples. */
function aggregate(passes) {
  const last = passes[passes.length - 1];
  return {
    insertBatchMs: median(passes.map((p) => p.insertBatchMs)),
    insertBatchAll: passes.map((p) => p.insertBatchMs),
    read500: summary(passes.flatMap((p) => p.read500All)),
    readFirstMs: median(passes.map((p) => p.readFirstMs)),
    autocommit: summary(passes.flatMap((p) => p.autocommitAll)),
    openEmptyMs: median(passes.map((p) => p.openEmptyMs)),
    pragmas: last.pragmas,
    dbBytes: last.dbBytes,
  };
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not finish in ${ms / 1000} s`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

async function gotoStorage(page, url) {
  await page.goto(new URL('bench/storage.html', url).href);
  await page.waitForFunction(() => window.storageBenchReady === true, null, { timeout: 30000 });
}

/** Busy CPU seconds of the whole machine, from /proc/stat (null where unavailable). */
function machineBusySeconds() {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal
    const busy = f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] || 0);
    return busy / 100; // USER_HZ is 100 on Linux
  } catch { return null; }
}

/**
 * Starts watching for CPU use by anything other than this Chromium and this
 * Node process (another build or test run on the machine makes storage
 * timings noisy). stop() → share of all cores used by others meanwhile.
 */
async function watchForeignLoad(monitor) {
  const t0 = Date.now();
  const m0 = machineBusySeconds();
  const c0 = await monitor.cpuTime().catch(() => null);
  const n0 = process.cpuUsage();
  return async () => {
    const m1 = machineBusySeconds();
    const c1 = await monitor.cpuTime().catch(() => null);
    const n = process.cpuUsage(n0);
    if (m0 == null || m1 == null || c0 == null || c1 == null) return null;
    const wall = (Date.now() - t0) / 1000;
    const foreign = (m1 - m0) - (c1 - c0) - (n.user + n.system) / 1e6;
    return Math.max(0, foreign) / (wall * os.cpus().length);
  };
}

function fsType(dir) {
  try { return execFileSync('df', ['--output=fstype', dir], { encoding: 'utf8' }).split('\n')[1].trim(); } catch { return 'unknown'; }
}

/**
 * Runs every backend in one Chromium launch on a fresh persistent profile.
 * root: the staged web root (to tell whether wa-sqlite was staged).
 */
export async function runStorageBench({ url, root, log = console.error, tempDir }) {
  const profile = tempDir('hearth-bench-profile-storage-');
  const skipped = {};
  if (root && !fs.existsSync(path.join(root, 'anchor', 'wa-sqlite', 'src', 'sqlite-api.js'))) {
    const why = 'node_modules/@journeyapps/wa-sqlite is not installed (run npm install), so it was not staged';
    for (const t of TARGETS) if (t.engine === 'wasqlite') skipped[t.id] = why;
  }
  const targets = TARGETS.filter((t) => !ONLY.length || ONLY.includes(t.id));
  const { context, page, errors } = await openBench(profile, url);
  const monitor = await Monitor.open(context);
  const results = {};
  let info;
  try {
    await gotoStorage(page, url);
    info = await page.evaluate(() => storageBench.storageInfo());
    for (const t of targets) {
      const r = { id: t.id, label: t.label, cls: t.cls };
      results[t.id] = r;
      if (skipped[t.id]) { r.error = skipped[t.id]; log(`storage ${t.id}: skipped: ${r.error}`); continue; }
      const errorsBefore = errors.length;
      const step = async (what, fn, arg) => {
        await monitor.quiesce();
        return withTimeout(page.evaluate(fn, arg), STEP_TIMEOUT_MS, `${t.id} ${what}`);
      };
      const started = Date.now();
      const stopWatch = await watchForeignLoad(monitor);
      try {
        // The first pass on a fresh worker runs on baseline-compiled wasm
        // while the engine's hot paths tier up (diagnostic); the next ones,
        // each on a new database once Chromium is idle, are the headline.
        r.boot = await step('boot', (x) => storageBench.bootHeld(x), t);
        r.first = await step('first pass', (x) => storageBench.workloadHeld(x, 'first'), t);
        r.passes = [];
        for (let k = 0; k < PASSES; k++) r.passes.push(await step(`pass ${k + 1}`, ([x, w]) => storageBench.workloadHeld(x, w), [t, `work${k + 1}`]));
        r.work = aggregate(r.passes);
        await page.evaluate(() => storageBench.stopHeld());
        if (t.cls !== 'memory' && !t.workloadOnly) {
          r.build = await step('10 MB build', ([x, b]) => storageBench.build(x, b), [t, TEN_MB]);
          r.opens = [];
          for (let k = 0; k < REOPENS; k++) {
            const boot = await step('boot', (x) => storageBench.bootHeld(x), t);
            const o = await step('open', ([x, n]) => storageBench.openHeld(x, n), [t, r.build.rows]);
            r.opens.push({ ...boot, ...o });
          }
          r.cold = await step('cold open', ([x, n]) => storageBench.reopen(x, n), [t, r.build.rows]);
          r.open = {
            openMs: median(r.opens.map((o) => o.openMs)),
            openQueryMs: median(r.opens.map((o) => o.openQueryMs)),
            bootMs: median(r.opens.map((o) => o.bootMs)),
            coldMs: r.cold.coldMs,
          };
        }
      } catch (err) {
        r.error = String(err?.message ?? err).split('\n')[0];
        // A hung or crashed step may leave workers running: a fresh page ends them.
        await gotoStorage(page, url).catch(() => {});
      }
      if (errors.length > errorsBefore) r.pageErrors = errors.slice(errorsBefore);
      r.seconds = (Date.now() - started) / 1000;
      r.foreignCpu = await stopWatch();
      const w = r.work;
      log(`storage ${t.id.padEnd(21)} ${r.error ? `FAILED: ${r.error}` : `insert ${w.insertBatchMs.toFixed(0)} ms, autocommit p50 ${w.autocommit.p50.toFixed(2)} ms`
        + ` p95 ${w.autocommit.p95.toFixed(2)} ms, read500 p50 ${w.read500.p50.toFixed(1)} ms`
        + (r.open ? `, 10 MB open ${r.open.openMs.toFixed(1)} ms, +count ${r.open.openQueryMs.toFixed(1)} ms` : '')
        + ` [${config(r)}]`} (${r.seconds.toFixed(0)} s${r.foreignCpu > 0.1 ? `; other processes used ${(r.foreignCpu * 100).toFixed(0)} % of the CPUs` : ''})`);
    }
    await page.evaluate(() => storageBench.stopHeld()).catch(() => {});
  } finally {
    await monitor.close();
    await context.close();
  }
  const summary = summarize(results);
  return {
    date: new Date().toISOString(),
    profileFs: fsType(profile),
    browserStorage: info,
    reopens: REOPENS,
    passes: PASSES,
    goal: `within ${GOAL_RATIO}x of the best anchor on every row`,
    targets: TARGETS.map(({ id, cls, engine, label, options }) => ({ id, cls, engine, label, options })),
    results,
    ...summary,
  };
}

/** Hearth vs the best anchor of its class, per metric; the goal over the durable classes. */
function summarize(results) {
  const ok = (id) => results[id] && !results[id].error;
  const rows = [];
  for (const c of CLASSES) {
    if (!TARGETS.some((t) => t.cls === c.cls && results[t.id])) continue; // filtered out (BENCH_STORAGE_TARGETS)
    const anchors = TARGETS.filter((t) => t.cls === c.cls && t.engine !== 'hearth' && !t.normal && results[t.id]);
    const normalAnchors = TARGETS.filter((t) => t.cls === c.cls && t.engine !== 'hearth' && t.normal && results[t.id]);
    for (const m of [...METRICS, ...DIAGNOSTICS.map((d) => ({ ...d, diagnostic: true }))]) {
      if (m.persistentOnly && c.cls === 'memory') continue;
      const h = ok(c.hearth) ? m.f(results[c.hearth]) : NaN;
      const candidates = anchors.filter((a) => ok(a.id)).map((a) => ({ id: a.id, label: a.label, value: m.f(results[a.id]) }))
        .filter((a) => Number.isFinite(a.value));
      const best = candidates.sort((a, b) => a.value - b.value)[0] ?? null;
      rows.push({
        cls: c.cls, metric: m.key, label: m.label, diagnostic: !!m.diagnostic,
        hearth: h, best: best?.value ?? NaN, bestId: best?.id ?? null, bestLabel: best?.label ?? null,
        ratio: best ? h / best.value : NaN,
        anchors: Object.fromEntries(anchors.map((a) => [a.id, ok(a.id) ? m.f(results[a.id]) : null])),
      });
    }
    if (c.cls === 'opfs' && results['hearth-opfs-normal']) {
      const n = results['hearth-opfs-normal'];
      for (const key of ['autocommitP50', 'autocommitP95']) {
        const base = rows.find((r) => r.cls === 'opfs' && r.metric === key);
        const m = METRICS.find((x) => x.key === key);
        const v = ok('hearth-opfs-normal') ? m.f(n) : NaN;
        const best = normalAnchors.filter((a) => ok(a.id)).map((a) => ({ id: a.id, label: a.label, value: m.f(results[a.id]) }))
          .filter((a) => Number.isFinite(a.value)).sort((a, b) => a.value - b.value)[0] ?? null;
        rows.push({
          cls: 'opfs', metric: `${key}Normal`, label: `${m.label.replace(' (200 sequential)', '')}, durability 'normal'`, extra: true,
          hearth: v, best: best?.value ?? NaN, bestId: best?.id ?? null, bestLabel: best?.label ?? null, ratio: best ? v / best.value : NaN,
          hearthFull: base.hearth, vsFull: v / base.hearth,
          anchors: Object.fromEntries(normalAnchors.map((a) => [a.id, ok(a.id) ? m.f(results[a.id]) : null])),
        });
      }
    }
  }
  const counted = rows.filter((r) => !r.diagnostic && !r.extra && r.cls !== 'memory');
  const measured = counted.filter((r) => Number.isFinite(r.ratio));
  const over = measured.filter((r) => r.ratio > GOAL_RATIO);
  const missing = counted.filter((r) => !Number.isFinite(r.ratio));
  return {
    rows,
    goalStatus: {
      goal: `Hearth within ${GOAL_RATIO}x of the best anchor on every row (OPFS and IndexedDB)`,
      met: over.length === 0 && missing.length === 0,
      within: measured.length - over.length,
      measured: measured.length,
      rows: counted.length,
      over: over.map((r) => ({ cls: r.cls, metric: r.metric, ratio: r.ratio, bestId: r.bestId })),
      missing: missing.map((r) => ({ cls: r.cls, metric: r.metric })),
    },
  };
}

// --- printing ------------------------------------------------------------------

function ms(x) {
  if (x == null || !Number.isFinite(x)) return 'n/a';
  if (x >= 100) return `${x.toFixed(0)} ms`;
  if (x >= 10) return `${x.toFixed(1)} ms`;
  return `${x.toFixed(2)} ms`;
}

export function printStorage(s, { chromium = '' } = {}) {
  const { results, rows, goalStatus } = s;
  const clsName = Object.fromEntries(CLASSES.map((c) => [c.cls, c.name]));
  const labelOf = Object.fromEntries(TARGETS.map((t) => [t.id, t.label]));
  console.log(`\nStorage bench (issue "Durable storage") — ${chromium} ${os.cpus().length} CPUs; one Chromium run, persistent profile on ${s.profileFs}`);
  console.log(`ratio = Hearth ÷ best anchor of the same storage class (lower is better); goal: ${s.goal}`);
  console.log(`timed on the page end to end; after a first pass on a fresh worker, ${s.passes} measured passes in the same worker, each on a new`);
  console.log(`database once Chromium is idle (insert: median of passes; p50/p95: pooled samples); 10 MB open: a fresh worker, engine booted`);
  console.log(`and Chromium idle, median of ${s.reopens}; (diag) rows are not part of the goal\n`);
  const w = [46, 10, 10, 7, 5];
  const line = (a, b, c, d, e, f = '') => `${a.padEnd(w[0])} | ${b.padStart(w[1])} | ${c.padStart(w[2])} | ${d.padStart(w[3])} | ${e.padStart(w[4])} | ${f}`;
  console.log(line('metric', 'Hearth', 'best', 'ratio', '≤1.5×', 'best anchor'));
  console.log(`${'-'.repeat(w[0])}-+-${'-'.repeat(w[1])}-+-${'-'.repeat(w[2])}-+-${'-'.repeat(w[3])}-+-${'-'.repeat(w[4])}-+-${'-'.repeat(36)}`);
  for (const c of CLASSES) {
    if (!rows.some((r) => r.cls === c.cls)) continue;
    const h = results[c.hearth];
    const cfg = h && !h.error ? ` — Hearth: ${config(h)}` : '';
    console.log(`${clsName[c.cls]}${c.cls === 'memory' ? ' (reference; not part of the goal)' : ''}${cfg}`);
    for (const r of rows.filter((x) => x.cls === c.cls)) {
      const ratio = Number.isFinite(r.ratio) ? `${r.ratio.toFixed(2)}×` : 'n/a';
      let verdict = Number.isFinite(r.ratio) ? (r.ratio <= GOAL_RATIO ? 'yes' : 'NO') : '—';
      if (r.diagnostic || r.extra || r.cls === 'memory') verdict = '';
      let note = r.bestLabel ?? (Object.keys(r.anchors).length ? 'no anchor ran' : 'no anchor');
      if (r.extra) note = `${r.bestLabel ?? 'no NORMAL anchor ran'}; Hearth at FULL: ${ms(r.hearthFull)}`;
      const label = `  ${r.diagnostic ? '(diag) ' : ''}${r.label}`;
      console.log(line(label.slice(0, w[0]), ms(r.hearth), ms(r.best), ratio, verdict, note));
    }
  }

  // Every backend, every metric.
  console.log('\nAll backends (ms; config = journal mode / synchronous / locking mode as reported by PRAGMA)');
  const cols = [...METRICS, DIAGNOSTICS.find((d) => d.key === 'build'), DIAGNOSTICS.find((d) => d.key === 'cold')];
  const heads = ['insert 10k', 'ac p50', 'ac p95', 'read p50', 'open', 'open+q', 'build 10M', 'cold open'];
  const lw = 38;
  console.log(`${'backend'.padEnd(lw)}${heads.map((x) => x.padStart(10)).join('')}  config`);
  const num = (x) => (x == null || !Number.isFinite(x) ? 'n/a' : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)).padStart(10);
  for (const t of TARGETS) {
    const r = results[t.id];
    if (!r) continue;
    if (r.error) { console.log(`${t.label.padEnd(lw)}  FAILED: ${r.error}`); continue; }
    console.log(`${t.label.slice(0, lw - 1).padEnd(lw)}${cols.map((m) => num(m.f(r))).join('')}  ${config(r)}`);
  }
  const busy = TARGETS.filter((t) => results[t.id]?.foreignCpu > 0.1);
  if (busy.length) {
    console.log(`\nWarning: other processes on this machine used CPU while these ran (share of all ${os.cpus().length} CPUs): `
      + `${busy.map((t) => `${t.id} ${(results[t.id].foreignCpu * 100).toFixed(0)} %`).join(', ')}; their numbers are noisier.`);
  }
  const failed = TARGETS.filter((t) => results[t.id]?.error);
  if (failed.length) {
    console.log('\nBackends that did not run:');
    for (const t of failed) console.log(`  ${labelOf[t.id]}: ${results[t.id].error}${results[t.id].pageErrors ? ` (page: ${results[t.id].pageErrors.join(' | ').slice(0, 300)})` : ''}`);
  }
  const g = goalStatus;
  console.log(`\nGoal: ${g.goal}`);
  console.log(`  [${g.met ? 'met' : 'NOT met'}] ${g.within}/${g.rows} rows within ${GOAL_RATIO}×`
    + (g.over.length ? `; over: ${g.over.map((o) => `${clsName[o.cls]} ${o.metric} ${o.ratio.toFixed(2)}× (vs ${labelOf[o.bestId]})`).join('; ')}` : '')
    + (g.missing.length ? `; not measured: ${g.missing.map((o) => `${clsName[o.cls]} ${o.metric}`).join(', ')}` : ''));
}

export function writeStorageArtifact(s, extra = {}) {
  const out = path.join(repoRoot, 'e2e', 'artifacts', 'bench-storage-latest.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify({ ...extra, ...s }, null, 1));
  return out;
}
