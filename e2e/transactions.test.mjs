// Interactive transactions (db.transaction) and the Kysely dialect in real
// Chromium: commit, rollback on throw, nested savepoints, exclusivity
// against writers in the same tab and in another tab, reads by others
// waiting for the committed state, a tab that dies mid-transaction, live
// queries firing once per commit, the sync journal, and Kysely against the
// board's schema.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServer, launchPersistent, loopbackOnly, importHearth, repoRoot, testWebMounts, appSchema } from './harness.mjs';

// main: one tab for every test (a worker start costs seconds of CPU);
// window.db is the database of the test running.
let server, context, profile, main;
const bounded = { timeout: 30000 };

before(async () => {
  // Kysely's ESM build is served at /kysely/ for the page's import map
  // (e2e/pages/kysely.html): web/kysely.js imports the bare 'kysely'.
  server = await startServer(['-seed-tasks', '30'], {
    web: [...testWebMounts, `/kysely/=${path.join(repoRoot, 'node_modules', 'kysely', 'dist')}`],
  });
  profile = mkdtempSync(path.join(tmpdir(), 'hearth-tx-'));
  context = await launchPersistent(profile);
  await loopbackOnly(context);
  main = await newPage();
});
after(async () => {
  await context?.close();
  await server?.stop();
  rmSync(profile, { recursive: true, force: true });
});

async function newPage() {
  const page = await context.newPage();
  await page.goto(new URL('e2e/kysely.html', server.url).href);
  await importHearth(page);
  return page;
}

// Opens the database `name` as window.db, with table t, in page (main
// unless given).
async function tab(name, page = main) {
  await page.evaluate(async (name) => {
    window.db = await hearth.open({ name, storage: 'opfs' });
    await db.exec('CREATE TABLE IF NOT EXISTS t(id TEXT PRIMARY KEY, v TEXT)');
  }, name);
  return page;
}

// Waits (bounded) until the leader's worker holds n requests behind the
// open transaction: they have reached it, and wait.
const waitHeld = (page, n) => page.waitForFunction(async (n) => (await db.info()).heldByTransaction >= n, n, { timeout: 10000, polling: 20 });

test('commit, rollback on throw, nested savepoints, TX_FINISHED after the end', bounded, async () => {
  const page = await tab('tx-basic');
  const out = await page.evaluate(async () => {
    const rows = async () => (await db.query('SELECT id FROM t ORDER BY id')).rows.map((r) => r.id);
    let leaked;
    const value = await db.transaction(async (tx) => {
      leaked = tx;
      await tx.exec('INSERT INTO t VALUES (?, ?)', ['a', 'outer']);
      const inner = await tx.transaction(async (inner) => {
        await inner.exec("INSERT INTO t VALUES ('b', 'inner, kept')");
        return 'inner value';
      });
      const failed = await tx.transaction(async (inner) => {
        await inner.exec("INSERT INTO t VALUES ('c', 'inner, undone')");
        throw new Error('inner throws');
      }).catch((e) => e.message);
      const seen = (await tx.query('SELECT id FROM t ORDER BY id', [], { rowMode: 'array' })).rows.flat();
      return { inner, failed, seen };
    });
    const afterCommit = await rows();
    const late = await leaked.exec("INSERT INTO t VALUES ('late', '')").catch((e) => e.code);
    const thrown = await db.transaction(async (tx) => {
      await tx.exec("DELETE FROM t WHERE id = 'a'");
      await tx.exec("INSERT INTO t VALUES ('d', 'rolled back')");
      throw new Error('the app changed its mind');
    }).catch((e) => e.message);
    const failedSQL = await db.transaction(async (tx) => {
      await tx.exec("INSERT INTO t VALUES ('e', 'rolled back too')");
      await tx.exec("INSERT INTO t VALUES ('a', 'duplicate')");
    }).catch((e) => e.code);
    return { value, afterCommit, late, thrown, failedSQL, afterRollback: await rows() };
  });
  assert.deepEqual(out.value, { inner: 'inner value', failed: 'inner throws', seen: ['a', 'b'] });
  assert.deepEqual(out.afterCommit, ['a', 'b']);
  assert.equal(out.late, 'TX_FINISHED');
  assert.equal(out.thrown, 'the app changed its mind');
  assert.equal(out.failedSQL, 'SQLITE_CONSTRAINT_PRIMARYKEY');
  assert.deepEqual(out.afterRollback, ['a', 'b']);
});

