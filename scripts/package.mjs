#!/usr/bin/env node
// `make package`: the npm package @hearthdb/hearth, assembled from web/ and
// the worker bundle `make wasm` writes to web/dist, packed with `npm pack`
// into build/package/. Prints the tarball's path as its last line.
//
// The version is the repository's package.json "version" (its one place).
// The package is ESM only; its layout (relative to its root):
//
//   hearth.js + hearth.d.ts      "."          the client (with protocol.js)
//   hearth-worker.js             "./worker"   the worker entry (web/hearth-worker.npm.js),
//                                             with hearth-worker-wasm.js, hearth-worker-boot.js, hearth-head-start.js, hearth-tabs.js, hearth-storage.js,
//                                             hearth-socket.js, hearth-socket-relay.js
//   dist/hearth.wasm             "./hearth.wasm"  the worker's wasm; dist/wasm_exec.js is Go's loader
//   react.js + react.d.ts        "./react"    the React bindings
//   kysely.js + kysely.d.ts      "./kysely"   the Kysely dialect
//
// The worker names dist/hearth.wasm literally beside import.meta.url and
// hearth.js names hearth-worker.js the same way, so bundlers copy and hash
// both. The precompressed .br/.gz copies `make wasm` makes are left out: an
// app's server or bundler compresses what it serves.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const web = path.join(repo, 'web');
const out = path.join(repo, 'build', 'package');
const stage = path.join(out, 'stage');

const rootManifest = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8'));

/** [from (relative to web/), to (relative to the package root)] */
const files = [
  ['hearth.js', 'hearth.js'],
  ['hearth.d.ts', 'hearth.d.ts'],
  ['protocol.js', 'protocol.js'],
  ['hearth-head-start.js', 'hearth-head-start.js'],
  ['hearth-worker.npm.js', 'hearth-worker.js'],
  ['hearth-worker-boot.js', 'hearth-worker-boot.js'],
  ['hearth-worker-wasm.js', 'hearth-worker-wasm.js'],
  ['hearth-tabs.js', 'hearth-tabs.js'],
  ['hearth-storage.js', 'hearth-storage.js'],
  ['hearth-socket.js', 'hearth-socket.js'],
  ['hearth-socket-relay.js', 'hearth-socket-relay.js'],
  ['dist/hearth.wasm', 'dist/hearth.wasm'],
  ['dist/wasm_exec.js', 'dist/wasm_exec.js'],
  ['react.js', 'react.js'],
  ['react.d.ts', 'react.d.ts'],
  ['kysely.js', 'kysely.js'],
  ['kysely.d.ts', 'kysely.d.ts'],
];

/** Declarations for the entries that export nothing but a file or side effects. */
const generated = {
  'hearth-worker.d.ts': '// The Hearth worker entry: it exports nothing; start it with new Worker(url, { type: \'module\' }).\nexport {};\n',
  'hearth.wasm.d.ts': '// The worker\'s wasm, imported for its URL (esbuild\'s file loader, webpack\'s asset/resource).\ndeclare const url: string;\nexport default url;\n',
};

const manifest = {
  name: '@hearthdb/hearth',
  version: rootManifest.version,
  description: 'A local-first SQLite database for web apps: Go in a Web Worker on OPFS or IndexedDB, live queries, sync.',
  keywords: ['sqlite', 'local-first', 'offline', 'opfs', 'indexeddb', 'wasm', 'sync', 'react', 'kysely'],
  repository: { type: 'git', url: 'git+https://github.com/hearthdb/hearth.git' },
  type: 'module',
  types: './hearth.d.ts',
  exports: {
    '.': { types: './hearth.d.ts', default: './hearth.js' },
    './worker': { types: './hearth-worker.d.ts', default: './hearth-worker.js' },
    // The worker's socket relay, for bundlers that take it as an entry
    // point of its own (esbuild: see the README).
    './socket-relay': './hearth-socket-relay.js',
    './hearth.wasm': { types: './hearth.wasm.d.ts', default: './dist/hearth.wasm' },
    './react': { types: './react.d.ts', default: './react.js' },
    './kysely': { types: './kysely.d.ts', default: './kysely.js' },
    './package.json': './package.json',
  },
  // Only the worker's entry, its socket relay and Go's loader act on import; everything else
  // may be dropped when unused.
  sideEffects: ['./hearth-worker.js', './hearth-socket-relay.js', './dist/wasm_exec.js'],
  files: [...files.map(([, to]) => to), ...Object.keys(generated)].sort(),
  // The Kysely dialect is written against kysely 0.29's Driver interface
  // (0.x minors break it).
  peerDependencies: { react: '>=18', kysely: '^0.29.9' },
  peerDependenciesMeta: { react: { optional: true }, kysely: { optional: true } },
};

/** The README's "Install from npm" section, as the package's README. */
function packageReadme() {
  const readme = fs.readFileSync(path.join(repo, 'README.md'), 'utf8');
  const m = readme.match(/^## Install from npm\n[\s\S]*?(?=^## )/m);
  if (!m) throw new Error('README.md has no "## Install from npm" section');
  return `# @hearthdb/hearth\n\n${m[0].replace(/^## Install from npm\n/, '')}\nMore: https://github.com/hearthdb/hearth\n`;
}

function main() {
  if (!manifest.version) throw new Error('package.json has no "version"');
  for (const [from] of files) {
    if (!fs.existsSync(path.join(web, from))) {
      throw new Error(`web/${from} is missing${from.startsWith('dist/') ? ': run `make wasm` first' : ''}`);
    }
  }
  fs.rmSync(stage, { recursive: true, force: true });
  fs.mkdirSync(path.join(stage, 'dist'), { recursive: true });
  for (const [from, to] of files) fs.copyFileSync(path.join(web, from), path.join(stage, to));
  for (const [name, text] of Object.entries(generated)) fs.writeFileSync(path.join(stage, name), text);
  fs.writeFileSync(path.join(stage, 'README.md'), packageReadme());
  fs.writeFileSync(path.join(stage, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);

  for (const old of fs.readdirSync(out)) if (old.endsWith('.tgz')) fs.rmSync(path.join(out, old));
  const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', out], {
    cwd: stage, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'],
  }));
  const shipped = packed[0].files.map((f) => f.path).sort();
  const expected = [...manifest.files, 'README.md', 'package.json'].sort();
  if (JSON.stringify(shipped) !== JSON.stringify(expected)) {
    throw new Error(`npm pack shipped ${shipped.join(', ')}; expected ${expected.join(', ')}`);
  }
  const tarball = path.join(out, packed[0].filename);
  console.log(`${manifest.name}@${manifest.version}: ${shipped.length} files, ${packed[0].size} B packed, ${packed[0].unpackedSize} B unpacked`);
  console.log(tarball);
}

main();
