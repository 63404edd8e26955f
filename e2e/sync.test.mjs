// Sync between two Chromium browsers through a real `hearth serve`: offline
// edits on both sides converge by the merge rule, live queries show the
// outcome without a reload, and a worker restart while offline keeps the
// journal. The scenario is shared with the other engines
// (e2e/scenarios/sync.mjs, e2e/engines/); Chromium goes offline through
// Playwright's network emulation. Then, in Chromium only, the sync
// connection's relay worker (web/hearth-socket.js) and its fallback, and
// the indexes a large initial sync builds at its end.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { syncSuite } from './scenarios/sync.mjs';
import { chromiumDriver } from './drivers/chromium.mjs';
import { loopbackOnly, hearthPage, seededServerAndBrowser } from './harness.mjs';
import { waitForSynced } from './kit.mjs';

syncSuite(chromiumDriver);

describe('chromium: the sync connection\'s relay worker', () => {
  const f = seededServerAndBrowser(30);

  /**
   * A fresh page that syncs the board's schema. With missing set, the
   * worker asks for a relay file the server does not have, as from a build
   * that left it out. (Playwright's routes do not reach a worker's own
   * workers; they do reach the worker's imports.)
   */
  async function syncedPage(missing) {
    const context = await f.browser.newContext();
    await loopbackOnly(context);
    let rewritten = 0;
    if (missing) {
      await context.route('**/hearth-socket.js*', async (route) => {
        rewritten++;
        const res = await route.fetch();
        const body = (await res.text()).replace("'./hearth-socket-relay.js'", "'./no-such-relay.js'");
        await route.fulfill({ response: res, body });
      });
    }
    const page = await hearthPage(context, f.server.url);
    await page.evaluate(async (schema) => {
      window.db = await hearth.open({ name: 'relay', storage: 'memory', migrations: schema.migrations, sync: { url: '/sync', tables: schema.tables } });
      window.hearthSyncStatus = () => db.syncStatus();
    }, f.schema);
    await waitForSynced(page);
    // A write goes out and is acknowledged: the connection carries both ways.
    await page.evaluate(() => db.exec("UPDATE tasks SET title = 'through the relay' WHERE id = 't-00001'"));
    await waitForSynced(page);
    return { page, context, rewritten, relays: () => page.workers().filter((w) => /hearth-socket-relay\.js/.test(w.url())) };
  }

  test('the connection runs in a worker of its own', async () => {
    const { page, context, relays } = await syncedPage(false);
    try {
      assert.equal(relays().length, 1, page.workers().map((w) => w.url()).join(', '));
    } finally {
      await context.close();
    }
  });

  test('without the relay\'s file, the worker connects itself and syncs all the same', async () => {
    const { page, context, rewritten, relays } = await syncedPage(true);
    try {
      assert.equal(rewritten, 1);
      assert.equal(relays().length, 0);
      assert.equal(page.hearthErrors.length, 0, page.hearthErrors.join('\n'));
    } finally {
      await context.close();
    }
  });
});

