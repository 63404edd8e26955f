// Board bootstrap: registers the offline app shell and runs the board's
// Go bundle (the hashed name comes from dist/bundle.js, revalidated on
// every load; the hashed file itself is cached for good).
import { boardFile } from './dist/bundle.js';
import { wasmFile } from '/dist/bundle.js';

if ('serviceWorker' in navigator) {
  // The worker's URL carries both bundle names: a new deploy is a new URL,
  // so the browser installs a new service worker that caches the new
  // bundles and drops the old cache. Scope '/' so that the Hearth worker
  // (/hearth-worker.js) and its imports are served offline too.
  const sw = `/board/sw.js?board=${encodeURIComponent(boardFile)}&worker=${encodeURIComponent(wasmFile)}`;
  navigator.serviceWorker.register(sw, { scope: '/' }).then(
    () => { window.boardMilestones.serviceWorker = performance.now(); },
    (err) => console.warn('board: offline app shell unavailable:', err),
  );
}

// The board's keyboard and card focus, passed to its Go code
// (hearthBoardKey, hearthBoardFocus) only for what it acts on: Escape, n,
// and Enter or Alt+arrows on a card. Through a vugu listener every key
// (Alt alone, too) and every focus change re-rendered the whole board.
document.addEventListener('keydown', (event) => {
  const target = /** @type {HTMLElement} */ (event.target);
  const onCard = target.id?.startsWith('task-');
  const acted = event.key === 'Escape' || event.key === 'n'
    || (onCard && (event.key === 'Enter' || (event.altKey && event.key.startsWith('Arrow'))));
  if (!acted || !window.hearthBoardKey || event.ctrlKey || event.metaKey) return;
  if (window.hearthBoardKey(event.key, target.id ?? '', target.tagName ?? '', event.altKey, event.ctrlKey, event.metaKey)) event.preventDefault();
});
document.addEventListener('focusin', (event) => {
  const id = /** @type {HTMLElement} */ (event.target).id;
  if (id?.startsWith('task-')) window.hearthBoardFocus?.(id.slice('task-'.length));
});

// The signed-in demo user: ?user=u-02 (the board's user picker sets it),
// u-01 by default.
window.hearthBoardUser = new URLSearchParams(location.search).get('user') || 'u-01';

// A sync token for the demo user, when the server signs them
// (hearth serve -demo-auth); token '' when it signs none; null while
// the server is unreachable. The board asks
// again before a token expires.
window.hearthBoardFetchToken = () => fetch(`/demo/token?user=${encodeURIComponent(window.hearthBoardUser)}`, { cache: 'no-store' })
  // A server without demo tokens answers 404: no token, none needed.
  .then((r) => (r.ok ? r.json() : { token: '', expiresIn: 0 }))
  .catch(() => null); // unreachable (offline): the board asks again once online
window.hearthBoardToken = window.hearthBoardFetchToken();

// The last result of each of the board's live queries, kept by hearth.js's
// result cache in this origin's IndexedDB (per user database and schema):
// a reload paints the board from it while the worker opens the database,
// marked as saved data until the live results replace it. Loaded without
// holding up the board's own start; a page that cannot load it paints
// when the live results arrive, as before.
const resultCache = import('/hearth.js').catch((err) => {
  console.warn('board: no result cache:', err);
  return null;
});
// The user's cached board, read while the board's bundle compiles.
resultCache.then((m) => m?.preloadCachedResults(`board-${window.hearthBoardUser}`));
/** @type {Map<string, () => Promise<void>>} the newest result of each query not saved yet */
const unsaved = new Map();
window.hearthBoardCache = {
  /** The cached result (rows as arrays) or null. */
  read: async (db, scope, sql, params) => (await resultCache)?.cachedResult(db, sql, params, { scope, rowMode: 'array' }) ?? null,
  /** Saves a live result, at most every 300 ms per query (always its newest state). */
  save: (db, scope, sql, params, columns, rows) => {
    const key = JSON.stringify([db, scope, sql, params]);
    const scheduled = unsaved.has(key);
    unsaved.set(key, async () => (await resultCache)?.saveCachedResult(db, sql, params, { columns, rows }, { scope }));
    if (scheduled) return;
    setTimeout(async () => {
      const save = unsaved.get(key);
      unsaved.delete(key);
      await save?.();
      window.boardMilestones.cacheSaved = performance.now();
    }, 300);
  },
};

// Start the Hearth worker now, while the board's own bundle downloads and
// compiles: the Go client adopts it (client.AdoptWorker).
window.hearthBoardWorker = new Worker('/hearth-worker.js', { type: 'module', name: 'hearth' });

// Whether this tab's worker owns the board database (the other tabs'
// workers forward to it): the worker says so when it takes or leaves the
// lead. The conformance kit's killLeaderTab asks every tab.
let leadsBoard = false;
window.hearthBoardWorker.addEventListener('message', (event) => {
  const lead = event.data?.hearthLeader;
  // The board's database is named per user: board-<user> (root.go).
  if (lead?.name === 'board' || lead?.name?.startsWith('board-')) leadsBoard = lead.leading;
});
globalThis.hearthIsLeader = () => leadsBoard;

const go = new globalThis.Go();
try {
  const { instance } = await WebAssembly.instantiateStreaming(fetch(`./dist/${boardFile}`), go.importObject);
  window.boardMilestones.wasmReady = performance.now();
  await go.run(instance);
} catch (err) {
  document.getElementById('board').textContent = `The board failed to start: ${err?.message ?? err}`;
}
