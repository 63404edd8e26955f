// Many tabs on one database (real Chromium, persistent profile): one
// leader worker owns the file, the other tabs' workers forward to it, and
// leadership moves on when the leader tab closes.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServer, launchPersistent, loopbackOnly, hearthPage } from './harness.mjs';
import { killLeaderTab } from './kit.mjs';

let server, context, profile;

before(async () => {
  server = await startServer();
  profile = mkdtempSync(path.join(tmpdir(), 'hearth-tabs-'));
  context = await launchPersistent(profile);
  await loopbackOnly(context);
});
after(async () => {
  await context?.close();
  await server?.stop();
  rmSync(profile, { recursive: true, force: true });
});

// Opens the database in a new tab and keeps a watch whose latest rows are
// in window.seen.
async function tab(name, storage) {
  const page = await hearthPage(context, server.url);
  await page.evaluate(async ([name, storage]) => {
    window.db = await hearth.open({ name, storage });
    await window.db.exec('CREATE TABLE IF NOT EXISTS notes(id TEXT PRIMARY KEY, body TEXT)');
    window.seen = [];
    window.changes = [];
    await window.db.watch('SELECT id, body FROM notes ORDER BY id', [], (r, change) => {
      window.seen = r.rows.map((x) => x.id);
      window.changes.push(change.kind);
    });
  }, [name, storage]);
  return page;
}

const waitSeen = (page, id) => page.waitForFunction((id) => window.seen.includes(id), id, { timeout: 10000 });

for (const storage of ['opfs', 'idb']) {
  describe(`${storage}: three tabs on one database`, () => {
    test('writes in any tab appear in every tab\'s watch; one tab leads', async () => {
      const name = `tabs-${storage}`;
      const pages = [await tab(name, storage), await tab(name, storage), await tab(name, storage)];
      const reasons = await Promise.all(pages.map((p) => p.evaluate(() => window.db.storageReason)));
      assert.equal(reasons.filter((r) => /another tab/.test(r)).length, 2, reasons.join(' | '));
      for (const [i, p] of pages.entries()) {
        await p.evaluate((i) => window.db.exec('INSERT INTO notes VALUES (?, ?)', [`from-${i}`, 'hi']), i);
      }
      for (const p of pages) for (const i of [0, 1, 2]) await waitSeen(p, `from-${i}`);

      // Close the leader tab mid-stream: a follower keeps writing across the
      // hand-over; every acknowledged write survives.
      const [leader, a, b] = pages;
      await a.evaluate(() => {
        window.acked = [];
        window.failed = [];
        window.streaming = (async () => {
          for (let i = 0; i < 150; i++) {
            const id = `s${String(i).padStart(3, '0')}`;
            await window.db.exec('INSERT INTO notes VALUES (?, ?)', [id, 'stream']).then(
              () => window.acked.push(id), (e) => window.failed.push(e.code));
          }
        })();
      });
      await a.waitForFunction(() => window.acked.length >= 20);
      await leader.close();
      await a.evaluate(() => window.streaming);
      const { acked, failed } = await a.evaluate(() => ({ acked: window.acked, failed: window.failed }));
      assert.deepEqual(failed, [], 'the hand-over is invisible: nothing rejected');
      assert.equal(acked.length, 150);
      const stored = await b.evaluate(async () => (await window.db.query("SELECT id FROM notes WHERE body = 'stream'")).rows.map((r) => r.id));
      for (const id of acked) assert.ok(stored.includes(id), `acknowledged ${id} lost`);
      // Watches resumed after the hand-over: the remaining tabs see new writes.
      await b.evaluate(() => window.db.exec("INSERT INTO notes VALUES ('after', 'handover')"));
      await waitSeen(a, 'after');
      await waitSeen(b, 'after');
      const check = await b.evaluate(async () => (await window.db.query('PRAGMA integrity_check')).rows[0].integrity_check);
      assert.equal(check, 'ok');
      await a.close();
      await b.close();
    });
  });
}

