// The .d.ts files against the modules' runtime exports. `make test-types`
// checks each export's type against its declaration; it cannot see a
// declared function or class that the module does not export (or an export
// left undeclared), so that is checked here by name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

/** The value exports a declaration file names (types and interfaces have no runtime side). */
function declaredValues(file) {
  const text = readFileSync(new URL(file, import.meta.url), 'utf8');
  return [...text.matchAll(/^export declare (?:function|class|const|let) (\w+)/gm)].map((m) => m[1]);
}

for (const name of ['hearth', 'protocol', 'react', 'kysely']) {
  test(`${name}.d.ts declares exactly what ${name}.js exports`, async () => {
    const exported = Object.keys(await import(`./${name}.js`)).sort();
    const declared = [...new Set(declaredValues(`./${name}.d.ts`))].sort();
    assert.ok(declared.length >= 3, `found the declarations in ${name}.d.ts`);
    assert.deepStrictEqual(declared, exported);
  });
}
