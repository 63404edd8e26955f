// Staging and serving for the browser benchmark: one temporary web root
// holding a copy of web/ (Hearth as shipped), the official SQLite WASM build
// under anchor/sqlite-wasm/, and the bench pages under bench/, served by the
// real `hearth serve`.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../harness.mjs';

export const benchDir = path.dirname(fileURLToPath(import.meta.url));
export const officialDist = path.join(repoRoot, 'node_modules', '@sqlite.org', 'sqlite-wasm', 'dist');

/** The files of the official build a worker using oo1 needs (index.mjs imports nothing else). */
export const officialFiles = ['index.mjs', 'sqlite3.wasm', 'sqlite3-opfs-async-proxy.js'];

/** wa-sqlite (@journeyapps/wa-sqlite), the storage bench's second anchor: its sources and two builds. */
export const waSqliteDir = path.join(repoRoot, 'node_modules', '@journeyapps', 'wa-sqlite');
const waSqliteBuilds = ['wa-sqlite.mjs', 'wa-sqlite.wasm', 'wa-sqlite-async.mjs', 'wa-sqlite-async.wasm'];

/** Files copied from e2e/bench into <root>/bench/. */
const benchFiles = [
  'bench.html', 'page.js', 'anchor-worker.js', 'probe-worker.js', 'probe-hooks.js',
  'storage.html', 'storage-page.js', 'storage-official-worker.js', 'storage-wasqlite-worker.js',
];

/**
 * Copies a directory tree, following symlinks and copying their targets:
 * `hearth serve` refuses anything that is not a regular file.
 */
function copyTree(src, dst) {
  fs.mkdirSync(dst, { recursive: true });
  for (const entry of fs.readdirSync(src)) {
    const from = path.join(src, entry);
    const to = path.join(dst, entry);
    const st = fs.statSync(from); // follows symlinks
    if (st.isDirectory()) copyTree(from, to);
    else if (st.isFile()) fs.copyFileSync(from, to);
  }
}

/**
 * Builds the temporary web root. The official sqlite3.wasm gets .br/.gz
 * variants made the way `make build` makes Hearth's (brotli -q 9, gzip -9), so
 * both engines' wasm travels compressed the same way; JS is served raw for both.
 */
export function stageWebRoot() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-bench-web-'));
  // A build running at the same time can leave web/dist half written: copy
  // until the staged bundle and its compressed variants agree.
  for (let attempt = 1; ; attempt++) {
    // Wholesale: whatever layout the build has (hearth.wasm, or a
    // content-hashed copy named by dist/bundle.js) comes along.
    fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true });
    copyTree(path.join(repoRoot, 'web'), root);
    const problem = checkBundle(path.join(root, 'dist'), path.join(root, 'hearth-worker.js'));
    if (!problem) break;
    if (attempt === 5) throw new Error(`web/dist is inconsistent (${problem}): run \`make build\``);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2000); // let the build finish
  }
  const anchor = path.join(root, 'anchor', 'sqlite-wasm');
  fs.mkdirSync(anchor, { recursive: true });
  for (const f of officialFiles) fs.copyFileSync(path.join(officialDist, f), path.join(anchor, f));
  const wasm = path.join(anchor, 'sqlite3.wasm');
  // In Node, not the gzip and brotli programs: the bench needs only Node.
  const bytes = fs.readFileSync(wasm);
  fs.writeFileSync(`${wasm}.gz`, zlib.gzipSync(bytes, { level: 9 }));
  fs.writeFileSync(`${wasm}.br`, zlib.brotliCompressSync(bytes, {
    params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 9, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: bytes.length },
  }));
  stageWaSqlite(path.join(root, 'anchor', 'wa-sqlite'));
  const bench = path.join(root, 'bench');
  fs.mkdirSync(bench, { recursive: true });
  for (const f of benchFiles) fs.copyFileSync(path.join(benchDir, f), path.join(bench, f));
  return root;
}

/**
 * The wasm file the worker loads, relative to dist/: the content-hashed name
 * dist/bundle.js exports when the build writes one (`export const wasmFile
 * = 'hearth.<hash>.wasm'`), else hearth.wasm. Null when bundle.js exists but
 * names nothing (half written).
 */
export function bundleWasmName(dist) {
  const bundle = path.join(dist, 'bundle.js');
  if (!fs.existsSync(bundle)) return 'hearth.wasm';
  const m = fs.readFileSync(bundle, 'utf8').match(/wasmFile\s*=\s*['"]([^'"\/]+\.wasm)['"]/);
  return m ? m[1] : null;
}

/** Why a staged dist/ is unusable (truncated wasm, stale .br/.gz, a bundle.js naming a missing file), or null. */
export function checkBundle(dist, workerFile) {
  if (workerFile && fs.existsSync(workerFile) && /dist\/bundle\.js/.test(fs.readFileSync(workerFile, 'utf8'))
    && !fs.existsSync(path.join(dist, 'bundle.js'))) {
    return 'hearth-worker.js imports dist/bundle.js, which the build has not written';
  }
  const names = new Set();
  const named = bundleWasmName(dist);
  if (!named) return 'bundle.js names no wasm file';
  names.add(named);
  if (fs.existsSync(path.join(dist, 'hearth.wasm'))) names.add('hearth.wasm');
  for (const name of names) {
    const file = path.join(dist, name);
    if (!fs.existsSync(file)) return `${name} (named by bundle.js) is missing`;
    const wasm = fs.readFileSync(file);
    if (wasm.length < 8 || wasm.readUInt32BE(0) !== 0x0061736d) return `${name} is not a wasm module`;
    for (const [suffix, unzip] of [['.br', zlib.brotliDecompressSync], ['.gz', zlib.gunzipSync]]) {
      const f = `${file}${suffix}`;
      if (!fs.existsSync(f)) continue;
      let bytes;
      try { bytes = unzip(fs.readFileSync(f)); } catch { return `${name}${suffix} does not decompress`; }
      if (!bytes.equals(wasm)) return `${name}${suffix} does not match ${name}`;
    }
  }
  return null;
}

/**
 * Stages wa-sqlite's sources (the API and the example VFSes import each
 * other relatively) and the two builds the storage bench uses. Returns why
 * it could not, or null.
 */
export function stageWaSqlite(dst) {
  if (!fs.existsSync(path.join(waSqliteDir, 'package.json'))) {
    return `${path.relative(repoRoot, waSqliteDir)} is not installed (npm install)`;
  }
  copyTree(path.join(waSqliteDir, 'src'), path.join(dst, 'src'));
  fs.mkdirSync(path.join(dst, 'dist'), { recursive: true });
  for (const f of waSqliteBuilds) fs.copyFileSync(path.join(waSqliteDir, 'dist', f), path.join(dst, 'dist', f));
  return null;
}
