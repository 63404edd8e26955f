// The task board's offline app shell (examples/board/web/sw.js; issue 15,
// goal 6): once installed, a reload is answered from its cache and waits
// for no network, so a network that accepts requests and never answers
// ("lie-fi") does not hold the board's start. A deploy is still found:
// after the start, and the next load runs the new version whole. The
// board's files are served from a copy, which the deploy test changes.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, launchPersistent, loopbackOnly, testClockServerArgs, testWebMounts } from './harness.mjs';

const boardWeb = fileURLToPath(new URL('../examples/board/web', import.meta.url));

describe('task board offline app shell', () => {
  let server, context, page, dir, web;
  const errors = [];

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'hearth-board-shell-'));
    web = path.join(dir, 'web');
    cpSync(boardWeb, web, { recursive: true });
    const mounts = testWebMounts.map((m) => (m.startsWith('/board/=') ? `/board/=${web}` : m));
    server = await startServer(testClockServerArgs(), { web: mounts });
    context = await launchPersistent(path.join(dir, 'profile'));
    await loopbackOnly(context);
    page = context.pages()[0] ?? await context.newPage();
    page.on('pageerror', (err) => errors.push(err));
  });

  after(async () => {
    await context?.close();
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const live = () => page.waitForFunction(() => window.boardMilestones?.['tasks-live'] > 0, null, { timeout: 60000 });
  const shellCaches = () => page.evaluate(async () => (await caches.keys()).filter((n) => n.startsWith('hearth-board-')));

  test('once installed, a reload starts the board while every request to the server hangs', async () => {
    await page.goto(new URL('board/', server.url).href);
    await live();
    // Installed once the board is live; in charge of the page once active.
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 30000 });
    assert.equal((await shellCaches()).length, 1);

    /** @type {import('playwright-core').Route[]} */
    const held = [];
    const hang = (route) => {
      if (new URL(route.request().url()).origin !== new URL(server.url).origin) return route.fallback();
      held.push(route); // never answered while the network "hangs"
    };
    await context.route('**/*', hang);
    try {
      await page.reload({ timeout: 30000 }); // its load event: every file it waits for came from the cache
      await live().catch((err) => { throw new Error(`${err.message}; held: ${held.map((r) => `${r.request().url()}${r.request().serviceWorker() ? ' (service worker)' : ''}`).join(', ')}`); });
      assert.ok(await page.locator('.card').count() > 0, 'no cards');
      assert.equal(await page.locator('#board-stale').count(), 0);
      // Nothing the board loads went to the network (the shell's own
      // check after the start may have: it waits, harmlessly).
      // The board asks for a sync token, without waiting for it.
      const fromPage = held.filter((r) => !r.request().serviceWorker()).map((r) => new URL(r.request().url()).pathname);
      assert.deepEqual(fromPage.filter((p) => p !== '/demo/token'), [], 'the reload waited for the network');
    } finally {
      await context.unroute('**/*', hang);
      for (const r of held) await r.abort().catch(() => {});
    }
    assert.deepEqual(errors.map(String), []);
  });

  test('a deploy is found after the start, and the next load runs it whole', async () => {
    // Settle: the page now checks with the server, which has not changed.
    await page.reload();
    await live();
    await page.waitForFunction(() => window.boardMilestones?.shellChecked > 0, null, { timeout: 30000 });
    assert.equal(await page.evaluate(() => window.boardMilestones.shellUpdated), undefined, 'an update with nothing deployed');
    const [before] = await shellCaches();

    // The deploy: a changed script of the shell.
    const boot = path.join(web, 'boot.js');
    writeFileSync(boot, `window.hearthBoardDeployed = 'second';\n${readFileSync(boot, 'utf8')}`);
    await page.reload();
    await live();
    // This load still ran the version it started with...
    assert.equal(await page.evaluate(() => window.hearthBoardDeployed), undefined);
    // ...and installed the new one behind it.
    await page.waitForFunction(() => window.boardMilestones?.shellUpdated > 0, null, { timeout: 60000 });
    // The new worker drops the old cache as it activates (the page's
    // controllerchange comes first).
    let after = await shellCaches();
    for (let i = 0; i < 300 && after.length !== 1; i++) {
      await page.waitForTimeout(100);
      after = await shellCaches();
    }
    assert.equal(after.length, 1, `caches: ${after}`);
    assert.notEqual(after[0], before);

    await page.reload();
    await live();
    assert.equal(await page.evaluate(() => window.hearthBoardDeployed), 'second');
    assert.deepEqual(errors.map(String), []);
  });
});
