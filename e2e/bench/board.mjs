// Task board start-up and interaction figures in real Chromium against the
// real `hearth serve`: time to the first paint of tasks (a first visit on a
// fresh profile, then a reload), and the time from Alt+→ on a card to the
// card painted in its new column, for 400 and 5,000 seed tasks, local-only
// (the board seeds itself) and synced (the server seeds, the board receives
// it by initial sync). Prints figures; asserts nothing.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServer, launchPersistent, loopbackOnly } from '../harness.mjs';

async function firstPaint(page, url) {
  await page.goto(url);
  await page.waitForFunction(() => window.boardMilestones?.['tasks-painted'] > 0, null, { timeout: 180000 });
  return page.evaluate(() => ({ ...window.boardMilestones }));
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
const sizes = (process.env.BOARD_BENCH_TASKS ?? '400,5000').split(',').map(Number);
const modes = (process.env.BOARD_BENCH_MODES ?? 'local,synced').split(',');
for (const tasks of sizes) {
  for (const mode of modes) {
    const server = await startServer(mode === 'synced' ? ['-seed-tasks', String(tasks)] : ['-sync=false']);
    const dir = mkdtempSync(path.join(tmpdir(), 'hearth-board-bench-'));
    const context = await launchPersistent(dir);
    await loopbackOnly(context);
    const page = context.pages()[0] ?? await context.newPage();
    const url = new URL(mode === 'synced' ? 'board/' : `board/?sync=0&seed=${tasks}`, server.url).href;
    try {
      const first = await firstPaint(page, url);
      await page.waitForTimeout(500); // let the service worker finish caching
      const again = await firstPaint(page, url);
      const moves = [];
      for (let i = 0; i < 5; i++) moves.push(await moveLatency(page));
      moves.sort((a, b) => a - b);
      rows.push({
        tasks, mode,
        'first visit: tasks painted (ms)': Math.round(first['tasks-painted']),
        'reload: board wasm ready (ms)': Math.round(again.wasmReady),
        'reload: db open (ms)': Math.round(again.open),
        'reload: tasks painted (ms)': Math.round(again['tasks-painted']),
        'move, key to paint, median of 5 (ms)': Math.round(moves[2]),
        'longest render (ms)': Math.round(again.maxRenderMs ?? NaN),
      });
    } finally {
      await context.close();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
console.table(rows);
