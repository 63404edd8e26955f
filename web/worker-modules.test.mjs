// hearth-worker.js asks for every module the worker runs at once, so
// that a first visit's worker does not wait for its imports level by
// level: what it asks for must be closed under static imports (a module
// it leaves out would be fetched only once its importer has arrived).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const here = new URL('.', import.meta.url);
const source = (file) => readFileSync(new URL(file, here), 'utf8');

/** The relative modules a file imports statically. */
function staticImports(file) {
  return [...source(file).matchAll(/^\s*import\s+(?:[^'";]*?\s+from\s+)?['"](\.\/[^'"]+)['"]/gm)].map((m) => m[1]);
}

test('hearth-worker.js asks at once for every module the worker imports', () => {
  const entry = source('hearth-worker.js');
  const list = entry.match(/const WORKER_MODULES = (\[[^\]]*\]);/);
  assert.ok(list, 'hearth-worker.js declares WORKER_MODULES');
  const asked = new Set([
    ...JSON.parse(list[1].replaceAll("'", '"')),
    ...[...entry.matchAll(/import\('(\.\/[^']+)'\)/g)].map((m) => m[1]),
  ]);
  assert.equal(staticImports('hearth-worker.js').length, 0, 'a static import would hold the entry back until it arrived');
  assert.ok(asked.has('./hearth-worker-boot.js'));
  // dist/ is the build's output (Go's loader and the wasm's name): no imports.
  const missing = [];
  for (const file of asked) {
    if (file.startsWith('./dist/')) continue;
    for (const dep of staticImports(file)) if (!asked.has(dep)) missing.push(`${file} imports ${dep}`);
  }
  assert.deepEqual(missing, []);
});
