// The walking skeleton in real Chromium: the page talks to SQLite in the Go
// worker through hearth.js.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, loopbackOnly, hearthPage } from './harness.mjs';

describe('Hearth worker in Chromium', () => {
  let server, browser, context, page;

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    context = await browser.newContext();
    await loopbackOnly(context);
    page = await hearthPage(context, server.url);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('create, insert, query round trip', async () => {
    const result = await page.evaluate(async () => {
      const db = await hearth.open({ name: 'roundtrip', storage: 'memory' });
      await db.exec('CREATE TABLE tasks(id TEXT PRIMARY KEY, title TEXT, done INTEGER)');
      const ins = await db.exec('INSERT INTO tasks VALUES (?, ?, ?)', ['a', 'Write tests', 0]);
      await db.exec('INSERT INTO tasks VALUES (:id, :title, :done)', { id: 'b', title: 'Ship', done: true });
      const q = await db.query('SELECT id, title, done FROM tasks ORDER BY id');
      const arrays = await db.query('SELECT id FROM tasks ORDER BY id', [], { rowMode: 'array' });
      return { ins, q, arrays, info: await db.info() };
    });
    assert.deepEqual(result.ins, { changes: 1, lastInsertRowid: 1 });
    assert.deepEqual(result.q.columns, ['id', 'title', 'done']);
    assert.deepEqual(result.q.rows, [{ id: 'a', title: 'Write tests', done: 0 }, { id: 'b', title: 'Ship', done: 1 }]);
    assert.deepEqual(result.arrays.rows, [['a'], ['b']]);
    assert.equal(result.info.storage, 'memory');
  });

  test('every value type round-trips exactly', async () => {
    const result = await page.evaluate(async () => {
      const db = await hearth.open({ name: 'values', storage: 'memory' });
      await db.exec('CREATE TABLE v(i INTEGER PRIMARY KEY, x ANY) STRICT');
      const values = [null, 0, -1, 2 ** 31, 2 ** 53 - 1, 2n ** 53n + 1n, -(2n ** 63n), 2n ** 63n - 1n, 1.5, -0.25, 1e300,
        '', 'plain', 'NUL\u0000inside', '😀 emoji 𝄞 astral', 'é ß 中文',
        new Uint8Array([]), new Uint8Array([0, 0, 0]), new Uint8Array([0, 1, 2, 255, 0])];
      await db.batch(values.map((x, i) => ({ sql: 'INSERT INTO v VALUES (?, ?)', params: [i, x] })));
      const { rows } = await db.query('SELECT x, typeof(x) AS t FROM v ORDER BY i');
      const describe = (x) => x instanceof Uint8Array ? `blob:${Array.from(x).join(',')}` : `${typeof x}:${String(x)}`;
      return { sent: values.map(describe), got: rows.map((r) => describe(r.x)), types: rows.map((r) => r.t) };
    });
    assert.deepEqual(result.got, result.sent);
    assert.deepEqual(result.types.slice(0, 8), ['null', 'integer', 'integer', 'integer', 'integer', 'integer', 'integer', 'integer']);
    assert.equal(result.types[16], 'blob');
  });

  test('a batch that fails at statement 3 leaves nothing behind', async () => {
    const result = await page.evaluate(async () => {
      const db = await hearth.open({ name: 'batch', storage: 'memory' });
      await db.exec('CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT UNIQUE)');
      let error;
      try {
        await db.batch([
          { sql: 'INSERT INTO t(name) VALUES (?)', params: ['a'] },
          { sql: 'INSERT INTO t(name) VALUES (?)', params: ['b'] },
          { sql: 'INSERT INTO t(name) VALUES (?)', params: ['a'] },
          { sql: 'INSERT INTO t(name) VALUES (?)', params: ['c'] },
        ]);
      } catch (err) {
        error = { name: err.name, code: err.code, index: err.index, message: err.message };
      }
      const { rows } = await db.query('SELECT count(*) AS n FROM t');
      return { error, count: rows[0].n };
    });
    assert.equal(result.error.name, 'HearthError');
    assert.equal(result.error.code, 'SQLITE_CONSTRAINT_UNIQUE');
    assert.equal(result.error.index, 2);
    assert.equal(result.count, 0);
  });

  test('SQL errors get stable codes and the worker keeps serving', async () => {
    const codes = await page.evaluate(async () => {
      const db = await hearth.open({ name: 'errors', storage: 'memory' });
      await db.exec('CREATE TABLE t(id INTEGER PRIMARY KEY, n INTEGER NOT NULL)');
      const codeOf = (p) => p.then(() => 'ok', (e) => e.code);
      return {
        syntax: await codeOf(db.exec('SELEC 1')),
        notnull: await codeOf(db.exec('INSERT INTO t(n) VALUES (NULL)')),
        pk: await codeOf(db.exec('INSERT INTO t VALUES (1, 1), (1, 2)')),
        noTable: await codeOf(db.query('SELECT * FROM missing')),
        range: await codeOf(db.query('SELECT ?', [])),
        badParam: await codeOf(db.query('SELECT ?', [new Date()])),
        badStorage: await codeOf(hearth.open({ name: 'x', storage: 'floppy' })),
        badName: await codeOf(hearth.open({ name: '../etc' })),
        after: await codeOf(db.query('SELECT 1')),
        closed: await codeOf(db.close().then(() => db.query('SELECT 1'))),
      };
    });
    assert.deepEqual(codes, {
      syntax: 'SQLITE_ERROR', notnull: 'SQLITE_CONSTRAINT_NOTNULL', pk: 'SQLITE_CONSTRAINT_PRIMARYKEY',
      noTable: 'SQLITE_ERROR', range: 'SQLITE_RANGE', badParam: 'BAD_REQUEST', badStorage: 'BAD_REQUEST',
      badName: 'BAD_REQUEST', after: 'ok', closed: 'CLOSED',
    });
  });

  test('malformed messages sent raw get BAD_REQUEST and never kill the worker', async () => {
    const result = await page.evaluate(async () => {
      const db = await hearth.open({ name: 'raw', storage: 'memory' });
      const w = db.worker;
      const unmatched = [];
      w.onUnmatchedError = (err) => unmatched.push(err.code);
      const raw = w.worker;
      raw.postMessage('a string, not bytes');
      raw.postMessage({ op: 'exec', sql: 'SELECT 1' });
      raw.postMessage(new Uint8Array([0xff, 0x00, 0x13]));
      raw.postMessage(new Uint8Array([0x09, 0xff, 0xff, 0xff, 0x7f]));
      raw.postMessage(new Uint8Array(0));
      const codeOf = (p) => p.then(() => 'ok', (e) => e.code);
      const known = {
        unknownOp: await codeOf(w.request('frobnicate', { db: db.handle })),
        missingSQL: await codeOf(w.request('exec', { db: db.handle })),
        wrongType: await codeOf(w.request('query', { db: db.handle, sql: 42 })),
        noHandle: await codeOf(w.request('query', { sql: 'SELECT 1' })),
        batchShape: await codeOf(w.request('batch', { db: db.handle, statements: 'nope' })),
      };
      const alive = await db.query('SELECT 40 + 2 AS answer');
      return { unmatched, known, answer: alive.rows[0].answer };
    });
    assert.deepEqual(result.unmatched, ['BAD_REQUEST', 'BAD_REQUEST', 'BAD_REQUEST', 'BAD_REQUEST', 'BAD_REQUEST']);
    assert.deepEqual(result.known, { unknownOp: 'BAD_REQUEST', missingSQL: 'BAD_REQUEST', wrongType: 'BAD_REQUEST', noHandle: 'BAD_REQUEST', batchShape: 'BAD_REQUEST' });
    assert.equal(result.answer, 42);
  });

  test('1,000 concurrent requests are all answered, each with its own result', async () => {
    const result = await page.evaluate(async () => {
      const db = await hearth.open({ name: 'concurrent', storage: 'memory' });
      await db.exec('CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)');
      const ops = [];
      for (let i = 0; i < 1000; i++) {
        ops.push(i % 2 === 0
          ? db.query('SELECT ? * 2 AS doubled, ? AS tag', [i, `t${i}`]).then((r) => r.rows[0].doubled === i * 2 && r.rows[0].tag === `t${i}`)
          : db.exec('INSERT INTO t(v) VALUES (?)', [`v${i}`]).then((r) => r.changes === 1));
      }
      const oks = await Promise.all(ops);
      const { rows } = await db.query('SELECT count(*) AS n FROM t');
      return { allOk: oks.every(Boolean), answered: oks.length, inserted: rows[0].n };
    });
    assert.deepEqual(result, { allOk: true, answered: 1000, inserted: 500 });
  });

  // The worker's SQLite is built without Go's bounds checks on its memory
  // (Makefile SQLITE_GCFLAGS, SECURITY.md): reading a damaged file must stay
  // SQLite's own checked error, and the worker must go on serving.
  test('a database whose pages are damaged gives SQLITE_CORRUPT and the worker keeps serving', async () => {
    const result = await page.evaluate(async () => {
      const db = await hearth.open({ name: 'damaged', storage: 'opfs' });
      await db.exec('CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); CREATE INDEX t_v ON t(v)');
      await db.batch(Array.from({ length: 400 }, (_, i) => ({ sql: 'INSERT INTO t(v) VALUES (?)', params: [`value ${i} `.repeat(20)] })));
      await db.close();
      const dir = await (await (await navigator.storage.getDirectory()).getDirectoryHandle('hearth')).getDirectoryHandle('damaged');
      const file = await dir.getFileHandle('db.sqlite');
      const size = (await file.getFile()).size;
      // Page 1 (the header and the schema) stays; every later page gets a
      // deterministic pattern, so b-tree headers, cell pointers and
      // overflow links all point anywhere.
      const junk = new Uint8Array(size - 4096);
      for (let i = 0; i < junk.length; i++) junk[i] = (i * 7919 + 13) % 256;
      const w = await file.createWritable({ keepExistingData: true });
      await w.write({ type: 'write', position: 4096, data: junk });
      await w.close();
      const codes = [];
      const damaged = await hearth.open({ name: 'damaged', storage: 'opfs' }).catch((e) => { codes.push(e.code); return null; });
      if (damaged) {
        for (const sql of ['SELECT count(*) FROM t', 'SELECT v FROM t ORDER BY v', "SELECT * FROM t WHERE v > 'value 2'", 'PRAGMA integrity_check']) {
          codes.push(await damaged.query(sql).then((r) => (sql.startsWith('PRAGMA') ? r.rows[0].integrity_check === 'ok' ? 'ok' : 'reported' : 'read'), (e) => e.code));
        }
        await damaged.close().catch(() => {});
      }
      const other = await hearth.open({ name: 'undamaged', storage: 'memory' });
      const { rows } = await other.query('SELECT 6 * 7 AS n');
      return { codes, after: rows[0].n };
    });
    // SQLite does not promise to notice every damaged page on every read
    // (a count may trust a page's cell count), but what it notices is
    // SQLITE_CORRUPT, and its integrity check reports the damage.
    assert.ok(result.codes.includes('SQLITE_CORRUPT'), `damaged file: ${result.codes}`);
    for (const code of result.codes) assert.ok(['SQLITE_CORRUPT', 'read', 'reported'].includes(code), `damaged file: ${result.codes}`);
    assert.equal(result.after, 42);
  });

  test('the demo console runs SQL typed by a person', async () => {
    const demo = await context.newPage();
    await demo.goto(new URL('console/', server.url).href); // web/console/, the SQL console
    await demo.getByRole('button', { name: 'Run' }).waitFor();
    await demo.waitForFunction(() => !document.getElementById('run').disabled);
    await demo.fill('#sql', "CREATE TABLE IF NOT EXISTS hello(x); INSERT INTO hello VALUES ('typed by a person'); SELECT x FROM hello;");
    await demo.click('#run');
    await demo.locator('table td', { hasText: 'typed by a person' }).waitFor();
    assert.match(await demo.locator('#status').textContent(), /storage: opfs/);
    await demo.close();
  });

  test('a second worker in the page starts from the first one\'s compiled module, without the wasm\'s download', async () => {
    await page.evaluate(async () => {
      const w = new hearth.HearthWorker();
      const db = await hearth.open({ name: 'first-worker', storage: 'memory', worker: w });
      await db.query('SELECT 1'); // its module reached the page before its first reply
      w.terminate();
    });
    // From now on no wasm arrives: a worker that needed its download would
    // wait for it forever.
    /** @type {import('playwright-core').Route[]} */
    const held = [];
    const hold = (/** @type {import('playwright-core').Route} */ route) => { held.push(route); };
    await context.route('**/*.wasm', hold);
    try {
      const result = await page.evaluate(async () => {
        const started = (async () => {
          const w = new hearth.HearthWorker();
          const db = await hearth.open({ name: 'second-worker', storage: 'memory', worker: w });
          const { rows } = await db.query('SELECT 41 + 1 AS n');
          w.terminate();
          return rows;
        })();
        const timeout = new Promise((resolve) => setTimeout(() => resolve('no answer in 20 s'), 20000));
        return Promise.race([started, timeout]);
      });
      assert.deepEqual(result, [{ n: 42 }]);
    } finally {
      await context.unroute('**/*.wasm', hold);
      for (const route of held) await route.abort().catch(() => {});
    }
  });

  test('no uncaught errors on the page', () => {
    assert.deepEqual(page.hearthErrors.map(String), []);
  });
});
