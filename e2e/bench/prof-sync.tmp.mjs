import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { startServer, launchBrowser, loopbackOnly, hearthPage, repoRoot } from '../harness.mjs';
import { startTrace, cpuProfile } from './trace.mjs';
const schema = JSON.parse(execFileSync(path.join(repoRoot, 'bin', 'hearth'), ['schema'], { encoding: 'utf8' }));
const server = await startServer(['-seed-tasks', '5000']);
const browser = await launchBrowser();
const ctx = await browser.newContext();
await loopbackOnly(ctx);

const page = await hearthPage(ctx, server.url);
await page.evaluate(() => { window.w = new hearth.HearthWorker({ wasmURL: '/dist/named.wasm' }); return window.w.request('databases', {}); });
console.log('worker up');
const run = (name) => page.evaluate(async ([schema, name]) => {
  const t0 = performance.now();
  const db = await hearth.open({ name, storage: 'opfs', worker: window.w, migrations: schema.migrations, sync: { url: '/sync', tables: schema.tables } });
  const opened = performance.now() - t0;
  const marks = [];
  const done = await new Promise((resolve) => db.onSyncStatus((st) => {
    marks.push([Math.round(performance.now() - t0), st.state, st.initialSync.rows]);
    if (st.connected && !st.initialSync.active && st.head > 0 && st.cursor >= st.head) resolve(performance.now() - t0);
  }));
  await db.close();
  return { opened, done, marks };
}, [schema, name]);
console.log(JSON.stringify(await run('warm')));
const stop = await startTrace(ctx, page, ['disabled-by-default-v8.cpu_profiler', 'v8']);
const r = await run('profiled');
const events = await stop();
console.log(JSON.stringify(r));
const prof = cpuProfile(events, /Worker/);
console.log('worker total ms', prof.totalMs.toFixed(0));
for (const [name, ms] of prof.self.slice(0, 40)) console.log(ms.toFixed(1).padStart(8), name);
await browser.close();
await server.stop();
