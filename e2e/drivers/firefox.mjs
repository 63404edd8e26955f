// Firefox driver: Debian's firefox-esr over WebDriver BiDi (native in
// Firefox) through puppeteer-core, headless, on a profile directory.
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import puppeteer from 'puppeteer-core';
import { killTree } from './process.mjs';

export function firefoxPath() {
  if (process.env.FIREFOX) return process.env.FIREFOX;
  // The real binary, not Debian's wrapper script, so that a kill reaches
  // the browser process itself.
  if (existsSync('/usr/lib/firefox-esr/firefox-esr')) return '/usr/lib/firefox-esr/firefox-esr';
  try {
    return execFileSync('which', ['firefox-esr'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('firefox-esr not found: install Debian\'s firefox-esr package');
  }
}

// Every request that is not for loopback goes to a closed loopback port
// (Firefox never proxies localhost): tests cannot reach the network.
const loopbackOnlyPrefs = {
  'network.proxy.type': 1,
  'network.proxy.http': '127.0.0.1',
  'network.proxy.http_port': 9,
  'network.proxy.ssl': '127.0.0.1',
  'network.proxy.ssl_port': 9,
  'network.proxy.no_proxies_on': '127.0.0.1,localhost',
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  'app.update.enabled': false,
  'browser.safebrowsing.update.enabled': false,
  'extensions.update.enabled': false,
};

// Firefox reports a WebSocket that fails to connect, or that a page
// load cuts, as an error of the page (nsIScriptError), which Playwright
// passes on as a page error; Chromium only logs them. The sync client
// handles both (it reconnects with backoff), so they are not the page's
// uncaught exceptions that the scenarios assert there are none of. Seen
// once in a make test run when a worker restarted as it connected.
const firefoxSocketReport = /^Firefox can’t establish a connection to the server at wss?:|^The connection to wss?:.* was interrupted while the page was loading\.$/;

function wrapPage(page) {
  const errors = [];
  page.on('pageerror', (err) => {
    if (!firefoxSocketReport.test(err.message)) errors.push(err);
  });
  return {
    raw: page,
    errors,
    goto: (url) => page.goto(url),
    evaluate: (fn, arg) => page.evaluate(fn, arg),
    reload: () => page.reload(),
    close: () => page.close(),
  };
}

// With quotaLimited, the whole temporary storage is capped at 50 MiB; an
// origin's group then gets Firefox's floor, 10 MiB, enforced on OPFS and
// IndexedDB writes alike. Firefox reads the cap at start-up only, so a
// test asks for it at launch rather than mid-run as with Chromium's CDP.
const limitedStorageKiB = 50 * 1024;

/**
 * Launches Firefox on profile. throwaway: private browsing for every
 * window (Firefox's ephemeral mode). quotaLimited: see limitedStorageKiB.
 */
async function launch({ profile, throwaway = false, quotaLimited = false } = {}) {
  const prefs = { ...loopbackOnlyPrefs };
  if (throwaway) prefs['browser.privatebrowsing.autostart'] = true;
  // Always set: Firefox saves prefs in the profile, so a relaunch without
  // the cap must reset it (-1: no fixed limit) explicitly.
  prefs['dom.quotaManager.temporaryStorage.fixedLimit'] = quotaLimited ? limitedStorageKiB : -1;
  // Under the test runner, wasm on the baseline compiler alone (as the
  // Chromium suites run it, e2e/harness.mjs says why); always set, since
  // Firefox keeps prefs in the profile. Benchmarks keep the optimizer.
  prefs['javascript.options.wasm_optimizingjit'] = !process.env.NODE_TEST_CONTEXT;
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: firefoxPath(),
    headless: true,
    userDataDir: profile,
    extraPrefsFirefox: prefs,
    protocolTimeout: 60000,
  });
  const pid = browser.process()?.pid;
  const handle = {
    async newPage(url) {
      const page = wrapPage(await browser.newPage());
      await page.goto(url);
      return page;
    },
    async close() {
      live.delete(handle);
      await browser.close();
    },
    async kill() {
      live.delete(handle);
      killTree(pid);
      await browser.close().catch(() => {});
    },
  };
  live.add(handle);
  return handle;
}

// Browsers not closed yet (a failed test leaves its own behind).
const live = new Set();

export const firefoxDriver = {
  engine: 'firefox',
  backends: ['opfs', 'idb'],
  autoStorage: 'opfs',
  canKillBrowser: true,
  canHideOPFS: false,
  quotaBackends: ['opfs', 'idb'],
  quotaAtLaunch: true,
  launch,
  cleanup: () => Promise.all([...live].map((b) => b.kill())),
};
