// The two-browser offline sync scenario, run in any engine through the
// drivers of e2e/drivers/ (see scenarios/storage.mjs for the interface):
// offline edits on both sides converge by the merge rule, live queries show
// the outcome without a reload, and a worker restart while offline keeps
// the journal.
//
// Going offline: engines without network emulation (WebKitWebDriver has
// none, Firefox's BiDi has none for WebSockets) reach the server through a
// loopback link the test cuts, and the page is told as the browser would
// tell it (navigator.onLine and the offline event).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServer, hearthPage, appSchema } from '../harness.mjs';
import { waitForSynced, waitForSyncState, pendingChanges } from '../kit.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A loopback TCP link to the server that can be cut: cut() drops every
 * connection through it and refuses new ones until restore().
 */
export async function startLink(serverURL) {
  const port = Number(new URL(serverURL).port);
  const sockets = new Set();
  /** Connections held open and never answered while the link hangs. */
  const held = new Set();
  let up = true;
  let hanging = false;
  const server = createServer((client) => {
    if (hanging) {
      held.add(client);
      client.on('error', () => {}).on('close', () => held.delete(client));
      return;
    }
    if (!up) { client.destroy(); return; }
    const upstream = connect(port, '127.0.0.1');
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    sockets.add(client);
    sockets.add(upstream);
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    cut() {
      up = false;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    /** Lie-fi: connections are accepted and never answered (those open go quiet too). */
    hang() {
      hanging = true;
      for (const s of sockets) s.pause();
    },
    restore() {
      up = true;
      hanging = false;
      for (const s of [...held, ...sockets]) s.destroy();
      held.clear();
      sockets.clear();
    },
    close() {
      this.restore();
      this.cut();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

// What the browser tells a page when the network goes or comes back.
function tellPage(page, online) {
  return page.evaluate((online) => {
    Object.defineProperty(navigator, 'onLine', { configurable: true, get: () => online });
    window.dispatchEvent(new Event(online ? 'online' : 'offline'));
  }, online);
}

// Opens the board database with sync on a page, keeps a live query of the
// three tasks under test in window.watched, and exposes the sync status
// for the kit. A new database begins as the server's replica file, or by
// snapshot with replica false.
async function openBoard(page, schema, storage, replica = true) {
  await page.evaluate(async ([schema, storage, replica]) => {
    const open = async (worker) => {
      window.db = await hearth.open({ name: 'board', storage, migrations: schema.migrations, sync: { url: '/sync', tables: schema.tables, replica }, worker });
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
  }, [schema, storage, replica]);
}

const watched = (page) => page.evaluate(() => JSON.stringify(window.watched));

async function waitForWatched(page, expected, what) {
  const deadline = Date.now() + 20000;
  let last;
  while ((last = await watched(page)) !== expected) {
    if (Date.now() > deadline) assert.fail(`${what}: live query shows ${last}, expected ${expected}`);
    await sleep(50);
  }
}

export function syncSuite(driver) {
  const { engine } = driver;
  const schema = appSchema();
  const bounded = { timeout: 90000 };

  describe(`${engine}: sync between two browsers`, () => {
    let server, link, browserA, browserB, a, b;
    const profiles = [mkdtempSync(path.join(tmpdir(), `hearth-${engine}-a-`)), mkdtempSync(path.join(tmpdir(), `hearth-${engine}-b-`))];

    async function goOffline() {
      if (driver.setOffline) await driver.setOffline(a, true);
      else {
        link.cut();
        await tellPage(a, false);
      }
    }

    async function goOnline() {
      if (driver.setOffline) await driver.setOffline(a, false);
      else {
        link.restore();
        await tellPage(a, true);
      }
    }

    before(async () => {
      server = await startServer(['-seed-tasks', '30']);
      link = await startLink(server.url);
      browserA = await driver.launch({ profile: profiles[0] });
      browserB = await driver.launch({ profile: profiles[1] });
      // A reaches the server through the link it loses when offline.
      a = await hearthPage(browserA, driver.setOffline ? server.url : link.url);
      b = await hearthPage(browserB, server.url);
      await openBoard(a, schema, driver.autoStorage);
      await openBoard(b, schema, driver.autoStorage, false);
    });

    after(async () => {
      await browserA?.close().catch(() => {});
      await browserB?.close().catch(() => {});
      await link?.close();
      await server?.stop();
      await driver.cleanup();
      for (const dir of profiles) rmSync(dir, { recursive: true, force: true });
    });

    test('a fresh device pulls the seeded workspace: one from a replica file, one by snapshot', bounded, async () => {
      const st = await waitForSynced(a);
      const stB = await waitForSynced(b);
      assert.ok(st.head > 0 && st.cursor === st.head, JSON.stringify(st));
      assert.ok(st.lastSyncedAt > 0, `a device that finished its initial sync has synced: ${JSON.stringify(st)}`);
      assert.ok(st.replica.used && st.initialSync.chunks === 0, `A began as the server's replica: ${JSON.stringify(st.replica)}`);
      assert.ok(!stB.replica.used && stB.initialSync.chunks > 0, `B synced by snapshot: ${JSON.stringify(stB.replica)}`);
      for (const page of [a, b]) {
        const n = await page.evaluate(async () => (await db.query('SELECT count(*) AS n FROM tasks')).rows[0].n);
        assert.equal(n, 30);
      }
    });

    // A first visit (a profile of its own, nothing cached): the worker's
    // bootstrap asks for the new database's replica file and opens its
    // sync connection while the wasm compiles, and Go takes both
    // (web/hearth-head-start.js); each engine's storage listing, OPFS
    // probe and socket adoption are on that path.
    test('a first visit\'s new database takes the worker\'s head start', bounded, async () => {
      const profile = mkdtempSync(path.join(tmpdir(), `hearth-${engine}-first-`));
      const browser = await driver.launch({ profile });
      try {
        const page = await hearthPage(browser, server.url);
        await page.evaluate(async (schema) => {
          window.db = await hearth.open({ name: 'first', storage: 'auto', migrations: schema.migrations, sync: { url: '/sync', tables: schema.tables } });
          window.hearthSyncStatus = () => window.db.syncStatus();
        }, schema);
        const st = await waitForSynced(page);
        assert.ok(st.replica.used && st.replica.headStart, `the worker's head start was taken: ${JSON.stringify(st.replica)}`);
        const got = await page.evaluate(async () => ({ n: (await db.query('SELECT count(*) AS n FROM tasks')).rows[0].n, storage: (await db.info()).storage }));
        assert.deepEqual(got, { n: 30, storage: driver.autoStorage });
      } finally {
        await browser.close().catch(() => {});
        rmSync(profile, { recursive: true, force: true });
      }
    });

    test('offline edits on both sides converge by the rule, live, and survive a worker restart offline', bounded, async () => {
      await goOffline();
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
      // The status follows the journal asynchronously (the client counts
      // it on its own turn): wait for the count, then check it stays 3.
      await waitForSyncState(a, (s) => s.pending >= 3, { what: 'three pending changes on A' });
      assert.equal(await pendingChanges(a), 3);

      // Restart A's worker while still offline: the journal is on disk.
      await a.evaluate(() => window.reopenBoard());
      await waitForSyncState(a, (s) => s.pending >= 3, { what: 'the pending changes after restarting the worker offline' });
      assert.equal(await pendingChanges(a), 3, 'pending changes after restarting the worker offline');
      const offline = await a.evaluate(() => db.syncStatus());
      assert.equal(offline.online, false, 'a new worker learns the page is offline');
      const journal = await a.evaluate(async () => (await db.query("SELECT tbl, op, state FROM _hearth_journal WHERE state = 'pending' ORDER BY seq")).rows);
      assert.deepEqual(journal.map((e) => `${e.tbl}:${e.op}`), ['tasks:U', 'tasks:U', 'tasks:D']);

      await goOnline();
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
      assert.deepEqual([...a.errors, ...b.errors], []);
    });
  });
}
