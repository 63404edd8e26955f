// Why some card moves on the task board take more than a frame (issue 15,
// goal 7): a Chromium trace of back-to-back moves with 5,000 synced tasks,
// as board.mjs's INP part makes them. For each move whose interaction
// (Event Timing) is over 16 ms it prints where its time went (input delay,
// handlers, handlers' end to the next paint), the page's main-thread work
// meanwhile and the long tasks of the other threads (the Hearth worker,
// raster, compositor, viz: on a 2-core machine they compete for the cores
// the frame needs). Then the worker's CPU profile over all the moves: its
// busy time per move, its Hearth functions inclusive, and which of them
// prepare or exec SQL. `make wasm-names` builds the worker with Go names.
// BOARD_INP_TRACE_MOVES (40) and BOARD_INP_TRACE_TASKS (5000) change the
// run. Prints; asserts nothing.
import { startServer } from '../harness.mjs';
import { startTrace, cpuProfiles } from './trace.mjs';
import { backlogCard, moveCard, openDevice, printHelpIfAsked, waitForQuietBoard } from './common.mjs';

if (printHelpIfAsked(import.meta.url)) process.exit(0);

const moves = Number(process.env.BOARD_INP_TRACE_MOVES ?? 40);
const tasks = Number(process.env.BOARD_INP_TRACE_TASKS ?? 5000);
const frameMs = 16;
// The page's main-thread events worth a line (nested ones included).
const mainEvents = /^(EventDispatch|HandlePostMessage|FireAnimationFrame|TimerFire|RunMicrotasks|Document::UpdateStyleAndLayout|UpdateLayoutTree|Layout|PrePaint|Paint|Commit|MinorGC|MajorGC)$/;

