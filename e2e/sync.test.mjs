// Sync between two browsers through a real `hearth serve`: offline edits on
// both sides converge by the merge rule, live queries show the outcome
// without a reload, and a worker restart while offline keeps the journal.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { startServer, launchBrowser, loopbackOnly, hearthPage, repoRoot } from './harness.mjs';
import { waitForSynced, waitForSyncState, pendingChanges, goOffline, goOnline } from './kit.mjs';

const schema = JSON.parse(execFileSync(path.join(repoRoot, 'bin', 'hearth'), ['schema'], { encoding: 'utf8' }));

// Opens the board database with sync on a page, keeps a live query of the
// three tasks under test in window.watched, and exposes the sync status
// for the kit.
async function openBoard(page) {
  await page.evaluate(async (schema) => {
    const open = async (worker) => {
      window.db = await hearth.open({ name: 'board', storage: 'opfs', migrations: schema.migrations, sync: { url: '/sync', tables: schema.tables }, worker });
      window.hearthSyncStatus = () => window.db.syncStatus();
      window.watched = null;
      await window.db.watch("SELECT id, title, priority FROM tasks WHERE id IN ('t-00001', 't-00002', 't-00003') ORDER BY id", [], (r) => { window.watched = r.rows; });
    };
    // A page reload minus the navigation: the worker and all it held in
    // memory go, storage stays. This test page has no service worker, so
    // a worker cannot load offline: the replacement starts now, idle.
    const spare = new hearth.HearthWorker();
    await spare.request('databases', {});
    window.reopenBoard = async () => {
      window.db.worker.terminate();
      await open(spare);
    };
    await open(undefined);
  }, schema);
}

const watched = (page) => page.evaluate(() => JSON.stringify(window.watched));

async function waitForWatched(page, expected, what) {
  const deadline = Date.now() + 20000;
  let last;
  while ((last = await watched(page)) !== expected) {
    if (Date.now() > deadline) assert.fail(`${what}: live query shows ${last}, expected ${expected}`);
    await page.waitForTimeout(50);
  }
}

describe('sync between two browsers', () => {
  let server, browser, ctxA, ctxB, a, b;

  before(async () => {
    server = await startServer(['-seed-tasks', '30']);
    browser = await launchBrowser();
    ctxA = await browser.newContext();
    ctxB = await browser.newContext();
    await loopbackOnly(ctxA);
    await loopbackOnly(ctxB);
    a = await hearthPage(ctxA, server.url);
    b = await hearthPage(ctxB, server.url);
    await openBoard(a);
    await openBoard(b);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('a fresh device pulls the seeded workspace', async () => {
    const st = await waitForSynced(a);
    await waitForSynced(b);
    assert.ok(st.head > 0 && st.cursor === st.head, JSON.stringify(st));
    assert.ok(st.lastSyncedAt > 0, `a device that finished its initial sync has synced: ${JSON.stringify(st)}`);
    const n = await a.evaluate(async () => (await db.query('SELECT count(*) AS n FROM tasks')).rows[0].n);
    assert.equal(n, 30);
  });

  test('offline edits on both sides converge by the rule, live, and survive a worker restart offline', async () => {
    await goOffline(ctxA);
    await waitForSyncState(a, (s) => s.state === 'offline' && !s.online && !s.connected, { what: 'offline state on A' });

    // Different fields of t-00001; the same field of t-00002 (B writes
    // later, so B's stamp is higher and B wins); A deletes t-00003, which
    // B edits (a delete wins over edits unless the table allows
    // resurrection).
    await a.evaluate(async () => {
      await db.exec("UPDATE tasks SET title = 'title from A' WHERE id = 't-00001'");
      await db.exec("UPDATE tasks SET title = 'A was here' WHERE id = 't-00002'");
      await db.exec("DELETE FROM tasks WHERE id = 't-00003'");
    });
    await b.evaluate(async () => {
      await db.exec("UPDATE tasks SET priority = 3 WHERE id = 't-00001'");
      await db.exec("UPDATE tasks SET title = 'B was later' WHERE id = 't-00002'");
      await db.exec("UPDATE tasks SET title = 'edited by B' WHERE id = 't-00003'");
    });
    await waitForSynced(b);
    assert.equal(await pendingChanges(a), 3);

    // Restart A's worker while still offline: the journal is on disk.
    await a.evaluate(() => window.reopenBoard());
    assert.equal(await pendingChanges(a), 3, 'pending changes after restarting the worker offline');
    const offline = await a.evaluate(() => db.syncStatus());
    assert.equal(offline.online, false, 'a new worker learns the page is offline');
    const journal = await a.evaluate(async () => (await db.query("SELECT tbl, op, state FROM _hearth_journal WHERE state = 'pending' ORDER BY seq")).rows);
    assert.deepEqual(journal.map((e) => `${e.tbl}:${e.op}`), ['tasks:U', 'tasks:U', 'tasks:D']);

    await goOnline(ctxA);
    await waitForSynced(a);
    await waitForSynced(b);
    const expected = JSON.stringify([
      { id: 't-00001', title: 'title from A', priority: 3 },
      { id: 't-00002', title: 'B was later', priority: await b.evaluate(async () => (await db.query("SELECT priority FROM tasks WHERE id = 't-00002'")).rows[0].priority) },
    ]);
    await waitForWatched(a, expected, 'A');
    await waitForWatched(b, expected, 'B');
    const acknowledged = await a.evaluate(async () => (await db.query("SELECT count(*) AS n FROM _hearth_journal WHERE state = 'acknowledged'")).rows[0].n);
    assert.ok(acknowledged >= 3, `journal entries acknowledged: ${acknowledged}`);
    const st = await a.evaluate(() => db.syncStatus());
    assert.ok(st.retries.offline >= 1 && st.reconcileLatencyMs > 0, JSON.stringify(st));
    assert.deepEqual([...a.hearthErrors, ...b.hearthErrors], []);
  });
});
