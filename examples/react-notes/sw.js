// The app's service worker: after the first visit the app starts with no
// network, reload included. The build (vite.config.js) puts VERSION and
// FILES (every file of the build: index.html, the hashed chunks, the
// Hearth worker and its wasm) above this line; they are all cached when
// the worker installs. The data is in the Hearth database (OPFS or
// IndexedDB) and the schema in loadSchema's copy in localStorage, so
// nothing else is needed offline. /v1/schema and /sync are left to the
// network.
/* global VERSION, FILES */
const PREFIX = 'react-notes-';
const CACHE = PREFIX + VERSION;
const scope = self.registration.scope;
const cached = new Set(FILES.map((f) => new URL(f, scope).href));
const shell = new URL('index.html', scope).href;

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll([...cached]);
    await self.skipWaiting();
  })());
});

// The previous version's cache goes once this one is in charge.
self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith(PREFIX) && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  url.search = '';
  if (request.mode === 'navigate' && url.href.startsWith(scope)) {
    // The page: from the network when it answers (a new deploy is seen at
    // once), else the cached one, whatever the query (?token=…). A fresh
    // page is not cached here: it may name files of a build this worker
    // has not cached; the next version's worker caches it with them.
    event.respondWith(fetch(request).catch(async () => {
      const hit = await caches.match(shell, { cacheName: CACHE, ignoreVary: true });
      if (hit) return hit;
      throw new Error('offline and the app is not cached yet');
    }));
    return;
  }
  if (!cached.has(url.href)) return;
  // The other files are named by their content (or are the build's own):
  // the cached copy is the right one.
  event.respondWith((async () => (await caches.match(url.href, { cacheName: CACHE, ignoreVary: true })) ?? fetch(request))());
});
