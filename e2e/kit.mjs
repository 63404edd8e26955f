// Conformance kit: Playwright helpers for testing an app built on Hearth.
// The board's suites use them; adopters can run the same scenarios against
// their own app (see e2e/README.md).

/**
 * Makes the Hearth worker look like Safari without OPFS sync access handles:
 * the worker script is served with FileSystemSyncAccessHandle removed before
 * anything else runs. Call before the page loads.
 */
export async function hideOPFS(context) {
  await context.route('**/hearth-worker.js*', async (route) => {
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
