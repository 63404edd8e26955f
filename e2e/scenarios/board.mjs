// The board's offline scenarios, written once and registered per storage
// backend (e2e/board-offline-opfs.test.mjs, e2e/board-offline-idb.test.mjs): two
// browsers (persistent profiles) signed in as two demo users (u-01, u-02) against one
// real `hearth serve -demo-auth`. Every wait is on the page's state (the
// DOM, or the sync status through the conformance kit), never on time.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  startServer, launchPersistent, loopbackOnly, repoRoot,
  testClockServerArgs, testClockContextOptions, installTestClock,
} from '../harness.mjs';
import { hideOPFS, goOffline, goOnline, waitForSynced, waitForSyncState, pendingChanges } from '../kit.mjs';

// Key states go to e2e/artifacts/ (ignored by git); UPDATE_SCREENSHOTS=1
// writes the committed ones instead.
export const shots = process.env.UPDATE_SCREENSHOTS
  ? path.join(repoRoot, 'e2e', 'screenshots')
  : path.join(repoRoot, 'e2e', 'artifacts', 'screenshots');

/** The board's labels for the storage backends the scenarios run on. */
const backendLabel = { opfs: 'OPFS', idb: 'IndexedDB' };

/**
 * Opens the board signed in as user on a browser of its own (hideOPFS
 * first for the IndexedDB backend) and waits until it shows the seed and
 * is synced. A persistent profile, not an incognito context: in this
 * Chromium an incognito context's OPFS never grants a sync access handle,
 * so the Hearth worker would wait for ever to open the database.
 * close() closes the browser and removes its profile.
 */
export async function openBoard(server, { user, backend }) {
  const dir = mkdtempSync(path.join(tmpdir(), `hearth-board-${user}-`));
  const context = await launchPersistent(dir, { viewport: { width: 1280, height: 800 }, ...testClockContextOptions() });
  const close = async () => {
    await context.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await installTestClock(context);
    await loopbackOnly(context);
    if (backend === 'idb') await hideOPFS(context);
    const page = context.pages()[0] ?? await context.newPage();
    page.pageErrors = [];
    page.on('pageerror', (err) => page.pageErrors.push(err));
    await page.goto(new URL(`board/?user=${user}`, server.url).href);
    await page.locator('nav.projects button[aria-current="true"][aria-label$=", 25 tasks"]').waitFor({ timeout: 120000 });
    await waitForSynced(page, { timeoutMs: 30000 });
    await page.locator('#sync-storage', { hasText: backendLabel[backend] }).waitFor();
    // The service worker controls the page once it has activated (it
    // claims its clients): from then on a reload works offline.
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 20000 });
    return { context, page, close };
  } catch (err) {
    await close();
    throw err;
  }
}

// ---- what a board shows ----

export const cardByID = (page, id) => page.locator(`[id="task-${id}"]`);
const cardByTitle = (page, title) => page.locator('.card', { has: page.locator('.title', { hasText: title }) });

/** The id of the n-th card of a column of the active project. */
async function cardID(page, status, n) {
  const id = await page.locator(`.column[data-status="${status}"] .card`).nth(n).getAttribute('id');
  return id.slice('task-'.length);
}

/** What a card shows, or null when it is not on the board. */
function cardState(page, id) {
  return page.evaluate((id) => {
    const el = document.getElementById(`task-${id}`);
    if (!el) return null;
    return {
      title: el.querySelector('.title')?.textContent,
      assignee: el.querySelector('.assignee')?.textContent,
      due: el.querySelector('.due')?.textContent ?? '',
      column: el.closest('.column')?.dataset.status,
    };
  }, id);
}

