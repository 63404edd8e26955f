// Staging and serving for the browser benchmark: one temporary web root
// holding a copy of web/ (Hearth as shipped), the official SQLite WASM build
// under anchor/sqlite-wasm/, and the bench pages under bench/, served by the
// real `hearth serve`.
import { spawn, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
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

/** Files copied from e2e/bench into <root>/bench/. */
const benchFiles = ['bench.html', 'page.js', 'anchor-worker.js', 'probe-worker.js', 'probe-hooks.js'];

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
    copyTree(path.join(repoRoot, 'web'), root);
    const problem = checkBundle(path.join(root, 'dist'));
    if (!problem) break;
    if (attempt === 5) throw new Error(`web/dist is inconsistent (${problem}): run \`make build\``);
    execFileSync('sleep', ['2']);
  }
  const anchor = path.join(root, 'anchor', 'sqlite-wasm');
  fs.mkdirSync(anchor, { recursive: true });
  for (const f of officialFiles) fs.copyFileSync(path.join(officialDist, f), path.join(anchor, f));
  const wasm = path.join(anchor, 'sqlite3.wasm');
  execFileSync('gzip', ['-9', '-k', '-f', wasm]);
  execFileSync('brotli', ['-q', '9', '-f', '-o', `${wasm}.br`, wasm]);
  const bench = path.join(root, 'bench');
  fs.mkdirSync(bench, { recursive: true });
  for (const f of benchFiles) fs.copyFileSync(path.join(benchDir, f), path.join(bench, f));
  return root;
}

/** Why a staged dist/ is unusable (truncated wasm, stale .br/.gz), or null. */
function checkBundle(dist) {
  const wasm = fs.readFileSync(path.join(dist, 'hearth.wasm'));
  if (wasm.length < 8 || wasm.readUInt32BE(0) !== 0x0061736d) return 'hearth.wasm is not a wasm module';
  for (const [suffix, unzip] of [['.br', zlib.brotliDecompressSync], ['.gz', zlib.gunzipSync]]) {
    const f = path.join(dist, `hearth.wasm${suffix}`);
    if (!fs.existsSync(f)) continue;
    let bytes;
    try { bytes = unzip(fs.readFileSync(f)); } catch { return `hearth.wasm${suffix} does not decompress`; }
    if (!bytes.equals(wasm)) return `hearth.wasm${suffix} does not match hearth.wasm`;
  }
  return null;
}

/** Adds a file to the staged root (e.g. an alternative bundle for profiling). */
export function stageFile(root, rel, srcPath) {
  const dst = path.join(root, rel);
  fs.mkdirSync(path.dirname(dst), { recursive: true });
  fs.copyFileSync(srcPath, dst);
  return dst;
}

/** Starts `bin/hearth serve -addr 127.0.0.1:0 -web webRoot`; resolves with {url, stop}. */
export async function startServerAt(webRoot) {
  const bin = path.join(repoRoot, 'bin', 'hearth');
  const proc = spawn(bin, ['serve', '-addr', '127.0.0.1:0', '-web', webRoot], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  const lines = createInterface({ input: proc.stdout });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hearth serve printed no URL in 20 s; stderr:\n${stderr}`)), 20000);
    lines.on('line', (line) => {
      const m = line.match(/(http:\/\/127\.0\.0\.1:\d+\/)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    proc.on('error', (err) => { clearTimeout(timer); reject(err); });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`hearth serve exited with ${code}; stderr:\n${stderr}`)); });
  });
  return {
    url,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      await once(proc, 'exit');
    },
  };
}
