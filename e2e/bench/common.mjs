// The browser benchmarks' shared helpers (run.mjs, storage.mjs, engines.mjs,
// live.mjs, sync.mjs, sync-trace.mjs, board.mjs): Chromium flags for cached
// visits, the median, a log with a clock, temporary directories cleaned up
// at exit, a device on a fresh persistent profile, a network with a round
// trip (a delaying proxy), the bench page
// (bench/bench.html on the staged web root, serve.mjs), and a monitor of
// Chromium's processes. Scripts import this; it imports no script.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromiumArgs, launchPersistent, loopbackOnly } from '../harness.mjs';

// Network traffic stays on 127.0.0.1. Playwright's request interception
// (harness.mjs loopbackOnly) would disable the HTTP cache, which this
// benchmark measures, so name resolution and proxying are pinned instead:
// every host but 127.0.0.1 fails to resolve, and anything else goes to a
// dead loopback proxy (loopback itself is never proxied).
export const benchArgs = [
  ...chromiumArgs,
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
  '--proxy-server=http://127.0.0.1:9',
];

/** When this bench process started: log's clock. */
export const started = Date.now();

/** Progress to stderr, stamped with the seconds since the process started (stdout has the tables). */
export const log = (...a) => console.error(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s]`, ...a);

// --- small statistics ------------------------------------------------------

export const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// --- browser plumbing --------------------------------------------------------

const cleanups = [];

/** Registers fn to run at cleanup(), last registered first. */
export function onCleanup(fn) {
  cleanups.push(fn);
}

/** Runs and forgets every registered cleanup (best effort: one failing does not stop the rest). */
export async function cleanup() {
  for (const fn of cleanups.splice(0).reverse()) {
    try { await fn(); } catch { /* best effort */ }
  }
}

/** A new temporary directory, removed at cleanup(). */
export function tempDir(prefix) {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  onCleanup(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

/**
 * A device: Chromium on a fresh persistent profile (a first visit), its
 * traffic kept to 127.0.0.1; the profile is removed at cleanup(). As a
 * user's browser is: a Playwright newContext() is an incognito profile,
 * whose OPFS is kept in the browser process's memory (~0.6 ms a sync
 * access handle call against ~0.005 ms on disk).
 */
export async function freshDevice(prefix) {
  const { context, close } = await openDevice(prefix);
  onCleanup(close);
  return context;
}

/**
 * A device as freshDevice's and its first page, for a script that ends it
 * itself: close() closes it and removes its profile.
 */
export async function openDevice(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const context = await launchPersistent(dir);
  const close = async () => {
    await context.close();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await loopbackOnly(context);
  } catch (err) {
    await close();
    throw err;
  }
  return { context, page: context.pages()[0] ?? await context.newPage(), close };
}

/**
 * A network with a round trip of rttMs in front of the server at target
 * (an http:// URL on 127.0.0.1): a TCP proxy on 127.0.0.1 that delivers
 * every piece of data rttMs / 2 after it came, in order, both ways, with
 * no bandwidth limit. Resolves with the proxy's URL; closed at cleanup().
 * Loopback answers in microseconds, which hides what each round trip
 * costs a user (a WebSocket's TCP and upgrade handshakes, a hello).
 */
export async function delayedNetwork(target, rttMs) {
  const { hostname, port } = new URL(target);
  const half = rttMs / 2;
  const sockets = new Set();
  const track = (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); return s; };
  const relay = (from, to) => {
    from.on('data', (buf) => setTimeout(() => to.write(buf), half));
    from.on('end', () => setTimeout(() => to.end(), half));
    from.on('error', () => to.destroy());
  };
  const proxy = net.createServer((client) => {
    const upstream = track(net.connect(Number(port), hostname));
    track(client);
    relay(client, upstream);
    relay(upstream, client);
  });
  await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  onCleanup(() => new Promise((resolve) => {
    for (const s of sockets) s.destroy();
    proxy.close(() => resolve(undefined));
  }));
  return `http://127.0.0.1:${proxy.address().port}/`;
}

/**
 * With --help (or -h) on the command line, prints the script's leading
 * comment (its usage) and returns true: the script then stops, having
 * loaded every module it imports (a cheap check that they still resolve).
 */
export function printHelpIfAsked(scriptURL) {
  if (!process.argv.includes('--help') && !process.argv.includes('-h')) return false;
  const text = fs.readFileSync(new URL(scriptURL), 'utf8');
  const header = text.match(/^(?:\/\/.*\n)+/)?.[0] ?? '';
  console.log(header.replace(/^\/\/ ?/gm, '').trimEnd());
  return true;
}

/**
 * Runs a bench script's main: stderr gets the failure and the exit code is
 * 1, and the cleanups run either way. --help: see printHelpIfAsked.
 */
export async function runBench(scriptURL, main) {
  if (printHelpIfAsked(scriptURL)) return;
  try {
    await main();
  } catch (err) {
    console.error(`${path.basename(new URL(scriptURL).pathname)} failed: ${err.stack ?? err}`);
    process.exitCode = 1;
  } finally {
    await cleanup();
  }
}

