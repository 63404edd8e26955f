// Chromium driver: Debian's Chromium through playwright-core (the harness's
// launch flags, loopback-only routing and the kit's CDP helpers).
import { launchBrowser, launchPersistent, loopbackOnly } from '../harness.mjs';
import { hideOPFS, fillQuota, killBrowser, goOffline, goOnline } from '../kit.mjs';

function wrapPage(page) {
  const errors = [];
  page.on('pageerror', (err) => errors.push(err));
  return {
    raw: page,
    errors,
    goto: (url) => page.goto(url),
    evaluate: (fn, arg) => page.evaluate(fn, arg),
    reload: () => page.reload(),
    close: () => page.close(),
  };
}

async function launch({ profile, throwaway = false, hide = false } = {}) {
  // Throwaway: a fresh incognito-like context of a non-persistent browser.
  const browser = throwaway ? await launchBrowser() : null;
  const context = throwaway ? await browser.newContext() : await launchPersistent(profile);
  await loopbackOnly(context);
  if (hide) await hideOPFS(context);
  const handle = {
    async newPage(url) {
      const page = wrapPage(await context.newPage());
      await page.goto(url);
      return page;
    },
    async close() {
      live.delete(handle);
      await context.close();
      await browser?.close();
    },
    async kill() {
      live.delete(handle);
      if (profile) await killBrowser(profile);
      await context.close().catch(() => {});
      await browser?.close().catch(() => {});
    },
    limitQuota: (page, bytes) => fillQuota(page.raw, bytes),
  };
  live.add(handle);
  return handle;
}

// Browsers not closed yet (a failed test leaves its own behind).
const live = new Set();

export const chromiumDriver = {
  engine: 'chromium',
  backends: ['opfs', 'idb'],
  autoStorage: 'opfs',
  canKillBrowser: true,
  canHideOPFS: true,
  // Chromium's quota override (CDP) bounds OPFS writes but, on this build,
  // not IndexedDB commits: the IndexedDB quota path is covered natively
  // (sqlitevfs TestQuotaGivesFull).
  quotaBackends: ['opfs'],
  launch,
  // Playwright's network emulation (the page hears offline/online too).
  setOffline: (page, offline) => (offline ? goOffline : goOnline)(page.raw.context()),
  cleanup: () => Promise.all([...live].map((b) => b.kill())),
};
