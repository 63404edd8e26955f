// The worker runs SQLite as its own module (docs/sqlite-module.md), which
// make build carries inside the worker's wasm as the custom section
// "hearth.sqlite": in real Chromium, on each storage: open, schema,
// writes, reads, a live query, SQL functions whose C library comes from
// Go (math, localtime), close. Skipped for a SQLITE=translated build,
// whose wasm has no such section.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, launchBrowser, loopbackOnly, hearthPage, repoRoot } from './harness.mjs';

const dist = path.join(repoRoot, 'web', 'dist');
const wasmFile = fs.existsSync(path.join(dist, 'bundle.js')) ? fs.readFileSync(path.join(dist, 'bundle.js'), 'utf8').match(/wasmFile = '([^']+)'/)?.[1] : undefined;
const hasModule = wasmFile !== undefined &&
  WebAssembly.Module.customSections(new WebAssembly.Module(fs.readFileSync(path.join(dist, wasmFile))), 'hearth.sqlite').length === 1;

describe('worker with SQLite as its own module', { skip: hasModule ? false : 'a SQLITE=translated build' }, () => {
  let server, browser, page;
  /** @type {string[]} */
  const fetched = [];

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    const context = await browser.newContext();
    await loopbackOnly(context);
    context.on('request', (r) => fetched.push(new URL(r.url()).pathname));
    page = await hearthPage(context, server.url);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  for (const storage of ['memory', 'opfs', 'idb']) {
    test(`${storage}: schema, writes, reads, a live query, functions, close`, async () => {
      const r = await page.evaluate(async (storage) => {
        const db = await hearth.open({ name: `sqlite-module-${storage}`, storage });
        await db.exec('CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)');
        await db.exec("INSERT INTO t(v) VALUES ('a'), ('b')");
        const read = await db.query('SELECT count(*) AS n, group_concat(v) AS vs, sqlite_version() AS version FROM t');
        let notify;
        let latest;
        const next = () => new Promise((resolve) => { notify = resolve; });
        const first = next();
        const stop = await db.watch('SELECT v FROM t ORDER BY id', [], (result) => { latest = result; notify?.(); });
        await first;
        const pushed = next();
        await db.exec("INSERT INTO t(v) VALUES ('c')");
        await pushed;
        const live = latest.rows.map((row) => row.v);
        await stop();
        const fns = await db.query("SELECT exp(1) AS e, datetime(86400, 'unixepoch', 'localtime') IS NOT NULL AS local, (SELECT group_concat(value) FROM generate_series(10, 1, -4)) AS series");
        const info = await db.info();
        await db.close();
        return { read: read.rows[0], live, fns: fns.rows[0], storage: info.storage };
      }, storage);
      assert.equal(r.storage, storage);
      assert.deepEqual(r.read, { n: 2, vs: 'a,b', version: '3.54.1' });
      assert.deepEqual(r.live, ['a', 'b', 'c']);
      assert.equal(r.fns.e, Math.E);
      assert.equal(r.fns.local, 1);
      assert.equal(r.fns.series, '10,6,2', 'generate_series (internal/sqlseries: the module has no C one)');
    });
  }

  // SQLite's C stack is a region of Go's memory with no guard below it
  // (internal/sqlite3wasm's X_initialize): the deepest nesting SQLite
  // accepts must fit in it. Expressions to SQLITE_MAX_EXPR_DEPTH (1000),
  // a view stack and a trigger chain as deep as SQLite allows, then the
  // connection and the database are checked.
  test('the deepest recursion SQLite allows fits its stack', async () => {
    const r = await page.evaluate(async () => {
      const db = await hearth.open({ name: 'sqlite-module-deep', storage: 'memory' });
      // Deeper and deeper until SQLite refuses (its parser's stack or
      // SQLITE_MAX_EXPR_DEPTH): every depth it takes must evaluate.
      const nested = (n) => 'abs('.repeat(n) + '1' + ')'.repeat(n);
      let expr = 0;
      let tooDeep = '';
      for (let n = 50; n <= 2000 && !tooDeep; n += 50) {
        try {
          if ((await db.query(`SELECT ${nested(n)} AS v`)).rows[0].v === 1) expr = n;
        } catch (e) {
          tooDeep = e.code;
        }
      }
      const sum = Array.from({ length: 990 }, (_, i) => `${i}`).join(' + ');
      const flat = (await db.query(`SELECT ${sum} AS v`)).rows[0].v;
      await db.exec('CREATE TABLE c(n INTEGER)');
      await db.exec('PRAGMA recursive_triggers = ON');
      await db.exec('CREATE TRIGGER c_next AFTER INSERT ON c WHEN new.n < 990 BEGIN INSERT INTO c VALUES (new.n + 1); END');
      await db.exec('INSERT INTO c VALUES (1)');
      const chain = (await db.query('SELECT count(*) AS n FROM c')).rows[0].n;
      const rec = (await db.query('WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 100000) SELECT count(*) AS n FROM r')).rows[0].n;
      const check = (await db.query('PRAGMA integrity_check')).rows[0].integrity_check;
      const after = (await db.query('SELECT 6 * 7 AS v')).rows[0].v;
      await db.close();
      return { expr, tooDeep, flat, chain, rec, check, after };
    });
    assert.ok(r.expr >= 50, `the deepest expression evaluated: ${r.expr}`);
    assert.deepEqual({ ...r, expr: 0 }, { expr: 0, tooDeep: 'SQLITE_ERROR', flat: 489555, chain: 990, rec: 100000, check: 'ok', after: 42 });
  });

  test('one wasm file: the worker fetched no other', () => {
    const wasm = fetched.filter((p) => p.endsWith('.wasm'));
    assert.deepEqual(wasm, [`/dist/${wasmFile}`]);
  });
});
