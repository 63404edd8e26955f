// The head start's two halves (hearth-head-start.js) without a browser:
// the worker's registry against fake fetches, and the page's decision to
// ask, with IndexedDB and OPFS stubbed. e2e/head-start.test.mjs runs both
// in Chromium against hearth serve.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { headStarts, headStartKey, replicaEndpoint } from './hearth-head-start.js';

const schema = 'abc123';
const asked = `https://sync.example/v1/replica?schema=${schema}&page_size=4096&auto_vacuum=2`;
const headStartURL = 'https://sync.example/v1/replica?page_size=4096&auto_vacuum=2';

/** A fetch that records its calls and answers 200 "network". */
function networkFetch() {
  /** @type {string[]} */
  const calls = [];
  const fetch = async (/** @type {string} */ url) => { calls.push(url); return new Response('network', { status: 200 }); };
  return { calls, fetch: /** @type {typeof globalThis.fetch} */ (/** @type {unknown} */ (fetch)) };
}

/** The page's notices for a head start answered with body and schema. */
function answered(body, builtWith = schema) {
  const key = headStartKey(headStartURL);
  return [{ hearthHeadStart: { key } }, { hearthHeadStart: { key, headers: [['hearth-replica-schema', builtWith]], body } }];
}

test('the key ignores the schema and the order of the parameters', () => {
  assert.equal(headStartKey(asked), headStartKey(headStartURL));
  assert.equal(headStartKey(asked), headStartKey('https://sync.example/v1/replica?auto_vacuum=2&page_size=4096'));
  assert.notEqual(headStartKey(asked), headStartKey('https://sync.example/v1/replica?page_size=8192&auto_vacuum=0'));
});

test('the replica endpoint is the sync URL\'s, or the one named', () => {
  assert.equal(replicaEndpoint({ url: 'wss://a.example/api/sync' }), 'https://a.example/api/v1/replica');
  assert.equal(replicaEndpoint({ url: 'ws://127.0.0.1:8080/sync', replica: true }), 'http://127.0.0.1:8080/v1/replica');
  assert.equal(replicaEndpoint({ url: 'ws://a/sync', replica: 'https://b/r' }), 'https://b/r');
  assert.equal(replicaEndpoint({ url: 'ws://a/sync', replica: false }), null);
  assert.equal(replicaEndpoint({ url: 'ws://a/other' }), null);
});

test('the worker takes the page\'s response for the same file built with its schema', async () => {
  const net = networkFetch();
  const reg = headStarts({ fetch: net.fetch });
  for (const n of answered(new TextEncoder().encode('from the page').buffer)) assert.equal(reg.fromPage(n), true);
  const resp = await reg.fetchReplica(asked, {});
  assert.equal(await resp.text(), 'from the page');
  assert.equal(/** @type {any} */ (resp).hearthHeadStart, true);
  assert.deepEqual(net.calls, []);
  // Taken once: the next fetch of the same file goes to the network.
  assert.equal(await (await reg.fetchReplica(asked, {})).text(), 'network');
});

test('the worker waits for an announced head start, streamed', async () => {
  const net = networkFetch();
  const reg = headStarts({ fetch: net.fetch });
  const [announce, answer] = answered(new ReadableStream({
    start(c) { c.enqueue(new TextEncoder().encode('streamed')); c.close(); },
  }));
  reg.fromPage(announce);
  const pending = reg.fetchReplica(asked, {});
  reg.fromPage(answer);
  assert.equal(await (await pending).text(), 'streamed');
  assert.deepEqual(net.calls, []);
});

test('the worker asks the network for what the head start is not', async () => {
  for (const [what, notices, url] of [
    ['another schema', answered(new ArrayBuffer(1), 'other'), asked],
    ['another layout', answered(new ArrayBuffer(1)), asked.replace('page_size=4096', 'page_size=8192')],
    ['a failed head start', [{ hearthHeadStart: { key: headStartKey(headStartURL), failed: 'HTTP 503' } }], asked],
    ['none', [], asked],
  ]) {
    const net = networkFetch();
    const reg = headStarts({ fetch: net.fetch });
    for (const n of notices) reg.fromPage(n);
    assert.equal(await (await reg.fetchReplica(/** @type {string} */ (url), {})).text(), 'network', what);
    assert.deepEqual(net.calls, [url], what);
  }
});

