// A Chromium trace of one card move on the task board with 5,000 synced
// tasks (issue 15, goal 7): where the main thread's time goes between the
// key and the frame that shows the card in its new column. Prints the
// breakdown by trace event (top-level tasks and what runs inside them);
// asserts nothing. BOARD_TRACE_TASKS=400 changes the seed; BOARD_TRACE_OUT
// writes the raw trace (JSON, for chrome://tracing or Perfetto).
import { writeFileSync } from 'node:fs';
import { startServer } from '../harness.mjs';
import { startTrace } from './trace.mjs';
import { backlogCard, moveCard, openDevice, printHelpIfAsked, waitForQuietBoard } from './common.mjs';

if (printHelpIfAsked(import.meta.url)) process.exit(0);

const tasks = Number(process.env.BOARD_TRACE_TASKS ?? 5000);
const server = await startServer(['-seed-tasks', String(tasks)]);
const { context, page, close } = await openDevice('hearth-board-trace-');
try {
  await page.goto(new URL('board/', server.url).href);
  await page.waitForFunction(() => window.boardMilestones?.['tasks-live'] > 0 || (window.boardMilestones?.['tasks-painted'] > 0 && !document.querySelector('#board-stale')), null, { timeout: 180000 });
  await waitForQuietBoard(page);
  const id = await backlogCard(page);
  // Two warm-up moves (there and back): the trace is of a steady-state move.
  for (const n of [0, 1]) await moveCard(page, id, n);
  await page.waitForTimeout(1000);
  await page.locator(`[id="${id}"]`).focus();
  // BOARD_TRACE_CATEGORIES adds trace categories (comma-separated; e.g.
  // toplevel names the source of each task).
  const extra = (process.env.BOARD_TRACE_CATEGORIES ?? '').split(',').filter(Boolean);
  const stop = await startTrace(context, page, ['devtools.timeline', 'blink.user_timing', 'v8.execute', 'disabled-by-default-devtools.timeline', ...extra]);
  await page.evaluate(() => performance.mark('trace:key'));
  await page.keyboard.press('Alt+ArrowRight');
  await page.waitForFunction((i) => document.getElementById(i)?.closest('.column')?.dataset.status === 'doing', id);
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  await page.evaluate(() => performance.mark('trace:shown'));
  await page.waitForTimeout(300);
  const events = await stop();
  if (process.env.BOARD_TRACE_OUT) writeFileSync(process.env.BOARD_TRACE_OUT, JSON.stringify({ traceEvents: events }));
  const mark = (name) => events.find((e) => e.name === name && (e.cat ?? '').includes('user_timing'))?.ts;
  const from = mark('trace:key'), to = mark('trace:shown');
  // The renderer's main thread: the thread running the page's marks.
  const main = events.find((e) => e.name === 'trace:key');
  const onMain = events.filter((e) => e.pid === main.pid && e.tid === main.tid && e.ph === 'X' && e.ts >= from && e.ts <= to);
  const by = new Map();
  for (const e of onMain) {
    const key = e.name === 'EventDispatch' ? `EventDispatch(${e.args?.data?.type})` : e.name;
    const cur = by.get(key) ?? { n: 0, ms: 0, cpu: 0 };
    cur.n++; cur.ms += (e.dur ?? 0) / 1000;
    // The thread's CPU time: on a loaded machine the wall time also counts
    // the time the thread waited for a core.
    cur.cpu += (e.tdur ?? 0) / 1000;
    by.set(key, cur);
  }
  const rows = [...by].map(([name, v]) => ({ event: name, count: v.n, 'total ms (nested included)': +v.ms.toFixed(1), 'CPU ms': +v.cpu.toFixed(1) }))
    .sort((a, b) => b['total ms (nested included)'] - a['total ms (nested included)']).slice(0, 25);
  const inp = events.filter((e) => e.name === 'EventTiming' && e.args?.data?.type === 'keydown' && e.ts >= from - 1000);
  console.log(`tasks ${tasks}; key → card shown in its new column (with two rAFs): ${((to - from) / 1000).toFixed(1)} ms`);
  if (inp.length) console.log('EventTiming keydown duration (ms):', inp.map((e) => e.args.data.duration ?? e.dur / 1000));
  console.table(rows);
} finally {
  await close();
  await server.stop();
}
