// Bundle sizes: raw, gzip -9 and brotli -q 11 (node:zlib, with the brotli
// CLI's window of 2^24: the bench needs only Node), for what a page must
// download to run each engine. brotli -q 11 on
// Hearth's 14 MB bundle takes ~30 s on a small machine, so results are cached
// by content hash in e2e/artifacts/ (git-ignored).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { repoRoot } from '../harness.mjs';
import { bundleWasmName, officialDist } from './serve.mjs';

const cacheFile = path.join(repoRoot, 'e2e', 'artifacts', 'bench-size-cache.json');

/** The files each engine needs, by role. */
export function bundleFiles() {
  const web = path.join(repoRoot, 'web');
  return {
    hearth: [
      path.join(web, 'dist', 'hearth.wasm'),
      path.join(web, 'dist', 'wasm_exec.js'),
      path.join(web, 'hearth-worker.js'),
      path.join(web, 'hearth-worker-boot.js'),
      path.join(web, 'hearth.js'),
      path.join(web, 'protocol.js'),
    ],
    // index.mjs is the whole JS of the build (sqlite3InitModule and oo1);
    // the OPFS async proxy is only fetched when OPFS is usable, and is listed
    // apart.
    official: [path.join(officialDist, 'sqlite3.wasm'), path.join(officialDist, 'index.mjs')],
    officialOptional: [path.join(officialDist, 'sqlite3-opfs-async-proxy.js')],
  };
}

function loadCache() {
  try { return JSON.parse(fs.readFileSync(cacheFile, 'utf8')); } catch { return {}; }
}

function fileSizes(file, cache) {
  const bytes = fs.readFileSync(file);
  const hash = crypto.createHash('sha256').update(bytes).digest('hex');
  if (cache[hash]) return { ...cache[hash], cached: true };
  const gzip = zlib.gzipSync(bytes, { level: 9 }).length;
  const brotli = zlib.brotliCompressSync(bytes, {
    params: {
      [zlib.constants.BROTLI_PARAM_QUALITY]: 11,
      [zlib.constants.BROTLI_PARAM_LGWIN]: 24,
      [zlib.constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
    },
  }).length;
  const entry = { raw: bytes.length, gzip, brotli };
  cache[hash] = entry;
  return entry;
}

/** {hearth: {files, raw, gzip, brotli, shippedBr}, official: {...}} */
export function measureSizes() {
  const cache = loadCache();
  const files = bundleFiles();
  const out = {};
  for (const [engine, list] of Object.entries(files)) {
    const rows = list.map((f) => ({ file: path.relative(repoRoot, f), ...fileSizes(f, cache) }));
    out[engine] = {
      files: rows,
      raw: rows.reduce((a, r) => a + r.raw, 0),
      gzip: rows.reduce((a, r) => a + r.gzip, 0),
      brotli: rows.reduce((a, r) => a + r.brotli, 0),
    };
  }
  // What `make build` ships: the content-hashed wasm dist/bundle.js names,
  // as .br (and .gz); the JS goes raw.
  const dist = path.join(repoRoot, 'web', 'dist');
  const shipped = path.join(dist, bundleWasmName(dist) ?? 'hearth.wasm');
  const br = `${shipped}.br`;
  const gz = `${shipped}.gz`;
  const js = out.hearth.files.filter((r) => !r.file.endsWith('.wasm')).reduce((a, r) => a + r.raw, 0);
  out.hearth.shippedWasmBr = fs.existsSync(br) ? fs.statSync(br).size : null;
  out.hearth.shippedWasmGz = fs.existsSync(gz) ? fs.statSync(gz).size : null;
  out.hearth.shippedTotal = out.hearth.shippedWasmBr == null ? null : out.hearth.shippedWasmBr + js;
  // The official build as this benchmark serves it: sqlite3.wasm at brotli
  // -q 9 (the same level as make build), JS raw.
  const officialWasm = fs.readFileSync(files.official[0]);
  out.official.servedWasmBr = zlib.brotliCompressSync(officialWasm, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 9 } }).length;
  out.official.servedTotal = out.official.servedWasmBr + out.official.files.filter((r) => !r.file.endsWith('.wasm')).reduce((a, r) => a + r.raw, 0);
  fs.mkdirSync(path.dirname(cacheFile), { recursive: true });
  fs.writeFileSync(cacheFile, JSON.stringify(cache, null, 1));
  return out;
}
