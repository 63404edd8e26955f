// The JS codec against the vectors the Go codec is tested with.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { encode, decode, WireError } from './protocol.js';

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
