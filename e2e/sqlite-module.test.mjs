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
        const fns = await db.query("SELECT exp(1) AS e, datetime(86400, 'unixepoch', 'localtime') IS NOT NULL AS local");
        const info = await db.info();
        await db.close();
        return { read: read.rows[0], live, fns: fns.rows[0], storage: info.storage };
      }, storage);
      assert.equal(r.storage, storage);
      assert.deepEqual(r.read, { n: 2, vs: 'a,b', version: '3.54.1' });
      assert.deepEqual(r.live, ['a', 'b', 'c']);
      assert.equal(r.fns.e, Math.E);
      assert.equal(r.fns.local, 1);
    });
  }

  test('one wasm file: the worker fetched no other', () => {
    const wasm = fetched.filter((p) => p.endsWith('.wasm'));
    assert.deepEqual(wasm, [`/dist/${wasmFile}`]);
  });
});
