// WebKit driver: Debian's WebKitWebDriver (WebKitGTK) over classic
// WebDriver, plain HTTP through fetch, under a private Xvfb display (WebKitGTK
// has no headless mode).
//
// Two browsers:
// - persistent profiles: webkit-browser.py (WebKit's GObject API), which
//   keeps its data store on disk in the profile directory;
// - throwaway: Debian's MiniBrowser, whose automation data store is
//   ephemeral (like Safari's private browsing).
// Both get WebKit's storage features (navigator.storage, OPFS, sync access
// handles) turned on, as Safari ships them.
import { spawn, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { killTree, freePort, descendants, waitForExit } from './process.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const features = '--features=+StorageAPI,+StorageAPIEstimate,+FileSystem,+FileSystemWritableStream,+AccessHandle';
const commandTimeoutMs = 60000;
// The origin quota of a quotaLimited launch (WebKit sets it per data
// store, at start-up only).
const limitedOriginBytes = 10 * 1024 * 1024;

function miniBrowserPath() {
  if (process.env.WEBKIT_MINIBROWSER) return process.env.WEBKIT_MINIBROWSER;
  try {
    const files = execFileSync('dpkg', ['-L', 'libwebkit2gtk-4.1-0'], { encoding: 'utf8' }).split('\n');
    const found = files.find((f) => f.endsWith('/MiniBrowser'));
    if (found) return found;
  } catch {
    // not installed: fall through to the error below
  }
  throw new Error('MiniBrowser not found: install Debian\'s libwebkit2gtk-4.1-0 (with webkit2gtk-driver)');
}

export function webkitAvailable() {
  try {
    execFileSync('which', ['WebKitWebDriver', 'Xvfb'], { stdio: 'ignore' });
    return existsSync('/usr/bin/python3') && Boolean(miniBrowserPath());
  } catch {
    return false;
  }
}

// ---- Xvfb: one private display for the whole test file ----

let display = null;

async function startDisplay() {
  if (display) return display;
  // -displayfd: Xvfb picks a free display number and writes it to fd 3, so
  // parallel runs by other users on the machine never collide.
  const proc = spawn('Xvfb', ['-displayfd', '3', '-nolisten', 'tcp', '-screen', '0', '1280x1024x24'], {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  const number = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`Xvfb gave no display in 20 s: ${stderr}`)), 20000);
    proc.stdio[3].on('data', (d) => {
      out += d;
      if (out.includes('\n')) { clearTimeout(timer); resolve(out.trim()); }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`Xvfb exited with ${code}: ${stderr}`)); });
  });
  proc.unref();
  proc.stderr.unref?.();
  proc.stdio[3].unref?.();
  display = { name: `:${number}`, proc };
  return display;
}

/** Stops the Xvfb display this process started (call once, after the suite). */
export async function stopDisplay() {
  if (!display) return;
  const { proc } = display;
  display = null;
  if (proc.exitCode === null) {
    // Referenced again: node must stay up until the display is gone.
    proc.ref();
    const exited = once(proc, 'exit');
    proc.kill('SIGTERM');
    await exited;
  }
}

// ---- WebDriver over HTTP ----

// Browsers not closed yet: a failed test leaves its browser behind, and
// cleanup must not leave a driver running (it would keep node alive).
const live = new Set();

async function closeAll() {
  await Promise.all([...live].map((b) => b.kill()));
  await stopDisplay();
}

