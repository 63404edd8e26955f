// A first visit's head start on its replica file (web/hearth-head-start.js),
// in Chromium against a real `hearth serve`: on an origin that stores
// nothing, the page asks for the file while the worker starts, and the
// worker takes that response instead of asking again, on OPFS and on
// IndexedDB. The layouts the page asks for must be the worker's: if they
// drift, the worker asks again and headStart is false here. Where a
// database may exist (a second one, a reload), the page asks nothing.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { startServer, launchBrowser, loopbackOnly, repoRoot } from './harness.mjs';

const TASKS = 40;

describe('chromium: a first visit\'s head start on its replica file', () => {
  let server, browser, schema;
  before(async () => {
    server = await startServer(['-seed-tasks', String(TASKS)]);
    browser = await launchBrowser();
    schema = JSON.parse(execFileSync(path.join(repoRoot, 'bin', 'hearth'), ['schema'], { encoding: 'utf8' }));
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  for (const storage of ['opfs', 'idb']) {
    test(`${storage}: the page asks while the worker starts, and the worker takes its answer`, async () => {
      const context = await browser.newContext();
      try {
        await loopbackOnly(context);
        const page = await context.newPage();
        await page.addInitScript((s) => { window.hearthBenchSchema = s; }, schema);
        const visit = new URL('e2e/first-visit.html', server.url);
        visit.searchParams.set('name', 'first');
        visit.searchParams.set('storage', storage);
        await page.goto(visit.href);
        await page.waitForFunction(() => window.hearthFirstOpen !== undefined);
        // asked: the replica requests the page itself made (the worker's
        // are not in the page's resource timing).
        const first = await page.evaluate(async () => {
          const replicaRequests = () => performance.getEntriesByType('resource').filter((e) => e.name.includes('/v1/replica')).length;
          const db = await window.hearthFirstOpen.db;
          const st = await db.syncStatus();
          const tasks = (await db.query('SELECT count(*) AS n FROM tasks')).rows[0].n;
          return { replica: st.replica, tasks, asked: replicaRequests() };
        });
        assert.equal(first.replica.used, true, first.replica.reason);
        assert.equal(first.replica.headStart, true, 'the worker asked again: the page\'s request was not the one it would make');
        assert.equal(first.tasks, TASKS);
        assert.equal(first.asked, 1);

        // A second database: the origin stores one now, so the page
        // cannot know this one is new and leaves the request to the worker.
        const second = await page.evaluate(async ([s, storage]) => {
          const db = await hearth.open({ name: 'second', storage, migrations: s.migrations, sync: { url: '/sync', tables: s.tables } });
          const st = await db.syncStatus();
          await db.close();
          return st.replica;
        }, [schema, storage]);
        assert.equal(second.used, true, second.reason);
        assert.equal(second.headStart, false);

        // A returning visit: the database exists; nobody asks.
        await page.reload();
        await page.waitForFunction(() => window.hearthFirstOpen !== undefined);
        const again = await page.evaluate(async () => {
          const replicaRequests = () => performance.getEntriesByType('resource').filter((e) => e.name.includes('/v1/replica')).length;
          const db = await window.hearthFirstOpen.db;
          const st = await db.syncStatus();
          const tasks = (await db.query('SELECT count(*) AS n FROM tasks')).rows[0].n;
          return { replica: st.replica, tasks, asked: replicaRequests() };
        });
        assert.equal(again.asked, 0);
        assert.equal(again.replica.used, false);
        assert.equal(again.replica.headStart, false);
        assert.equal(again.tasks, TASKS);
      } finally {
        await context.close();
      }
    });
  }
});
