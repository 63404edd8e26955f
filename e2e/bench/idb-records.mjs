// What IndexedDB costs per record and per byte (why a new database's
// IndexedDB store keeps 64 KiB records, wasm/storage.go idbBlockSize): in
// Chromium on a fresh persistent profile, BENCH_IDB_MIB (16) MiB written
// in one readwrite transaction (durability strict) as records of each
// size in BENCH_IDB_RECORDS (8192,65536,262144 bytes), then read back with
// one getAll; BENCH_IDB_ROUNDS (2) rounds, each size on a database of its
// own. Then small commits as an app's write makes them: 100 transactions
// of two and of four records. Prints milliseconds; asserts nothing.
import { startServer } from '../harness.mjs';
import { cleanup, freshDevice, runBench } from './common.mjs';

const MIB = Number(process.env.BENCH_IDB_MIB ?? 16);
const SIZES = (process.env.BENCH_IDB_RECORDS ?? '8192,65536,262144').split(',').map(Number);
const ROUNDS = Number(process.env.BENCH_IDB_ROUNDS ?? 2);

await runBench(import.meta.url, async () => {
  const server = await startServer();
  try {
    const page = await (await freshDevice('hearth-idb-records-')).newPage();
    await page.goto(new URL('e2e/blank.html', server.url).href);
    const lines = await page.evaluate(async ([mib, sizes, rounds]) => {
      const open = (name) => new Promise((resolve, reject) => {
        const q = indexedDB.open(name, 1);
        q.onupgradeneeded = () => q.result.createObjectStore('blocks');
        q.onsuccess = () => resolve(q.result);
        q.onerror = () => reject(q.error);
      });
      const done = (tx) => new Promise((resolve, reject) => { tx.oncomplete = resolve; tx.onerror = () => reject(tx.error); });
      const out = [];
      const total = mib << 20;
      for (let round = 0; round < rounds; round++) {
        for (const size of sizes) {
          const db = await open(`bulk-${size}-${round}`);
          const data = new Uint8Array(total);
          for (let i = 0; i < total; i += 4096) data[i] = i & 255;
          const t0 = performance.now();
          const tx = db.transaction('blocks', 'readwrite', { durability: 'strict' });
          for (let at = 0, i = 0; at < total; at += size, i++) tx.objectStore('blocks').put(data.slice(at, at + size), ['db', i]);
          await done(tx);
          const t1 = performance.now();
          const n = await new Promise((resolve) => { const q = db.transaction('blocks').objectStore('blocks').getAll(); q.onsuccess = () => resolve(q.result.length); });
          out.push(`round ${round + 1}, ${size}-byte records: ${mib} MiB written in ${(t1 - t0).toFixed(0)} ms (${total / size} records), read back in ${(performance.now() - t1).toFixed(0)} ms (${n})`);
          db.close();
        }
        for (const size of sizes) {
          for (const records of [2, 4]) {
            const db = await open(`small-${size}-${records}-${round}`);
            const took = [];
            for (let i = 0; i < 100; i++) {
              const data = new Uint8Array(size * records);
              data[i] = 1;
              const t0 = performance.now();
              const tx = db.transaction('blocks', 'readwrite', { durability: 'strict' });
              for (let r = 0; r < records; r++) tx.objectStore('blocks').put(data.slice(r * size, (r + 1) * size), ['db', (i * 7 + r) % 50]);
              await done(tx);
              took.push(performance.now() - t0);
            }
            took.sort((a, b) => a - b);
            out.push(`round ${round + 1}, ${size}-byte records: 100 commits of ${records}, p50 ${took[50].toFixed(2)} ms, p95 ${took[95].toFixed(2)} ms`);
            db.close();
          }
        }
      }
      return out;
    }, [MIB, SIZES, ROUNDS]);
    console.log(`IndexedDB records, Chromium, ${new Date().toISOString().slice(0, 10)}:`);
    for (const line of lines) console.log(`  ${line}`);
  } finally {
    await cleanup();
    await server.stop();
  }
});
