// A new database's head start on its replica file (web/hearth-head-start.js),
// in Chromium against a real `hearth serve`: the worker's bootstrap asks
// for the file as the page's first open reaches it, before Go runs, and
// Go takes that response instead of asking again, on OPFS and on
// IndexedDB. The layouts and the endpoint the bootstrap asks for must be
// Go's: if they drift, Go asks again and headStart is false here; so is
// the sync connection it opens (one socket, not two). Where
// the database exists (a reload) nobody asks; a second database in a
// running worker is Go's to ask for. An app whose open comes late starts
// the head start itself (HearthWorker#headStart): its open, once Go runs,
// takes the same file and connection.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { hearthPage, loopbackOnly, seededServerAndBrowser } from './harness.mjs';

const TASKS = 40;

describe('chromium: a new database\'s head start on its replica file', () => {
  const f = seededServerAndBrowser(TASKS);

  for (const storage of ['opfs', 'idb']) {
    test(`${storage}: the bootstrap asks while the wasm compiles, and Go takes its answer`, async () => {
      const context = await f.browser.newContext();
      try {
        await loopbackOnly(context);
        // The replica requests of every thread, the workers' too.
        let asked = 0;
        context.on('request', (r) => { if (r.url().includes('/v1/replica')) asked++; });
        const page = await context.newPage();
        // The sync connections, the relay worker's too.
        const sockets = [];
        page.on('websocket', (ws) => { if (ws.url().includes('/sync')) sockets.push(ws.url()); });
        await page.addInitScript((s) => { window.hearthBenchSchema = s; }, f.schema);
        const visit = new URL('e2e/first-visit.html', f.server.url);
        visit.searchParams.set('name', 'first');
        visit.searchParams.set('storage', storage);
        await page.goto(visit.href);
        await page.waitForFunction(() => window.hearthFirstOpen !== undefined);
        const first = await page.evaluate(async () => {
          const db = await window.hearthFirstOpen.db;
          await new Promise((resolve) => db.onSyncStatus((s) => { if (s.connected) resolve(undefined); }));
          const st = await db.syncStatus();
          const tasks = (await db.query('SELECT count(*) AS n FROM tasks')).rows[0].n;
          return { replica: st.replica, tasks };
        });
        assert.equal(first.replica.used, true, first.replica.reason);
        assert.equal(first.replica.headStart, true, 'Go asked again: the bootstrap\'s request was not the one Go makes');
        assert.equal(first.tasks, TASKS);
        assert.equal(asked, 1);
        // Go took the connection the bootstrap opened: one socket.
        assert.equal(sockets.length, 1, `sync connections: ${sockets.join(', ')}`);

        // A second database, in the worker now running: Go asks itself.
        const second = await page.evaluate(async ([s, storage]) => {
          const db = await hearth.open({ name: 'second', storage, migrations: s.migrations, sync: { url: '/sync', tables: s.tables } });
          const st = await db.syncStatus();
          await db.close();
          return st.replica;
        }, [f.schema, storage]);
        assert.equal(second.used, true, second.reason);
        assert.equal(second.headStart, false);
        assert.equal(asked, 2);

        // A returning visit: the database exists; nobody asks.
        await page.reload();
        await page.waitForFunction(() => window.hearthFirstOpen !== undefined);
        const again = await page.evaluate(async () => {
          const db = await window.hearthFirstOpen.db;
          const st = await db.syncStatus();
          const tasks = (await db.query('SELECT count(*) AS n FROM tasks')).rows[0].n;
          return { replica: st.replica, tasks };
        });
        assert.equal(asked, 2, 'a stored database asked for a file');
        assert.equal(again.replica.used, false);
        assert.equal(again.replica.headStart, false);
        assert.equal(again.tasks, TASKS);
      } finally {
        await context.close();
      }
    });
  }

  test('headStart() before a late open: the open, with Go running, takes the file and the connection', async () => {
    const context = await f.browser.newContext();
    try {
      await loopbackOnly(context);
      let asked = 0;
      context.on('request', (r) => { if (r.url().includes('/v1/replica')) asked++; });
      const page = await hearthPage(context, f.server.url);
      const sockets = [];
      page.on('websocket', (ws) => { if (ws.url().includes('/sync')) sockets.push(ws.url()); });
      const late = await page.evaluate(async (s) => {
        const worker = hearth.preload();
        // The message is the bootstrap's: Go never sees it (it would answer BAD_REQUEST).
        const unmatched = [];
        worker.onUnmatchedError = (err) => unmatched.push(err.message);
        worker.headStart({ name: 'late', sync: { url: '/sync' } });
        // Go runs once a first open is answered; the app's comes after.
        await (await hearth.open({ name: 'scratch', storage: 'memory' })).close();
        const db = await hearth.open({ name: 'late', migrations: s.migrations, sync: { url: '/sync', tables: s.tables } });
        await new Promise((resolve) => db.onSyncStatus((st) => { if (st.connected) resolve(undefined); }));
        const st = await db.syncStatus();
        const tasks = (await db.query('SELECT count(*) AS n FROM tasks')).rows[0].n;
        return { replica: st.replica, tasks, unmatched };
      }, f.schema);
      assert.deepEqual(late.unmatched, []);
      assert.equal(late.replica.used, true, late.replica.reason);
      assert.equal(late.replica.headStart, true, 'Go asked again: the head start message was not the open\'s');
      assert.equal(late.tasks, TASKS);
      assert.equal(asked, 1);
      assert.equal(sockets.length, 1, `sync connections: ${sockets.join(', ')}`);
    } finally {
      await context.close();
    }
  });
});