/** Waits (bounded) until the card shows what want says (null: gone). */
async function waitForCard(page, id, want, timeout = 20000) {
  await page.waitForFunction(([id, want]) => {
    const el = document.getElementById(`task-${id}`);
    if (want === null) return el === null;
    if (!el) return false;
    const shown = {
      title: el.querySelector('.title')?.textContent,
      assignee: el.querySelector('.assignee')?.textContent,
      due: el.querySelector('.due')?.textContent ?? '',
      column: el.closest('.column')?.dataset.status,
    };
    return Object.entries(want).every(([k, v]) => (k === 'due' ? shown.due.includes(v) : shown[k] === v));
  }, [id, want], { timeout }).catch(async (err) => {
    throw new Error(`card ${id}: want ${JSON.stringify(want)}, shows ${JSON.stringify(await cardState(page, id))}: ${err.message}`);
  });
}

// ---- what a user does ----

/** Opens a card's editor from the keyboard (Enter), changes fields, saves. */
async function editCard(page, id, { title, assignee, priority }) {
  await cardByID(page, id).focus();
  await page.keyboard.press('Enter');
  await page.locator('#edit-title').waitFor();
  if (title !== undefined) await page.locator('#edit-title').fill(title);
  if (assignee !== undefined) await page.locator('#edit-assignee').selectOption({ label: assignee });
  if (priority !== undefined) await page.locator('#edit-priority').selectOption({ label: priority });
  await page.locator('#edit-save').click();
  await page.locator('#edit-title').waitFor({ state: 'detached' });
}

/** Opens a card's editor, reads its description, and closes it unchanged. */
async function readDescription(page, id) {
  await cardByID(page, id).focus();
  await page.keyboard.press('Enter');
  const text = await page.locator('#edit-description').inputValue();
  await page.locator('#edit-cancel').click();
  await page.locator('#edit-title').waitFor({ state: 'detached' });
  return text;
}

/** Reads a card's description until it is want (bounded: 100 tries, 100 ms apart). */
async function waitForDescription(page, id, want, name) {
  let got = '';
  for (let i = 0; i < 100 && got !== want; i++) {
    got = await readDescription(page, id);
    if (got !== want) await page.waitForTimeout(100);
  }
  assert.equal(got, want, `${name}'s description`);
}

/** Opens a card's editor and sets its description with fn(old). */
async function editDescription(page, id, fn) {
  await cardByID(page, id).focus();
  await page.keyboard.press('Enter');
  const box = page.locator('#edit-description');
  await box.fill(fn(await box.inputValue()));
  await page.locator('#edit-save').click();
  await page.locator('#edit-title').waitFor({ state: 'detached' });
}

async function deleteCard(page, id) {
  await cardByID(page, id).focus();
  await page.keyboard.press('Enter');
  await page.locator('#edit-delete').click();
  await cardByID(page, id).waitFor({ state: 'detached' });
}

async function createTask(page, title) {
  await page.locator('#new-task').click();
  await page.locator('#edit-title').waitFor();
  await page.keyboard.type(title);
  await page.locator('#edit-save').click();
  await cardByTitle(page, title).waitFor();
  return (await cardByTitle(page, title).getAttribute('id')).slice('task-'.length);
}

/** Takes a context offline and waits until its board says so. */
async function offline(device) {
  await goOffline(device.context);
  await device.page.locator('#sync-online', { hasText: 'offline' }).waitFor();
  await waitForSyncState(device.page, (s) => !s.connected, { what: 'a dropped connection' });
}

/** Brings a context back online and waits until its changes reached the server. */
async function online(device) {
  await goOnline(device.context);
  await waitForSynced(device.page, { timeoutMs: 30000 });
}

/**
 * Registers the scenarios on one storage backend ('opfs' or 'idb'): the
 * same code for both, only the context setup differs.
 */
