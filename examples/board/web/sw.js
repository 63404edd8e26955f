// Offline app shell for the task board (/board/). Registered by
// boot.js as /board/sw.js?board=<board wasm>&worker=<worker wasm> with
// scope '/' (the server allows it: Service-Worker-Allowed), so that the Hearth worker and its imports are served
// from here too. A new deploy changes the URL, installs a new worker with
// a new cache, and the old cache is deleted on activation.
const params = new URL(self.location.href).searchParams;
const boardFile = params.get('board');
const workerFile = params.get('worker');
const CACHE = `hearth-board-${boardFile}-${workerFile}`;

// Content-hashed files never change: served from the cache first.
const immutable = [`/board/dist/${boardFile}`, `/dist/${workerFile}`];
// Everything else the board needs offline: fetched from the network
// first (so a deploy is seen at once), the cached copy when offline.
const shell = [
  '/board/', '/board/boot.js', '/board/dist/bundle.js',
  '/dist/wasm_exec.js', '/dist/bundle.js',
  '/hearth-worker.js', '/hearth-worker-boot.js', '/hearth-storage.js', '/hearth-tabs.js', '/protocol.js', '/hearth.js',
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
    const cache = await caches.open(CACHE);
    if (immutable.includes(key)) {
      const hit = await cache.match(key, { ignoreVary: true });
      if (hit) return hit;
    }
    try {
      const response = await fetch(event.request);
      // Stored after the page has it: waiting for the cache's write held
      // the page's first paint back by ~100 ms a file (its stylesheet and
      // scripts block the parser).
      if (response.ok) event.waitUntil(cache.put(key, response.clone()));
      return response;
    } catch (err) {
      const hit = await cache.match(key, { ignoreVary: true });
      if (hit) return hit;
      throw err;
    }
  })());
});
