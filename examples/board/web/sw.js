// Offline app shell for the task board, registered by boot.js as
// /board/sw.js?board=<board wasm>&worker=<worker wasm>[&shell=<digest>]
// with scope /board/: it controls the board's pages and the Hearth worker
// they start (/board/worker.js), and answers every file they load from its
// cache. A reload waits for no network: a network that hangs ("lie-fi")
// does not hold the board's start, and a slow one costs no round trip per
// level of imports.
//
// A deploy is found after the start, not before it: the page asks
// ('check', boot.js) once its board is live, and this worker compares the
// server's shell with its cache. When they differ it answers with the URL
// of a worker for the new shell, which the page registers: that worker
// caches the new shell whole, takes over and deletes this cache, and the
// next load runs the new version, never a mix of two.
const params = new URL(self.location.href).searchParams;
const boardFile = params.get('board');
const workerFile = params.get('worker');
const shellDigest = params.get('shell');
const CACHE = `hearth-board-${boardFile}-${workerFile}${shellDigest ? `-${shellDigest}` : ''}`;

// Named by their content: a check compares the bundle names instead.
const immutable = [`/board/dist/${boardFile}`, `/dist/${workerFile}`];
// The bundle names (which name the files above), then the rest.
const bundles = ['/board/dist/bundle.js', '/dist/bundle.js'];
const shell = [
  ...bundles,
  '/board/', '/board/boot.js', '/board/worker.js', '/dist/wasm_exec.js',
  '/hearth-worker.js', '/hearth-worker-wasm.js', '/hearth-worker-boot.js', '/hearth-storage.js', '/hearth-socket.js', '/hearth-socket-relay.js', '/hearth-tabs.js', '/hearth-head-start.js', '/protocol.js', '/hearth.js',
];
const known = new Set([...immutable, ...shell]);

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll([...immutable, ...shell]);
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith('hearth-board-') && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

/** The cache key of a request: the page is cached as '/board/' whatever its query. */
function keyOf(url) {
  if (url.pathname === '/board' || url.pathname === '/board/index.html') return '/board/';
  return url.pathname;
}

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== self.location.origin) return;
  const key = keyOf(url);
  if (!known.has(key)) return;
  event.respondWith((async () => {
    // A miss: a newer worker took over and deleted this cache (a copy
    // put back here would outlive it).
    return (await caches.match(key, { cacheName: CACHE, ignoreVary: true })) ?? fetch(event.request);
  })());
});

// 'check' (from boot.js, on a MessageChannel port): the URL of the worker
// to register for the server's shell, or null when it is this one's.
self.addEventListener('message', (event) => {
  if (event.data !== 'check' || !event.ports[0]) return;
  const port = event.ports[0];
  event.waitUntil(latestShell().then(
    (update) => port.postMessage({ update }),
    (err) => port.postMessage({ error: String(err) }),
  ));
});

/** @returns {Promise<string | null>} */
async function latestShell() {
  const cache = await caches.open(CACHE);
  const cached = await Promise.all(shell.map(async (key) => {
    const hit = await cache.match(key, { ignoreVary: true });
    return hit ? new Uint8Array(await hit.arrayBuffer()) : null;
  }));
  // Revalidated (a 304 when a file did not change), not read from here.
  const current = await Promise.all(shell.map(async (key) => {
    const response = await fetch(key, { cache: 'no-cache' });
    if (!response.ok) throw new Error(`${key}: HTTP ${response.status}`);
    return new Uint8Array(await response.arrayBuffer());
  }));
  if (current.every((bytes, i) => cached[i] !== null && equalBytes(bytes, cached[i]))) return null;
  const [board, worker] = bundles.map((key) => {
    const m = new TextDecoder().decode(current[shell.indexOf(key)]).match(/export const \w+ = '([^']+\.wasm)'/);
    if (!m) throw new Error(`${key} names no wasm file`);
    return m[1];
  });
  const digest = await crypto.subtle.digest('SHA-256', concat(shell.flatMap((key, i) => [new TextEncoder().encode(`${key}\0${current[i].length}\0`), current[i]])));
  const hex = [...new Uint8Array(digest).slice(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join('');
  const url = new URL(self.location.href);
  url.search = new URLSearchParams({ board, worker, shell: hex }).toString();
  if (url.href === self.location.href) {
    // This worker's own shell, which its cache no longer matches (a deploy
    // landed while it installed): cached again rather than registered
    // again, which would change nothing.
    await cache.addAll(shell);
    return null;
  }
  return url.pathname + url.search;
}

function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}