export function boardOfflineScenarios({ backend }) {
  describe(`board offline, two users (${backendLabel[backend]})`, () => {
    let server, a, b;
    const shot = (page, name) => page.screenshot({ path: path.join(shots, `${backend}-${name}.png`) });

    before(async () => {
      mkdirSync(shots, { recursive: true });
      server = await startServer(['-demo-auth', ...testClockServerArgs()]);
      [a, b] = await Promise.all([
        openBoard(server, { user: 'u-01', backend }),
        openBoard(server, { user: 'u-02', backend }),
      ]);
    });

    after(async () => {
      for (const device of [a, b]) await device?.close();
      await server?.stop();
      for (const device of [a, b]) {
        if (device) assert.deepEqual(device.page.pageErrors.map(String), []);
      }
    });

    test('each board is signed in as its own user', async () => {
      const users = await Promise.all([a, b].map((d) => d.page.locator('#user-picker').inputValue()));
      assert.deepEqual(users, ['u-01', 'u-02']);
      assert.deepEqual(await Promise.all([a, b].map((d) => d.page.evaluate(() => window.hearthBoardUser))), ['u-01', 'u-02']);
    });

    test('create, edit and move offline; reload offline; online: the other user sees it live', async () => {
      const title = `Written offline on ${backend}`;
      const moved = await cardID(a.page, 'backlog', 0);
      await offline(a);
      const created = await createTask(a.page, title);
      await editCard(a.page, created, { title: `${title}, edited`, priority: 'High' });
      await cardByID(a.page, moved).focus();
      await a.page.keyboard.press('Alt+ArrowRight');
      await waitForCard(a.page, moved, { column: 'doing' });
      await waitForSyncState(a.page, (st) => st.pending >= 3, { what: 'three local changes waiting for the server' });
      await a.page.locator('#sync-pending', { hasText: /^[1-9]\d* pending$/ }).waitFor();

      // The service worker serves the whole app; the data is local.
      await a.page.reload();
      await waitForCard(a.page, created, { title: `${title}, edited`, due: 'High', column: 'backlog' }, 45000);
      await waitForCard(a.page, moved, { column: 'doing' });
      // The cards come from the local database at once; the sync status
      // follows when the reopened worker's sync client has read its journal.
      await waitForSyncState(a.page, (st) => st.pending >= 3, { what: 'the pending changes after the reload' });
      await shot(a.page, 'offline-reloaded');

      // Meanwhile the other user's board has none of it.
      assert.equal(await cardState(b.page, created), null);
      assert.equal((await cardState(b.page, moved)).column, 'backlog');

      await online(a);
      assert.equal(await pendingChanges(a.page), 0);
      // Live on the other board: no reload.
      await waitForCard(b.page, created, { title: `${title}, edited`, due: 'High', column: 'backlog' });
      await waitForCard(b.page, moved, { column: 'doing' });
      await waitForSynced(b.page);
      await shot(b.page, 'other-user-live');
    });

    test('both users edit one task offline: different fields both survive, the same field goes to the later edit', async () => {
      const id = await cardID(a.page, 'backlog', 1);
      const before = await cardState(a.page, id);
      const names = (await a.page.locator('#filter-assignee option').allTextContents()).slice(1);
      const otherAssignee = names.find((n) => n !== before.assignee);
      await offline(a);
      await offline(b);
      // A: title and priority. B, after A: assignee and priority. The
      // priority is the same field: B's edit is later (higher HLC), so it
      // wins on both screens whichever device reconnects first. Both pick
      // a priority the task does not have: an unchanged field is no edit.
      const [priorityA, priorityB] = ['Low', 'Medium', 'High'].filter((p) => !before.due.includes(p));
      await editCard(a.page, id, { title: `${before.title} (A)`, priority: priorityA });
      await waitForCard(a.page, id, { title: `${before.title} (A)`, due: priorityA });
      await editCard(b.page, id, { assignee: otherAssignee, priority: priorityB });
      await waitForCard(b.page, id, { assignee: otherAssignee, due: priorityB });

      await online(b); // the later edit reaches the server first
      await online(a);
      await waitForSynced(b.page);
      const want = { title: `${before.title} (A)`, assignee: otherAssignee, due: priorityB };
      await Promise.all([waitForCard(a.page, id, want), waitForCard(b.page, id, want)]);
      assert.deepEqual(await cardState(a.page, id), await cardState(b.page, id));
      await shot(a.page, 'merged-edit');
    });

    test('both users edit one description offline: both edits survive, character by character', async () => {
      const id = await cardID(a.page, 'backlog', 2);
      const before = await readDescription(a.page, id);
      await offline(a);
      await offline(b);
      await editDescription(a.page, id, (d) => `${d} Checked by A.`);
      await editDescription(b.page, id, (d) => `B: ${d}`);
      await online(a);
      await online(b);
      await waitForSynced(a.page);
      const want = `B: ${before} Checked by A.`;
      for (const [name, device] of [['A', a], ['B', b]]) await waitForDescription(device.page, id, want, name);
    });

    test('a description edited past the compaction bound: the server compacts it, and an offline edit from before survives', async () => {
      // hearth serve compacts a text field once a write leaves 1,024
      // deleted characters in it (limits.text_compact_tombstones): A adds
      // 1,100 characters and takes them out again while B, offline,
      // edits the old text. Both workers rebase onto the compaction; B's
      // edit, made in the epoch before it, is translated when it arrives.
      const id = await cardID(a.page, 'backlog', 3);
      const before = await readDescription(a.page, id);
      await offline(b);
      await editDescription(b.page, id, (d) => `B2: ${d}`);
      await editDescription(a.page, id, (d) => `${d} ${'x'.repeat(1100)}`);
      await waitForSynced(a.page);
      await editDescription(a.page, id, (d) => d.replace(/ x+$/, ' (trimmed by A)'));
      await waitForSynced(a.page);
      await online(b);
      await waitForSynced(a.page);
      const want = `B2: ${before} (trimmed by A)`;
      for (const [name, device] of [['A', a], ['B', b]]) await waitForDescription(device.page, id, want, name);
      for (const device of [a, b]) assert.equal(await pendingChanges(device.page), 0);
    });

    test('delete against an edit offline: the delete wins on both screens', async () => {
      const id = await cardID(a.page, 'backlog', 2);
      await offline(a);
      await offline(b);
      await deleteCard(a.page, id);
      // B edits after A deleted: a later edit still does not bring the row back.
      await editCard(b.page, id, { title: 'Edited after the delete' });
      await waitForCard(b.page, id, { title: 'Edited after the delete' });
      await online(b);
      await online(a);
      await waitForSynced(b.page);
      await Promise.all([waitForCard(a.page, id, null), waitForCard(b.page, id, null)]);
      const counts = await Promise.all([a, b].map((d) => d.page.locator('.card').count()));
      assert.equal(counts[0], counts[1]);
    });

    test('a double booking made offline by both users shows the notice on both; cancelling one clears it everywhere', async () => {
      for (const d of [a, b]) await d.page.locator('#view-rooms').click();
      const slot = await a.page.locator('button.book').nth(7).getAttribute('id');
      await offline(a);
      await offline(b);
      for (const d of [a, b]) {
        await d.page.locator(`[id="${slot}"]`).click();
        await d.page.waitForFunction((s) => document.getElementById(s)?.closest('td')?.querySelector('.booking'), slot);
      }
      await online(a);
      await online(b);
      const notice = (d) => d.page.locator('.notice', { hasText: 'double booking' });
      await Promise.all([a, b].map((d) => notice(d).waitFor({ timeout: 20000 })));
      await Promise.all([a, b].map((d) => d.page.waitForFunction((s) => document.getElementById(s)?.closest('td')?.dataset.double === 'true', slot)));
      await shot(b.page, 'double-booking');

      // B resolves it: cancels one of the two bookings from the panel.
      await b.page.locator('#open-conflicts').click();
      const panel = b.page.getByRole('region', { name: 'Double bookings' });
      await panel.locator('.conflict li button').first().click();
      await Promise.all([a, b].map((d) => notice(d).waitFor({ state: 'detached', timeout: 20000 })));
      await Promise.all([a, b].map((d) => d.page.waitForFunction((s) => document.getElementById(s)?.closest('td')?.dataset.double === 'false', slot)));
      await panel.getByRole('button', { name: 'Close' }).click();
      for (const d of [a, b]) {
        await waitForSynced(d.page);
        await d.page.locator('#view-board').click();
      }
    });
  });
}
