// The JS codec against the vectors the Go codec is tested with.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { encode, decode, decodeInSlices, peekHead, WireError, VERSION } from './protocol.js';

const vectors = JSON.parse(readFileSync(new URL('../codec/testdata/vectors.json', import.meta.url)));

function typed(v) {
  const [[k, x]] = Object.entries(v);
  switch (k) {
    case 'null': return null;
    case 'bool': return x;
    case 'int': {
      const b = BigInt(x);
      return b >= -(2n ** 53n - 1n) && b <= 2n ** 53n - 1n ? Number(b) : b;
    }
    case 'float': return { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity, '-0': -0 }[x] ?? x;
    case 'text': return x;
    case 'blob': return Uint8Array.from(x.match(/../g) ?? [], (h) => parseInt(h, 16));
    case 'array': return x.map(typed);
    case 'map': return Object.fromEntries(x.map(([key, val]) => [key, typed(val)]));
  }
  throw new Error(`unknown vector type ${k}`);
}

const hex = (b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const unhex = (h) => new Uint8Array(Buffer.from(h, 'hex'));

for (const v of vectors.valid) {
  test(`decode ${v.name}`, () => {
    assert.deepStrictEqual(decode(unhex(v.hex)), typed(v.value));
  });
  const value = typed(v.value);
  // A float that happens to be integral (1.0) is indistinguishable from an
  // integer in JS, so only vectors whose JS value re-encodes to the same
  // tag are compared byte for byte.
  test(`encode ${v.name}`, () => {
    assert.equal(hex(encode(value)), v.hex);
  });
}

for (const v of vectors.invalid) {
  test(`reject ${v.name}`, () => {
    assert.throws(() => decode(unhex(v.hex)), WireError);
  });
}

/** decodeInSlices, then fill to the end with a clock past every deadline: one slice per call. */
function decodeAllSlices(bytes, deferOver) {
  const { value, rest } = decodeInSlices(bytes, deferOver);
  let calls = 0;
  if (rest) while (!rest.fill(0, () => 1)) calls++;
  return { value, calls };
}

test('decodeInSlices gives what decode gives, for every vector, arrays deferred or not', () => {
  for (const v of vectors.valid) {
    for (const deferOver of [0, 1, Infinity]) {
      assert.deepStrictEqual(decodeAllSlices(unhex(v.hex), deferOver).value, typed(v.value), `${v.name}, deferOver ${deferOver}`);
    }
  }
  for (const v of vectors.invalid) {
    assert.throws(() => decodeAllSlices(unhex(v.hex), 0), WireError, v.name);
  }
});

test('a large array is decoded a slice at a time, in place, and the rest of the message at once', () => {
  const rows = Array.from({ length: 1000 }, (_, i) => [`t-${i}`, i, i % 2 === 0 ? null : 'é'.repeat(i % 40)]);
  const msg = encode({ v: VERSION, sub: 3, full: { columns: ['id', 'n', 'note'], rows, keyed: true } });
  const { value, rest } = decodeInSlices(msg, 100);
  const full = /** @type {any} */ (value).full;
  assert.equal(full.rows.length, 1000, 'the array has its length before it is filled');
  assert.equal(full.keyed, true, 'what follows the array is decoded at once');
  assert.deepStrictEqual(full.columns, ['id', 'n', 'note'], 'a short array is decoded at once');
  let calls = 1;
  while (!rest.fill(0, () => 1)) calls++;
  assert.equal(calls, Math.ceil(1000 / 64), 'a clock past the deadline stops every 64 elements');
  assert.deepStrictEqual(value, decode(msg));
  const once = decodeInSlices(msg, 100);
  assert.equal(once.rest.fill(Infinity, () => 0), true, 'a deadline not reached fills it in one call');
  assert.deepStrictEqual(once.value, decode(msg));
});

test('decodeInSlices checks a deferred array\'s shape at once and its texts when it fills', () => {
  const msg = encode({ v: VERSION, id: 1, ok: { rows: [['a'], ['b'], ['c']] } });
  assert.throws(() => decodeInSlices(msg.subarray(0, msg.length - 1), 1), WireError, 'a truncated array is refused at once');
  const bad = msg.slice();
  bad[bad.length - 1] = 0xff; // the last text's byte, now invalid UTF-8
  const { rest } = decodeInSlices(bad, 1);
  assert.throws(() => rest.fill(Infinity, () => 0), WireError);
});

test('encode refuses what the format cannot carry', () => {
  assert.throws(() => encode(2n ** 63n), WireError);
  assert.throws(() => encode(new Date()), WireError);
  assert.throws(() => encode(() => 1), WireError);
  assert.throws(() => encode(Symbol('x')), WireError);
});

test('round trip of every JS value kind', () => {
  const v = { a: [1, -1.25, 2 ** 40, 2n ** 60n, -(2n ** 63n), 'x\u0000y', '😀'.repeat(100), new Uint8Array([0, 0, 7]), true, false, null], skipped: undefined };
  const back = decode(encode(v));
  assert.deepStrictEqual(back, { a: v.a });
});

test('blobs from any typed array view encode their bytes only', () => {
  const base = new Uint8Array([9, 1, 2, 3, 9]);
  assert.deepStrictEqual(decode(encode(base.subarray(1, 4))), new Uint8Array([1, 2, 3]));
});

test('peekHead reads a request\'s id and op', () => {
  const req = encode({ v: VERSION, id: 7, op: 'exec', db: 1, sql: 'SELECT 1', params: [1, 'x'] });
  assert.deepStrictEqual(peekHead(req), { id: 7, op: 'exec' });
});

test('peekHead reads 64-bit ids (the tab router\'s virtual ids start at 2^40)', () => {
  assert.deepStrictEqual(peekHead(encode({ v: VERSION, id: 2 ** 40 + 3, op: 'open', name: 'a' })), { id: 2 ** 40 + 3, op: 'open' });
  assert.deepStrictEqual(peekHead(encode({ v: VERSION, sub: 2 ** 40, full: { columns: [], rows: [], keyed: false } })), { sub: 2 ** 40 });
});

test('peekHead reads replies and pushes, which name no op', () => {
  assert.deepStrictEqual(peekHead(encode({ v: VERSION, id: 3, ok: { changes: 1, lastInsertRowid: 1 } })), { id: 3 });
  assert.deepStrictEqual(peekHead(encode({ v: VERSION, id: 3, progress: { phase: 'migrate', version: 1, done: 0, total: 1 } })), { id: 3 });
  assert.deepStrictEqual(peekHead(encode({ v: VERSION, sub: 9, delta: { removed: [0], inserted: [], changed: [] } })), { sub: 9 });
  // An error reply to a request whose id could not be read.
  assert.deepStrictEqual(peekHead(encode({ v: VERSION, id: null, error: { code: 'BAD_REQUEST', message: 'x' } })), { id: null });
});

test('peekHead leaves out an op that is not text', () => {
  assert.deepStrictEqual(peekHead(encode({ v: VERSION, id: 4, op: 5 })), { id: 4 });
  assert.deepStrictEqual(peekHead(encode({ v: VERSION, id: 4, db: 1, op: 'exec' })), { id: 4 });
});

test('peekHead returns {} for what is not an envelope', () => {
  for (const value of [[1, 2], 'v', 5, null, {}, { a: 1 }, { v: VERSION, op: 'exec', id: 1 }, { v: VERSION, id: 'x', op: 'exec' }]) {
    assert.deepStrictEqual(peekHead(encode(value)), {}, JSON.stringify(value));
  }
  assert.deepStrictEqual(peekHead(new Uint8Array(0)), {});
});

test('peekHead never throws on a truncated envelope and never reports a wrong head', () => {
  const whole = encode({ v: VERSION, id: 70000, op: 'query', db: 2, sql: 'SELECT 1' });
  for (let n = 0; n <= whole.length; n++) {
    const head = peekHead(whole.subarray(0, n));
    if (head.id !== undefined) assert.equal(head.id, 70000, `prefix of ${n} bytes`);
    if (head.op !== undefined) assert.equal(head.op, 'query', `prefix of ${n} bytes`);
    assert.equal(head.sub, undefined);
  }
  assert.deepStrictEqual(peekHead(whole), { id: 70000, op: 'query' });
});

test('peekHead agrees with decode on every envelope the router sees', () => {
  const envelopes = [
    { v: VERSION, id: 1, op: 'open', name: 'notes', storage: 'auto' },
    { v: VERSION, id: 2, op: 'batch', db: 1, statements: [{ sql: 'INSERT INTO t VALUES (?)', params: [new Uint8Array(3)] }] },
    { v: VERSION, id: 3, op: 'begin', db: 1, timeoutMs: 5000 },
    { v: VERSION, id: 4, op: 'exec', db: 1, tx: 2 ** 40 - 1, sql: 'INSERT INTO t VALUES (1)' },
    { v: VERSION, id: 5, op: 'commit', db: 1, tx: 2 ** 40 - 1 },
    { v: VERSION, id: 3, ok: { tx: 2 ** 40 - 1 } },
    { v: VERSION, id: 2, ok: { results: [] } },
    { v: VERSION, id: -1, error: { code: 'CLOSED', message: 'closed', index: 0 } },
    { v: VERSION, sub: 5, status: { state: 'syncing' } },
  ];
  for (const envelope of envelopes) {
    const decoded = /** @type {Record<string, unknown>} */ (decode(encode(envelope)));
    const want = 'sub' in decoded ? { sub: decoded.sub } : { id: decoded.id };
    if (typeof decoded.op === 'string') Object.assign(want, { op: decoded.op });
    assert.deepStrictEqual(peekHead(encode(envelope)), want);
  }
});
