// Storage bench rows per engine: Hearth's storage workload (the one of
// storage.mjs, from storage-page.js) in Chromium, Firefox and WebKit, each
// driven by its test driver (e2e/drivers/) on a fresh persistent profile,
// on every backend that engine has there. Hearth only: the anchors'
// comparison stays Chromium's (storage.mjs).
//
//   node e2e/bench/engines.mjs           (make bench-engines)
//   BENCH_ENGINES=firefox,webkit         only these engines
//   BENCH_ENGINES_PASSES=2               measured passes per backend
//
// Per backend, in one held worker: a first pass (diagnostic, the engine's
// wasm is still tiering up), then the measured passes, each on a new
// database: the 10,000-row insert in one transaction (median over passes),
// the 500-row indexed read (p50 pooled), 200 sequential autocommit inserts
// (p50/p95 pooled). Then a ~2 MB database is built and opened from a new
// worker: open + first count(*) (the worker start included separately).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer } from '../harness.mjs';
import { stageWebRoot } from './serve.mjs';
import { median, printHelpIfAsked } from './common.mjs';
import { chromiumDriver } from '../drivers/chromium.mjs';
import { firefoxDriver } from '../drivers/firefox.mjs';
import { webkitDriver, webkitAvailable } from '../drivers/webkit.mjs';

const PASSES = Math.max(1, Number(process.env.BENCH_ENGINES_PASSES ?? 2));
const ONLY = (process.env.BENCH_ENGINES ?? '').split(',').map((s) => s.trim()).filter(Boolean);
const OPEN_BYTES = 2 * 1000 * 1000;
const drivers = [chromiumDriver, firefoxDriver, webkitDriver].filter((d) => !ONLY.length || ONLY.includes(d.engine));

const pooled = (passes, key) => {
  const all = passes.flatMap((p) => p[`${key}All`]).sort((a, b) => a - b);
  const at = (q) => all[Math.min(all.length - 1, Math.ceil(q * all.length) - 1)];
  return { p50: at(0.5), p95: at(0.95) };
};

async function waitReady(page) {
  const deadline = Date.now() + 30000;
  while (!(await page.evaluate(() => window.storageBenchReady === true))) {
    if (Date.now() > deadline) throw new Error('bench/storage.html did not load its module in 30 s');
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function benchEngine(driver, url, log) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), `hearth-bench-${driver.engine}-`));
  const browser = await driver.launch({ profile });
  const rows = [];
  try {
    const page = await browser.newPage(new URL('bench/storage.html', url).href);
    await waitReady(page);
    for (const storage of driver.backends) {
      const t = { id: `${driver.engine}-${storage}`, engine: 'hearth', options: { storage } };
      const row = { engine: driver.engine, storage };
      try {
        await page.evaluate((x) => storageBench.bootHeld(x), t);
        await page.evaluate((x) => storageBench.workloadHeld(x, 'first'), t);
        const passes = [];
        for (let k = 0; k < PASSES; k++) passes.push(await page.evaluate(([x, w]) => storageBench.workloadHeld(x, w), [t, `work${k + 1}`]));
        await page.evaluate(() => storageBench.stopHeld());
        row.insertBatchMs = median(passes.map((p) => p.insertBatchMs));
        row.read500 = pooled(passes, 'read500');
        row.autocommit = pooled(passes, 'autocommit');
        const built = await page.evaluate(([x, b]) => storageBench.build(x, b), [t, OPEN_BYTES]);
        const open = await page.evaluate(([x, n]) => storageBench.reopen(x, n), [t, built.rows]);
        row.openMB = built.dbBytes / 1e6;
        row.bootMs = open.bootMs;
        row.openQueryMs = open.openQueryMs;
      } catch (err) {
        row.error = String(err?.message ?? err).split('\n')[0];
      }
      rows.push(row);
      log(`engines ${row.engine}/${row.storage}: ${row.error ? `FAILED: ${row.error}` : 'done'}`);
    }
  } finally {
    await browser.close().catch(() => {});
    await driver.cleanup();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  return rows;
}

function print(rows) {
  const f = (x, d = 1) => (x == null || Number.isNaN(x) ? '-' : x.toFixed(d));
  console.log('\nHearth storage per engine (ms; persistent profile, one run, machine shared)');
  console.log('| engine | backend | insert 10k rows, 1 tx | read 500 rows p50 | autocommit insert p50 / p95 | new worker start | open ~2 MB + first count(*) |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    if (r.error) { console.log(`| ${r.engine} | ${r.storage} | failed: ${r.error} | | | | |`); continue; }
    console.log(`| ${r.engine} | ${r.storage} | ${f(r.insertBatchMs, 0)} | ${f(r.read500.p50)} | ${f(r.autocommit.p50, 2)} / ${f(r.autocommit.p95, 2)} | ${f(r.bootMs, 0)} | ${f(r.openQueryMs)} |`);
  }
}

if (printHelpIfAsked(import.meta.url)) process.exit(0);

const root = stageWebRoot();
const server = await startServer([], { web: [root] });
const rows = [];
try {
  for (const driver of drivers) {
    if (driver.engine === 'webkit' && !webkitAvailable()) {
      rows.push({ engine: 'webkit', storage: '-', error: 'WebKitWebDriver, Xvfb or MiniBrowser missing' });
      continue;
    }
    try {
      rows.push(...await benchEngine(driver, server.url, console.error));
    } catch (err) {
      rows.push({ engine: driver.engine, storage: '-', error: String(err?.message ?? err).split('\n')[0] });
    }
  }
} finally {
  await server.stop();
  fs.rmSync(root, { recursive: true, force: true });
}
print(rows);
