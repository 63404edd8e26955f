// paramsKey: useQuery re-subscribes when, and only when, it changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { paramsKey } from './react.js';

test('equal values give equal keys, whatever the object or the key order', () => {
  assert.equal(paramsKey([1, 'a', null]), paramsKey([1, 'a', null]));
  assert.equal(paramsKey({ a: 1, b: 'x' }), paramsKey({ b: 'x', a: 1 }));
  assert.equal(paramsKey([new Uint8Array([1, 2])]), paramsKey([new Uint8Array([1, 2])]));
  assert.equal(paramsKey([2n ** 70n]), paramsKey([2n ** 70n]));
  assert.equal(paramsKey(undefined), paramsKey(undefined));
});

test('different values give different keys (a SQL value is never an object, so the tagged forms cannot collide with one)', () => {
  const keys = [
    undefined, [], [1], ['1'], [1n], [true], [null], [NaN], [Infinity], [-Infinity],
    [new Uint8Array([1])], [new Uint8Array([2])], [[1]], { a: 1 }, { a: '1' }, { b: 1 }, [1, 2], [2, 1],
  ].map(paramsKey);
  assert.equal(new Set(keys).size, keys.length, keys.join('\n'));
});
