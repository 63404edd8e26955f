// The worker's head start on the first open's sync connection and, for a
// new database, its replica file (hearth-head-start.js), against
// stand-ins for the storage lists, fetch and the socket: which opens
// start them, what they ask for, and when Go's fetch takes the answer. e2e/head-start.test.mjs runs it in Chromium against
// a real server, where Go's own request must match this one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encode, VERSION } from './protocol.js';
import { createHeadStart, replicaEndpoint, headStartKey, syncSocketURL, isHeadStartHint } from './hearth-head-start.js';

const FINGERPRINT = 'f'.repeat(32);
const migrations = [{ version: 1, sql: 'CREATE TABLE tasks(id TEXT PRIMARY KEY)' }];

/** An open request as hearth.js sends it. */
function openRequest(fields = {}) {
  return encode({ v: VERSION, id: 1, op: 'open', name: 'app', storage: 'auto', migrations, sync: { url: 'wss://example.test/api/sync', tables: [], token: 'tok' }, ...fields });
}

/** The page's head start message (HearthWorker#headStart), for the open openRequest() makes. */
function hint(fields = {}) {
  return { hearthHeadStart: { name: 'app', storage: 'auto', sync: { url: 'wss://example.test/api/sync', token: 'tok' }, ...fields } };
}

/** A stand-in world: stored databases, the OPFS probe's answer, and a fetch that records. */
function world({ opfs = [], idb = [], probe = '', schema = FINGERPRINT, status = 200 } = {}) {
  const asked = [];
  const cancelled = [];
  const fetch = async (url, init) => {
    asked.push({ url, init });
    const body = new ReadableStream({ start(c) { c.enqueue(new Uint8Array([1, 2, 3])); c.close(); }, cancel() { cancelled.push(url); } });
    return new Response(body, { status, headers: { 'Hearth-Replica-Schema': schema } });
  };
  const storage = { probeOPFS: async () => probe, opfsDatabases: async () => opfs, idbDatabases: async () => idb };
  const sockets = [];
  const preopen = (url, protocols) => sockets.push({ url, protocols });
  return { asked, cancelled, sockets, hs: createHeadStart({ storage, fetch, preopen, keepMs: 50 }) };
}

const goURL = (pageSize, autoVacuum, schema = FINGERPRINT) =>
  `https://example.test/api/v1/replica?auto_vacuum=${autoVacuum}&page_size=${pageSize}&schema=${schema}`;

test('the first open of a new database asks at once, and Go takes the answer', async () => {
  const { asked, sockets, hs } = world();
  hs.peek(openRequest());
  hs.peek(openRequest({ id: 2, name: 'other' })); // only the first open
  const resp = await hs.fetchReplica(goURL(4096, 2), {});
  assert.equal(resp.status, 200);
  assert.equal(/** @type {any} */ (resp).hearthHeadStart, true);
  assert.deepEqual(new Uint8Array(await resp.arrayBuffer()), new Uint8Array([1, 2, 3]));
  assert.equal(asked.length, 1);
  const u = new URL(asked[0].url);
  assert.equal(u.searchParams.get('schema'), null, 'the worker cannot know the fingerprint');
  assert.equal(headStartKey(asked[0].url), headStartKey(goURL(4096, 2)));
  assert.equal(asked[0].init.headers.Authorization, 'Bearer tok');
  assert.equal(asked[0].init.cache, 'no-store');
  // The sync connection Go dials, opened once.
  assert.deepEqual(sockets, [{ url: 'wss://example.test/api/sync?token=tok', protocols: ['hearth-sync.v1'] }]);
});

test('a stored database gets no head start, from its open or a head start message: neither a file nor a connection', async () => {
  for (const [message, lists] of [[openRequest(), { idb: ['app'] }], [hint(), { opfs: ['app'] }]]) {
    const { asked, sockets, hs } = world(lists);
    hs.peek(message);
    await hs.fetchReplica(goURL(4096, 2), {});
    assert.equal(sockets.length, 0);
    assert.equal(asked.length, 1, 'only Go\'s own request');
  }
});

test('no connection for an open without sync, or for one in memory', async () => {
  for (const fields of [{ sync: undefined }, { storage: 'memory' }]) {
    const { sockets, hs } = world();
    hs.peek(openRequest(fields));
    await hs.fetchReplica(goURL(4096, 2), {});
    assert.equal(sockets.length, 0);
  }
});

test('the socket URL is Go\'s: the sync URL with the token as a query parameter', () => {
  assert.equal(syncSocketURL({ url: 'wss://h.test/sync' }), 'wss://h.test/sync');
  assert.equal(syncSocketURL({ url: 'wss://h.test/sync?a=1', token: 't k' }), 'wss://h.test/sync?a=1&token=t+k');
  assert.equal(syncSocketURL({ url: 'wss://h.test/sync', token: '' }), 'wss://h.test/sync');
});

test('without OPFS sync access handles the layout is IndexedDB\'s', async () => {
  const { asked, hs } = world({ probe: 'no handles' });
  hs.peek(openRequest());
  const resp = await hs.fetchReplica(goURL(8192, 0), {});
  assert.equal(/** @type {any} */ (resp).hearthHeadStart, true);
  assert.equal(asked.length, 1);
});

