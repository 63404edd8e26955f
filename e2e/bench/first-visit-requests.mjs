// A first visit's requests, in the order the browser made them: what a
// fresh Chromium (a persistent profile, nothing cached) asks `hearth serve`
// for while e2e/pages/first-visit.html opens a synced database of 5,000
// tasks from a replica file, each request's start and end in ms from
// navigation (Playwright's resource timings: the page's, the Hearth
// worker's and its socket relay's), then when the page's open() was
// called, returned, and when the database was synced. Shows what a first
// visit waits on: levels of module imports, the wasm, the replica file,
// the sync connection. Prints; asserts nothing.
//
//   node e2e/bench/first-visit-requests.mjs   (needs `make build`)
//   FIRST_VISIT_RUNS=2        first visits, each on a new profile (default 2)
//   FIRST_VISIT_RTT_MS=100    behind common.mjs's delayedNetwork (default 0: loopback)
//   FIRST_VISIT_STORAGE=idb   the open's storage (default opfs)
import { startServer, appSchema } from '../harness.mjs';
import { cleanup, delayedNetwork, freshDevice, printHelpIfAsked } from './common.mjs';

if (printHelpIfAsked(import.meta.url)) process.exit(0);

const RUNS = Number(process.env.FIRST_VISIT_RUNS ?? 2);
const RTT = Number(process.env.FIRST_VISIT_RTT_MS ?? 0);
const STORAGE = process.env.FIRST_VISIT_STORAGE ?? 'opfs';
const schema = appSchema();

const server = await startServer(['-seed-tasks', '5000']);
try {
  const base = RTT > 0 ? await delayedNetwork(server.url, RTT) : server.url;
  for (let run = 0; run < RUNS; run++) {
    const context = await freshDevice('hearth-first-visit-requests-');
    /** @type {import('playwright-core').Request[]} */
    const finished = [];
    /** @type {{ at: number, what: string }[]} */
    const started = [];
    let navigatedAt = 0;
    context.on('requestfinished', (r) => finished.push(r));
    // Requests still open at the end (Go reads the replica file's body
    // itself) and sockets: when Node heard of them, a little late.
    context.on('request', (r) => started.push({ at: Date.now() - navigatedAt, what: `request ${r.url().replace(base, '/')}` }));
    const page = await context.newPage();
    page.on('websocket', (ws) => started.push({ at: Date.now() - navigatedAt, what: `websocket ${ws.url()}` }));
    await page.addInitScript((s) => { window.hearthBenchSchema = s; }, schema);
    const visit = new URL('e2e/first-visit.html', base);
    for (const [k, v] of Object.entries({ name: 'first', storage: STORAGE, replica: '1' })) visit.searchParams.set(k, v);
    navigatedAt = Date.now();
    await page.goto(visit.href);
    await page.waitForFunction(() => window.hearthFirstOpen !== undefined);
    const r = await page.evaluate(async () => {
      const { t0, db: opening } = window.hearthFirstOpen;
      const db = await opening;
      const opened = performance.now();
      await new Promise((resolve) => db.onSyncStatus((st) => {
        if (st.connected && !st.initialSync.active && st.head > 0 && st.cursor >= st.head) resolve(undefined);
      }));
      return { called: t0, opened, synced: performance.now(), replica: (await db.syncStatus()).replica };
    });
    console.log(`\nfirst visit ${run + 1}${RTT > 0 ? `, ${RTT} ms round trip` : ', loopback'}, ${STORAGE}: open() called at ${r.called.toFixed(0)} ms, returned at ${r.opened.toFixed(0)}, synced at ${r.synced.toFixed(0)} (from navigation)`);
    console.log(`  replica file: used ${r.replica.used}, head start ${r.replica.headStart}, ${r.replica.downloadMs.toFixed(0)} ms waited for after Go asked${r.replica.reason ? `; ${r.replica.reason}` : ''}`);
    console.log('  start    queued  first byte  end   (ms; request start from navigation, the rest from it)');
    const rows = finished.map((q) => ({ q, t: q.timing() })).sort((a, b) => a.t.startTime - b.t.startTime);
    for (const { q, t } of rows) {
      const at = Math.round(t.startTime - navigatedAt);
      console.log(`  ${String(at).padStart(5)}  ${String(Math.max(0, Math.round(t.requestStart))).padStart(6)}  ${String(Math.round(t.responseStart)).padStart(10)}  ${String(Math.round(t.responseEnd)).padStart(4)}   ${q.url().replace(base, '/')}`);
    }
    const unfinished = started.filter((s) => s.what.startsWith('websocket') || !finished.some((q) => s.what === `request ${q.url().replace(base, '/')}`));
    for (const s of unfinished) console.log(`  ${String(s.at).padStart(5)}  (heard by Node)              ${s.what}`);
  }
} finally {
  await cleanup();
  await server.stop();
}
