// A CPU profile of the task board's main thread over card moves with
// 5,000 synced tasks (issue 15, goal 7): the functions that take the most
// time between the first key and the last move's sync round trip, by self
// time and with their callees. For Go names, build the board without -s -w:
//   GOOS=js GOARCH=wasm go build -trimpath -o examples/board/web/dist/board.wasm ./examples/board
//   go run ./internal/bundle -export boardFile examples/board/web/dist/board.wasm
// Prints; asserts nothing. BOARD_PROFILE_MOVES (20) and BOARD_PROFILE_TASKS (5000) change
// the run.
import path from 'node:path';
import { startServer } from '../harness.mjs';
import { backlogCard, moveCard, openDevice, printHelpIfAsked, waitForQuietBoard } from './common.mjs';

if (printHelpIfAsked(import.meta.url)) process.exit(0);

const tasks = Number(process.env.BOARD_PROFILE_TASKS ?? 5000);
const moves = Number(process.env.BOARD_PROFILE_MOVES ?? 20);
const server = await startServer(['-seed-tasks', String(tasks)]);
const { context, page, close } = await openDevice('hearth-board-profile-');
try {
  await page.goto(new URL('board/', server.url).href);
  await page.waitForFunction(() => window.boardMilestones?.['tasks-live'] > 0, null, { timeout: 180000 });
  await waitForQuietBoard(page);
  const id = await backlogCard(page);
  const cdp = await context.newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  await cdp.send('Profiler.start');
  for (let i = 0; i < moves; i++) {
    await moveCard(page, id, i);
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  }
  // The last move's write, live results and sync round trip.
  await page.waitForFunction(async () => {
    const s = await globalThis.hearthSyncStatus();
    return s.pending === 0 && s.cursor >= s.head;
  }, null, { polling: 50 });
  const { profile } = await cdp.send('Profiler.stop');
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map(); // function → sampled ms (self)
  const total = new Map(); // function → sampled ms with callees (once per sample)
  const dts = profile.timeDeltas;
  profile.samples.forEach((nodeId, i) => {
    const ms = (dts[i + 1] ?? dts[i] ?? 0) / 1000;
    const name = (n) => `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url ? path.basename(n.callFrame.url) : ''}`.trim();
    const leaf = byId.get(nodeId);
    self.set(name(leaf), (self.get(name(leaf)) ?? 0) + ms);
    const seen = new Set();
    for (let id = nodeId; id !== undefined; id = parent.get(id)) {
      const k = name(byId.get(id));
      if (seen.has(k)) continue;
      seen.add(k);
      total.set(k, (total.get(k) ?? 0) + ms);
    }
  });
  const top = (m, n) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([f, ms]) => ({ function: f.slice(0, 90), 'ms per move': +(ms / moves).toFixed(2) }));
  console.log(`tasks ${tasks}, ${moves} moves; sampled main-thread time per move`);
  console.log('by self time:'); console.table(top(self, 25));
  console.log('with callees:'); console.table(top(total, 40));
} finally {
  await close();
  await server.stop();
}
