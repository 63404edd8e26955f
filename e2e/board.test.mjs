// The demo task board (board/, Go + vugu) in real Chromium against the real
// `hearth serve` and its sync endpoint: the server's seed arrives by
// initial sync; keyboard and mouse edits, reload, a double booking the
// server flags, offline reload through the service worker. One persistent profile for the whole suite,
// so reloads reopen the same on-disk OPFS database.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  startServer, launchPersistent, loopbackOnly, repoRoot,
  testClockServerArgs, testClockContextOptions, installTestClock,
} from './harness.mjs';
import { waitForSynced } from './kit.mjs';

// Screenshots of key states go to e2e/artifacts/ (ignored by git);
// UPDATE_SCREENSHOTS=1 writes the committed ones the README shows.
const shots = process.env.UPDATE_SCREENSHOTS
  ? path.join(repoRoot, 'e2e', 'screenshots')
  : path.join(repoRoot, 'e2e', 'artifacts', 'screenshots');

describe('task board', () => {
  let server, context, page, dir;
  const errors = [];
  const title = 'Write the board e2e test';

  before(async () => {
    mkdirSync(shots, { recursive: true });
    dir = mkdtempSync(path.join(tmpdir(), 'hearth-board-'));
    server = await startServer(testClockServerArgs());
    context = await launchPersistent(dir, { viewport: { width: 1280, height: 800 }, ...testClockContextOptions() });
    await installTestClock(context);
    await loopbackOnly(context);
    page = context.pages()[0] ?? await context.newPage();
    page.on('pageerror', (err) => errors.push(err));
  });

  after(async () => {
    await context?.close();
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const card = (text) => page.locator('.card', { has: page.locator('.title', { hasText: text }) });
  const columnOf = async (text) => card(text).evaluate((el) => el.closest('.column').dataset.status);

  test('loads, receives the server\'s seed by initial sync and renders the first project', async () => {
    await page.goto(new URL('board/', server.url).href);
    await page.locator('.card').first().waitFor({ timeout: 120000 });
    // The initial sync may still be arriving: wait for the whole seed.
    await page.locator('nav.projects button[aria-current="true"][aria-label$=", 25 tasks"]').waitFor({ timeout: 20000 });
    await page.waitForFunction(() => document.querySelectorAll('.card').length === 25, null, { timeout: 20000 });
    await page.waitForFunction(() => document.querySelectorAll('nav.projects .project').length === 16, null, { timeout: 20000 });
    assert.match(await page.locator('#sync-storage').textContent(), /OPFS/);
    await page.locator('#sync-online', { hasText: 'connected' }).waitFor({ timeout: 20000 });
    const marks = await page.evaluate(() => window.boardMilestones);
    assert.ok(marks['tasks-painted'] > 0, JSON.stringify(marks));
    await page.screenshot({ path: path.join(shots, 'board.png') });
  });

  test('creates a task from the keyboard (n), edits it, filters by assignee', async () => {
    await page.locator('body').click({ position: { x: 5, y: 790 } });
    await page.keyboard.press('n');
    await page.locator('#edit-title').waitFor();
    assert.equal(await page.evaluate(() => document.activeElement.id), 'edit-title');
    await page.keyboard.type(title);
    await page.locator('#edit-description').fill('Covers create, move, reload and offline.');
    await page.locator('#edit-assignee').selectOption({ label: 'Grace' });
    await page.locator('#edit-due').fill('2026-12-01');
    await page.locator('#edit-priority').selectOption({ label: 'High' });
    await page.screenshot({ path: path.join(shots, 'editor.png') });
    await page.locator('#edit-save').click();
    await card(title).waitFor();
    assert.equal(await columnOf(title), 'backlog');
    assert.match(await card(title).textContent(), /Grace.*due 2026-12-01.*High/s);
    // The new card is the last of its column: fractional positions append.
    assert.equal(await page.locator('.column[data-status="backlog"] .card').last().locator('.title').textContent(), title);

    // Edit through the card's button.
    await card(title).click(); // the focused card shows its actions
    await card(title).getByRole('button', { name: 'Edit' }).click();
    await page.locator('#edit-title').fill(`${title}, edited`);
    await page.locator('#edit-save').click();
    await card(`${title}, edited`).waitFor();

    await page.locator('#filter-assignee').selectOption({ label: 'Grace' });
    const assignees = await page.locator('.card .assignee').allTextContents();
    assert.ok(assignees.length > 0 && assignees.every((a) => a === 'Grace'), assignees.join());
    await page.locator('#filter-assignee').selectOption({ label: 'Everyone' });
    assert.equal(await page.locator('.card').count(), 26);
  });

  test('moves a focused card between columns (Alt+←/→) and reorders it (Alt+↑/↓)', async () => {
    const name = `${title}, edited`;
    await card(name).focus();
    await page.keyboard.press('Alt+ArrowRight');
    await page.waitForFunction((t) => [...document.querySelectorAll('.column[data-status="doing"] .title')].some((e) => e.textContent === t), name);
    // Focus follows the card into its new column.
    assert.equal(await page.evaluate(() => document.activeElement?.querySelector('.title')?.textContent), name);

    const doingTitles = () => page.locator('.column[data-status="doing"] .title').allTextContents();
    let before = await doingTitles();
    const at = before.indexOf(name);
    await page.keyboard.press(at > 0 ? 'Alt+ArrowUp' : 'Alt+ArrowDown');
    const want = at > 0 ? at - 1 : at + 1;
    await page.waitForFunction(([t, i]) => [...document.querySelectorAll('.column[data-status="doing"] .title')][i]?.textContent === t, [name, want]);
    // The database agrees with the screen (the live query re-ran).
    const after = await doingTitles();
    assert.equal(after.length, before.length);
    assert.equal(after[want], name);

    // Mouse: the card's own move button.
    await card(name).click();
    await card(name).getByRole('button', { name: 'Move right' }).click();
    await page.waitForFunction((t) => [...document.querySelectorAll('.column[data-status="done"] .title')].some((e) => e.textContent === t), name);
    await card(name).focus();
    await page.keyboard.press('Alt+ArrowLeft');
    await page.waitForFunction((t) => [...document.querySelectorAll('.column[data-status="doing"] .title')].some((e) => e.textContent === t), name);
    await page.screenshot({ path: path.join(shots, 'moved.png') });
  });

  test('a move patches the page in place: the same card element, focused, and a later render finds it there', async () => {
    const id = await page.locator('.column[data-status="backlog"] .card').first().getAttribute('id');
    const el = page.locator(`[id="${id}"]`);
    await el.focus();
    await el.evaluate((card) => { window.movedCard = card; });
    await page.keyboard.press('Alt+ArrowRight');
    await page.waitForFunction((i) => document.getElementById(i)?.closest('.column')?.dataset.status === 'doing', id);
    // The very element moved (a render would have reused the elements in
    // place by position), and it kept focus.
    const state = () => page.evaluate((i) => {
      const card = document.getElementById(i);
      const columns = [...document.querySelectorAll('.columns > .column')];
      return {
        same: card === window.movedCard,
        focused: document.activeElement === card,
        column: card.closest('.column').dataset.status,
        label: card.getAttribute('aria-label'),
        shown: [...card.querySelectorAll('.card-actions button')].filter((b) => !b.hidden).map((b) => b.getAttribute('aria-label')),
        countsMatch: columns.every((c) => Number(c.querySelector('.count').textContent) === c.querySelectorAll('.card').length),
        // vugu's list shape: a text node, the items (one card each), a text node.
        listsWellFormed: columns.every((c) => {
          const ol = c.querySelector('ol');
          return ol.firstChild.nodeType === Node.TEXT_NODE && ol.lastChild.nodeType === Node.TEXT_NODE
            && [...ol.children].every((li) => li.tagName === 'LI' && li.children.length === 1 && li.firstElementChild.classList.contains('card'));
        }),
      };
    }, id);
    let s = await state();
    assert.ok(s.same && s.focused, JSON.stringify(s));
    assert.equal(s.column, 'doing');
    assert.match(s.label, /, Doing, /);
    assert.ok(s.countsMatch && s.listsWellFormed, JSON.stringify(s));
    assert.ok(s.shown.includes('Move left') && s.shown.includes('Move right'), s.shown.join());

    // A render of the whole board (switching to the board view it shows)
    // finds the page as it would draw it: the same elements, in place.
    await page.locator('#view-board').click();
    await el.focus();
    s = await state();
    assert.ok(s.same && s.column === 'doing' && s.countsMatch && s.listsWellFormed, JSON.stringify(s));

    // The card's own button: it moves to the last column, focus stays on
    // the card, and "Move right" is gone there.
    await el.getByRole('button', { name: 'Move right' }).click();
    await page.waitForFunction((i) => document.getElementById(i)?.closest('.column')?.dataset.status === 'done', id);
    s = await state();
    assert.ok(s.same, JSON.stringify(s));
    await page.waitForFunction((i) => document.activeElement === document.getElementById(i), id);
    assert.ok(!s.shown.includes('Move right') && s.shown.includes('Move left'), s.shown.join());
    assert.match(s.label, /, Done, /);
    // A double click on a card edits it.
    await el.locator('.title').dblclick();
    await page.locator('#edit-title').waitFor();
    await page.keyboard.press('Escape');
    await page.locator('#edit-title').waitFor({ state: 'detached' });
    // A browser without Node.moveBefore: the card is inserted and focused
    // again. Then back where it was, for the tests after this one.
    const removed = await page.evaluate(() => {
      const had = typeof document.createElement('ol').moveBefore === 'function';
      window.savedMoveBefore = Element.prototype.moveBefore;
      delete Element.prototype.moveBefore;
      return had && typeof document.createElement('ol').moveBefore === 'undefined';
    });
    assert.ok(removed, 'this Chromium has Node.moveBefore on Element.prototype');
    try {
      await el.focus();
      await page.keyboard.press('Alt+ArrowLeft');
      await page.waitForFunction((i) => document.getElementById(i)?.closest('.column')?.dataset.status === 'doing', id);
      await page.waitForFunction((i) => document.activeElement === document.getElementById(i), id);
      s = await state();
      assert.ok(s.same && s.countsMatch && s.listsWellFormed, JSON.stringify(s));
    } finally {
      await page.evaluate(() => { Element.prototype.moveBefore = window.savedMoveBefore; });
    }
    await page.keyboard.press('Alt+ArrowLeft');
    await page.waitForFunction((i) => document.getElementById(i)?.closest('.column')?.dataset.status === 'backlog', id);
  });

  test('archives one task and deletes another', async () => {
    const titles = await page.locator('.column[data-status="done"] .title').allTextContents();
    const [archived, deleted] = titles;
    for (const [name, action] of [[archived, 'Archive'], [deleted, 'Delete']]) {
      const target = page.locator('.column[data-status="done"] .card').first();
      assert.equal(await target.locator('.title').textContent(), name);
      await target.focus();
      await page.keyboard.press('Enter'); // Enter on a focused card edits it
      await page.locator('#edit-title').waitFor();
      await page.getByRole('button', { name: action, exact: true }).click();
      await page.waitForFunction(([n, count]) => document.querySelectorAll('.column[data-status="done"] .card').length === count, [name, titles.length - (action === 'Archive' ? 1 : 2)]);
    }
    assert.equal(await page.locator('.card').count(), 24);
    // The count is the projects live query's, after the writes commit.
    await page.locator('nav.projects button[aria-current="true"][aria-label$=", 24 tasks"]').waitFor();
  });

  test('a reload keeps every change', async () => {
    const name = `${title}, edited`;
    const order = await page.locator('.column[data-status="doing"] .title').allTextContents();
    await page.reload();
    // The board may paint its cached result first: the assertions are on the
    // database's (live) one.
    await page.waitForFunction(() => window.boardMilestones?.['tasks-live'] > 0, null, { timeout: 30000 });
    await page.locator('#board-stale').waitFor({ state: 'detached' });
    await card(name).waitFor({ timeout: 30000 });
    assert.equal(await columnOf(name), 'doing');
    assert.deepEqual(await page.locator('.column[data-status="doing"] .title').allTextContents(), order);
    // Seeded once, and archive/delete held: the reload loaded nothing again.
    assert.equal(await page.locator('.card').count(), 24);
  });

  test('opens the rooms view on the board\'s today, with the seed\'s meetings, and books a free slot three times', async () => {
    await page.locator('#view-rooms').click();
    // The seed has a morning meeting in every room on the day before its
    // today, on it and on the day after: the board's today (its own clock,
    // its own time zone) is one of them.
    await page.waitForFunction(() => [...document.querySelectorAll('.rooms .booking')].filter((b) => b.textContent === 'Team sync').length === 4);
    // The seed books nothing in the afternoon: this slot is free.
    const book = page.getByRole('button', { name: 'Book Hopper at 16:00', exact: true });
    const cell = book.locator('xpath=..');
    assert.equal(await cell.locator('.booking').count(), 0);
    await book.click();
    await cell.locator('.booking').waitFor();
    assert.equal(await cell.getAttribute('data-double'), 'false');
    // The same slot again, twice: a double booking, allowed and shown.
    await book.click();
    await page.waitForFunction((id) => document.getElementById(id)?.closest('td')?.dataset.double === 'true', await book.getAttribute('id'));
    await book.click();
    await page.waitForFunction((id) => document.getElementById(id)?.closest('td')?.querySelectorAll('.booking').length === 3, await book.getAttribute('id'));
    // Another day and back: the grid follows the day shown.
    await page.getByRole('button', { name: 'Next day' }).click();
    await page.waitForFunction(() => document.querySelectorAll('.rooms td[data-double="true"]').length === 0);
    await page.getByRole('button', { name: 'Previous day' }).click();
    await page.waitForFunction(() => document.querySelectorAll('.rooms td[data-double="true"]').length === 1);
    await page.screenshot({ path: path.join(shots, 'rooms.png') });
    await page.locator('#view-board').click();
  });

  test('the server flags the double booking: a notice opens both bookings', async () => {
    // The two bookings of one slot synced to the real server, whose
    // DoubleBooking invariant kept them and synced back violation rows.
    await page.locator('.notice', { hasText: 'double booking' }).waitFor({ timeout: 20000 });
    assert.match(await page.locator('#sync-violations').textContent(), /[1-9]\d* violations/);
    // Non-blocking: the board stays usable with the notice up.
    assert.equal(await page.locator('.card').count(), 24);
    await page.locator('#open-conflicts').click();
    const panel = page.getByRole('region', { name: 'Double bookings' });
    await panel.waitFor();
    // The one slot booked three times above, and nothing else: the seed
    // books no slot twice.
    assert.equal(await panel.locator('.conflict').count(), 1);
    assert.equal(await panel.locator('.conflict li').count(), 3);
    await page.screenshot({ path: path.join(shots, 'conflict.png') });
    // Resolving: cancel one booking; the panel follows the live query.
    await panel.locator('.conflict li button').last().click();
    await page.waitForFunction(() => document.querySelectorAll('.conflicts .conflict li').length === 2);
    await panel.getByRole('button', { name: 'Close' }).click();
    // Still booked twice, so the notice stays until dismissed: then it
    // goes, and this device's flagged changes settle.
    await page.locator('#dismiss-conflicts').click();
    await page.locator('.notice', { hasText: 'double booking' }).waitFor({ state: 'detached' });
    await page.locator('#view-board').click();
  });

  test('the sync bar counts changes made offline and clears them on reconnect', async () => {
    const name = `${title}, edited`;
    await page.locator('#sync-pending', { hasText: /^0 pending$/ }).waitFor({ timeout: 20000 });
    await context.setOffline(true);
    try {
      await page.locator('#sync-online', { hasText: 'offline' }).waitFor();
      await card(name).focus();
      await page.keyboard.press('Alt+ArrowDown'); // a local write: applied at once, offline
      await page.keyboard.press('Alt+ArrowUp');
      await page.locator('#sync-pending', { hasText: /^[1-9]\d* pending$/ }).waitFor();
      await page.screenshot({ path: path.join(shots, 'offline-pending.png') });
    } finally {
      await context.setOffline(false);
    }
    await page.locator('#sync-online', { hasText: 'connected' }).waitFor({ timeout: 20000 });
    await page.locator('#sync-pending', { hasText: /^0 pending$/ }).waitFor({ timeout: 20000 });
  });

  test('reloads offline from the service worker with all local data', async () => {
    const name = `${title}, edited`;
    // Installed (the shell is cached) once ready; this reload is then
    // controlled by it.
    await page.evaluate(async () => { await navigator.serviceWorker.ready; });
    await page.reload();
    // The board may paint its cached result first: the assertions are on the
    // database's (live) one.
    await page.waitForFunction(() => window.boardMilestones?.['tasks-live'] > 0, null, { timeout: 30000 });
    await page.locator('#board-stale').waitFor({ state: 'detached' });
    await card(name).waitFor({ timeout: 30000 });
    assert.ok(await page.evaluate(() => navigator.serviceWorker.controller !== null), 'page not controlled by the service worker');
    // One cache, named by both bundles' hashes: a deploy gets a new one
    // and the old is deleted on activation.
    const cacheNames = await page.evaluate(async () => {
      const { boardFile } = await import('/board/dist/bundle.js');
      const { wasmFile } = await import('/dist/bundle.js');
      return { names: (await caches.keys()).filter((n) => n.startsWith('hearth-board-')), want: `hearth-board-${boardFile}-${wasmFile}` };
    });
    assert.deepEqual(cacheNames.names, [cacheNames.want]);

    await server.stop();
    await context.setOffline(true);
    try {
      await page.reload();
      await card(name).waitFor({ timeout: 30000 });
      assert.equal(await columnOf(name), 'doing');
      assert.equal(await page.locator('.card').count(), 24);
      assert.match(await page.locator('#sync-online').textContent(), /offline/);
      await page.screenshot({ path: path.join(shots, 'offline.png') });
    } finally {
      await context.setOffline(false);
    }
    assert.deepEqual(errors.map(String), []);
  });
});

describe('task board against a server that requires sync tokens', () => {
  // Persistent profiles, like the suite above: in this Chromium an
  // incognito context's OPFS never grants a sync access handle, so the
  // Hearth worker would wait for ever to open the board's database.
  let server;
  const dirs = [];
  const contexts = [];
  const newProfile = async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'hearth-board-auth-'));
    dirs.push(dir);
    const context = await launchPersistent(dir, testClockContextOptions());
    contexts.push(context);
    return context;
  };

  before(async () => {
    server = await startServer(['-demo-auth', ...testClockServerArgs()]);
  });

  after(async () => {
    for (const context of contexts) await context.close(); // closing twice is a no-op
    await server?.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  test('signs in as the demo user and syncs the seed', async () => {
    const context = await newProfile();
    await installTestClock(context);
    await loopbackOnly(context);
    const page = context.pages()[0] ?? await context.newPage();
    await page.goto(new URL('board/', server.url).href);
    await page.locator('.card').first().waitFor({ timeout: 45000 });
    await page.locator('#sync-online', { hasText: 'connected' }).waitFor({ timeout: 20000 });
    assert.equal(await page.locator('#sync-error').count(), 0);
    await context.close();
  });

  test('a token that comes late: the board opens its database without it, then syncs with it', async () => {
    const context = await newProfile();
    await installTestClock(context);
    await loopbackOnly(context);
    /** @type {() => void} */
    let release = () => {};
    const held = new Promise((resolve) => { release = resolve; });
    await context.route('**/demo/token*', async (route) => { await held; await route.continue(); });
    const page = context.pages()[0] ?? await context.newPage();
    await page.goto(new URL('board/', server.url).href);
    // The database opens without the token (after the board's tokenWait)...
    await page.waitForFunction(() => window.boardMilestones?.open > 0, null, { timeout: 45000 });
    release();
    // ...and the worker syncs once the token comes.
    await page.locator('.card').first().waitFor({ timeout: 45000 });
    await page.locator('#sync-online', { hasText: 'connected' }).waitFor({ timeout: 30000 });
    await waitForSynced(page, { timeoutMs: 30000 });
    await context.close();
  });

  test('a browser whose clock is a year off the server\'s renews its token once, an hour\'s token a minute before it expires', async () => {
    // A phone set a year ahead: the server's expiresAt is a year in this
    // page's past. The board times the renewal by the token's lifetime on
    // its own clock, so it neither renews over and over nor never.
    const yearAhead = new Date();
    yearAhead.setFullYear(yearAhead.getFullYear() + 1);
    const context = await newProfile();
    await context.clock.install({ time: yearAhead });
    await loopbackOnly(context);
    const page = context.pages()[0] ?? await context.newPage();
    const tokenRequests = [];
    page.on('request', (r) => { if (new URL(r.url()).pathname === '/demo/token') tokenRequests.push(r); });
    await page.goto(new URL('board/', server.url).href);
    await page.locator('.card').first().waitFor({ timeout: 45000 });
    await page.locator('#sync-online', { hasText: 'connected' }).waitFor({ timeout: 20000 });
    assert.equal(tokenRequests.length, 1); // boot.js's

    // Half the token's hour on the page's clock: no renewal due.
    await context.clock.fastForward('30:00');
    await moveFirstBacklogCard(page); // a round trip to the server after it
    await waitForSynced(page, { timeoutMs: 20000 });
    assert.equal(tokenRequests.length, 1, 'the board renewed a token with half an hour left');

    // Past 59 minutes: the one renewal, and sync carries on with it.
    const renewal = page.waitForRequest((r) => new URL(r.url()).pathname === '/demo/token', { timeout: 20000 });
    await context.clock.fastForward('29:30');
    await (await renewal).response();
    await moveFirstBacklogCard(page);
    await waitForSynced(page, { timeoutMs: 20000 });
    assert.equal(tokenRequests.length, 2);
    assert.equal(await page.locator('#sync-error').count(), 0);
    await context.close();
  });
});

/** Moves the first backlog card one column right: a change to sync. */
async function moveFirstBacklogCard(page) {
  const first = page.locator('.column[data-status="backlog"] .card').first();
  const id = await first.getAttribute('id');
  await first.focus();
  await page.keyboard.press('Alt+ArrowRight');
  await page.waitForFunction((id) => document.getElementById(id)?.closest('.column')?.dataset.status === 'doing', id);
}