test('same tab: another writer and a reader wait for the transaction and see its committed state; watch fires once', bounded, async () => {
  const page = await tab('tx-exclusive');
  await page.evaluate(async () => {
    window.changes = [];
    window.stopWatch = await db.watch('SELECT id FROM t ORDER BY id', [], (r, change) => window.changes.push([change.kind, r.rows.map((x) => x.id)]));
    window.others = {};
    window.release = null;
    window.txDone = db.transaction(async (tx) => {
      await tx.exec("INSERT INTO t VALUES ('in-tx-1', '')");
      window.others.read = db.query('SELECT id FROM t ORDER BY id').then((r) => { window.others.readRows = r.rows.map((x) => x.id); });
      window.others.write = db.exec("INSERT INTO t VALUES ('other', '')").then(() => { window.others.wrote = true; });
      await new Promise((resolve) => { window.release = resolve; });
      await tx.exec("INSERT INTO t VALUES ('in-tx-2', '')");
      return (await tx.query('SELECT id FROM t ORDER BY id')).rows.map((x) => x.id);
    });
  });
  await waitHeld(page, 2);
  assert.deepEqual(await page.evaluate(() => [window.others.wrote, window.others.readRows]), [undefined, undefined],
    'the other writer and reader ran while the transaction was open');
  const seenInside = await page.evaluate(async () => { window.release(); return window.txDone; });
  assert.deepEqual(seenInside, ['in-tx-1', 'in-tx-2'], 'the transaction saw the other write');
  const out = await page.evaluate(async () => {
    await window.others.write;
    await window.others.read;
    // A rolled-back transaction: no push for it.
    await db.transaction(async (tx) => { await tx.exec("INSERT INTO t VALUES ('never', '')"); throw new Error('no'); }).catch(() => {});
    await db.query('SELECT 1'); // answered after any push the rollback could have caused
    return { read: window.others.readRows, changes: window.changes };
  });
  // The reader queued behind the transaction saw its committed rows, never part of them.
  assert.deepEqual(out.read, ['in-tx-1', 'in-tx-2']);
  // initial, the commit's two inserts at once, then the other write; nothing for the rollback.
  assert.deepEqual(out.changes.map(([kind, ids]) => `${kind}:${ids.join(',')}`),
    ['initial:', 'delta:in-tx-1,in-tx-2', 'delta:in-tx-1,in-tx-2,other']);
});

test('two tabs: a follower\'s write waits for the leader\'s transaction; a follower that dies mid-transaction is rolled back', bounded, async () => {
  const leader = await tab('tx-tabs');
  const follower = await tab('tx-tabs', await newPage());
  assert.equal(await leader.evaluate(() => db.isLeader()), true);
  assert.match(await follower.evaluate(() => db.storageReason), /another tab/);

  // The leader's transaction holds the follower's write back.
  await leader.evaluate(() => {
    window.txDone = db.transaction(async (tx) => {
      await tx.exec("INSERT INTO t VALUES ('leader-tx', '')");
      await new Promise((resolve) => { window.release = resolve; });
    });
  });
  await follower.evaluate(() => {
    window.wrote = db.exec("UPDATE t SET v = 'follower' WHERE id = 'leader-tx'").then((r) => r.changes);
  });
  await waitHeld(leader, 1);
  await leader.evaluate(() => { window.release(); return window.txDone; });
  assert.equal(await follower.evaluate(() => window.wrote), 1, 'the follower\'s write ran after the commit and saw its row');

  // The follower opens a transaction through the leader and dies in it.
  await follower.evaluate(() => {
    window.began = new Promise((began) => {
      db.transaction(async (tx) => {
        await tx.exec("INSERT INTO t VALUES ('dying-tab', '')");
        began();
        await new Promise(() => {}); // never ends: the tab closes first
      }, { timeoutMs: 300000 }); // not the idle timeout: its death ends it
    });
    return window.began;
  });
  await leader.evaluate(() => {
    window.afterDeath = db.exec("INSERT INTO t VALUES ('after-death', '')");
  });
  await waitHeld(leader, 1);
  await follower.close();
  const rows = await leader.evaluate(async () => {
    await window.afterDeath;
    return (await db.query('SELECT id, v FROM t ORDER BY id')).rows.map((r) => `${r.id}:${r.v}`);
  });
  assert.deepEqual(rows, ['after-death:', 'leader-tx:follower']);
});

test('sync: a transaction\'s changes are journaled inside it and pushed after its commit; a rollback leaves none', bounded, async () => {
  const schema = appSchema();
  const page = main;
  await page.evaluate(async (schema) => {
    window.db = await hearth.open({ name: 'tx-board', storage: 'opfs', migrations: schema.migrations, sync: { url: '/sync', tables: schema.tables } });
  }, schema);
  await page.waitForFunction(async () => (await db.syncStatus()).state === 'syncing', null, { timeout: 20000, polling: 50 });
  const out = await page.evaluate(async () => {
    const unsettled = async (q) => (await q.query("SELECT count(*) AS n FROM _hearth_journal WHERE tbl = 'projects' AND state IN ('pending', 'sent')")).rows[0].n;
    const rolledBack = await db.transaction(async (tx) => {
      await tx.exec("INSERT INTO projects(id, workspace_id, name) VALUES ('tx-rolled-back', 'w-1', 'never')");
      const inside = await unsettled(tx);
      throw Object.assign(new Error('roll back'), { inside });
    }).catch((e) => e.inside);
    const afterRollback = (await db.query("SELECT count(*) AS n FROM _hearth_journal WHERE tbl = 'projects'")).rows[0].n;
    const inside = await db.transaction(async (tx) => {
      await tx.exec("INSERT INTO projects(id, workspace_id, name) VALUES ('tx-committed', 'w-1', 'from a transaction')");
      return unsettled(tx);
    });
    return { rolledBack, afterRollback, inside };
  });
  assert.equal(out.rolledBack, 1, 'the journal trigger ran inside the transaction');
  assert.equal(out.afterRollback, 0, 'a rolled-back transaction left journal entries');
  assert.equal(out.inside, 1);
  // Pushed and acknowledged after the commit.
  await page.waitForFunction(async () => (await db.query("SELECT count(*) AS n FROM _hearth_journal WHERE tbl = 'projects' AND state IN ('pending', 'sent')")).rows[0].n === 0
    && (await db.syncStatus()).pending === 0, null, { timeout: 20000, polling: 50 });
});