async function command(base, method, route, body, timeoutMs = commandTimeoutMs) {
  let res;
  try {
    res = await fetch(base + route, {
      method,
      headers: body ? { 'content-type': 'application/json' } : undefined,
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    if (err?.name !== 'TimeoutError') throw err;
    // Name the command that hung: "The operation was aborted" alone
    // does not say which.
    const e = new Error(`WebDriver ${method} ${route}: no answer in ${timeoutMs / 1000} s`);
    e.webdriverError = 'timeout';
    throw e;
  }
  const json = await res.json().catch(() => ({}));
  if (!res.ok || json.value?.error) {
    const v = json.value ?? {};
    const err = new Error(`WebDriver ${method} ${route}: ${v.error ?? res.status}: ${v.message ?? ''}`);
    err.webdriverError = v.error;
    throw err;
  }
  return json.value;
}

async function waitForDriver(base, proc, stderr) {
  const deadline = Date.now() + 20000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`WebKitWebDriver exited with ${proc.exitCode}: ${stderr()}`);
    try {
      const status = await command(base, 'GET', '/status');
      if (status.ready !== false) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`WebKitWebDriver not ready in 20 s: ${stderr()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// The page function runs as the body of the WebDriver script; a returned
// promise is awaited by the driver. A rejection is returned as a value so
// that its message survives the trip.
function scriptFor(fn) {
  return `return Promise.resolve().then(() => (${fn})(arguments[0])).then(
    (value) => ({ ok: value === undefined ? null : value }),
    (err) => ({ error: String(err && err.stack || err) }));`;
}

class WebKitPage {
  constructor(browser, handle) {
    this.browser = browser;
    this.handle = handle;
    this.errors = [];
  }

  async #focus() {
    if (this.browser.current !== this.handle) {
      await this.browser.cmd('POST', '/window', { handle: this.handle });
      this.browser.current = this.handle;
    }
  }

  async goto(url) {
    await this.#focus();
    await this.browser.cmd('POST', '/url', { url });
  }

  async evaluate(fn, arg = null) {
    await this.#focus();
    const r = await this.browser.cmd('POST', '/execute/sync', { script: scriptFor(fn), args: [arg] });
    if (r?.error) throw new Error(`in the page: ${r.error}`);
    return r?.ok;
  }

  async reload() {
    await this.#focus();
    await this.browser.cmd('POST', '/refresh', {});
  }

  async close() {
    // Closing the last window ends a WebDriver session: keep a blank tab
    // for the next page, as a browser keeps running with no page open.
    if (this.browser.pages.size === 1 && !this.browser.spare) {
      ({ handle: this.browser.spare } = await this.browser.cmd('POST', '/window/new', { type: 'tab' }));
    }
    await this.#focus();
    await this.browser.cmd('DELETE', '/window');
    this.browser.current = null;
    this.browser.pages.delete(this);
  }
}

class WebKitBrowser {
  constructor(proc, base, sessionId) {
    this.proc = proc;
    this.base = base;
    this.sessionId = sessionId;
    this.current = null;
    this.pages = new Set();
    this.spare = null; // a window no page uses yet
  }

  cmd(method, route, body) {
    return command(this.base, method, `/session/${this.sessionId}${route}`, body);
  }

  async newPage(url) {
    let handle = this.spare;
    this.spare = null;
    if (!handle) ({ handle } = await this.cmd('POST', '/window/new', { type: 'tab' }));
    const page = new WebKitPage(this, handle);
    this.pages.add(page);
    await page.goto(url);
    return page;
  }

  async close() {
    live.delete(this);
    await this.cmd('DELETE', '').catch(() => {});
    await this.#stopDriver();
  }

  /** SIGKILLs the browser and its web and network processes, as a crash would. */
  async kill() {
    live.delete(this);
    const procs = [this.proc.pid, ...descendants(this.proc.pid)];
    const exited = this.proc.exitCode === null ? once(this.proc, 'exit') : null;
    killTree(this.proc.pid);
    await exited;
    await waitForExit(procs);
  }

  async #stopDriver() {
    if (this.proc.exitCode !== null) return;
    // The driver quits its browser on SIGTERM; the browser's processes
    // (its network process writes the profile) must be gone before the
    // profile is reused or removed.
    const browserProcs = descendants(this.proc.pid);
    const exited = once(this.proc, 'exit');
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => killTree(this.proc.pid), 5000);
    await exited;
    clearTimeout(timer);
    await waitForExit(browserProcs);
  }
}

/**
 * Starts WebKitWebDriver and a session. With profile: webkit-browser.py on
 * that directory (data persists); with throwaway: MiniBrowser's ephemeral
 * automation store.
 */
// A new session's browser that has not answered in this long is taken
// for hung: its launch is retried once (launch).
const sessionStartMs = 30000;

async function launch(options = {}) {
  try {
    return await launchOnce(options);
  } catch (err) {
    if (err.webdriverError !== 'timeout') throw err;
    // WebKitGTK's browser process now and then never answers a new
    // session on the loaded 2-core machine (once in a fresh clone's
    // make test, 2026-12-07); a second launch has always come up.
    process.stderr.write(`webkit driver: ${err.message}; launching once more\n`);
    return launchOnce(options);
  }
}

async function launchOnce({ profile, throwaway = false, quotaLimited = false } = {}) {
  const { name } = await startDisplay();
  const port = await freePort();
  const proc = spawn('WebKitWebDriver', [`--port=${port}`, '--host=127.0.0.1'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, DISPLAY: name, GDK_BACKEND: 'x11', WEBKIT_DISABLE_COMPOSITING_MODE: '1' },
  });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitForDriver(base, proc, () => stderr);
    const browserOptions = throwaway
      ? { binary: miniBrowserPath(), args: ['--automation', features] }
      : { binary: path.join(here, 'webkit-browser.py'), args: [`--profile=${profile}`, features, '--loopback-only'] };
    if (quotaLimited) browserOptions.args.push(`--origin-quota-bytes=${limitedOriginBytes}`);
    const capabilities = { 'webkitgtk:browserOptions': browserOptions };
    if (throwaway) {
      // MiniBrowser takes the WebDriver proxy capability: everything but
      // loopback goes to a closed port.
      capabilities.proxy = { proxyType: 'manual', httpProxy: '127.0.0.1:9', sslProxy: '127.0.0.1:9', noProxy: ['127.0.0.1', 'localhost'] };
    }
    const { sessionId } = await command(base, 'POST', '/session', { capabilities: { alwaysMatch: capabilities } }, sessionStartMs);
    const browser = new WebKitBrowser(proc, base, sessionId);
    browser.spare = await browser.cmd('GET', '/window');
    live.add(browser);
    await browser.cmd('POST', '/timeouts', { script: commandTimeoutMs - 5000, pageLoad: 30000 });
    return browser;
  } catch (err) {
    killTree(proc.pid);
    throw err;
  }
}

export const webkitDriver = {
  engine: 'webkit',
  // WebKit creates OPFS files but refuses sync access handles in a
  // persistent data store: Hearth must run on IndexedDB, as in Safari.
  backends: ['idb'],
  autoStorage: 'idb',
  canKillBrowser: true,
  canHideOPFS: false,
  quotaBackends: ['idb'],
  quotaAtLaunch: true,
  launch,
  cleanup: closeAll,
};
