// Task board start-up and interaction figures in real Chromium against the
// real `hearth serve`: time to the first paint of tasks (a first visit on a
// fresh profile, then a reload), and the time from Alt+→ on a card to the
// card painted in its new column, for 400 and 5,000 seed tasks, local-only
// (the board seeds itself) and synced (the server seeds, the board receives
// it by initial sync). Then interaction to next paint for moving a card,
// from Chromium's Event Timing API, over 100 moves with 5,000 tasks, and
// the same moves made on the same page by a plain JS handler (the anchor:
// the DOM change alone). Prints figures; asserts nothing.
// BOARD_BENCH_RTT_MS=100 puts the start-up runs behind common.mjs's
// delayedNetwork (default 0: loopback).
import { startServer } from '../harness.mjs';
import { backlogCard, cleanup, delayedNetwork, moveCard, openDevice, printHelpIfAsked, waitForQuietBoard } from './common.mjs';

if (printHelpIfAsked(import.meta.url)) process.exit(0);

async function firstPaint(page, url) {
  await page.goto(url);
  // The first paint of tasks (from the result cache on a reload), then
  // the live ones: the moves below act on the live board.
  await page.waitForFunction(() => window.boardMilestones?.['tasks-painted'] > 0 && window.boardMilestones?.['tasks-live'] > 0, null, { timeout: 180000 });
  return page.evaluate(() => ({
    ...window.boardMilestones,
    // On a reload with a saved frame (index.html), the frame is the page's first content.
    fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime,
    // The page's own response (from the offline app shell's cache on a reload).
    response: performance.getEntriesByType('navigation')[0]?.responseEnd,
  }));
}

// Moves the first backlog card one column right with a keyboard event and
// waits, inside the page, for the frame that shows it there.
async function moveLatency(page) {
  return page.evaluate(async () => {
    const card = document.querySelector('.column[data-status="backlog"] .card');
    const id = card.id;
    card.focus();
    const start = performance.now();
    card.dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowRight', altKey: true, bubbles: true, cancelable: true }));
    for (;;) {
      await new Promise((resolve) => requestAnimationFrame(resolve));
      const el = document.getElementById(id);
      if (el?.closest('.column')?.dataset.status === 'doing') return performance.now() - start;
      if (performance.now() - start > 10000) return NaN;
    }
  });
}

const rows = [];
// BOARD_BENCH_TASKS=5000 BOARD_BENCH_MODES=local narrows the run.
const sizes = (process.env.BOARD_BENCH_TASKS ?? '400,5000').split(',').filter(Boolean).map(Number);
const modes = (process.env.BOARD_BENCH_MODES ?? 'local,synced').split(',');
const rtt = Number(process.env.BOARD_BENCH_RTT_MS ?? 0);
for (const tasks of sizes) {
  for (const mode of modes) {
    const server = await startServer(mode === 'synced' ? ['-seed-tasks', String(tasks)] : ['-sync=false']);
    const { page, close } = await openDevice('hearth-board-bench-');
    const base = rtt > 0 ? await delayedNetwork(server.url, rtt) : server.url;
    const url = new URL(mode === 'synced' ? 'board/' : `board/?sync=0&seed=${tasks}`, base).href;
    try {
      const first = await firstPaint(page, url);
      // A reload of a board at rest: synced (an initial sync still running
      // in the old page's worker took the cores the reload needs) and with
      // the offline app shell installed (its install caches both bundles;
      // until it is active, its fetches wait).
      if (mode === 'synced') await waitForQuietBoard(page);
      await page.evaluate(() => Promise.race([navigator.serviceWorker.ready, new Promise((r) => setTimeout(r, 30000))]).then(() => true));
      await page.waitForTimeout(500);
      const again = await firstPaint(page, url);
      // Synced: the moves act on the whole seed, not on the initial sync.
      if (mode === 'synced') await waitForQuietBoard(page);
      const moves = [];
      for (let i = 0; i < 5; i++) moves.push(await moveLatency(page));
      moves.sort((a, b) => a - b);
      rows.push({
        tasks, mode,
        // Where a first visit's time goes: the board's own wasm, then the
        // database's open (its replica download and copy), then the tasks.
        'first visit: board wasm ready (ms)': Math.round(first.wasmReady),
        'first visit: db open (ms)': Math.round(first.open),
        'first visit: tasks painted (ms)': Math.round(first['tasks-painted']),
        'reload: page response (ms)': Math.round(again.response),
        // The board as it was left, painted before its wasm runs (index.html).
        'reload: saved frame painted (ms)': again.savedFrame > 0 ? Math.round(again.fcp) : NaN,
        'reload: board wasm ready (ms)': Math.round(again.wasmReady),
        'reload: db open (ms)': Math.round(again.open),
        'reload: tasks painted (ms)': Math.round(again['tasks-painted']),
        // Painted from the result cache (stale until live), or live at once.
        'reload: painted from cache': again['tasks-cached'] > 0,
        'reload: live tasks painted (ms)': Math.round(again['tasks-live'] ?? NaN),
        'move, key to paint, median of 5 (ms)': Math.round(moves[2]),
        'longest render (ms)': Math.round(again.maxRenderMs ?? NaN),
      });
    } finally {
      await close();
      await server.stop();
    }
  }
}
console.table(rows);

// ---- interaction to next paint: moving a card ----
// Chromium's Event Timing API reports an interaction's duration (input to
// the next paint after its handlers ran) for trusted input only, so the
// keys come from Playwright (CDP input), not dispatchEvent. Entries below
// durationThreshold (16 ms, the API's floor) are not reported: a move with
// no entry took under 16 ms and counts as 16 (an upper bound).
const inpTasks = Number(process.env.BOARD_BENCH_INP_TASKS ?? 5000);
const inpMoves = Number(process.env.BOARD_BENCH_INP_MOVES ?? 100);
const goalMs = 16;
// BOARD_BENCH_INP_SETTLE=1 waits for each move's sync round trip before
// the next key (a diagnosis: isolated interactions against back-to-back).
const seedReportedMs = 12; // the figure the seed's README reported ("longest render")

