// Tab hand-over is invisible to the app (real Chromium, persistent profile,
// so OPFS is real): the tab that leads the database closes while the other
// tabs run a mixed stream of reads and writes. No request is rejected, and
// every write is applied exactly once: reads in flight run again on the new
// leader, writes carry a write id the new leader checks.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServer, launchPersistent, loopbackOnly, hearthPage } from './harness.mjs';
import { killLeaderTab } from './kit.mjs';

// make test runs 12 rounds (a hand-over takes ~1.4 s on a loaded 2-core
// machine: the new leader reopens the OPFS file); the soak is `make soak`
// (HANDOVER_ROUNDS=50), where a long run belongs.
const ROUNDS = Number(process.env.HANDOVER_ROUNDS ?? 12);
const NAME = 'handover';

let server, context, profile;

before(async () => {
  server = await startServer();
  profile = mkdtempSync(path.join(tmpdir(), 'hearth-handover-'));
  context = await launchPersistent(profile);
  await loopbackOnly(context);
});
after(async () => {
  await context?.close();
  await server?.stop();
  rmSync(profile, { recursive: true, force: true });
});

// Opens the database in a new tab, named tag, ready to stream.
async function tab(tag) {
  const page = await hearthPage(context, server.url);
  await page.evaluate(async ([name, tag]) => {
    window.db = await hearth.open({ name, storage: 'opfs' });
    globalThis.hearthIsLeader = () => window.db.isLeader();
    window.tag = tag;
    window.next = 0; // the next op number
    window.acked = []; // [i, kind] of acknowledged writes
    window.failed = [];
    window.inserted = 0; // rows of ops this tab inserted (acknowledged)
    // One op after another until stopped: an insert, a batch (insert +
    // counter), a read that must see exactly this tab's acknowledged rows.
    window.stream = () => {
      window.running = true;
      window.streamed = (async () => {
        while (window.running) {
          const i = window.next++;
          try {
            if (i % 3 === 0) {
              await window.db.exec('INSERT INTO ops(tab, i, kind) VALUES (?, ?, ?)', [tag, i, 'exec']);
              window.inserted++;
              window.acked.push([i, 'exec']);
            } else if (i % 3 === 1) {
              await window.db.batch([
                { sql: 'INSERT INTO ops(tab, i, kind) VALUES (?, ?, ?)', params: [tag, i, 'batch'] },
                { sql: 'INSERT INTO counters(tab, n) VALUES (?, 1) ON CONFLICT(tab) DO UPDATE SET n = n + 1', params: [tag] },
              ]);
              window.inserted++;
              window.acked.push([i, 'batch']);
            } else {
              const { rows } = await window.db.query('SELECT count(*) AS n FROM ops WHERE tab = ?', [tag]);
              if (rows[0].n !== window.inserted) window.failed.push(`read ${rows[0].n} rows of ${tag}, ${window.inserted} acknowledged`);
            }
          } catch (err) {
            window.failed.push(`${err.code}: ${err.message}`);
          }
        }
      })();
    };
  }, [NAME, tag]);
  return page;
}

const acks = (page) => page.evaluate(() => window.acked.length);

// Waits (bounded) until page has acknowledged more than n writes.
async function ackedPast(page, n) {
  await page.waitForFunction((n) => window.acked.length > n || window.failed.length > 0, n, { timeout: 20000 });
}

