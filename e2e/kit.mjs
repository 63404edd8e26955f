// Conformance kit: Playwright helpers for testing an app built on Hearth.
// The board's suites use them; adopters can run the same scenarios against
// their own app (see e2e/README.md).

/**
 * Makes the Hearth worker look like Safari without OPFS sync access handles:
 * the worker's storage module (hearth-storage.js, imported before any
 * storage is touched) is served with FileSystemSyncAccessHandle removed.
 * The worker's own script is left alone: a dedicated worker whose main
 * script Playwright fulfilled opened no WebSocket in our runs (Chromium
 * under route interception), and sync needs one. Call before the page loads.
 */
export async function hideOPFS(context) {
  await context.route('**/hearth-storage.js*', async (route) => {
    const response = await route.fetch();
    const body = await response.text();
    const hide = 'delete globalThis.FileSystemSyncAccessHandle;' +
      'if (globalThis.FileSystemFileHandle) delete FileSystemFileHandle.prototype.createSyncAccessHandle;\n';
    await route.fulfill({ response, body: hide + body });
  });
}

/** Limits the origin's storage quota (Chromium only, through CDP). */
export async function fillQuota(page, quotaBytes) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Storage.overrideQuotaForOrigin', { origin: new URL(page.url()).origin, quotaSize: quotaBytes });
  return () => cdp.send('Storage.overrideQuotaForOrigin', { origin: new URL(page.url()).origin });
}

/** Kills every process of a persistent-profile Chromium at once (SIGKILL), as a crash would. */
export async function killBrowser(userDataDir) {
  const { execFileSync } = await import('node:child_process');
  try {
    execFileSync('pkill', ['-KILL', '-f', `user-data-dir=${userDataDir}`]);
  } catch {
    // pkill exits 1 when nothing matched: already gone
  }
}

// ---- sync ----
// The sync helpers read the app's sync status through a function the app
// exposes on the page: globalThis.hearthSyncStatus(), resolving to the
// status of its synced database (with hearth.js: () => db.syncStatus();
// with the Go client: DB.SyncStatus). Pass {status: 'otherName'} if yours
// is named differently.

async function statusOf(page, name = 'hearthSyncStatus') {
  // The app defines it as it starts: wait for it rather than fail. Only
  // evaluate is used, so any engine's page driver works (e2e/drivers/).
  const deadline = Date.now() + 30000;
  while (!(await page.evaluate((fn) => typeof globalThis[fn] === 'function', name))) {
    if (Date.now() > deadline) throw new Error(`the page defines no ${name}() after 30 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return page.evaluate((fn) => globalThis[fn](), name);
}

/** The number of local changes the server has not acknowledged yet. */
export async function pendingChanges(page, { status } = {}) {
  return (await statusOf(page, status)).pending;
}

/**
 * Waits until the page's replica is connected, has nothing to push, and has
 * applied everything the server had (cursor at the server's head, no
 * initial sync running). Bounded by timeoutMs; resolves to the status.
 */
export async function waitForSynced(page, { status, timeoutMs = 20000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await statusOf(page, status);
    if (last.connected && last.pending === 0 && !last.initialSync.active && last.cursor >= last.head) return last;
    if (Date.now() > deadline) throw new Error(`not synced after ${timeoutMs} ms: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until the page's sync status satisfies pred (bounded). */
export async function waitForSyncState(page, pred, { status, timeoutMs = 20000, what = 'a sync state' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await statusOf(page, status);
    if (pred(last)) return last;
    if (Date.now() > deadline) throw new Error(`no ${what} after ${timeoutMs} ms: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Takes the browser context offline (Playwright's network emulation; the
 * page's offline event tells Hearth's sync clients, which drop their
 * connection — emulation alone leaves open WebSockets up).
 */
export async function goOffline(context) {
  await context.setOffline(true);
}

/** Brings the context back online; sync resumes at once. */
export async function goOnline(context) {
  await context.setOffline(false);
}

// ---- many tabs ----

/**
 * Closes the tab whose Hearth worker leads (owns) the database: the
 * other tabs' workers forward to it, and closing it hands the database to
 * the next one. Each page answers through globalThis.hearthIsLeader()
 * (with hearth.js: () => db.isLeader(); the worker posts
 * {hearthLeader: {name, leading}} to its page). Pass {isLeader: 'otherName'}
 * if yours is named differently. Waits (bounded) until exactly one page
 * leads, closes it and resolves to the pages left, in order.
 */
export async function killLeaderTab(pages, { isLeader = 'hearthIsLeader', timeoutMs = 20000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const leads = await Promise.all(pages.map((p) => p.evaluate((fn) => globalThis[fn]?.() === true, isLeader)));
    const leaders = pages.filter((_, i) => leads[i]);
    if (leaders.length === 1) {
      await leaders[0].close();
      return pages.filter((p) => p !== leaders[0]);
    }
    if (Date.now() > deadline) throw new Error(`${leaders.length} leading tabs after ${timeoutMs} ms, want 1`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
