// The worker built with SQLite as its own module (make wasm-sqlite-module;
// docs/sqlite-module.md) in real Chromium, on the memory storage: open,
// schema, writes, reads, a live query, SQL functions whose C library comes
// from Go (math, localtime), close. Skipped for the default build, whose
// bundle.js names no SQLite module. OPFS and IndexedDB are not tried here:
// their VFSs await promises inside SQLite's calls, which ends the program
// with SQLite's C frames on the stack (docs/sqlite-module.md, steps 4–5).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, launchBrowser, loopbackOnly, hearthPage, repoRoot } from './harness.mjs';

const bundle = path.join(repoRoot, 'web', 'dist', 'bundle.js');
const sqliteFile = fs.existsSync(bundle) ? fs.readFileSync(bundle, 'utf8').match(/sqliteFile = '([^']+)'/)?.[1] : undefined;

describe('worker with SQLite as its own module', { skip: sqliteFile ? false : 'not a make wasm-sqlite-module build' }, () => {
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

  test('a memory database: schema, writes, reads, a live query, functions, close', async () => {
    const r = await page.evaluate(async () => {
      const db = await hearth.open({ name: 'sqlite-module', storage: 'memory' });
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
      const fns = await db.query("SELECT exp(1) AS e, datetime(86400, 'unixepoch', 'localtime') IS NOT NULL AS local");
      await db.close();
      return { read: read.rows[0], live, fns: fns.rows[0] };
    });
    assert.deepEqual(r.read, { n: 2, vs: 'a,b', version: '3.54.1' });
    assert.deepEqual(r.live, ['a', 'b', 'c']);
    assert.equal(r.fns.e, Math.E);
    assert.equal(r.fns.local, 1);
    assert.ok(fetched.some((p) => p.endsWith(`/dist/${sqliteFile}`)), `the worker fetched ${sqliteFile}: ${fetched.join(' ')}`);
  });
});