test('rapid tab churn (20 tabs opened and closed) never corrupts the file', async () => {
  const keeper = await tab('churn', 'opfs');
  for (let i = 0; i < 20; i++) {
    const p = await hearthPage(context, server.url);
    await p.evaluate(async (i) => {
      const db = await hearth.open({ name: 'churn', storage: 'opfs' });
      await db.exec('CREATE TABLE IF NOT EXISTS notes(id TEXT PRIMARY KEY, body TEXT)');
      await db.exec('INSERT INTO notes VALUES (?, ?)', [`churn-${String(i).padStart(2, '0')}`, 'x']);
    }, i);
    await p.close();
  }
  await waitSeen(keeper, 'churn-19');
  const r = await keeper.evaluate(async () => ({
    n: (await window.db.query("SELECT count(*) AS n FROM notes WHERE body = 'x'")).rows[0].n,
    check: (await window.db.query('PRAGMA integrity_check')).rows[0].integrity_check,
  }));
  assert.deepEqual(r, { n: 20, check: 'ok' });
  await keeper.close();
});

test('terminating the leader\'s worker hands the database over too', async () => {
  const leaderPage = await hearthPage(context, server.url);
  await leaderPage.evaluate(async () => {
    window.w = new hearth.HearthWorker();
    const db = await hearth.open({ name: 'terminate', storage: 'opfs', worker: window.w });
    await db.exec('CREATE TABLE IF NOT EXISTS notes(id TEXT PRIMARY KEY, body TEXT)');
    await db.exec("INSERT INTO notes VALUES ('before', 'x')");
  });
  const follower = await tab('terminate', 'opfs');
  await waitSeen(follower, 'before');
  await leaderPage.evaluate(() => window.w.terminate());
  const r = await follower.evaluate(async () => {
    const outcomes = [];
    for (let i = 0; i < 5; i++) {
      outcomes.push(await window.db.exec('INSERT INTO notes VALUES (?, ?)', [`after-${i}`, 'x']).then(() => 'ok', (e) => e.code));
    }
    return outcomes;
  });
  assert.deepEqual(r, ['ok', 'ok', 'ok', 'ok', 'ok']);
  await follower.evaluate(() => window.db.exec("INSERT INTO notes VALUES ('last', 'x')"));
  await waitSeen(follower, 'last');
  assert.match(await follower.evaluate(() => window.changes.join()), /full/, 'the watch resumed with a full result');
  await leaderPage.close();
  await follower.close();
});

test('an open with migrations (it reports progress first) still elects one leader; killLeaderTab hands it over', async () => {
  const migrated = async () => {
    const page = await hearthPage(context, server.url);
    await page.evaluate(async () => {
      window.db = await hearth.open({ name: 'migrated', storage: 'opfs', migrations: [
        { version: 1, sql: 'CREATE TABLE notes(id TEXT PRIMARY KEY, body TEXT)' },
      ] });
      globalThis.hearthIsLeader = () => window.db.isLeader();
    });
    return page;
  };
  const pages = [await migrated(), await migrated(), await migrated()];
  const leads = await Promise.all(pages.map((p) => p.evaluate(() => window.db.isLeader())));
  assert.deepEqual(leads.filter(Boolean).length, 1, `leaders: ${leads}`);
  const left = await killLeaderTab(pages);
  assert.equal(left.length, 2);
  // A request sent during the hand-over waits for the new leader.
  await left[0].evaluate(() => window.db.exec("INSERT INTO notes VALUES ('after', 'x')"));
  const leadsAfter = await Promise.all(left.map((p) => p.evaluate(() => window.db.isLeader())));
  assert.equal(leadsAfter.filter(Boolean).length, 1, `leaders after: ${leadsAfter}`);
  assert.equal(await left[1].evaluate(async () => (await window.db.query('SELECT count(*) AS n FROM notes')).rows[0].n), 1);
  for (const p of left) await p.close();
});
