// A large synced database read again: a fresh device syncs
// BENCH_REREAD_TASKS tasks (default 30,000, about 14 MB) from a real
// `hearth serve` on 127.0.0.1, then a new page (a new worker: nothing of
// the database in memory) opens it without sync and times a full scan,
// the same scan again, and the board's ordered list of every task.
// BENCH_REREAD_STORAGE: idb (default), opfs, or both (opfs,idb);
// BENCH_REREAD_RUNS pages (default 3). On IndexedDB every read the VFS's
// block cache misses is an IndexedDB transaction: this shows what the
// cache's size is worth once a database outgrows it.
import { startServer, hearthPage, appSchema } from '../harness.mjs';
import { freshDevice, median, runBench } from './common.mjs';

const TASKS = Number(process.env.BENCH_REREAD_TASKS ?? 30000);
const STORAGES = (process.env.BENCH_REREAD_STORAGE ?? 'idb').split(',');
const RUNS = Number(process.env.BENCH_REREAD_RUNS ?? 3);
const QUERIES = [
  ['full scan', 'SELECT count(*), sum(length(title)) FROM tasks NOT INDEXED'],
  ['the same scan again', 'SELECT count(*), sum(length(title)) FROM tasks NOT INDEXED'],
  ['the ordered list', 'SELECT id, title FROM tasks ORDER BY project_id, status, position'],
];

await runBench(import.meta.url, async () => {
  const schema = appSchema();
  // Seeding 100,000 tasks takes the server about 2 minutes.
  const server = await startServer(['-seed-tasks', String(TASKS)], { startMs: 300000 });
  try {
    for (const storage of STORAGES) {
      const ctx = await freshDevice('hearth-reread-');
      let page = await hearthPage(ctx, server.url);
      await page.evaluate(async ([schema, storage]) => {
        const db = await hearth.open({ name: 'reread', storage, migrations: schema.migrations, sync: { url: '/sync', tables: schema.tables } });
        await new Promise((resolve, reject) => {
          db.onSyncStatus((st) => { if (st.connected && !st.initialSync.active && st.head > 0 && st.cursor >= st.head) resolve(); });
          setTimeout(() => reject(new Error('no initial sync in 300 s')), 300000);
        });
        await db.close();
      }, [schema, storage]);
      const times = QUERIES.map(() => []);
      for (let run = 0; run < RUNS; run++) {
        await page.close();
        page = await hearthPage(ctx, server.url);
        const ms = await page.evaluate(async ([schema, storage, queries]) => {
          const db = await hearth.open({ name: 'reread', storage, migrations: schema.migrations });
          const out = [];
          for (const [, sql] of queries) {
            const t0 = performance.now();
            await db.query(sql);
            out.push(performance.now() - t0);
          }
          await db.close();
          return out;
        }, [schema, storage, QUERIES]);
        ms.forEach((m, i) => times[i].push(m));
      }
      console.log(`Re-read bench: ${TASKS} tasks synced, then read by a new page, Chromium, ${storage === 'idb' ? 'IndexedDB' : 'OPFS'} (median of ${RUNS} pages, min–max)`);
      QUERIES.forEach(([what], i) => {
        const t = times[i];
        console.log(`  ${what}: ${median(t).toFixed(0)} ms (${Math.min(...t).toFixed(0)}–${Math.max(...t).toFixed(0)})`);
      });
    }
  } finally {
    await server.stop();
  }
});
