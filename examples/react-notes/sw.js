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
  if (request.mode === 'navigate' && (url.href === scope || url.href === shell)) {
    // The app's page: this version's, whatever the query (?token=…), so that a
    // start waits for no network, not even one that accepts requests and
    // never answers. A deploy is found by the browser's own check of this
    // script on navigation (its VERSION changes): the new worker caches
    // the new build whole and takes over, and the next load runs it. A
    // page from the network is not cached here: it may name files of a
    // build this worker has not cached.
    event.respondWith((async () => (await caches.match(shell, { cacheName: CACHE, ignoreVary: true })) ?? fetch(request))());
    return;
  }
  if (!cached.has(url.href)) return;
  // The other files are named by their content (or are the build's own):
  // the cached copy is the right one.
  event.respondWith((async () => (await caches.match(url.href, { cacheName: CACHE, ignoreVary: true })) ?? fetch(request))());
});
