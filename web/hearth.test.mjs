// The page side of hearth.js against a stand-in worker: how the worker's
// messages are decoded and delivered (large results a slice at a time,
// everything in the order sent) and how a live result applies deltas.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encode, decode, VERSION } from './protocol.js';
import { HearthWorker, Database } from './hearth.js';

/** A Worker that answers the page's requests with `answer` and sends what a test tells it to. */
class StandInWorker {
  /** @type {((event: {data: unknown}) => void) | null} */
  onmessage = null;
  onerror = null;
  /** @type {(req: Record<string, any>) => unknown} the ok of each request's reply; undefined: the test replies */
  answer = () => ({});
  /** @type {Record<string, any>[]} */
  requests = [];
  /** @param {Uint8Array} bytes */
  postMessage(bytes) {
    const req = /** @type {Record<string, any>} */ (decode(bytes));
    this.requests.push(req);
    const ok = this.answer(req);
    // A worker's reply is a task of its own.
    if (ok !== undefined) setTimeout(() => this.send({ v: VERSION, id: req.id, ok }), 0);
  }
  /** @param {unknown} message */
  send(message) {
    this.onmessage?.({ data: encode(message) });
  }
  terminate() {}
}

/** A database on a stand-in worker, and that worker. */
function standIn() {
  const saved = globalThis.Worker;
  globalThis.Worker = /** @type {any} */ (StandInWorker);
  try {
    const w = new HearthWorker({ workerURL: 'stand-in.js' });
    const worker = /** @type {StandInWorker} */ (/** @type {unknown} */ (w.worker));
    const db = new Database(w, { db: 1, sync: false, name: 't', storage: 'memory', reason: '', version: 0, persistent: false });
    return { db, worker };
  } finally {
    globalThis.Worker = saved;
  }
}

/** Replaces performance.now with a clock that moves 1 ms each time it is read, for the test's span. */
function clockReadsTakeOneMs() {
  const real = performance.now;
  let t = 0;
  performance.now = () => ++t;
  return () => { performance.now = real; };
}

const columns = ['id', 'title'];
const row = (/** @type {number} */ i) => [`t-${i}`, `task ${i}`];
const asObjects = (/** @type {any[][]} */ rows) => rows.map(([id, title]) => ({ id, title }));

test('a large result is decoded a slice at a time, the page runs between the slices, and what came after it waits its turn', async () => {
  const { db, worker } = standIn();
  worker.answer = (req) => (req.op === 'watch' ? { sub: 5, result: { columns, rows: [row(0)], keyed: true } } : undefined);
  /** @type {string[]} */
  const seen = [];
  /** @type {any[]} */
  let last = [];
  const unwatch = await db.watch('SELECT id, title FROM tasks', [], (result, change) => {
    seen.push(`result ${change.kind} ${result.rows.length}`);
    last = result.rows;
  }, { cache: false });
  const exec = db.exec('UPDATE tasks SET title = title');
  exec.then(() => seen.push('exec resolved'));
  const execID = worker.requests.at(-1)?.id;
  const restore = clockReadsTakeOneMs();
  try {
    const rows = Array.from({ length: 5000 }, (_, i) => row(i));
    // As the worker sends them: the write's live update, then its reply.
    worker.send({ v: VERSION, sub: 5, full: { columns, rows, keyed: true } });
    worker.send({ v: VERSION, sub: 5, delta: { removed: [0], inserted: [], changed: [] } });
    worker.send({ v: VERSION, id: execID, ok: { changes: 1, lastInsertRowid: 0 } });
    setTimeout(() => seen.push('the page\'s next task'), 0);
    await exec;
    await new Promise((r) => setTimeout(r, 0));
    assert.deepStrictEqual(seen, [
      'result initial 1',
      'the page\'s next task',
      'result full 5000',
      'result delta 4999',
      'exec resolved',
    ]);
    assert.deepStrictEqual(last, asObjects(rows.slice(1)));
  } finally {
    restore();
  }
  worker.answer = () => ({});
  await unwatch();
});

test('a message that cannot be decoded fails the request it answers, and the ones after it are delivered', async () => {
  const { db, worker } = standIn();
  worker.postMessage = (bytes) => {
    const req = /** @type {Record<string, any>} */ (decode(bytes));
    const good = encode({ v: VERSION, id: req.id, ok: { columns: ['n'], rows: Array.from({ length: 2000 }, (_, i) => [i === 1500 ? 'é' : 'x']) } });
    // The 'é' (C3 A9) made invalid UTF-8, deep in a large array: found only when that array is decoded.
    const bad = good.slice();
    bad.set([0xc3, 0x28], bad.lastIndexOf(0xc3));
    setTimeout(() => {
      worker.onmessage?.({ data: req.sql === 'bad' ? bad : good });
    }, 0);
  };
  await assert.rejects(db.query('bad'), { code: 'BAD_REPLY' });
  assert.equal((await db.query('good', [], { rowMode: 'array' })).rows.length, 2000);
});

/** A small seeded generator (mulberry32): the same steps on every run. */
function random(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

for (const rowMode of /** @type {const} */ (['object', 'array'])) {
  test(`deltas of removed, inserted and changed rows give the worker's result (rowMode ${rowMode})`, async () => {
    const { db, worker } = standIn();
    let rows = Array.from({ length: 50 }, (_, i) => row(i));
    worker.answer = (req) => (req.op === 'watch' ? { sub: 9, result: { columns, rows, keyed: true } } : {});
    /** @type {any[]} */
    let last = [];
    const unwatch = await db.watch('SELECT id, title FROM tasks', [], (result) => { last = result.rows; }, { cache: false, rowMode });
    const rand = random(15);
    let next = rows.length;
    for (let step = 0; step < 200; step++) {
      // The next result: some rows gone, some new at random places, some changed.
      /** @type {number[]} */
      const removed = [];
      /** @type {any[][]} */
      const kept = [];
      rows.forEach((r, i) => { if (rand() < 0.15) removed.push(i); else kept.push(r); });
      /** @type {Array<any[] | {fresh: any[]}>} */
      const cur = [...kept];
      const adds = Math.floor(rand() * 8);
      for (let k = 0; k < adds; k++) cur.splice(Math.floor(rand() * (cur.length + 1)), 0, { fresh: row(next++) });
      /** @type {Array<[number, any[]]>} */
      const inserted = [];
      /** @type {Array<[number, any[]]>} */
      const changed = [];
      const after = cur.map((r, at) => {
        if (!Array.isArray(r)) { inserted.push([at, r.fresh]); return r.fresh; }
        if (rand() < 0.1) { const c = [r[0], `${r[1]}!`]; changed.push([at, c]); return c; }
        return r;
      });
      worker.send({ v: VERSION, sub: 9, delta: { removed, inserted, changed } });
      rows = after;
      await new Promise((r) => setTimeout(r, 0));
      assert.deepStrictEqual(last, rowMode === 'array' ? rows : asObjects(rows), `step ${step}`);
    }
    await unwatch();
  });
}

test('headStart sends the worker the open\'s own sync option, and needs one', () => {
  const { db, worker } = standIn();
  /** @type {unknown[]} */
  const sent = [];
  worker.postMessage = (message) => sent.push(message);
  db.worker.headStart({ name: 'app', sync: { url: 'https://app.test/api/sync', token: 't' } });
  assert.deepStrictEqual(sent, [{ hearthHeadStart: { name: 'app', storage: 'auto', sync: { url: 'wss://app.test/api/sync', token: 't', replica: undefined } } }]);
  assert.throws(() => db.worker.headStart(/** @type {any} */ ({ name: 'app' })), { code: 'BAD_REQUEST' });
});
