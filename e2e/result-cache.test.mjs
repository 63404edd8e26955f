// hearth.js's result cache (open({cache})) in real Chromium: a watch on a
// database opened with cache delivers the last saved result first, flagged
// 'cached', then the live one; scopes and databases do not share entries;
// the size bound evicts; deleteDatabase clears; key and cache do not mix.
// Order of events only: nothing here measures time.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, loopbackOnly, hearthPage, importHearth } from './harness.mjs';

describe('result cache', () => {
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

  test('a watch shows the cached result first, then the live one, and saves the live one for the next visit', async () => {
    const r = await page.evaluate(async () => {
      const sql = 'SELECT id, title FROM notes ORDER BY id';
      const db = await hearth.open({ name: 'cache-a', storage: 'idb', cache: { scope: 'u-01' } });
      await db.exec('CREATE TABLE IF NOT EXISTS notes(id TEXT PRIMARY KEY, title TEXT)');
      await db.exec("INSERT INTO notes VALUES ('n1', 'live one'), ('n2', 'live two')");
      // The last visit's result, as another tab or an older state left it.
      await hearth.saveCachedResult('cache-a', sql, [], { columns: ['id', 'title'], rows: [['n1', 'cached one']] }, { scope: 'u-01' });
      const seen = [];
      let settle;
      const live = new Promise((resolve) => { settle = resolve; });
      let edited;
      const sawEdit = new Promise((resolve) => { edited = resolve; });
      const stop = await db.watch(sql, [], (result, change) => {
        seen.push({ kind: change.kind, titles: result.rows.map((row) => row.title), savedAt: typeof change.savedAt });
        if (change.kind === 'initial') settle();
        if (result.rows[1]?.title === 'live two, edited') edited();
      });
      await live;
      await db.exec("UPDATE notes SET title = 'live two, edited' WHERE id = 'n2'");
      await sawEdit;
      await stop(); // ending the watch saves its latest result at once
      await new Promise((resolve) => setTimeout(resolve, 50)); // the save's IndexedDB transaction
      const next = await hearth.cachedResult('cache-a', sql, [], { scope: 'u-01' });
      const arrays = await hearth.cachedResult('cache-a', sql, undefined, { scope: 'u-01', rowMode: 'array' });
      const otherScope = await hearth.cachedResult('cache-a', sql, [], { scope: 'u-02' });
      const otherDB = await hearth.cachedResult('cache-b', sql, [], { scope: 'u-01' });
      await db.close();
      return { seen, next: next && { stale: next.stale, titles: next.rows.map((row) => row.title) }, arrays: arrays?.rows, otherScope, otherDB };
    });
    // The cached result comes only if read before the live one; here the
    // database was already open, so the worker may win: both orders are
    // right, but the cached result never follows the live one.
    const kinds = r.seen.map((s) => s.kind).join();
    assert.ok(kinds === 'cached,initial,delta' || kinds === 'initial,delta', kinds);
    if (kinds[0] === 'cached') assert.deepEqual(r.seen[0], { kind: 'cached', titles: ['cached one'], savedAt: 'number' });
    assert.deepEqual(r.seen.find((x) => x.kind === 'initial').titles, ['live one', 'live two']);
    assert.deepEqual(r.next, { stale: true, titles: ['live one', 'live two, edited'] });
    assert.deepEqual(r.arrays, [['n1', 'live one'], ['n2', 'live two, edited']]);
    assert.equal(r.otherScope, null);
    assert.equal(r.otherDB, null);
  });

  test('a change made just before the page goes away is the cached result of the next visit', async () => {
    const sql = 'SELECT id, title FROM notes ORDER BY id';
    await page.evaluate(async (sql) => {
      const db = await hearth.open({ name: 'cache-leave', storage: 'idb', cache: true });
      await db.exec('CREATE TABLE IF NOT EXISTS notes(id TEXT PRIMARY KEY, title TEXT)');
      await db.exec("INSERT INTO notes VALUES ('n1', 'first')");
      let edited;
      const sawEdit = new Promise((resolve) => { edited = resolve; });
      await db.watch(sql, [], (result) => { if (result.rows[0]?.title === 'first, edited') edited(); });
      await db.exec("UPDATE notes SET title = 'first, edited' WHERE id = 'n1'");
      await sawEdit; // the save of this result is now held back for its delay
    }, sql);
    // Reloaded well within the delay: the pagehide saves it.
    await page.reload();
    await importHearth(page);
    const next = await page.evaluate((sql) => hearth.cachedResult('cache-leave', sql, []), sql);
    assert.deepEqual(next?.rows.map((row) => row.title), ['first, edited']);
    await page.evaluate(() => hearth.deleteDatabase('cache-leave'));
  });

  test('a watch opened while the worker is busy gets the cached result before the live one', async () => {
    const kinds = await page.evaluate(async () => {
      const sql = 'SELECT count(*) AS n FROM big';
      const db = await hearth.open({ name: 'cache-busy', storage: 'memory', cache: true });
      await db.exec('CREATE TABLE big(x)');
      await hearth.saveCachedResult('cache-busy', sql, [], { columns: ['n'], rows: [[7]] });
      // A transaction holds the database: the watch waits for it, the cache does not.
      let release;
      const held = new Promise((resolve) => { release = resolve; });
      const tx = db.transaction(async (t) => { await t.exec('INSERT INTO big VALUES (1)'); await held; });
      const seen = [];
      let settle;
      const live = new Promise((resolve) => { settle = resolve; });
      let sawCached;
      const cachedSeen = new Promise((resolve) => { sawCached = resolve; });
      const watching = db.watch(sql, [], (result, change) => {
        seen.push(`${change.kind}:${result.rows[0].n}`);
        if (change.kind === 'cached') sawCached();
        if (change.kind === 'initial') settle();
      });
      await cachedSeen; // shown while the transaction still holds the database
      release();
      await tx;
      await live;
      await (await watching)();
      await db.close();
      return seen;
    });
    assert.deepEqual(kinds, ['cached:7', 'initial:1']);
  });

  test('a watch whose result outgrows the bound deletes its older copy, in either row mode', async () => {
    const r = await page.evaluate(async () => {
      const db = await hearth.open({ name: 'cache-grow', storage: 'idb', cache: { maxBytes: 4000 } });
      await db.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t(v) VALUES ('a')");
      const out = {};
      for (const rowMode of ['object', 'array']) {
        const sql = `SELECT id, v FROM t -- ${rowMode}`;
        let rows = 0;
        const stop = await db.watch(sql, [], (result) => { rows = result.rows.length; }, { rowMode });
        await stop();
        await new Promise((resolve) => setTimeout(resolve, 50)); // the save's IndexedDB transaction
        const small = (await hearth.cachedResult('cache-grow', sql, [], { rowMode }))?.rows.length ?? null;
        const grown = await db.watch(sql, [], (result) => { rows = result.rows.length; }, { rowMode });
        await db.exec("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300) INSERT INTO t(v) SELECT 'row ' || i FROM n");
        for (let i = 0; i < 100 && rows < 301; i++) await new Promise((resolve) => setTimeout(resolve, 10));
        await grown();
        await new Promise((resolve) => setTimeout(resolve, 50));
        const big = await hearth.cachedResult('cache-grow', sql, [], { rowMode });
        out[rowMode] = { small, rows, big };
        await db.exec('DELETE FROM t WHERE id > 1');
      }
      await db.close();
      return out;
    });
    // 301 rows of about 20 bytes each are over 4,000: not kept, and the
    // one-row copy saved before is gone.
    for (const rowMode of ['object', 'array']) assert.deepEqual(r[rowMode], { small: 1, rows: 301, big: null }, rowMode);
  });

  test('the size bound evicts the least recently used; clearCachedResults and deleteDatabase clear', async () => {
    const r = await page.evaluate(async () => {
      const big = (n) => ({ columns: ['v'], rows: [['x'.repeat(n)]] });
      // Each about 2 KB of a 5 KB bound: the third evicts the least recently used.
      await hearth.saveCachedResult('lru', 'SELECT 1', [], big(1000), { maxBytes: 5000 });
      await hearth.saveCachedResult('lru', 'SELECT 2', [], big(1000), { maxBytes: 5000 });
      await hearth.cachedResult('lru', 'SELECT 1', []); // 1 is now more recent than 2
      await new Promise((resolve) => setTimeout(resolve, 5));
      await hearth.saveCachedResult('lru', 'SELECT 3', [], big(1000), { maxBytes: 5000 });
      const kept = [];
      for (const q of ['SELECT 1', 'SELECT 2', 'SELECT 3']) if (await hearth.cachedResult('lru', q, [])) kept.push(q);
      await hearth.saveCachedResult('lru', 'SELECT 4', [], big(10000), { maxBytes: 5000 });
      const tooBig = await hearth.cachedResult('lru', 'SELECT 4', []);
      // Preloaded entries answer once; a result saved since is read fresh.
      await hearth.preloadCachedResults('lru');
      const preloaded = (await hearth.cachedResult('lru', 'SELECT 3', []))?.rows.length;
      await hearth.preloadCachedResults('lru');
      await hearth.saveCachedResult('lru', 'SELECT 3', [], { columns: ['v'], rows: [['newer']] }, { maxBytes: 5000 });
      const afterSave = (await hearth.cachedResult('lru', 'SELECT 3', []))?.rows[0].v;
      await hearth.clearCachedResults('lru');
      const afterClear = await hearth.cachedResult('lru', 'SELECT 1', []);

      const db = await hearth.open({ name: 'cache-del', storage: 'idb', cache: true });
      await db.exec('CREATE TABLE t(x); INSERT INTO t VALUES (1)');
      await (await db.watch('SELECT x FROM t', [], () => {}))();
      await new Promise((resolve) => setTimeout(resolve, 50));
      const beforeDelete = await hearth.cachedResult('cache-del', 'SELECT x FROM t', []);
      await db.close();
      await hearth.deleteDatabase('cache-del');
      const afterDelete = await hearth.cachedResult('cache-del', 'SELECT x FROM t', []);
      let keyError;
      try {
        await hearth.open({ name: 'cache-key', storage: 'memory', key: 'a passphrase', cache: true });
      } catch (err) {
        keyError = err.code;
      }
      return { kept, tooBig, preloaded, afterSave, afterClear, beforeDelete: beforeDelete?.rows, afterDelete, keyError };
    });
    assert.deepEqual(r.kept, ['SELECT 1', 'SELECT 3']);
    assert.equal(r.tooBig, null);
    assert.equal(r.preloaded, 1);
    assert.equal(r.afterSave, 'newer');
    assert.equal(r.afterClear, null);
    assert.deepEqual(r.beforeDelete, [{ x: 1 }]);
    assert.equal(r.afterDelete, null);
    assert.equal(r.keyError, 'BAD_REQUEST');
  });
});
