// Test harness: starts the real `hearth serve` on 127.0.0.1 and Debian's
// Chromium through playwright-core. Every request that is not to the
// loopback server is aborted.
import { spawn, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { before, after } from 'node:test';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Flags that keep a root, headless Chromium quiet on a machine with no network. */
export const chromiumArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--enable-blink-features=ForceEagerMeasureMemory',
];

// Under the test runner (node --test sets NODE_TEST_CONTEXT) wasm runs on
// V8's baseline compiler alone. Optimizing the worker's 17 MB bundle is
// most of the CPU a worker start costs (13 CPU-seconds with it, 7 without,
// for a browser start and one open, measured 2026-12-05), and the suites
// start hundreds of workers on a 2-core machine. Wasm means the same on
// either tier; benchmarks (plain node) keep the whole pipeline.
const testRunnerArgs = process.env.NODE_TEST_CONTEXT ? ['--js-flags=--liftoff-only'] : [];

export function chromiumPath() {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  try {
    return execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('chromium not found: install Debian\'s chromium package (apt-get install chromium)');
  }
}

/**
 * What the test server serves by default: the library at /, the board at
 * /board/ and the blank test page at /e2e/blank.html (`hearth serve -web
 * [prefix=]dir`, repeatable).
 */
export const testWebMounts = [
  path.join(repoRoot, 'web'),
  `/board/=${path.join(repoRoot, 'examples', 'board', 'web')}`,
  `/e2e/=${path.join(repoRoot, 'e2e', 'pages')}`,
];

/**
 * Starts `hearth serve` on a free loopback port; resolves with {url, proc,
 * stop}. extraArgs go to hearth serve; web replaces the mounts (the
 * benchmarks serve a staged copy of web/ with their pages and anchors);
 * startMs bounds the wait for its URL (a large -seed-tasks is seeded
 * first: 100,000 tasks take about 2 minutes).
 */
