// The storage scenarios, run in every engine through a small driver
// interface (e2e/drivers/*.mjs): the code that runs in the page and the
// assertions live here once; each engine's test file passes its driver.
//
// A driver is {engine, backends, autoStorage, canKillBrowser, canHideOPFS,
// quotaBackends, quotaAtLaunch, launch, cleanup}:
// - backends: the storage backends that work on a persistent profile;
//   autoStorage: the one `auto` must pick there;
// - launch({profile, throwaway, hide}) starts the browser on profile (a
//   directory, reused for a restart) or, with throwaway, in the engine's
//   ephemeral mode; quotaLimited: with a small storage quota, for engines
//   that only take one at start-up (quotaAtLaunch); hide serves the worker without OPFS sync handles
//   (canHideOPFS). It resolves to a browser {newPage(url), close(), kill(),
//   limitQuota(page, bytes) (for quotaBackends) → restore};
// - a page is {evaluate(fn, arg), goto(url), reload(), close(), errors}:
//   evaluate runs fn(arg) in the page and resolves to its (JSON) result.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServer, hearthPage, importHearth } from '../harness.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Each scenario is bounded: a browser that hangs fails its test, not the run.
const bounded = { timeout: 90000 };

/**
 * Registers the storage scenarios for driver. backends and selection pick
 * a part of them, so that a slow engine's suite can be split over files
 * that run side by side.
 */
