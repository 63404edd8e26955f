// A minimal static server for the benchmark's cache experiments only
// (BENCH_EXPLORE): the same staged web root and the same headers as
// `hearth serve` (COOP/COEP/CORP, precompressed .br/.gz, ETag), but with a
// Cache-Control policy of our choosing, to see how the HTTP cache policy
// affects Chromium's wasm code cache. The headline numbers always come from
// the real `hearth serve`.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';

const types = {
  '.wasm': 'application/wasm', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.html': 'text/html; charset=utf-8', '.json': 'application/json', '.css': 'text/css; charset=utf-8',
};

/** Serves root on 127.0.0.1; resolves with {url, stop}. cacheControl applies to every response. */
export function startStaticServer(root, { cacheControl = 'no-cache' } = {}) {
  const etags = new Map();
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://127.0.0.1');
    let rel = decodeURIComponent(u.pathname);
    if (rel.endsWith('/')) rel += 'index.html';
    const file = path.join(root, path.normalize(rel));
    if (!file.startsWith(root) || rel.split('/').some((p) => p.startsWith('.') && p !== '')) {
      res.writeHead(404).end();
      return;
    }
    const headers = {
      'Content-Type': types[path.extname(file)] ?? 'application/octet-stream',
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cross-Origin-Resource-Policy': 'same-origin',
      'Cache-Control': cacheControl,
      Vary: 'Accept-Encoding',
    };
    const accept = req.headers['accept-encoding'] ?? '';
    let served = file;
    for (const [token, suffix] of [['br', '.br'], ['gzip', '.gz']]) {
      if (accept.includes(token) && fs.existsSync(file + suffix)) {
        served = file + suffix;
        headers['Content-Encoding'] = token;
        break;
      }
    }
    let st;
    try { st = fs.statSync(served); } catch { st = null; }
    if (!st || !st.isFile()) {
      res.writeHead(404).end();
      return;
    }
    const key = `${served}:${st.mtimeMs}:${st.size}`;
    let etag = etags.get(key);
    if (!etag) {
      etag = `"${crypto.createHash('sha256').update(fs.readFileSync(served)).digest('hex').slice(0, 24)}"`;
      etags.set(key, etag);
    }
    headers.ETag = etag;
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, headers).end();
      return;
    }
    headers['Content-Length'] = st.size;
    res.writeHead(200, headers);
    if (req.method === 'HEAD') res.end();
    else fs.createReadStream(served).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve({
        url: `http://127.0.0.1:${server.address().port}/`,
        stop: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
      });
    });
  });
}