test('an abort while the worker waits for the page rejects the fetch', async () => {
  const reg = headStarts({ fetch: networkFetch().fetch });
  reg.fromPage(answered(new ArrayBuffer(1))[0]);
  const abort = new AbortController();
  const pending = reg.fetchReplica(asked, { signal: abort.signal });
  abort.abort(new Error('the open gave up'));
  await assert.rejects(pending, /the open gave up/);
});

test('a head start nobody takes is dropped', async () => {
  const net = networkFetch();
  const reg = headStarts({ fetch: net.fetch, keepMs: 1 });
  reg.fromPage(answered(new ArrayBuffer(1))[0]);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(await (await reg.fetchReplica(asked, {})).text(), 'network');
});

test('other messages are not head starts', () => {
  const reg = headStarts();
  for (const m of [null, undefined, new Uint8Array(4), { hearthModule: 1 }, { hearthHeadStart: {} }]) assert.equal(reg.fromPage(m), false);
});

// The page's half: a fresh copy of the module per case (it asks once per page).
let copies = 0;
async function pageHalf() {
  return import(`./hearth-head-start.js?copy=${++copies}`);
}

/** Stubs the origin's storage: IndexedDB's databases and OPFS's root entries. */
function stubStorage({ databases = [], entries = [] } = {}) {
  const saved = { indexedDB: Object.getOwnPropertyDescriptor(globalThis, 'indexedDB'), navigator: Object.getOwnPropertyDescriptor(globalThis, 'navigator') };
  const define = (/** @type {string} */ name, /** @type {unknown} */ value) => Object.defineProperty(globalThis, name, { configurable: true, writable: true, value });
  define('indexedDB', { databases: async () => databases });
  define('navigator', { storage: { getDirectory: async () => ({ async *keys() { yield* entries; } }) } });
  return () => {
    for (const [name, d] of Object.entries(saved)) {
      if (d) Object.defineProperty(globalThis, name, d);
      else delete (/** @type {any} */ (globalThis))[name];
    }
  };
}

const opening = { storage: 'auto', key: undefined, migrations: [{ version: 1, sql: 'CREATE TABLE t(id TEXT PRIMARY KEY)' }], sync: { url: 'ws://127.0.0.1:1/sync', token: 'tok' } };

test('a first open on an origin that stores nothing asks, with the layout and the token', async () => {
  const restore = stubStorage();
  try {
    const { startHeadStart } = await pageHalf();
    /** @type {unknown[]} */
    const posted = [];
    /** @type {[string, RequestInit][]} */
    const fetched = [];
    await startHeadStart({
      ...opening,
      post: (m) => posted.push(m),
      workerRunning: false,
      fetch: async (url, init) => { fetched.push([url, init]); return new Response('file', { status: 200, headers: { 'Hearth-Replica-Schema': schema } }); },
    });
    assert.equal(fetched.length, 1);
    assert.equal(fetched[0][0], 'http://127.0.0.1:1/v1/replica?page_size=4096&auto_vacuum=2');
    assert.deepEqual(fetched[0][1].headers, { Authorization: 'Bearer tok' });
    for (let i = 0; i < 100 && posted.length < 2; i++) await new Promise((r) => setTimeout(r, 1));
    assert.equal(posted.length, 2);
    // The worker takes what the page posted.
    const reg = headStarts({ fetch: networkFetch().fetch });
    for (const m of posted) assert.equal(reg.fromPage(m), true);
    const resp = await reg.fetchReplica(`http://127.0.0.1:1/v1/replica?schema=${schema}&page_size=4096&auto_vacuum=2`, {});
    assert.equal(await resp.text(), 'file');
  } finally {
    restore();
  }
});

test('no head start where a database may exist, or none is needed', async () => {
  for (const [what, stored, options] of [
    ['an IndexedDB database', { databases: [{ name: 'x' }] }, {}],
    ['an OPFS file', { entries: ['x.db'] }, {}],
    ['a running worker', {}, { workerRunning: true }],
    ['an encrypted database', {}, { key: 'secret' }],
    ['memory storage', {}, { storage: 'memory' }],
    ['no replica', {}, { sync: { url: 'ws://127.0.0.1:1/sync', replica: false } }],
    ['no sync', {}, { sync: undefined }],
  ]) {
    const restore = stubStorage(stored);
    try {
      const { startHeadStart } = await pageHalf();
      const posted = [];
      let fetched = 0;
      await startHeadStart({ ...opening, post: (m) => posted.push(m), workerRunning: false, fetch: async () => { fetched++; return new Response(''); }, ...options });
      assert.equal(fetched + posted.length, 0, what);
    } finally {
      restore();
    }
  }
});
