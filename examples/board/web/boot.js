// Board bootstrap: registers the offline app shell and runs the board's
// Go bundle (the hashed name comes from dist/bundle.js; the hashed file
// itself is cached for good).
import '/dist/wasm_exec.js'; // defines globalThis.Go
import { boardFile } from './dist/bundle.js';
import { wasmFile } from '/dist/bundle.js';

if ('serviceWorker' in navigator) {
  // The offline app shell (sw.js): it answers the board's files from its
  // cache, so that a reload waits for no network. Registered, or asked
  // whether the server has a new shell, once the board shows live tasks
  // (or 10 s after the page's load if it never does): installing one
  // downloads and stores both wasm bundles, and that should not compete
  // with the board's own start.
  const scope = '/board/';
  const first = `/board/sw.js?board=${encodeURIComponent(boardFile)}&worker=${encodeURIComponent(wasmFile)}`;
  /** @param {ServiceWorker} sw @returns {Promise<{update?: string | null, error?: string}>} */
  const check = (sw) => new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = (event) => resolve(event.data);
    sw.postMessage('check', [channel.port2]);
  });
  let started = false;
  const start = async () => {
    if (started) return;
    started = true;
    // Earlier versions registered the board's worker for the whole origin.
    for (const old of await navigator.serviceWorker.getRegistrations()) {
      if (old.scope === new URL('/', location.href).href && old.active?.scriptURL.includes('/board/sw.js')) await old.unregister();
    }
    const current = await navigator.serviceWorker.getRegistration(scope);
    const active = current?.scope === new URL(scope, location.href).href ? current.active : null;
    if (!active) {
      await navigator.serviceWorker.register(first, { scope });
      window.boardMilestones.serviceWorker = performance.now();
      return;
    }
    const { update, error } = await check(active);
    if (error) throw new Error(error);
    window.boardMilestones.shellChecked = performance.now();
    if (!update) return;
    await navigator.serviceWorker.register(update, { scope });
    // Installed and in charge: the next load runs the new version.
    await new Promise((resolve) => {
      const done = () => navigator.serviceWorker.controller?.scriptURL.endsWith(update) && resolve(undefined);
      navigator.serviceWorker.addEventListener('controllerchange', done);
      done();
    });
    window.boardMilestones.shellUpdated = performance.now();
  };
  const startLogged = () => start().catch((err) => console.warn('board: offline app shell:', err));
  new PerformanceObserver((list, observer) => {
    if (list.getEntriesByName('board:tasks-live').length === 0) return;
    observer.disconnect();
    startLogged();
  }).observe({ type: 'mark' });
  addEventListener('load', () => setTimeout(startLogged, 10000), { once: true });
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

// A card's buttons and a double click on a card (edit), passed to Go by
// the card's task id (hearthBoardAction). Cards carry no vugu listeners:
// vugu binds those to an element's position in the tree, and a move
// patches the card into another position (hearthBoardPatchMove).
const cardAction = (event, card, action) => {
  if (card?.id?.startsWith('task-') && window.hearthBoardAction?.(card.id.slice('task-'.length), action)) event.preventDefault();
};
document.addEventListener('click', (event) => {
  const button = /** @type {Element} */ (event.target).closest?.('.card-actions button[data-action]');
  if (button) cardAction(event, button.closest('.card'), /** @type {HTMLElement} */ (button).dataset.action);
});
document.addEventListener('dblclick', (event) => {
  cardAction(event, /** @type {Element} */ (event.target).closest?.('.card'), 'edit');
});

/**
 * Draws a card move without a render of the whole board (the board's
 * movepatch.go computes the change): the card's <li> goes to its place in
 * its new column, then its label, its action buttons and the column
 * counts follow. The page ends exactly as vugu would render it, so vugu's
 * next render (which reuses elements by position) finds it in place.
 * Node.moveBefore keeps the card's focus (no blur, no focus() and its
 * forced layout); where it is missing, the card is focused again.
 * Returns false, changing nothing, when the page is not as expected: the
 * board then renders.
 * @param {string} id the task's id
 * @param {string} status its column now
 * @param {number} index its place among the cards that column shows
 * @param {string} label its aria-label
 * @param {number[]} counts each column's card count, in column order
 * @param {Record<string, boolean> | null} actions its buttons' shown state; null: none
 */