/** Launches Chromium on profileDir, opens the bench page; resolves with {context, page, errors}. */
export async function openBench(profileDir, url, { args = benchArgs } = {}) {
  const context = await launchPersistent(profileDir, { args });
  const page = context.pages()[0] ?? await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    // Failed loads are reported below with their URL (the favicon may 404).
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) errors.push(`console: ${msg.text()}`);
  });
  page.on('response', (res) => {
    if (res.status() >= 400 && !res.url().endsWith('/favicon.ico')) errors.push(`HTTP ${res.status()} for ${res.url()}`);
  });
  await gotoBench(page, url);
  return { context, page, errors };
}

export async function gotoBench(page, url) {
  await page.goto(new URL('bench/bench.html', url).href);
  await page.waitForFunction(() => window.benchReady === true, null, { timeout: 30000 });
}

/**
 * Renderer processes seen through CDP (SystemInfo.getProcessInfo, browser
 * target): CPU time, to wait until Chromium is idle before timing anything,
 * and private memory from /proc/<pid>/smaps_rollup.
 */
export class Monitor {
  static async open(context) {
    const m = new Monitor();
    m.cdp = await context.browser().newBrowserCDPSession();
    return m;
  }

  async processes() {
    const { processInfo } = await this.cdp.send('SystemInfo.getProcessInfo');
    return processInfo;
  }

  /** Sum of CPU seconds of every Chromium process. */
  async cpuTime() {
    return (await this.processes()).reduce((a, p) => a + p.cpuTime, 0);
  }

  /**
   * Waits until Chromium used < 5 % of one core over 300 ms (background
   * compilation of a previous worker, browser start-up), at most maxMs.
   * Resolves with the time waited.
   */
  async quiesce(maxMs = 8000) {
    const t0 = Date.now();
    let prev = await this.cpuTime();
    for (;;) {
      await new Promise((r) => setTimeout(r, 300));
      const now = await this.cpuTime();
      if (now - prev < 0.015 || Date.now() - t0 > maxMs) return Date.now() - t0;
      prev = now;
    }
  }

  /** {pid: private bytes} for every renderer. */
  async rendererPrivate() {
    const out = {};
    for (const p of await this.processes()) {
      if (p.type !== 'renderer') continue;
      try {
        const text = fs.readFileSync(`/proc/${p.id}/smaps_rollup`, 'utf8');
        const kb = (k) => Number(text.match(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm'))?.[1] ?? 0);
        out[p.id] = (kb('Private_Clean') + kb('Private_Dirty')) * 1024;
      } catch { /* process gone */ }
    }
    return out;
  }

  /** Samples renderer private memory every 100 ms until stop(); stop() → peak {pid: bytes}. */
  sample() {
    const peak = {};
    let running = true;
    const loop = (async () => {
      while (running) {
        const snap = await this.rendererPrivate().catch(() => ({}));
        for (const [pid, b] of Object.entries(snap)) peak[pid] = Math.max(peak[pid] ?? 0, b);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    return async () => { running = false; await loop; return peak; };
  }

  close() { return this.cdp.detach().catch(() => {}); }
}

// --- the task board --------------------------------------------------------

/** The id of the board's first backlog card: the one the scripts move. */
export function backlogCard(page) {
  return page.locator('.column[data-status="backlog"] .card').first().getAttribute('id');
}

/**
 * Move n of card id there and back with the keyboard (as a person would,
 * trusted input): even n Alt+→ to doing, odd n Alt+← to backlog; resolves
 * once the page shows the card in that column.
 */
export async function moveCard(page, id, n) {
  const [key, column] = n % 2 === 0 ? ['Alt+ArrowRight', 'doing'] : ['Alt+ArrowLeft', 'backlog'];
  await page.locator(`[id="${id}"]`).focus();
  await page.keyboard.press(key);
  await page.waitForFunction(([i, c]) => document.getElementById(i)?.closest('.column')?.dataset.status === c, [id, column]);
}

/**
 * Waits until the task board has received everything and is quiet: the
 * worker synced (a head, reached, no initial sync), the board's own bar
 * no longer shows the first sync, and no render of the whole board for a
 * second (the page works off the initial sync's live results for a while
 * after the worker is done). Moves measured before that measure the
 * initial sync. Bounded by timeoutMs.
 */
export async function waitForQuietBoard(page, timeoutMs = 180000) {
  await page.waitForFunction(async () => {
    const s = await globalThis.hearthSyncStatus?.();
    return s && s.connected && !s.initialSync.active && s.head > 0 && s.cursor >= s.head;
  }, null, { timeout: timeoutMs, polling: 200 });
  await page.waitForFunction(() => {
    if (document.getElementById('sync-initial')) return false;
    const m = window.boardMilestones;
    const n = m.renders ?? 0;
    if (m.quietRenders !== n) {
      m.quietRenders = n;
      m.quietSince = performance.now();
      return false;
    }
    return performance.now() - m.quietSince >= 1000;
  }, null, { timeout: timeoutMs, polling: 100 });
}
