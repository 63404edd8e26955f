// loadSchema: the server's schema when it answers, the stored copy when it
// fails or does not answer within waitMs, and SCHEMA_UNAVAILABLE with
// neither. Fetches are controlled promises: nothing here depends on time
// except waitMs firing, which only ends a wait for a fetch that never ends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadSchema } from './hearth.js';

const url = 'http://app.test/v1/schema';
const v1 = { migrations: [{ version: 1, sql: 'CREATE TABLE t (id TEXT PRIMARY KEY)' }], tables: [{ name: 't', resurrect: false }] };
const v2 = { migrations: [...v1.migrations, { version: 2, sql: 'ALTER TABLE t ADD COLUMN x' }], tables: v1.tables };

function memoryStorage(entries = {}) {
  const map = new Map(Object.entries(entries));
  return { getItem: (k) => map.get(k) ?? null, setItem: (k, v) => { map.set(k, v); }, map };
}
const key = `hearth.schema:${url}`;
const reply = (body, status = 200) => ({ ok: status === 200, status, statusText: status === 200 ? 'OK' : 'Error', json: async () => body });
/** A fetch whose answer the test gives (or never gives). */
function heldFetch() {
  let answer;
  const promise = new Promise((resolve, reject) => { answer = { resolve, reject }; });
  return { fetch: () => promise, answer };
}

test('the server\'s schema, stored for the next start', async () => {
  const storage = memoryStorage({ [key]: JSON.stringify(v1) });
  assert.deepEqual(await loadSchema(url, { fetch: async () => reply(v2), storage }), v2);
  assert.deepEqual(JSON.parse(storage.map.get(key)), v2);
});

test('a server that never answers: the stored copy, once waitMs has passed', { timeout: 10000 }, async () => {
  const storage = memoryStorage({ [key]: JSON.stringify(v1) });
  const { fetch } = heldFetch();
  assert.deepEqual(await loadSchema(url, { fetch, storage, waitMs: 1 }), v1);
});

test('an answer after waitMs is stored for the next start', { timeout: 10000 }, async () => {
  const storage = memoryStorage({ [key]: JSON.stringify(v1) });
  const { fetch, answer } = heldFetch();
  assert.deepEqual(await loadSchema(url, { fetch, storage, waitMs: 1 }), v1);
  answer.resolve(reply(v2));
  for (let i = 0; i < 10 && JSON.parse(storage.map.get(key)).migrations.length === 1; i++) await new Promise((r) => setImmediate(r));
  assert.deepEqual(JSON.parse(storage.map.get(key)), v2);
});

test('a server that fails: the stored copy at once', async () => {
  const storage = memoryStorage({ [key]: JSON.stringify(v1) });
  // waitMs far away: only the failure can end the wait before it.
  assert.deepEqual(await loadSchema(url, { fetch: async () => reply({}, 500), storage, waitMs: 1e9 }), v1);
  assert.deepEqual(await loadSchema(url, { fetch: async () => { throw new TypeError('Failed to fetch'); }, storage, waitMs: 1e9 }), v1);
});

test('no stored copy: it waits for the server however long, and fails with SCHEMA_UNAVAILABLE', async () => {
  const storage = memoryStorage();
  const { fetch, answer } = heldFetch();
  const loading = loadSchema(url, { fetch, storage, waitMs: 1 });
  await new Promise((r) => setTimeout(r, 5)); // past waitMs: still waiting
  answer.resolve(reply(v1));
  assert.deepEqual(await loading, v1);
  await assert.rejects(loadSchema(url, { fetch: async () => reply({}, 503), storage: memoryStorage() }), (err) => err.code === 'SCHEMA_UNAVAILABLE');
});

test('a damaged copy is no copy', async () => {
  const storage = memoryStorage({ [key]: '{"migrations": 3}' });
  await assert.rejects(loadSchema(url, { fetch: async () => reply({}, 503), storage }), (err) => err.code === 'SCHEMA_UNAVAILABLE');
});