window.hearthBoardPatchMove = (id, status, index, label, counts, actions) => {
  const card = document.getElementById(`task-${id}`);
  const item = card?.parentElement;
  const columns = [...document.querySelectorAll('.columns > .column')];
  const list = columns.find((c) => /** @type {HTMLElement} */ (c).dataset.status === status)?.querySelector(':scope > ol');
  if (!card || item?.tagName !== 'LI' || !list || columns.length !== counts.length) return false;
  const bar = card.querySelector(':scope > .card-actions');
  if (!bar !== !actions) return false;
  // vugu's <ol>: a text node, the <li>s, a text node.
  const others = [...list.children].filter((el) => el !== item);
  if (index > others.length || list.lastChild?.nodeType !== Node.TEXT_NODE) return false;
  const before = others[index] ?? list.lastChild;
  const hadFocus = card.contains(document.activeElement);
  if (item.nextSibling !== before) {
    if (typeof list.moveBefore === 'function') {
      try {
        list.moveBefore(item, before);
      } catch {
        list.insertBefore(item, before);
      }
    } else {
      list.insertBefore(item, before);
    }
  }
  card.setAttribute('aria-label', label);
  if (actions) {
    for (const button of bar.querySelectorAll('button[data-action]')) {
      const shown = actions[/** @type {HTMLElement} */ (button).dataset.action] ?? true;
      if (shown) button.removeAttribute('hidden');
      else button.setAttribute('hidden', 'hidden');
    }
  }
  columns.forEach((column, i) => {
    const count = column.querySelector(':scope > h2 > .count');
    if (count && count.textContent !== String(counts[i])) count.textContent = String(counts[i]);
  });
  // Focus stays with the moved card: a move from its own buttons (the one
  // pressed may now be hidden) or a page without moveBefore focuses it,
  // once the Go call that asked for this patch has returned (the focus
  // event calls into Go again).
  if (hadFocus && document.activeElement !== card) queueMicrotask(() => card.focus({ preventScroll: true }));
  // Keep it in view, in the frame's own layout (no extra forced one).
  requestAnimationFrame(() => card.isConnected && card.scrollIntoView({ block: 'nearest' }));
  return true;
};

/**
 * Sets the sync bar's texts (element id → text) and the online pill's
 * data-on, for a sync status change that keeps the bar's pills: without
 * this, every move's pending count (1, then 0) was two renders of the
 * whole board. Returns false, changing nothing, when an element is
 * missing: the board then renders.
 * @param {Record<string, string>} texts
 * @param {string} online
 */
window.hearthBoardPatchTexts = (texts, online) => {
  const els = Object.keys(texts).map((id) => document.getElementById(id));
  if (els.some((el) => !el)) return false;
  els.forEach((el) => {
    const text = texts[el.id];
    // vugu renders each as one text node: keep it, change its data.
    if (el.childNodes.length === 1 && el.firstChild.nodeType === Node.TEXT_NODE) {
      if (el.firstChild.data !== text) el.firstChild.data = text;
    } else {
      el.textContent = text;
    }
  });
  const pill = document.getElementById('sync-online');
  if (pill && pill.dataset.on !== online) pill.dataset.on = online;
  return true;
};

/** Resolves once the page has shown its next frame (at most 100 ms: a hidden page shows none). */
window.hearthBoardAfterPaint = () => new Promise((resolve) => {
  const timer = setTimeout(resolve, 100);
  requestAnimationFrame(() => setTimeout(() => { clearTimeout(timer); resolve(); }, 0));
});

// The signed-in demo user (window.hearthBoardUser) is set by index.html.

// A sync token for the demo user, when the server signs them
// (hearth serve -demo-auth); token '' when it signs none; null while
// the server is unreachable. The board asks
// again before a token expires.
window.hearthBoardFetchToken = () => fetch(`/demo/token?user=${encodeURIComponent(window.hearthBoardUser)}`, { cache: 'no-store' })
  // A server without authentication answers 204, one with real tokens
  // 404: no demo token (none needed, or the app's own sign-in gives one).
  .then((r) => (r.ok && r.status !== 204 ? r.json() : { token: '', expiresIn: 0 }))
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