const server = await startServer(['-seed-tasks', String(tasks)]);
const { context, page, close } = await openDevice('hearth-board-inp-trace-');
try {
  // Traced from the start: the CPU profiler samples only the threads it
  // saw start (the worker among them).
  const stop = await startTrace(context, page, ['__metadata', 'v8', 'disabled-by-default-v8.cpu_profiler', 'blink.user_timing',
    'devtools.timeline', 'disabled-by-default-devtools.timeline', 'toplevel', 'blink', 'cc', 'viz']);
  await page.goto(new URL('board/', server.url).href);
  await page.waitForFunction(() => window.boardMilestones?.['tasks-live'] > 0, null, { timeout: 180000 });
  await waitForQuietBoard(page);
  const id = await backlogCard(page);
  const movesFrom = await page.evaluate(() => {
    window.inpTraceEntries = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        if (e.name === 'keydown' && e.interactionId > 0) {
          window.inpTraceEntries.push({ start: e.startTime, duration: e.duration, processingStart: e.processingStart, processingEnd: e.processingEnd });
        }
      }
    }).observe({ type: 'event', durationThreshold: 16 });
    return performance.now();
  });
  for (let i = 0; i < moves; i++) {
    await moveCard(page, id, i);
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  }
  await page.waitForTimeout(300);
  // A mark at a known performance.now() lines the page's clock up with the trace's.
  const [markNow, entries] = await page.evaluate(() => {
    const now = performance.now();
    performance.mark('inp-trace:clock');
    return [now, window.inpTraceEntries];
  });
  const events = await stop();
  const markTs = events.filter((e) => e.name === 'inp-trace:clock').at(-1)?.ts;
  if (markTs === undefined) throw new Error('the clock mark is not in the trace');
  const ts = (pageMs) => markTs + (pageMs - markNow) * 1000;
  const dispatch = events.find((e) => e.name === 'EventDispatch' && e.args?.data?.type === 'keydown');
  const onMain = (e) => e.pid === dispatch.pid && e.tid === dispatch.tid;
  const threadNames = new Map(events.filter((e) => e.name === 'thread_name').map((e) => [`${e.pid}:${e.tid}`, e.args?.name]));
  const complete = events.filter((e) => e.ph === 'X' && (e.dur ?? 0) > 0);

  const slow = entries.filter((x) => x.duration > frameMs);
  console.log(`${moves} moves, ${tasks} tasks: ${slow.length} over ${frameMs} ms (Event Timing rounds durations to 8 ms)`);
  let workerBusy = 0;
  for (const x of slow) {
    const from = ts(x.start), to = ts(x.start + x.duration);
    console.log(`\nmove at ${(x.start - movesFrom).toFixed(0)} ms: ${x.duration} ms = input delay ${(x.processingStart - x.start).toFixed(1)}`
      + ` + handlers ${(x.processingEnd - x.processingStart).toFixed(1)} + to paint ${(x.start + x.duration - x.processingEnd).toFixed(1)}`);
    for (const e of complete) {
      if (onMain(e) && e.ts >= from && e.ts <= to && e.dur > 700 && mainEvents.test(e.name)) {
        console.log(`  main    +${((e.ts - from) / 1000).toFixed(1).padStart(5)}  ${e.name} ${(e.dur / 1000).toFixed(1)} ms${e.args?.data?.type ? ` (${e.args.data.type})` : ''}`);
      }
    }
    // Other threads' tasks over 1.5 ms that overlap the interaction: the
    // outermost of each (a task's nested events are left out).
    const seen = [];
    let busy = false;
    for (const e of complete) {
      if (onMain(e) || e.dur < 1500 || e.ts > to || e.ts + e.dur < from) continue;
      if (seen.some((s) => s.pid === e.pid && s.tid === e.tid && e.ts >= s.ts && e.ts + e.dur <= s.ts + s.dur)) continue;
      seen.push(e);
      const thread = threadNames.get(`${e.pid}:${e.tid}`) ?? `thread ${e.tid}`;
      if (/DedicatedWorker/.test(thread)) busy = true;
      console.log(`  ${thread.slice(0, 26).padEnd(26)} +${((e.ts - from) / 1000).toFixed(1).padStart(5)}  ${e.name} ${(e.dur / 1000).toFixed(1)} ms`);
    }
    if (busy) workerBusy++;
  }
  console.log(`\nthe Hearth worker ran a task of over 1.5 ms during ${workerBusy} of the ${slow.length} slow moves`);

  // The worker's CPU profile over the moves.
  const fromTs = ts(movesFrom);
  for (const t of cpuProfiles(events, { timeline: true })) {
    const self = new Map(), incl = new Map(), sql = new Map();
    let total = 0, idle = 0;
    for (let i = 0; i + 1 < t.samples.length; i++) {
      const s = t.samples[i];
      if (s.ts < fromTs) continue;
      const dt = (t.samples[i + 1].ts - s.ts) / 1000;
      total += dt;
      const top = s.stack[0] ?? '(idle)';
      if (top === '(idle)') idle += dt;
      self.set(top, (self.get(top) ?? 0) + dt);
      for (const fn of new Set(s.stack)) incl.set(fn, (incl.get(fn) ?? 0) + dt);
      // SQL compiled (prepare) or run as text (exec: its own prepares, and
      // a COMMIT's I/O), by the Hearth function that asked.
      const at = s.stack.findIndex((f) => /Xsqlite3_prepare_v3$|Xsqlite3_exec$/.test(f));
      if (at >= 0) {
        const by = s.stack.slice(at + 1).filter((f) => /hearth/.test(f)).slice(0, 2).map(short).join(' < ');
        const k = `${s.stack[at].endsWith('exec') ? 'exec' : 'prepare'} by ${by}`;
        sql.set(k, (sql.get(k) ?? 0) + dt);
      }
    }
    if (!incl.has([...incl.keys()].find((f) => /hearth_wasm_engine/.test(f)))) continue; // not the worker
    const busy = total - idle;
    console.log(`\nthe Hearth worker over the moves: ${busy.toFixed(0)} ms busy of ${total.toFixed(0)} sampled, ${(busy / moves).toFixed(1)} ms a move (under the profiler)`);
    const top = (m, n, keep = () => true) => [...m].filter(([k]) => keep(k)).sort((a, b) => b[1] - a[1]).slice(0, n);
    console.log('  self time:');
    for (const [fn, ms] of top(self, 12, (k) => k !== '(idle)')) console.log(`    ${ms.toFixed(1).padStart(7)} ms  ${short(fn)}`);
    console.log('  Hearth functions, inclusive:');
    for (const [fn, ms] of top(incl, 30, (k) => /hearth/.test(k))) console.log(`    ${ms.toFixed(1).padStart(7)} ms  ${short(fn)}`);
    console.log('  SQL prepared or exec\'d, by caller:');
    for (const [k, ms] of top(sql, 15)) console.log(`    ${ms.toFixed(1).padStart(7)} ms  ${k}`);
  }
} finally {
  await close();
  await server.stop();
}

function short(fn) {
  return fn.replace(/^github[._]com_hearthdb_hearth_/, '').replace(/^github[._]com_ncruces_/, '');
}