// A snapshot of 2,000 rows or more builds the synced tables' plain indexes
// once, at its end (syncworker/client/deferindex.go): in the browser, on
// OPFS and on IndexedDB, the board's index is there afterwards, as the app's migration made
// it, and the planner uses it.
describe('chromium: a large initial sync builds its indexes at its end', () => {
  const f = seededServerAndBrowser(2000);

  for (const storage of ['opfs', 'idb']) {
    test(`the index is whole after the sync, and was built once (${storage})`, async () => {
      const context = await f.browser.newContext();
      await loopbackOnly(context);
      try {
        const page = await hearthPage(context, f.server.url);
        await page.evaluate(async ([schema, storage]) => {
          // By snapshot: a replica file (below) would skip it.
          window.db = await hearth.open({ name: `large-${storage}`, storage, migrations: schema.migrations, sync: { url: '/sync', tables: schema.tables, replica: false } });
          window.hearthSyncStatus = () => db.syncStatus();
        }, [f.schema, storage]);
        const st = await waitForSynced(page, { timeoutMs: 60000 });
        assert.ok(st.initialSync.total >= 2000 && typeof st.initialSync.indexMs === 'number', JSON.stringify(st.initialSync));
        const r = await page.evaluate(async () => ({
          storage: (await db.info()).storage,
          index: (await db.query("SELECT sql FROM sqlite_schema WHERE name = 'tasks_by_column'")).rows[0]?.sql,
          // The table exists only if the sync deferred an index (a query
          // of a missing table fails): proof of the deferral that does not
          // depend on how long it took. Empty: every index is back.
          deferred: (await db.query('SELECT count(*) AS n FROM _hearth_deferred_indexes')).rows[0].n,
          tasks: (await db.query('SELECT count(*) AS n FROM tasks')).rows[0].n,
          plan: (await db.query("EXPLAIN QUERY PLAN SELECT id FROM tasks WHERE project_id = 'p-001' ORDER BY status, position")).rows.map((row) => row.detail).join('; '),
        }));
        assert.equal(r.storage, storage);
        assert.equal(r.index, 'CREATE INDEX tasks_by_column ON tasks(project_id, status, position)');
        assert.equal(r.deferred, 0);
        assert.equal(r.tasks, 2000);
        assert.match(r.plan, /tasks_by_column/);
        assert.equal(page.hearthErrors.length, 0, page.hearthErrors.join('\n'));
      } finally {
        await context.close();
      }
    });

    // A new database begins as the server's replica file (GET
    // /v1/replica): every task is there when open() returns, the sync goes
    // on from the file's cursor without a snapshot, and the device's own
    // writes reach the server. The file is built with this storage's page
    // size and auto-vacuum mode, which the copy keeps.
    test(`a new database begins as the server's replica (${storage})`, async () => {
      const context = await f.browser.newContext();
      await loopbackOnly(context);
      try {
        const page = await hearthPage(context, f.server.url);
        const opened = await page.evaluate(async ([schema, storage]) => {
          const progress = [];
          window.db = await hearth.open({ name: `replica-${storage}`, storage, migrations: schema.migrations, sync: { url: '/sync', tables: schema.tables }, onProgress: (p) => progress.push(p) });
          window.hearthSyncStatus = () => db.syncStatus();
          return {
            progress,
            storage: (await db.info()).storage,
            tasks: (await db.query('SELECT count(*) AS n FROM tasks')).rows[0].n,
            layout: (await db.query('SELECT page_size, auto_vacuum, journal_mode FROM pragma_page_size(), pragma_auto_vacuum(), pragma_journal_mode()')).rows[0],
            node: (await db.query("SELECT v FROM _hearth_meta WHERE k = 'node'")).rows[0]?.v,
          };
        }, [f.schema, storage]);
        assert.equal(opened.storage, storage);
        assert.equal(opened.tasks, 2000, 'every task is there when open() returns');
        assert.ok(opened.node, 'the device made a node id of its own');
        const st = await waitForSynced(page, { timeoutMs: 60000 });
        assert.equal(st.replica.used, true, JSON.stringify(st.replica));
        assert.ok(st.replica.bytes > 0 && st.replica.reason === '', JSON.stringify(st.replica));
        // open() reported the download as it went, its end last.
        const last = opened.progress.at(-1);
        assert.ok(opened.progress.every((p) => p.phase === 'replica'), JSON.stringify(opened.progress));
        assert.deepEqual(last, { phase: 'replica', version: 0, done: st.replica.bytes, total: st.replica.bytes });
        assert.equal(st.initialSync.chunks, 0, 'no snapshot after the replica');
        const written = await page.evaluate(async () => {
          await db.exec("UPDATE tasks SET title = 'from the replica device' WHERE id = (SELECT min(id) FROM tasks)");
          const layout = (await db.query('SELECT page_size, auto_vacuum FROM pragma_page_size(), pragma_auto_vacuum()')).rows[0];
          return { layout, check: (await db.query('PRAGMA quick_check')).rows[0].quick_check };
        });
        assert.equal(written.check, 'ok');
        assert.deepEqual(written.layout, { page_size: opened.layout.page_size, auto_vacuum: opened.layout.auto_vacuum });
        assert.equal(opened.layout.journal_mode, storage === 'opfs' ? 'wal' : 'delete');
        const after = await waitForSynced(page, { timeoutMs: 30000 });
        assert.equal(after.pending, 0, "the device's write reached the server");
        assert.equal(page.hearthErrors.length, 0, page.hearthErrors.join('\n'));
      } finally {
        await context.close();
      }
    });
  }
});
