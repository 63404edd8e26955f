// The task board paints from hearth.js's result cache while its database
// opens (issue 15, goal 6): a reload shows the last live tasks, marked
// stale, before the Hearth worker has even loaded, then the live result
// replaces them; another user's board never shows the first user's cache.
// Earlier still, a reload paints the saved frame of the board as the user
// last saw it, before the board's own wasm runs. The worker and the
// board's wasm are held back by routing them, so the order of events is
// forced, not raced; nothing here measures time.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServer, launchPersistent, loopbackOnly, testClockServerArgs } from './harness.mjs';

describe('task board result cache', () => {
  let server, context, page, dir;
  const errors = [];
  /** @type {Promise<void> | null} while set, the worker script waits for it */
  let gate = null;
  /** @type {() => void} */
  let openGate = () => {};
  /** @type {Promise<void> | null} while set, the board's own wasm waits for it */
  let boardGate = null;
  /** @type {() => void} */
  let openBoardGate = () => {};

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'hearth-board-cache-'));
    server = await startServer(testClockServerArgs());
    // No service worker: it would serve the worker script past the route
    // that holds it back.
    context = await launchPersistent(dir, { serviceWorkers: 'block' });
    await loopbackOnly(context);
    await context.route('**/hearth-worker.js', async (route) => {
      if (gate) await gate;
      await route.continue();
    });
    await context.route('**/board/dist/board.*.wasm', async (route) => {
      if (boardGate) await boardGate;
      await route.continue();
    });
    page = context.pages()[0] ?? await context.newPage();
    page.on('pageerror', (err) => errors.push(err));
  });

  after(async () => {
    openGate();
    openBoardGate();
    await context?.close();
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Holds the worker script back until the returned function is called. */
  const holdWorker = () => {
    gate = new Promise((resolve) => { openGate = resolve; });
    return () => { gate = null; openGate(); };
  };

  const titles = () => page.locator('.card .title').allTextContents();

  test('a reload paints the cached tasks before the worker answers, then the live ones replace them', async () => {
    await page.goto(new URL('board/?user=u-01', server.url).href);
    // The first visit: nothing cached, the live board.
    await page.waitForFunction(() => window.boardMilestones?.['tasks-live'] > 0, null, { timeout: 120000 });
    assert.equal(await page.locator('#board-stale').count(), 0);
    // The initial sync may still be arriving: wait for the whole first project, then for its save.
    await page.locator('nav.projects button[aria-current="true"][aria-label$=", 25 tasks"]').waitFor({ timeout: 60000 });
    await page.waitForFunction(() => document.querySelectorAll('.card').length === 25);
    const live = await titles();
    await page.waitForFunction(() => window.boardMilestones.cacheSaved > 0);
    await page.waitForTimeout(400); // the last debounced save (300 ms)

    // Make the cached copy differ from the database, as after a change
    // from another device: its first task gets another title.
    const project = await page.evaluate(() => location.hash.slice(1));
    await page.goto(new URL('e2e/blank.html', server.url).href);
    const changed = await page.evaluate(async (project) => {
      const db = await new Promise((resolve, reject) => {
        const req = indexedDB.open('hearth-result-cache');
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
      const store = db.transaction('results', 'readwrite').objectStore('results');
      const entries = await new Promise((resolve) => { const r = store.getAll(); r.onsuccess = () => resolve(r.result); });
      const tasks = entries.filter((e) => e.db === 'board-u-01' && e.key.includes('FROM tasks') && e.key.includes(`\\"${project}\\"`));
      if (tasks.length !== 1) return `expected one cached tasks result of board-u-01's ${project}, found ${tasks.length}`;
      const entry = tasks[0];
      const col = entry.columns.indexOf('title');
      entry.rows[0][col] = `Cached: ${entry.rows[0][col]}`;
      await new Promise((resolve, reject) => { const r = store.put(entry); r.onsuccess = resolve; r.onerror = () => reject(r.error); });
      db.close();
      return entry.rows[0][col];
    }, project);
    assert.match(changed, /^Cached: /);

    const go = holdWorker();
    await page.goto(new URL('board/?user=u-01', server.url).href);
    await page.locator('#board-stale').waitFor({ timeout: 60000 });
    await page.locator('.card .title', { hasText: changed }).waitFor();
    const cached = await titles();
    assert.equal(cached.length, live.length);
    assert.ok(cached.includes(changed), JSON.stringify(cached));
    const marks = await page.evaluate(() => ({ ...window.boardMilestones }));
    assert.ok(marks['tasks-cached'] > 0, JSON.stringify(marks));
    assert.equal(marks.open, undefined, 'the database cannot be open: its worker is held back');
    assert.equal(await page.locator('.columns').getAttribute('aria-busy'), 'true');

    go();
    await page.waitForFunction(() => window.boardMilestones['tasks-live'] > 0, null, { timeout: 120000 });
    await page.locator('#board-stale').waitFor({ state: 'detached' });
    assert.deepEqual((await titles()).sort(), [...live].sort());
    assert.equal(await page.locator('.card .title', { hasText: 'Cached: ' }).count(), 0);
    const after = await page.evaluate(() => ({ ...window.boardMilestones }));
    assert.ok(after['tasks-cached'] < after.open && after.open <= after['tasks-live'], JSON.stringify(after));
  });

  test('a reload paints the saved frame before the board\'s own wasm runs, then the board replaces it', async () => {
    // The live board of the test before: its frame is saved when the page is left.
    await page.waitForFunction(() => window.boardMilestones?.['tasks-live'] > 0, null, { timeout: 120000 });
    const live = await titles();
    // What each picker (the signed-in user, the assignee filter) shows.
    const picked = await page.evaluate(() => [...document.querySelectorAll('body > .app select')].map((s) => s.selectedOptions[0]?.textContent));
    await page.goto(new URL('e2e/blank.html', server.url).href);
    const saved = await page.evaluate(() => JSON.parse(localStorage.getItem('hearth-board-frame:u-01') ?? 'null'));
    assert.equal(saved?.v, 1);

    boardGate = new Promise((resolve) => { openBoardGate = resolve; });
    const go = holdWorker();
    await page.goto(new URL('board/?user=u-01', server.url).href);
    await page.waitForFunction(() => window.boardMilestones?.savedFrame > 0);
    const shown = await page.evaluate(() => {
      const root = window.hearthBoardSavedFrame;
      return {
        titles: [...root.querySelectorAll('.card .title')].map((el) => el.textContent),
        // A closed select shows one option: the frame keeps only that one.
        pickers: [...root.querySelectorAll('select')].map((s) => [...s.options].map((o) => o.textContent)),
        pill: root.querySelector('.syncbar .pill.warn')?.textContent,
        inert: document.getElementById('board-saved').inert,
        boardShown: getComputedStyle(document.getElementById('board')).display !== 'none',
        marks: { ...window.boardMilestones },
      };
    });
    assert.deepEqual(shown.titles.sort(), [...live].sort());
    assert.ok(picked.length >= 2, JSON.stringify(picked));
    assert.deepEqual(shown.pickers, picked.map((text) => [text]));
    assert.equal(shown.pill, 'Saved copy, starting…');
    assert.equal(shown.inert, true);
    assert.equal(shown.boardShown, false);
    assert.equal(shown.marks.wasmReady, undefined, 'the board\'s wasm is held back');
    // The frame is in a closed shadow root: the page's own queries do not see its cards.
    assert.equal(await page.locator('.card').count(), 0);

    boardGate = null;
    openBoardGate();
    go();
    await page.waitForFunction(() => window.boardMilestones['tasks-live'] > 0, null, { timeout: 120000 });
    assert.equal(await page.locator('#board-saved').count(), 0);
    assert.equal(await page.evaluate(() => document.documentElement.dataset.savedFrame), undefined);
    assert.deepEqual((await titles()).sort(), [...live].sort());
    const marks = await page.evaluate(() => ({ ...window.boardMilestones }));
    assert.ok(marks.savedFrame < marks.wasmReady && marks.wasmReady < marks.savedFrameDropped && marks.savedFrameDropped <= marks['tasks-painted'], JSON.stringify(marks));
  });

  test('a saved frame\'s texts stay text; its scripts, event handlers and links are dropped', async () => {
    await page.goto(new URL('e2e/blank.html', server.url).href);
    await page.evaluate(() => localStorage.setItem('hearth-board-frame:u-03', JSON.stringify({
      v: 1,
      tree: ['div', { class: 'app' }, ['header', { class: 'syncbar', onclick: 'window.pwned = 1' }, ['strong', { class: 'brand' }, 'Hearth board']],
        ['p', { class: 'title', ONMOUSEOVER: 'window.pwned = 2' }, '<img src=x onerror="window.pwned = 3">'],
        ['script', {}, 'window.pwned = 4'], ['a', { href: 'javascript:window.pwned = 5' }, 'link']],
    })));
    boardGate = new Promise((resolve) => { openBoardGate = resolve; });
    await page.goto(new URL('board/?user=u-03', server.url).href);
    await page.waitForFunction(() => window.boardMilestones?.savedFrame > 0);
    const frame = await page.evaluate(() => {
      const root = window.hearthBoardSavedFrame;
      return {
        text: root.querySelector('p.title').textContent,
        images: root.querySelectorAll('img').length,
        scripts: root.querySelectorAll('script').length,
        active: [...root.querySelectorAll('*')].flatMap((el) => el.getAttributeNames().filter((n) => n.startsWith('on') || n === 'href')),
      };
    });
    assert.deepEqual(frame, { text: '<img src=x onerror="window.pwned = 3">', images: 0, scripts: 0, active: [] });
    assert.equal(await page.evaluate(() => window.pwned), undefined);
    boardGate = null;
    openBoardGate();
    await page.waitForFunction(() => window.boardMilestones['tasks-live'] > 0, null, { timeout: 120000 });
    assert.equal(await page.locator('#board-saved').count(), 0);
  });

  test('another user does not see the first user\'s cache', async () => {
    const go = holdWorker();
    await page.goto(new URL('board/?user=u-02', server.url).href);
    await page.waitForFunction(() => window.boardMilestones?.['cache-checked'] > 0, null, { timeout: 60000 });
    // Drawn after the cache was looked at, still without a worker.
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    assert.equal(await page.locator('.card').count(), 0);
    assert.equal(await page.locator('#board-stale').count(), 0);
    assert.equal(await page.locator('#board-saved').count(), 0, 'no saved frame of another user');
    assert.equal(await page.evaluate(() => window.boardMilestones.open), undefined);
    go();
    await page.waitForFunction(() => window.boardMilestones['tasks-live'] > 0, null, { timeout: 120000 });
    assert.equal(await page.locator('#board-stale').count(), 0);
  });

  test('no page errors', () => {
    assert.deepEqual(errors.map(String), []);
  });
});