export async function startServer(extraArgs = [], { web = testWebMounts, startMs = 20000 } = {}) {
  const bin = path.join(repoRoot, 'bin', 'hearth');
  const mounts = web.flatMap((mount) => ['-web', mount]);
  // A fresh store in memory for every server, unless the test names one:
  // the demo board's default store is a file in the user's cache
  // directory, which would carry data from run to run.
  const store = extraArgs.includes('-config') || extraArgs.includes('-store') ? [] : ['-store', ''];
  const proc = spawn(bin, ['serve', '-addr', '127.0.0.1:0', ...mounts, ...store, ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  const lines = createInterface({ input: proc.stdout });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hearth serve printed no URL in ${startMs / 1000} s; stderr:\n${stderr}`)), startMs);
    lines.on('line', (line) => {
      const m = line.match(/(http:\/\/127\.0\.0\.1:\d+\/)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    proc.on('error', (err) => { clearTimeout(timer); reject(err); });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`hearth serve exited with ${code}; stderr:\n${stderr}`)); });
  });
  return {
    url,
    proc,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      await once(proc, 'exit');
    },
  };
}

/** Launches headless Chromium (a throwaway profile). */
export function launchBrowser(options = {}) {
  return chromium.launch({ executablePath: chromiumPath(), args: [...chromiumArgs, ...testRunnerArgs], headless: true, ...options });
}

/** The app schema the test server serves (`hearth schema`): {migrations, tables}. */
export function appSchema() {
  return JSON.parse(execFileSync(path.join(repoRoot, 'bin', 'hearth'), ['schema'], { encoding: 'utf8' }));
}

/**
 * A suite's `hearth serve` seeded with `tasks` tasks, a Chromium and the
 * app's schema, started before its tests and stopped after them (node:test
 * hooks, registered where this is called): read them off the returned
 * object inside the tests.
 * @param {number} tasks
 * @returns {{ server: Awaited<ReturnType<typeof startServer>>, browser: import('playwright-core').Browser, schema: any }}
 */
export function seededServerAndBrowser(tasks) {
  const fixture = /** @type {any} */ ({});
  before(async () => {
    fixture.server = await startServer(['-seed-tasks', String(tasks)]);
    fixture.browser = await launchBrowser();
    fixture.schema = appSchema();
  });
  after(async () => {
    await fixture.browser?.close();
    await fixture.server?.stop();
  });
  return fixture;
}

/** Launches Chromium on a persistent profile directory (real on-disk OPFS and IndexedDB). */
export function launchPersistent(userDataDir, options = {}) {
  return chromium.launchPersistentContext(userDataDir, { executablePath: chromiumPath(), args: [...chromiumArgs, ...testRunnerArgs], headless: true, ...options });
}

/** Aborts every request that does not go to the loopback server. */
export async function loopbackOnly(context) {
  await context.route('**/*', (route) => {
    const u = new URL(route.request().url());
    if (u.hostname === '127.0.0.1' || u.protocol === 'data:' || u.protocol === 'blob:') return route.continue();
    return route.abort();
  });
}

/**
 * Opens the server's blank test page (/e2e/blank.html) with the library
 * imported as window.hearth. opener is a Playwright BrowserContext (the
 * Chromium suites: resolves to a Playwright Page, its uncaught page errors
 * in page.hearthErrors) or an engine driver's browser (e2e/drivers/, for
 * the shared scenarios: resolves to the driver's page).
 */
export async function hearthPage(opener, serverURL) {
  const blank = new URL('e2e/blank.html', serverURL).href;
  let page;
  if (typeof opener.route === 'function') {
    page = await opener.newPage();
    const errors = [];
    page.on('pageerror', (err) => errors.push(err));
    page.hearthErrors = errors;
    await page.goto(blank);
  } else {
    page = await opener.newPage(blank);
  }
  await importHearth(page);
  return page;
}

/** Imports the library into a page as window.hearth; /hearth.js is absolute because test pages are not beside it. */
export function importHearth(page) {
  return page.evaluate(async () => { window.hearth = await import('/hearth.js'); });
}

// ---- the test clock ----
//
// Tests must not depend on the date or the time zone they run at, and
// `make test-clock` proves it by moving both:
// HEARTH_E2E_CLOCK_SHIFT (+1y, -1y, +10d, …) moves the browser's date;
// TZ is the time zone of the server (inherited) and of the browser
// (timezoneId). The server's Go clock cannot be faked (Go reads it
// without libc, so libfaketime does not reach it), so it gets the date
// its seed is laid out around instead (-seed-today); its own clock (token
// expiry, sync) stays real, like a server's whose clients' clocks are off.
// Playwright's clock reaches the page only: the Hearth worker and the
// service worker keep the real time.

/** The shift of HEARTH_E2E_CLOCK_SHIFT: {years, days}, or null when unset. */
function clockShift() {
  const spec = process.env.HEARTH_E2E_CLOCK_SHIFT;
  if (!spec) return null;
  const m = spec.match(/^([+-]\d+)([yd])$/);
  if (!m) throw new Error(`HEARTH_E2E_CLOCK_SHIFT=${spec}: want e.g. +1y, -1y or +10d`);
  return m[2] === 'y' ? { years: Number(m[1]), days: 0 } : { years: 0, days: Number(m[1]) };
}

/** The test clock's time now: the real time moved by HEARTH_E2E_CLOCK_SHIFT. */
export function testClockNow() {
  const now = new Date();
  const shift = clockShift();
  if (shift) {
    now.setFullYear(now.getFullYear() + shift.years);
    now.setDate(now.getDate() + shift.days);
  }
  return now;
}

/** `hearth serve` flags for the test clock: the seed's today on it, in TZ. */
export function testClockServerArgs() {
  if (!clockShift()) return [];
  const d = testClockNow(); // Node's local date is TZ's, like the server's
  const pad = (n) => String(n).padStart(2, '0');
  return ['-seed-today', `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`];
}

/** Browser context options for the test clock: TZ's time zone. */
export function testClockContextOptions() {
  return process.env.TZ ? { timezoneId: process.env.TZ } : {};
}

/**
 * Puts a context's pages on the test clock, before they load. Only when
 * the clock is shifted: Playwright's clock fakes the timers too (they keep
 * running in real time), which an unshifted run does not need.
 */
export async function installTestClock(context) {
  if (clockShift()) await context.clock.install({ time: testClockNow() });
}
