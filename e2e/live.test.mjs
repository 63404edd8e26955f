// Live queries, group commit and migrations in real Chromium.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, loopbackOnly, hearthPage } from './harness.mjs';

describe('live queries, write queue, migrations', () => {
  let server, browser, page;

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    const context = await browser.newContext();
    await loopbackOnly(context);
    page = await hearthPage(context, server.url);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('a watch on 500 rows sees insert, update and delete as deltas; unrelated writes re-run nothing', async () => {
    const r = await page.evaluate(async () => {
      const db = await hearth.open({ name: 'live', storage: 'memory' });
      await db.exec('CREATE TABLE tasks(id TEXT PRIMARY KEY, title TEXT, pos REAL); CREATE TABLE audit(x)');
      await db.batch(Array.from({ length: 500 }, (_, i) => ({ sql: 'INSERT INTO tasks VALUES (?, ?, ?)', params: [`t${i}`, `task ${i}`, i] })));
      const seen = [];
      let latest;
      let notify;
      const next = () => new Promise((resolve) => { notify = resolve; });
      const stop = await db.watch('SELECT id, title FROM tasks ORDER BY pos', [], (result, change) => {
        latest = result;
        seen.push(change);
        notify?.();
      });
      const initialRows = latest.rows.length;
      const runs0 = (await db.info()).liveQueryRuns;
      await db.exec('INSERT INTO audit VALUES (1)');
      const runsAfterUnrelated = (await db.info()).liveQueryRuns;

      const expect = async (write) => {
        const p = next();
        await write();
        await p;
        const truth = await db.query('SELECT id, title FROM tasks ORDER BY pos');
        return JSON.stringify(truth.rows) === JSON.stringify(latest.rows);
      };
      const okInsert = await expect(() => db.exec("INSERT INTO tasks VALUES ('x', 'new', 10.5)"));
      const okUpdate = await expect(() => db.exec("UPDATE tasks SET title = 'renamed' WHERE id = 't3'"));
      const okDelete = await expect(() => db.exec("DELETE FROM tasks WHERE id = 't7'"));
      const pushesBefore = seen.length;
      const runsBefore = (await db.info()).liveQueryRuns;
      const okBatch = await expect(() => db.batch(Array.from({ length: 100 }, (_, i) => ({ sql: 'UPDATE tasks SET title = ? WHERE id = ?', params: ['bulk', `t${100 + i}`] }))));
      await db.query('SELECT 1'); // any push for the batch has arrived before this reply
      const batchPushes = seen.length - pushesBefore;
      const batchRuns = (await db.info()).liveQueryRuns - runsBefore;
      await stop();
      return { initialRows, unrelatedReruns: runsAfterUnrelated - runs0, okInsert, okUpdate, okDelete, okBatch, batchPushes, batchRuns, kinds: seen.map((c) => c.kind) };
    });
    assert.equal(r.initialRows, 500);
    assert.equal(r.unrelatedReruns, 0);
    assert.ok(r.okInsert && r.okUpdate && r.okDelete && r.okBatch, JSON.stringify(r));
    assert.equal(r.batchPushes, 1);
    assert.equal(r.batchRuns, 1);
    assert.deepEqual(r.kinds, ['initial', 'delta', 'delta', 'delta', 'delta']);
  });

  test('a single-table watch is patched after each commit, not re-run; info says why another (an OFFSET) is re-run', async () => {
    const r = await page.evaluate(async () => {
      const db = await hearth.open({ name: 'patch', storage: 'memory' });
      await db.exec('CREATE TABLE tasks(id TEXT PRIMARY KEY, title TEXT, project TEXT, pos REAL, tag TEXT UNIQUE)');
      await db.batch(Array.from({ length: 500 }, (_, i) => ({ sql: 'INSERT INTO tasks VALUES (?, ?, ?, ?, ?)', params: [`t${i}`, `task ${i}`, i % 2 ? 'a' : 'b', i, `g${i}`] })));
      const sql = "SELECT id, title, pos FROM tasks WHERE project = 'a' ORDER BY pos, id";
      let latest;
      let notify;
      const stop = await db.watch(sql, [], (result) => { latest = result; notify?.(); });
      const stopLimited = await db.watch('SELECT id FROM tasks ORDER BY pos LIMIT 5 OFFSET 5', [], () => {});
      const before = await db.info();
      const same = [];
      for (const write of [
        "UPDATE tasks SET title = 'renamed' WHERE id = 't3'",
        "UPDATE tasks SET pos = -1 WHERE id = 't401'",
        "UPDATE tasks SET project = 'a' WHERE id = 't8'",
        "INSERT INTO tasks VALUES ('x', 'new', 'a', 10.5, NULL)",
        "DELETE FROM tasks WHERE id = 't5'",
        // Takes t9's tag: REPLACE deletes t9, which no update hook reports.
        "INSERT OR REPLACE INTO tasks VALUES ('y', 'replacer', 'a', 3.5, 'g9')",
      ]) {
        const seen = new Promise((resolve) => { notify = resolve; });
        await db.exec(write);
        await seen;
        const truth = await db.query(sql);
        same.push(JSON.stringify(truth.rows) === JSON.stringify(latest.rows));
      }
      const after = await db.info();
      await stop();
      await stopLimited();
      const stats = Object.fromEntries(after.liveQueryStats.map((s) => [s.sql, s]));
      return {
        same, patches: after.liveQueryPatches - before.liveQueryPatches, patchedRuns: stats[sql].runs,
        patchedWhy: stats[sql].whyRerun, limitedWhy: stats['SELECT id FROM tasks ORDER BY pos LIMIT 5 OFFSET 5'].whyRerun,
      };
    });
    assert.deepEqual(r.same, [true, true, true, true, true, true]);
    assert.equal(r.patches, 6, 'each commit patched the single-table watch');
    assert.equal(r.patchedRuns, 1, 'run once, when watched');
    assert.equal(r.patchedWhy, '');
    assert.match(r.limitedWhy, /LIMIT/);
  });

  test('the async-iterator form yields each change', async () => {
    const counts = await page.evaluate(async () => {
      const db = await hearth.open({ name: 'iter', storage: 'memory' });
      await db.exec('CREATE TABLE t(id INTEGER PRIMARY KEY)');
      const counts = [];
      const it = db.live('SELECT id FROM t ORDER BY id');
      for await (const result of it) {
        counts.push(result.rows.length);
        if (counts.length === 3) break;
        await db.exec('INSERT INTO t DEFAULT VALUES');
      }
      return counts;
    });
    assert.deepEqual(counts, [0, 1, 2]);
  });

  test('group commit: 1,000 concurrent execs, one violating a constraint — 999 succeed, order kept', async () => {
    const r = await page.evaluate(async () => {
      const db = await hearth.open({ name: 'group', storage: 'memory' });
      await db.exec('CREATE TABLE t(seq INTEGER PRIMARY KEY, v TEXT UNIQUE)');
      const order = [];
      const outcomes = await Promise.all(Array.from({ length: 1000 }, (_, i) =>
        db.exec('INSERT INTO t VALUES (?, ?)', [i, i === 777 ? 'v5' : `v${i}`]).then(
          () => { order.push(i); return 'ok'; },
          (e) => { order.push(i); return e.code; })));
      const { rows } = await db.query('SELECT count(*) AS n FROM t');
      const failures = outcomes.map((o, i) => [i, o]).filter(([, o]) => o !== 'ok');
      return { failures, count: rows[0].n, inOrder: order.every((v, i) => v === i) };
    });
    assert.deepEqual(r.failures, [[777, 'SQLITE_CONSTRAINT_UNIQUE']]);
    assert.equal(r.count, 999);
    assert.ok(r.inOrder, 'replies arrived in request order');
  });

  test('migrations: v1→v3 with data, a failing v4 leaves v3, a v5 database is refused', async () => {
    const r = await page.evaluate(async () => {
      const v1 = { version: 1, sql: 'CREATE TABLE tasks(id TEXT PRIMARY KEY, title TEXT)' };
      const v2 = { version: 2, sql: 'ALTER TABLE tasks ADD COLUMN done INTEGER NOT NULL DEFAULT 0' };
      const v3 = { version: 3, sql: "UPDATE tasks SET done = 1 WHERE title LIKE '%shipped%'" };
      const v4 = { version: 4, sql: 'CREATE TABLE extra(x); INSERT INTO missing VALUES (1)' };
      const keep = await hearth.open({ name: 'mig', storage: 'memory', migrations: [v1] });
      await keep.exec("INSERT INTO tasks VALUES ('a', 'draft'), ('b', 'shipped it')");
      const progress = [];
      const db3 = await hearth.open({ name: 'mig', storage: 'memory', migrations: [v1, v2, v3], onProgress: (p) => progress.push(p.version) });
      const rows = (await db3.query('SELECT id, done FROM tasks ORDER BY id', [], { rowMode: 'array' })).rows;
      const fail4 = await hearth.open({ name: 'mig', storage: 'memory', migrations: [v1, v2, v3, v4] }).then(() => 'opened', (e) => [e.code, e.message]);
      const after4 = (await db3.query("SELECT (SELECT count(*) FROM sqlite_master WHERE name = 'extra') AS extra, (SELECT user_version FROM pragma_user_version) AS v")).rows[0];
      await db3.exec('PRAGMA user_version = 5');
      const v5 = await hearth.open({ name: 'mig', storage: 'memory', migrations: [v1, v2, v3] }).then(() => 'opened', (e) => e.code);
      return { version: db3.version, progress, rows, fail4, after4, v5 };
    });
    assert.equal(r.version, 3);
    assert.deepEqual(r.progress, [2, 3]);
    assert.deepEqual(r.rows, [['a', 0], ['b', 1]]);
    assert.equal(r.fail4[0], 'MIGRATION_FAILED');
    assert.match(r.fail4[1], /version 4.*no such table: missing/);
    assert.deepEqual(r.after4, { extra: 0, v: 3 });
    assert.equal(r.v5, 'SCHEMA_TOO_NEW');
  });
});