// The saved frame (painted by index.html before the first frame): the
// board as this user last saw it, kept in localStorage as a tree of tags,
// attributes and texts. Saved at most once a second while the live board
// changes, and when the page is hidden or left (a reload), never from the
// saved copies themselves (the result cache's or the frame).
const frameKey = `hearth-board-frame:${window.hearthBoardUser}`;
/** Frames larger than this are not kept (localStorage holds ~5 MB an origin). */
const maxFrameChars = 512 * 1024;
/** @param {Node} node @returns {unknown} */
const frameTree = (node) => {
  if (node.nodeType === Node.TEXT_NODE) return /** @type {Text} */ (node).data;
  if (node.nodeType !== Node.ELEMENT_NODE) return null;
  const el = /** @type {Element} */ (node);
  // An open editor or panel is not part of what a reload shows, nor is
  // what is hidden (each card's unused action buttons).
  if (el.classList.contains('overlay') || el.hasAttribute('hidden')) return null;
  // A closed select shows one option: the frame keeps that one (the
  // board's two user pickers list every user: a third of its elements).
  if (el instanceof HTMLOptionElement && !el.selected) return null;
  /** @type {Record<string, string>} */
  const attrs = {};
  for (const a of el.attributes) attrs[a.name] = a.value;
  return [el.localName, attrs, ...[...el.childNodes].map(frameTree).filter((c) => c !== null)];
};
let frameDirty = false;
let frameTimer = 0;
const saveFrame = () => {
  clearTimeout(frameTimer);
  frameTimer = 0;
  const app = document.querySelector('body > .app');
  const live = window.boardMilestones['tasks-live'] > 0 && !document.getElementById('board-stale');
  if (!frameDirty || !app || !live || document.documentElement.dataset.savedFrame) return;
  frameDirty = false;
  try {
    const json = JSON.stringify({ v: 1, tree: frameTree(app) });
    if (json.length > maxFrameChars) localStorage.removeItem(frameKey);
    else localStorage.setItem(frameKey, json);
    window.boardMilestones.frameSaved = performance.now();
  } catch (err) {
    console.warn('board: the saved frame was not kept:', err);
  }
};
// Saved when the page is idle (a save serializes the whole board: a few
// ms that should not delay a key press).
const whenIdle = globalThis.requestIdleCallback ?? ((fn) => setTimeout(fn, 0));
new MutationObserver(() => {
  frameDirty = true;
  if (!frameTimer) frameTimer = setTimeout(() => whenIdle(saveFrame, { timeout: 2000 }), 1000);
}).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
addEventListener('pagehide', saveFrame);
document.addEventListener('visibilitychange', () => { if (document.hidden) saveFrame(); });
/** Removes the saved frame: the board shows its own tasks, or why it has none. */
window.hearthBoardDropSavedFrame = () => {
  document.getElementById('board-saved')?.remove();
  delete document.documentElement.dataset.savedFrame;
  if (window.boardMilestones.savedFrame > 0 && !(window.boardMilestones.savedFrameDropped > 0)) {
    window.boardMilestones.savedFrameDropped = performance.now();
  }
};

// The Hearth worker (window.hearthBoardWorker) was started by index.html.

// The board's Go opens its database once the board's own wasm has started
// (root.go), half a second into a first visit; until then the worker
// would wait to ask for the replica file, which the server builds for
// this user first. The head start message (hearth.js
// HearthWorker#headStart) has the worker ask now, with what the open
// will carry: its name, the sync URL (sync_client.go syncURL) and the
// demo token. The worker asks only for a database this origin does not
// store yet, and the open takes what it got.
if (new URLSearchParams(location.search).get('sync') !== '0') {
  window.hearthBoardToken.then((t) => {
    if (!t) return; // unreachable: the open finds out
    const url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/sync`;
    window.hearthBoardWorker.postMessage({ hearthHeadStart: { name: `board-${window.hearthBoardUser}`, sync: { url, token: t.token } } });
  });
}

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
  window.hearthBoardDropSavedFrame();
  document.getElementById('board').textContent = `The board failed to start: ${err?.message ?? err}`;
}