test(`${ROUNDS} leader tabs close while other tabs stream reads and writes: none rejected, each write applied once`, async () => {
  let tags = 0;
  let pages = [await tab(`t${tags++}`)];
  await pages[0].evaluate(() => window.db.exec(`
    CREATE TABLE IF NOT EXISTS ops(tab TEXT NOT NULL, i INTEGER NOT NULL, kind TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS counters(tab TEXT PRIMARY KEY, n INTEGER NOT NULL)`));
  pages.push(await tab(`t${tags++}`), await tab(`t${tags++}`));
  /** every write acknowledged to any tab: "tab/i" → kind */
  const expected = new Map();
  const collect = async (page) => {
    const { tag, acked, failed } = await page.evaluate(() => ({ tag: window.tag, acked: window.acked, failed: window.failed }));
    assert.deepEqual(failed, [], `${tag}: requests failed`);
    for (const [i, kind] of acked) expected.set(`${tag}/${i}`, kind);
  };

  for (let round = 0; round < ROUNDS; round++) {
    const [leader, ...others] = pages;
    // The next round's tab opens meanwhile (it queues behind the others).
    const opening = tab(`t${tags++}`);
    assert.equal(await leader.evaluate(() => window.db.isLeader()), true, `round ${round}: the oldest tab leads`);
    const before = await Promise.all(others.map(acks));
    for (const p of others) await p.evaluate(() => window.stream());
    await Promise.all(others.map((p, k) => ackedPast(p, before[k] + 2)));
    const left = await killLeaderTab(pages);
    assert.deepEqual(left, others, `round ${round}: the leader tab closed`);
    // Both kinds of follower carry on across the hand-over: the one that
    // now leads (its requests in flight run again locally) and the one
    // whose leader changed (they go to the new leader).
    const during = await Promise.all(others.map(acks));
    await Promise.all(others.map((p, k) => ackedPast(p, during[k] + 2)));
    await Promise.all(others.map((p) => p.evaluate(async () => {
      window.running = false;
      await window.streamed;
    })));
    for (const p of others) await collect(p);
    pages = [...others, await opening];
  }

  const stored = await pages[0].evaluate(async () => ({
    ops: (await window.db.query('SELECT tab, i, kind FROM ops', [], { rowMode: 'array' })).rows,
    counters: (await window.db.query('SELECT tab, n FROM counters', [], { rowMode: 'array' })).rows,
    check: (await window.db.query('PRAGMA integrity_check')).rows[0].integrity_check,
  }));
  assert.equal(stored.check, 'ok');
  const seen = new Map();
  for (const [t, i, kind] of stored.ops) {
    const key = `${t}/${i}`;
    assert.ok(!seen.has(key), `${key} applied twice`);
    seen.set(key, kind);
  }
  assert.deepEqual(seen, expected, 'the stored writes are exactly the acknowledged ones');
  const batches = new Map();
  for (const [key, kind] of expected) if (kind === 'batch') batches.set(key.split('/')[0], (batches.get(key.split('/')[0]) ?? 0) + 1);
  assert.deepEqual(new Map(stored.counters), batches, 'each batch counted once');
  assert.ok(expected.size >= ROUNDS * 4, `only ${expected.size} writes`);
  for (const p of pages) await p.close();
});

test('a transaction open on the leader that closes fails whole with TX_FINISHED; one waiting to begin runs on the next leader', async () => {
  const pages = [await tab('x0'), await tab('x1'), await tab('x2')];
  const [leader, a, b] = pages;
  await leader.evaluate(() => window.db.exec('CREATE TABLE IF NOT EXISTS txs(v TEXT)'));
  await a.evaluate(async () => {
    window.seen = [];
    window.stopEarly = await window.db.watch('SELECT v FROM txs ORDER BY v', [], (r) => { window.seen = r.rows.map((x) => x.v); });
    window.outcome = window.db.transaction(async (tx) => {
      await tx.exec("INSERT INTO txs VALUES ('a1')");
      window.inTx = true;
      await new Promise((resolve) => { window.finishTx = resolve; });
      await tx.exec("INSERT INTO txs VALUES ('a2')");
    }).then(() => 'committed', (err) => err.code);
  });
  await a.waitForFunction(() => window.inTx === true);
  // B's begin waits behind A's transaction on the leader.
  await b.evaluate(() => {
    window.outcome = window.db.transaction(async (tx) => {
      await tx.exec("INSERT INTO txs VALUES ('b1')");
      await tx.exec("INSERT INTO txs VALUES ('b2')");
    }).then(() => 'committed', (err) => err.code);
  });
  assert.equal(await leader.evaluate(() => window.db.isLeader()), true);
  const left = await killLeaderTab(pages);
  assert.deepEqual(left, [a, b]);
  await a.evaluate(() => window.finishTx());
  assert.equal(await a.evaluate(() => window.outcome), 'TX_FINISHED');
  assert.equal(await b.evaluate(() => window.outcome), 'committed');
  const rows = await b.evaluate(async () => (await window.db.query('SELECT v FROM txs ORDER BY v')).rows.map((r) => r.v));
  assert.deepEqual(rows, ['b1', 'b2'], 'nothing of the lost transaction remains');
  // A's watch, begun through the old leader, moved to A's own worker.
  await a.waitForFunction(() => window.seen.join() === 'b1,b2');
  // Watches end cleanly on the promoted tab: one begun before the
  // hand-over and one begun after.
  await a.evaluate(async () => {
    await window.stopEarly();
    const stop = await window.db.watch('SELECT count(*) FROM txs', [], () => {});
    await stop();
  });
  // The tab that lost its transaction starts a new one on the new leader.
  await a.evaluate(() => window.db.transaction((tx) => tx.exec("INSERT INTO txs VALUES ('a3')")));
  assert.equal(await b.evaluate(async () => (await window.db.query('SELECT count(*) AS n FROM txs')).rows[0].n), 3);
  for (const p of left) await p.close();
});