test('Kysely on the board schema: typed queries, a join, insertId and numAffectedRows, transactions and savepoints', bounded, async () => {
  const schema = appSchema();
  const out = await main.evaluate(async (schema) => {
    const { Kysely } = await import('kysely');
    const { HearthDialect } = await import('/kysely.js');
    const db = await hearth.open({ name: 'tx-kysely', storage: 'opfs', migrations: schema.migrations });
    const k = new Kysely({ dialect: new HearthDialect({ database: db }) });
    await k.insertInto('projects').values([
      { id: 'p1', workspace_id: 'w', name: 'Alpha' },
      { id: 'p2', workspace_id: 'w', name: 'Beta' },
    ]).execute();
    const inserted = await k.insertInto('tasks').values({ id: 't1', workspace_id: 'w', project_id: 'p1', title: 'First', status: 'todo' }).executeTakeFirst();
    await k.insertInto('tasks').values([
      { id: 't2', workspace_id: 'w', project_id: 'p2', title: 'Second', status: 'todo' },
      { id: 't3', workspace_id: 'w', project_id: 'p2', title: 'Third', status: 'done' },
    ]).execute();
    const updated = await k.updateTable('tasks').set({ priority: 2 }).where('project_id', '=', 'p2').executeTakeFirst();
    const todo = await k.selectFrom('tasks').select(['id', 'title']).where('status', '=', 'todo').orderBy('id').execute();
    const joined = await k.selectFrom('tasks')
      .innerJoin('projects', 'projects.id', 'tasks.project_id')
      .select(['tasks.title', 'projects.name as project'])
      .orderBy('tasks.id').execute();
    const returning = await k.updateTable('tasks').set({ status: 'doing' }).where('id', '=', 't1').returning(['id', 'status']).execute();

    const committed = await k.transaction().execute(async (trx) => {
      await trx.updateTable('tasks').set({ status: 'done' }).where('id', '=', 't2').execute();
      const info = await db.info(); // info passes a transaction: it touches no rows
      return { done: (await trx.selectFrom('tasks').select((eb) => eb.fn.countAll().as('n')).where('status', '=', 'done').executeTakeFirstOrThrow()).n, inTransaction: info.inTransaction };
    });
    const rolledBack = await k.transaction().execute(async (trx) => {
      await trx.deleteFrom('tasks').execute();
      throw new Error('undo the delete');
    }).catch((e) => e.message);
    const trx = await k.startTransaction().execute();
    await trx.insertInto('tasks').values({ id: 't4', workspace_id: 'w', project_id: 'p1', title: 'Kept' }).execute();
    const sp = await trx.savepoint('before_t5').execute();
    await sp.insertInto('tasks').values({ id: 't5', workspace_id: 'w', project_id: 'p1', title: 'Undone' }).execute();
    const back = await sp.rollbackToSavepoint('before_t5').execute();
    await back.commit().execute();
    const tables = (await k.introspection.getTables()).map((t) => t.name).sort();
    const ids = (await k.selectFrom('tasks').select('id').orderBy('id').execute()).map((r) => r.id);
    return {
      insertId: typeof inserted.insertId, affected: String(inserted.numInsertedOrUpdatedRows), updated: String(updated.numUpdatedRows),
      todo, joined, returning, committed, rolledBack, ids, tables,
    };
  }, schema);
  assert.equal(out.insertId, 'bigint');
  assert.equal(out.affected, '1');
  assert.equal(out.updated, '2');
  assert.deepEqual(out.todo, [{ id: 't1', title: 'First' }, { id: 't2', title: 'Second' }]);
  assert.deepEqual(out.joined, [
    { title: 'First', project: 'Alpha' }, { title: 'Second', project: 'Beta' }, { title: 'Third', project: 'Beta' },
  ]);
  assert.deepEqual(out.returning, [{ id: 't1', status: 'doing' }]);
  assert.deepEqual(out.committed, { done: 2, inTransaction: true });
  assert.equal(out.rolledBack, 'undo the delete');
  assert.deepEqual(out.ids, ['t1', 't2', 't3', 't4']);
  assert.ok(out.tables.includes('tasks') && out.tables.includes('bookings'), out.tables.join(','));
});