export function storageSuite(driver, { backends = ['opfs', 'idb'], selection = true } = {}) {
  const { engine } = driver;
  let server;
  const profiles = [];

  function newProfile() {
    const dir = mkdtempSync(path.join(tmpdir(), `hearth-${engine}-profile-`));
    profiles.push(dir);
    return dir;
  }

  async function persistentPage(dir, options = {}) {
    const browser = await driver.launch({ profile: dir, ...options });
    const page = await hearthPage(browser, server.url);
    return { browser, page };
  }

  before(async () => { server = await startServer(); });
  after(async () => {
    await server?.stop();
    await driver.cleanup();
    for (const dir of profiles) rmSync(dir, { recursive: true, force: true });
  });

  for (const storage of backends) {
    const unsupported = !driver.backends.includes(storage) && `${engine} has no ${storage} backend on a persistent profile`;
    describe(`${engine}: ${storage} backend`, { skip: unsupported }, () => {
      test('a write survives a reload and a browser restart', bounded, async () => {
        const dir = newProfile();
        let { browser, page } = await persistentPage(dir);
        const opened = await page.evaluate(async (storage) => {
          const db = await hearth.open({ name: 'durable', storage });
          await db.exec('CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT)');
          await db.exec('INSERT INTO notes(body) VALUES (?), (?)', ['first', 'second 😀']);
          return db.info();
        }, storage);
        assert.equal(opened.storage, storage);
        await page.reload();
        await importHearth(page);
        const afterReload = await page.evaluate(async (storage) => {
          const db = await hearth.open({ name: 'durable', storage });
          return (await db.query('SELECT body FROM notes ORDER BY id')).rows.map((r) => r.body);
        }, storage);
        assert.deepEqual(afterReload, ['first', 'second 😀']);
        await browser.close();
        ({ browser, page } = await persistentPage(dir));
        const afterRestart = await page.evaluate(async () => {
          const db = await hearth.open({ name: 'durable', storage: 'auto' });
          const rows = (await db.query('SELECT body FROM notes ORDER BY id')).rows.map((r) => r.body);
          const check = (await db.query('PRAGMA integrity_check')).rows[0].integrity_check;
          return { rows, check, storage: db.storage, reason: db.storageReason };
        });
        assert.deepEqual(afterRestart.rows, ['first', 'second 😀']);
        assert.equal(afterRestart.check, 'ok');
        // auto finds the existing database in whichever backend holds it.
        assert.equal(afterRestart.storage, storage, afterRestart.reason);
        await browser.close();
      });

      test('killing the worker or the browser mid-stream loses no acknowledged write and shows no partial transaction', bounded, async () => {
        const dir = newProfile();
        let { browser, page } = await persistentPage(dir);
        await page.evaluate(async (storage) => {
          const db = await hearth.open({ name: 'crash', storage });
          await db.exec('CREATE TABLE tx(tx INTEGER, part INTEGER, pad TEXT, PRIMARY KEY (tx, part))');
          await db.close();
        }, storage);
        // Each round: start a stream of 3-row transactions, kill at a
        // different moment, reopen and check.
        const kills = ['terminate', 'terminate', 'close-page', 'terminate'];
        if (driver.canKillBrowser) kills.push('browser');
        let acknowledged = 0;
        for (let round = 0; round < kills.length; round++) {
          const kill = kills[round];
          const waitMs = 5 + round * 17;
          if (kill === 'browser') {
            // Start the stream, then SIGKILL every browser process.
            await page.evaluate(async ([storage, start]) => {
              const w = new hearth.HearthWorker();
              const db = await hearth.open({ name: 'crash', storage, worker: w });
              window.acked = start;
              (async () => {
                for (let tx = start; ; tx++) {
                  await db.batch([0, 1, 2].map((part) => ({ sql: 'INSERT INTO tx VALUES (?, ?, ?)', params: [tx, part, 'x'.repeat(2000)] })));
                  window.acked = tx + 1;
                }
              })().catch(() => {});
            }, [storage, acknowledged]);
            await sleep(waitMs * 4);
            acknowledged = await page.evaluate(() => window.acked);
            await browser.kill();
            ({ browser, page } = await persistentPage(dir));
          } else {
            acknowledged = await page.evaluate(async ([storage, start, waitMs]) => {
              const w = new hearth.HearthWorker();
              const db = await hearth.open({ name: 'crash', storage, worker: w });
              let acked = start;
              const stream = (async () => {
                for (let tx = start; ; tx++) {
                  await db.batch([0, 1, 2].map((part) => ({ sql: 'INSERT INTO tx VALUES (?, ?, ?)', params: [tx, part, 'x'.repeat(2000)] })));
                  acked = tx + 1;
                }
              })().catch(() => {});
              await new Promise((r) => setTimeout(r, waitMs));
              w.terminate(); // the worker dies wherever it is; requests in flight reject
              await stream;
              return acked;
            }, [storage, acknowledged, waitMs]);
            // WebKit can keep a terminated worker's IndexedDB transaction
            // open: a reopen from the same page then waits on it without
            // end (seen about once in ten runs under load; the locks are
            // free, the open's first IndexedDB request never completes).
            // Closing the page ends it, as closing a tab does in Safari; a
            // mid-write terminate still must lose no acknowledged write.
            if (kill === 'close-page' || (engine === 'webkit' && storage === 'idb')) {
              await page.close();
              page = await hearthPage(browser, server.url);
            }
          }
          const state = await page.evaluate(async (storage) => {
            // WebKit's reopen after a killed worker has hung past the
            // driver's script timeout, rarely and only on a loaded machine:
            // fail sooner, saying who holds the locks and which IndexedDB
            // databases exist, rather than with a bare script timeout.
            let stuck;
            const hung = new Promise((resolve) => { stuck = setTimeout(resolve, 30000); });
            const db = await Promise.race([hearth.open({ name: 'crash', storage }), hung]);
            if (!db) {
              const locks = await navigator.locks?.query();
              return { check: `open hung 30 s; locks held ${JSON.stringify(locks?.held.map((l) => l.name))}, pending ${JSON.stringify(locks?.pending.map((l) => l.name))}; IndexedDB ${JSON.stringify((await indexedDB.databases?.())?.map((d) => d.name))}`, rows: [] };
            }
            clearTimeout(stuck);
            const check = (await db.query('PRAGMA integrity_check')).rows[0].integrity_check;
            const { rows } = await db.query('SELECT tx, count(*) AS parts FROM tx GROUP BY tx ORDER BY tx');
            await db.close();
            return { check, rows };
          }, storage);
          assert.equal(state.check, 'ok', `round ${round} (${kill})`);
          const txs = state.rows.map((r) => r.tx);
          assert.ok(state.rows.every((r) => r.parts === 3), `round ${round}: a partial transaction is visible`);
          assert.deepEqual(txs, txs.map((_, i) => i), `round ${round}: transactions are contiguous`);
          assert.ok(txs.length >= acknowledged, `round ${round} (${kill}): ${acknowledged} acknowledged but only ${txs.length} present`);
          acknowledged = txs.length;
        }
        await browser.close();
      });

      test('encryption: stored bytes are ciphertext, the wrong key is refused, keyless databases are unaffected', bounded, async () => {
        const dir = newProfile();
        const { browser, page } = await persistentPage(dir);
        const r = await page.evaluate(async (storage) => {
          const key = crypto.getRandomValues(new Uint8Array(32));
          const secret = 'the quarterly numbers are confidential';
          const db = await hearth.open({ name: 'secret', storage, key });
          await db.exec('CREATE TABLE s(x TEXT)');
          await db.exec('INSERT INTO s VALUES (?)', [secret]);
          await db.close();
          const plain = await hearth.open({ name: 'plain', storage });
          await plain.exec("CREATE TABLE s(x TEXT); INSERT INTO s VALUES ('visible text')");
          await plain.close();

          // Read the raw stored bytes from the page.
          async function rawBytes(name) {
            if (storage === 'opfs') {
              const root = await navigator.storage.getDirectory();
              const dir = await (await root.getDirectoryHandle('hearth')).getDirectoryHandle(name);
              const parts = [];
              for await (const [, h] of dir.entries()) if (h.kind === 'file') parts.push(new Uint8Array(await (await h.getFile()).arrayBuffer()));
              return parts;
            }
            const idb = await new Promise((res, rej) => { const q = indexedDB.open(`hearth:${name}`); q.onsuccess = () => res(q.result); q.onerror = () => rej(q.error); });
            const blocks = await new Promise((res) => { const q = idb.transaction('blocks').objectStore('blocks').getAll(); q.onsuccess = () => res(q.result); });
            idb.close();
            return blocks.map((b) => new Uint8Array(b));
          }
          const contains = (parts, text) => {
            const needle = new TextEncoder().encode(text);
            return parts.some((p) => {
              outer: for (let i = 0; i + needle.length <= p.length; i++) {
                for (let j = 0; j < needle.length; j++) if (p[i + j] !== needle[j]) continue outer;
                return true;
              }
              return false;
            });
          };
          const wrong = await hearth.open({ name: 'secret', storage, key: new Uint8Array(32) }).then(() => 'opened', (e) => e.code);
          const right = await hearth.open({ name: 'secret', storage, key });
          const back = (await right.query('SELECT x FROM s')).rows[0].x;
          await right.close();
          const again = await hearth.open({ name: 'plain', storage });
          const plainBack = (await again.query('SELECT x FROM s')).rows[0].x;
          await again.close();
          // Raw bytes last: a File snapshot from getFile() keeps OPFS from
          // handing out a sync access handle until it is collected.
          const secretBytes = await rawBytes('secret');
          const plainBytes = await rawBytes('plain');
          return {
            storedSomething: secretBytes.reduce((n, p) => n + p.length, 0) > 0,
            leaked: contains(secretBytes, secret) || contains(secretBytes, 'SQLite format 3'),
            plainVisible: contains(plainBytes, 'visible text'), wrong, back: back === secret, plainBack,
          };
        }, storage);
        assert.ok(r.storedSomething);
        assert.equal(r.leaked, false, 'plaintext found in the stored bytes');
        assert.equal(r.plainVisible, true, 'the keyless control database should be readable');
        assert.equal(r.wrong, 'WRONG_KEY');
        assert.equal(r.back, true);
        assert.equal(r.plainBack, 'visible text');
        await browser.close();
      });

      if (storage === 'idb') test('a new database is stored in 64 KiB records; one stored in 8 KiB records (before 2026-12-07) keeps them', bounded, async () => {
        const dir = newProfile();
        const { browser, page } = await persistentPage(dir);
        const r = await page.evaluate(async () => {
          const open = (name) => new Promise((res, rej) => {
            const q = indexedDB.open(`hearth:${name}`, 1);
            q.onupgradeneeded = () => { q.result.createObjectStore('blocks'); q.result.createObjectStore('files'); };
            q.onsuccess = () => res(q.result);
            q.onerror = () => rej(q.error);
          });
          const request = (q) => new Promise((res, rej) => { q.onsuccess = () => res(q.result); q.onerror = () => rej(q.error); });
          const recordSizes = async (name) => {
            const idb = await open(name);
            const values = await request(idb.transaction('blocks').objectStore('blocks').getAll());
            idb.close();
            return [...new Set(values.map((v) => v.byteLength))];
          };
          const rows = Array.from({ length: 400 }, (_, i) => `note ${i} ${'x'.repeat(300)}`);
          const db = await hearth.open({ name: 'fresh', storage: 'idb' });
          await db.exec('CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT)');
          await db.batch(rows.map((body) => ({ sql: 'INSERT INTO notes(body) VALUES (?)', params: [body] })));
          await db.close();
          const fresh = await recordSizes('fresh');

          // The same database as the earlier format stored it: each file
          // in 8 KiB records, up to its size.
          const from = await open('fresh');
          const tx = from.transaction(['blocks', 'files']);
          const [keys, values, names, sizes] = await Promise.all([
            request(tx.objectStore('blocks').getAllKeys()), request(tx.objectStore('blocks').getAll()),
            request(tx.objectStore('files').getAllKeys()), request(tx.objectStore('files').getAll()),
          ]);
          from.close();
          const to = await open('legacy');
          const out = to.transaction(['blocks', 'files'], 'readwrite');
          names.forEach((name, i) => {
            const size = sizes[i].size;
            const bytes = new Uint8Array(size + 65536);
            keys.forEach(([file, index], k) => {
              if (file === name) bytes.set(new Uint8Array(values[k]).subarray(0, size - index * values[k].byteLength), index * values[k].byteLength);
            });
            for (let b = 0; b * 8192 < size; b++) out.objectStore('blocks').put(bytes.slice(b * 8192, (b + 1) * 8192), [name, b]);
            out.objectStore('files').put({ size }, name);
          });
          await new Promise((res, rej) => { out.oncomplete = res; out.onerror = () => rej(out.error); });
          to.close();

          const legacy = await hearth.open({ name: 'legacy', storage: 'idb' });
          const before = (await legacy.query('SELECT count(*) AS n, sum(length(body)) AS bytes FROM notes')).rows[0];
          await legacy.batch(rows.map((body) => ({ sql: 'INSERT INTO notes(body) VALUES (?)', params: [body] })));
          const after = (await legacy.query('SELECT count(*) AS n FROM notes')).rows[0].n;
          const check = (await legacy.query('PRAGMA integrity_check')).rows[0].integrity_check;
          const pageSize = (await legacy.query('PRAGMA page_size')).rows[0].page_size;
          await legacy.close();
          return { fresh, legacy: await recordSizes('legacy'), before, after, check, pageSize, expect: rows.reduce((n, b) => n + b.length, 0) };
        });
        assert.deepEqual(r.fresh, [65536]);
        assert.deepEqual(r.before, { n: 400, bytes: r.expect });
        assert.equal(r.after, 800);
        assert.equal(r.check, 'ok');
        assert.equal(r.pageSize, 8192);
        assert.deepEqual(r.legacy, [8192]);
        await browser.close();
      });

      const noQuota = !driver.quotaBackends.includes(storage) && `${engine}: no way to bound the ${storage} quota from a test`;
      test('quota exhaustion fails the write with STORAGE_QUOTA and leaves the database intact and usable', { ...bounded, skip: noQuota }, async () => {
        const dir = newProfile();
        let { browser, page } = await persistentPage(dir, { quotaLimited: driver.quotaAtLaunch });
        await page.evaluate(async (storage) => {
          const db = await hearth.open({ name: 'quota', storage });
          await db.exec('CREATE TABLE q(id INTEGER PRIMARY KEY, pad BLOB)');
          await db.exec('INSERT INTO q(pad) VALUES (zeroblob(1000))');
          window.quotaDB = db;
        }, storage);
        if (storage === 'idb') {
          // The reserve is written in the background a few seconds after
          // the open: wait for it (its size record commits with its blocks).
          const reserved = await page.evaluate(async () => {
            const written = () => new Promise((resolve) => {
              const req = indexedDB.open('hearth:quota%headroom');
              req.onupgradeneeded = () => req.transaction.abort(); // not created yet: do not create it
              req.onerror = () => resolve(false);
              req.onsuccess = () => {
                const db = req.result;
                const get = db.transaction('files').objectStore('files').get('%headroom');
                get.onsuccess = () => { db.close(); resolve(get.result !== undefined); };
                get.onerror = () => { db.close(); resolve(false); };
              };
            });
            for (let i = 0; i < 300; i++) {
              if (await written()) return true;
              await new Promise((r) => setTimeout(r, 100));
            }
            return false;
          });
          assert.ok(reserved, 'the IndexedDB reserve was not written within 30 s of the open');
        }
        const usage = await page.evaluate(async () => (await navigator.storage.estimate()).usage);
        const restore = driver.quotaAtLaunch ? async () => {} : await browser.limitQuota(page, usage + 2 * 1024 * 1024);
        const r = await page.evaluate(async () => {
          const db = window.quotaDB;
          let error = null;
          try {
            for (let i = 0; i < 200; i++) await db.exec('INSERT INTO q(pad) VALUES (randomblob(100000))');
          } catch (e) {
            error = e.code;
          }
          const count = (await db.query('SELECT count(*) AS n FROM q')).rows[0].n;
          const check = (await db.query('PRAGMA integrity_check')).rows[0].integrity_check;
          return { error, count, check };
        });
        // Still at the quota: deleting must work, or an app that hit it
        // could never free space (the delete's own journal or WAL needs room).
        const atQuota = await page.evaluate(async () => {
          const attempt = async (sql) => {
            try {
              await window.quotaDB.exec(sql);
              return 'ok';
            } catch (e) {
              return `${e.code}: ${e.message}`;
            }
          };
          const deleted = await attempt('DELETE FROM q WHERE id > 1');
          const written = await attempt('INSERT INTO q(pad) VALUES (x\'00\')');
          const count = (await window.quotaDB.query('SELECT count(*) AS n FROM q')).rows[0].n;
          const check = (await window.quotaDB.query('PRAGMA integrity_check')).rows[0].integrity_check;
          return { deleted, written, count, check };
        });
        await restore();
        if (driver.quotaAtLaunch) {
          // Lifting a start-up quota takes a restart on the same profile.
          await browser.close();
          ({ browser, page } = await persistentPage(dir));
          await page.evaluate(async (storage) => { window.quotaDB = await hearth.open({ name: 'quota', storage }); }, storage);
        }
        // With room again, large writes work again.
        const after = await page.evaluate(async () => {
          for (let i = 0; i < 3; i++) await window.quotaDB.exec('INSERT INTO q(pad) VALUES (randomblob(100000))');
          return (await window.quotaDB.query('SELECT count(*) AS n FROM q')).rows[0].n;
        });
        assert.equal(r.error, 'STORAGE_QUOTA');
        assert.ok(r.count >= 1 && r.count < 201, `count ${r.count}`);
        assert.equal(r.check, 'ok');
        assert.equal(atQuota.deleted, 'ok');
        assert.equal(atQuota.check, 'ok');
        // And the room the delete made is the app's: it writes again.
        assert.equal(atQuota.written, 'ok');
        assert.equal(atQuota.count, 2);
        assert.equal(after, atQuota.count + 3);
        await browser.close();
      });

      test('a corrupt file gives SQLITE_NOTADB, not a hang', bounded, async () => {
        const dir = newProfile();
        const { browser, page } = await persistentPage(dir);
        const code = await page.evaluate(async (storage) => {
          const junk = new Uint8Array(16384);
          for (let i = 0; i < junk.length; i++) junk[i] = (i * 7919) % 251;
          if (storage === 'opfs') {
            const root = await navigator.storage.getDirectory();
            const dir = await (await root.getDirectoryHandle('hearth', { create: true })).getDirectoryHandle('corrupt', { create: true });
            const w = await (await dir.getFileHandle('db.sqlite', { create: true })).createWritable();
            await w.write(junk);
            await w.close();
          } else {
            const idb = await new Promise((res, rej) => {
              const q = indexedDB.open('hearth:corrupt', 1);
              q.onupgradeneeded = () => { q.result.createObjectStore('blocks'); q.result.createObjectStore('files'); };
              q.onsuccess = () => res(q.result); q.onerror = () => rej(q.error);
            });
            await new Promise((res) => {
              const tx = idb.transaction(['blocks', 'files'], 'readwrite');
              tx.objectStore('blocks').put(junk.slice(0, 8192), ['db.sqlite', 0]);
              tx.objectStore('blocks').put(junk.slice(8192), ['db.sqlite', 1]);
              tx.objectStore('files').put({ size: 16384 }, 'db.sqlite');
              tx.oncomplete = res;
            });
            idb.close();
          }
          // Either open or the first read must say so; neither may hang.
          return hearth.open({ name: 'corrupt', storage }).then(
            (db) => db.query('SELECT * FROM sqlite_schema').then(() => 'read', (e) => e.code),
            (e) => e.code);
        }, storage);
        assert.equal(code, 'SQLITE_NOTADB');
        await browser.close();
      });
    });
  }

  if (selection) describe(`${engine}: backend selection`, () => {
    test(`auto picks ${driver.autoStorage === 'opfs' ? 'OPFS' : 'IndexedDB'}, reports why, and deleteDatabase wipes it`, bounded, async () => {
      const dir = newProfile();
      const { browser, page } = await persistentPage(dir);
      const r = await page.evaluate(async () => {
        const db = await hearth.open({ name: 'auto' });
        await db.exec('CREATE TABLE t(x); INSERT INTO t VALUES (1)');
        const info = await db.info();
        await db.close();
        const listed = await hearth.listDatabases();
        const opfs = await hearth.open({ name: 'other', storage: 'opfs' }).then((o) => o.close().then(() => 'opened'), (e) => e.code);
        await hearth.deleteDatabase('auto');
        await hearth.deleteDatabase('other');
        const afterDelete = await hearth.listDatabases();
        const reopened = await hearth.open({ name: 'auto' });
        const tables = (await reopened.query('SELECT count(*) AS n FROM sqlite_schema')).rows[0].n;
        return { storage: info.storage, reason: info.storageReason, persistent: info.persistent, persistReason: info.persistReason, listed, opfs, afterDelete, tables };
      });
      assert.equal(r.storage, driver.autoStorage, r.reason);
      if (driver.autoStorage === 'opfs') {
        assert.match(r.reason, /OPFS/);
        assert.equal(r.opfs, 'opened');
      } else {
        // The fallback says which capability was missing, and asking for
        // OPFS outright is refused rather than silently degraded.
        assert.match(r.reason, /IndexedDB.*(FileSystemSyncAccessHandle|sync access handle)/);
        assert.equal(r.opfs, 'STORAGE_UNAVAILABLE');
      }
      assert.equal(typeof r.persistent, 'boolean');
      if (!r.persistent) assert.ok(r.persistReason.length > 0, 'persistent=false must say why');
      assert.deepEqual(r.listed, [{ name: 'auto', storage: driver.autoStorage }]);
      assert.deepEqual(r.afterDelete, []);
      assert.equal(r.tables, 0, 'a deleted database reopens empty');
      await browser.close();
    });

    test('with OPFS sync handles hidden (the Safari case), auto falls back to IndexedDB and the data survives', { ...bounded, skip: !driver.canHideOPFS && `${engine}: the driver cannot rewrite the worker script` }, async () => {
      const dir = newProfile();
      let { browser, page } = await persistentPage(dir, { hide: true });
      const first = await page.evaluate(async () => {
        const db = await hearth.open({ name: 'safari' });
        await db.exec("CREATE TABLE t(x); INSERT INTO t VALUES ('kept')");
        const opfs = await hearth.open({ name: 'other', storage: 'opfs' }).then(() => 'opened', (e) => e.code);
        return { storage: db.storage, reason: db.storageReason, opfs };
      });
      assert.equal(first.storage, 'idb');
      assert.match(first.reason, /IndexedDB.*FileSystemSyncAccessHandle|FileSystemSyncAccessHandle/);
      assert.equal(first.opfs, 'STORAGE_UNAVAILABLE');
      await browser.close();
      // Back in a browser with OPFS: the data is in IndexedDB, so auto keeps using it.
      ({ browser, page } = await persistentPage(dir));
      const second = await page.evaluate(async () => {
        const db = await hearth.open({ name: 'safari' });
        return { storage: db.storage, reason: db.storageReason, x: (await db.query('SELECT x FROM t')).rows[0].x };
      });
      assert.deepEqual([second.storage, second.x], ['idb', 'kept']);
      assert.match(second.reason, /existing database/);
      await browser.close();
    });

    test('where OPFS works, auto opens a database that exists only in IndexedDB there', { ...bounded, skip: driver.autoStorage !== 'opfs' && `${engine}: auto is IndexedDB already` }, async () => {
      const dir = newProfile();
      const { browser, page } = await persistentPage(dir);
      const r = await page.evaluate(async () => {
        const first = await hearth.open({ name: 'moved', storage: 'idb' });
        await first.exec("CREATE TABLE t(x); INSERT INTO t VALUES ('kept')");
        await first.close();
        const db = await hearth.open({ name: 'moved' });
        return { storage: db.storage, reason: db.storageReason, x: (await db.query('SELECT x FROM t')).rows[0].x };
      });
      assert.deepEqual([r.storage, r.x], ['idb', 'kept']);
      assert.match(r.reason, /existing database/);
      await browser.close();
    });

    test('a throwaway (private) session reports persistent=false with a reason, and its data is gone after a restart', bounded, async () => {
      let browser = await driver.launch({ throwaway: true });
      let page = await hearthPage(browser, server.url);
      const r = await page.evaluate(async () => {
        const db = await hearth.open({ name: 'ephemeral' });
        await db.exec("CREATE TABLE t(x); INSERT INTO t VALUES ('gone soon')");
        const info = await db.info();
        const opfsRoot = await navigator.storage.getDirectory().then(() => 'ok', (e) => e.name);
        return { storage: info.storage, reason: info.storageReason, persistent: info.persistent, persistReason: info.persistReason, opfsRoot };
      });
      assert.equal(r.persistent, false, `a throwaway session must not claim persistence (${JSON.stringify(r)})`);
      assert.ok(r.persistReason.length > 0, 'persistent=false must say why');
      if (r.opfsRoot !== 'ok') {
        // The engine hides OPFS in this mode (WebKit's automation store,
        // Firefox's private windows): Hearth falls back and names the mode.
        assert.equal(r.storage, 'idb', r.reason);
        assert.match(r.persistReason, /private or throwaway/);
      }
      await browser.close();
      browser = await driver.launch({ throwaway: true });
      page = await hearthPage(browser, server.url);
      const tables = await page.evaluate(async () => {
        const db = await hearth.open({ name: 'ephemeral' });
        return (await db.query('SELECT count(*) AS n FROM sqlite_schema')).rows[0].n;
      });
      assert.equal(tables, 0, 'a throwaway session kept data across a restart');
      await browser.close();
    });
  });
}
