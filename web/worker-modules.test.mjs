// hearth-worker.js asks for every module the worker runs at once
// (WORKER_MODULES), so that a first visit's worker does not wait for its
// imports level by level: the list must name each module the bootstrap
// imports, at any depth, and nothing else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const here = new URL('.', import.meta.url);
const source = (file) => readFileSync(new URL(file, here), 'utf8');

/** The relative modules a file imports statically. */
function staticImports(file) {
  const found = [];
  for (const m of source(file).matchAll(/^\s*import\s+(?:[^'";]*?\s+from\s+)?['"](\.\/[^'"]+)['"]/gm)) found.push(m[1]);
  return found;
}

test('hearth-worker.js asks at once for every module the bootstrap imports', () => {
  const m = source('hearth-worker.js').match(/const WORKER_MODULES = (\[[^\]]*\]);/);
  assert.ok(m, 'hearth-worker.js declares WORKER_MODULES');
  const listed = JSON.parse(m[1].replaceAll("'", '"'));
  // Go's loader, then the bootstrap and everything it reaches.
  const reached = new Set(['./dist/wasm_exec.js']);
  const todo = ['./hearth-worker-boot.js'];
  while (todo.length > 0) {
    const file = todo.pop();
    if (reached.has(file)) continue;
    reached.add(file);
    todo.push(...staticImports(file));
  }
  // The entry loads hearth-worker-wasm.js itself, with dist/bundle.js.
  reached.delete('./hearth-worker-wasm.js');
  assert.deepEqual([...listed].sort(), [...reached].sort());
});