test('a file built with another schema is dropped and Go asks again', async () => {
  const { asked, cancelled, hs } = world({ schema: '0'.repeat(32) });
  hs.peek(openRequest());
  const resp = await hs.fetchReplica(goURL(4096, 2), {});
  assert.equal(/** @type {any} */ (resp).hearthHeadStart, undefined);
  assert.equal(asked.length, 2);
  assert.equal(asked[1].url, goURL(4096, 2));
  assert.equal(cancelled.length, 1);
});

test('Go asking for another file drops the head start', async () => {
  const { asked, cancelled, hs } = world();
  hs.peek(openRequest());
  const resp = await hs.fetchReplica(goURL(8192, 0), {});
  assert.equal(/** @type {any} */ (resp).hearthHeadStart, undefined);
  assert.equal(asked.length, 2);
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(cancelled.length, 1);
});

test('a refusal is not taken: Go asks itself', async () => {
  const { asked, hs } = world({ status: 503 });
  hs.peek(openRequest());
  await hs.fetchReplica(goURL(4096, 2), {});
  assert.equal(asked.length, 2);
});

for (const [what, fields, lists] of [
  ['a database stored in OPFS', {}, { opfs: ['app'] }],
  ['a database stored in IndexedDB', {}, { idb: ['app'] }],
  ['an encrypted database', { key: 'secret' }, {}],
  ['a database without sync', { sync: undefined }, {}],
  ['sync without a replica file', { sync: { url: 'wss://example.test/sync', tables: [], replica: false } }, {}],
  ['a sync URL not ending in /sync', { sync: { url: 'wss://example.test/socket', tables: [] } }, {}],
  ['memory storage', { storage: 'memory' }, {}],
  ['no migrations', { migrations: [] }, {}],
]) {
  test(`no head start for ${what}`, async () => {
    const { asked, hs } = world(lists);
    hs.peek(openRequest(fields));
    await hs.fetchReplica(goURL(4096, 2), {});
    assert.equal(asked.length, 1, 'only Go\'s own request');
    assert.equal(asked[0].url, goURL(4096, 2));
  });
}

test('a head start message starts what the open would, and the open then starts nothing more', async () => {
  const { asked, sockets, hs } = world();
  hs.peek(hint());
  hs.peek(openRequest());
  const resp = await hs.fetchReplica(goURL(4096, 2), {});
  assert.equal(/** @type {any} */ (resp).hearthHeadStart, true);
  assert.equal(asked.length, 1);
  assert.equal(headStartKey(asked[0].url), headStartKey(goURL(4096, 2)));
  assert.equal(asked[0].init.headers.Authorization, 'Bearer tok');
  assert.deepEqual(sockets, [{ url: 'wss://example.test/api/sync?token=tok', protocols: ['hearth-sync.v1'] }]);
});

test('a malformed head start message is ignored: the first open still decides', async () => {
  for (const bad of [{ hearthHeadStart: null }, { hearthHeadStart: { name: 'app' } }, { hearthHeadStart: { name: 7, sync: { url: 'wss://example.test/api/sync' } } }, hint({ sync: { url: 5 } })]) {
    const { asked, hs } = world();
    assert.equal(isHeadStartHint(bad), true);
    hs.peek(bad);
    hs.peek(openRequest());
    const resp = await hs.fetchReplica(goURL(4096, 2), {});
    assert.equal(/** @type {any} */ (resp).hearthHeadStart, true, JSON.stringify(bad));
    assert.equal(asked.length, 1);
  }
});

test('a head start message for one database, an open of another: Go asks for its own', async () => {
  const { asked, cancelled, hs } = world();
  hs.peek(hint({ storage: 'idb' }));
  hs.peek(openRequest());
  const resp = await hs.fetchReplica(goURL(4096, 2), {});
  assert.equal(/** @type {any} */ (resp).hearthHeadStart, undefined);
  assert.equal(asked.length, 2);
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(cancelled.length, 1, 'the unused file is let go');
});

test('only head start messages are taken for one', () => {
  assert.equal(isHeadStartHint(hint()), true);
  for (const other of [openRequest(), { hearthModule: null }, null, 'hearthHeadStart', undefined]) assert.equal(isHeadStartHint(other), false);
});

test('messages other than an open are not looked into', async () => {
  const { asked, hs } = world();
  hs.peek(encode({ v: VERSION, id: 1, op: 'databases' }));
  hs.peek({ hearthModule: null });
  hs.peek(openRequest());
  await hs.fetchReplica(goURL(4096, 2), {});
  assert.equal(asked.length, 1);
});

test('Go\'s abort while it waits ends its fetch and the head start', async () => {
  const { hs } = world();
  hs.peek(openRequest());
  const ac = new AbortController();
  ac.abort(new Error('stop'));
  await assert.rejects(hs.fetchReplica(goURL(4096, 2), { signal: ac.signal }), /stop/);
});

test('the endpoint is Go\'s: sync.replica, or the sync URL\'s /v1/replica over HTTP', () => {
  assert.equal(replicaEndpoint({ url: 'wss://h.test/a/sync' }), 'https://h.test/a/v1/replica');
  assert.equal(replicaEndpoint({ url: 'ws://h.test/sync?x=1' }), 'http://h.test/v1/replica');
  assert.equal(replicaEndpoint({ url: 'wss://h.test/sync', replica: 'https://files.test/r' }), 'https://files.test/r');
  assert.equal(replicaEndpoint({ url: 'wss://h.test/sync', replica: false }), null);
  assert.equal(replicaEndpoint({ url: 'wss://h.test/ws' }), null);
  assert.equal(replicaEndpoint({ url: 'wss://h.test/sync', replica: 'ftp://x.test/r' }), null);
});