async function moveINP(page, moves, settle = false) {
  await page.evaluate(() => {
    window.inpEntries = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        if (e.name === 'keydown' && e.interactionId > 0) {
          window.inpEntries.push({
            id: e.interactionId, duration: e.duration,
            // Where it went: waiting for the main thread, the handlers,
            // and from their end to the next paint.
            delay: e.processingStart - e.startTime,
            processing: e.processingEnd - e.processingStart,
            presentation: e.startTime + e.duration - e.processingEnd,
          });
        }
      }
    }).observe({ type: 'event', durationThreshold: 16, buffered: false });
  });
  const id = await backlogCard(page);
  const durations = [];
  const parts = { delay: [], processing: [], presentation: [] }; // of the moves over 16 ms
  const rendersBefore = await page.evaluate(() => window.boardMilestones.renders ?? 0);
  for (let i = 0; i < moves; i++) {
    const before = await page.evaluate(() => window.inpEntries.length);
    await moveCard(page, id, i);
    // The entry arrives after the next paint: wait two frames for it.
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    if (settle) {
      // Isolated interactions: the move's write, its live query result
      // and the sync round trip are over before the next key.
      await page.waitForFunction(async () => {
        const s = await globalThis.hearthSyncStatus();
        return s.pending === 0 && s.cursor >= s.head;
      }, null, { polling: 50 });
      await page.waitForTimeout(200);
    }
    const entries = await page.evaluate((n) => window.inpEntries.slice(n), before);
    durations.push(entries.length ? Math.max(...entries.map((e) => e.duration)) : goalMs);
    for (const e of entries) for (const k of Object.keys(parts)) parts[k].push(e[k]);
  }
  // Whole-board renders over the moves (a move drawn by a patch has none).
  const wholeRenders = await page.evaluate(() => window.boardMilestones.renders ?? 0) - rendersBefore;
  durations.sort((a, b) => a - b);
  const at = (q) => durations[Math.min(durations.length - 1, Math.floor(q * durations.length))];
  const p = (xs, q) => xs.sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? 0;
  return {
    p50: at(0.5), p95: at(0.95), underThreshold: durations.filter((d) => d === goalMs).length,
    parts: Object.fromEntries(Object.entries(parts).map(([k, xs]) => [k, `${Math.round(p(xs, 0.5))} / ${Math.round(p(xs, 0.95))}`])),
    wholeRenders,
  };
}

// BOARD_BENCH_INP_MOVES=0 skips it.
if (inpMoves > 0) {
  const server = await startServer(['-seed-tasks', String(inpTasks)]);
  const { page, close } = await openDevice('hearth-board-inp-');
  try {
    await firstPaint(page, new URL('board/', server.url).href);
    await waitForQuietBoard(page);
    const settle = process.env.BOARD_BENCH_INP_SETTLE === '1';
    const inp = await moveINP(page, inpMoves, settle);
    // The anchor, on the same page in the same run: the same moves made by
    // a plain JS handler (the card's <li> moved to the top of the other
    // column) that the board never sees, so nothing is written, queried or
    // synced: what this browser on this machine takes for the DOM change
    // alone.
    await page.evaluate(() => {
      document.addEventListener('keydown', (e) => {
        if (!e.altKey || (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft')) return;
        e.stopImmediatePropagation();
        e.preventDefault();
        const item = document.activeElement?.closest('li');
        const list = document.querySelector(`.column[data-status="${e.key === 'ArrowRight' ? 'doing' : 'backlog'}"] > ol`);
        if (item && list) list.moveBefore ? list.moveBefore(item, list.firstElementChild) : list.insertBefore(item, list.firstElementChild);
      }, { capture: true });
    });
    const plain = await moveINP(page, inpMoves);
    console.table([{
      'moved by': 'the board', tasks: inpTasks, moves: inpMoves, 'moves one at a time (settled)': settle,
      'INP p50 (ms)': Math.round(inp.p50), 'INP p95 (ms)': Math.round(inp.p95),
      'moves under 16 ms': inp.underThreshold,
      'vugu renders per move': +(inp.wholeRenders / inpMoves).toFixed(2),
      // Of the moves over 16 ms: p50 / p95 of each part of the duration.
      'input delay (ms)': inp.parts.delay, 'handlers (ms)': inp.parts.processing, 'to paint (ms)': inp.parts.presentation,
      'seed reported (ms)': seedReportedMs, 'goal (ms)': goalMs,
      'meets goal (p95)': inp.p95 <= goalMs,
    }, {
      'moved by': 'a plain JS handler (anchor)', tasks: inpTasks, moves: inpMoves, 'moves one at a time (settled)': false,
      'INP p50 (ms)': Math.round(plain.p50), 'INP p95 (ms)': Math.round(plain.p95),
      'moves under 16 ms': plain.underThreshold,
      'vugu renders per move': +(plain.wholeRenders / inpMoves).toFixed(2),
      'input delay (ms)': plain.parts.delay, 'handlers (ms)': plain.parts.processing, 'to paint (ms)': plain.parts.presentation,
      'seed reported (ms)': '', 'goal (ms)': goalMs,
      'meets goal (p95)': plain.p95 <= goalMs,
    }]);
  } finally {
    await close();
    await server.stop();
  }
}
// The delayed networks' proxies.
await cleanup();
