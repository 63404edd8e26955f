// The inspector (web/inspector/) beside the board, in Chromium: it lists
// the board's database, shows its tables with live rows, a row's field
// history after two users' conflicting edits (who won, what lost), the
// journal, the sync timeline and the live-query statistics, and is used
// from the keyboard alone; db.editText on a task's description, from a
// tab beside the board, reaches a watch and the server. Screenshots go to e2e/artifacts/
// (UPDATE_SCREENSHOTS=1: the committed ones in e2e/screenshots/).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { startServer, testClockServerArgs, hearthPage } from './harness.mjs';
import { goOffline, goOnline, waitForSynced, waitForSyncState } from './kit.mjs';
import { openBoard, cardByID, shots } from './scenarios/board.mjs';

describe('inspector beside the board (Chromium)', () => {
  let server, a, b, inspector;

  before(async () => {
    mkdirSync(shots, { recursive: true });
    server = await startServer(['-demo-auth', ...testClockServerArgs()]);
    [a, b] = await Promise.all([
      openBoard(server, { user: 'u-01', backend: 'opfs' }),
      openBoard(server, { user: 'u-02', backend: 'opfs' }),
    ]);
  });

  after(async () => {
    await a?.close();
    await b?.close();
    await server?.stop();
  });

  test('a conflict on one title: the inspector shows who won and what lost, from the keyboard', async () => {
    // Both users retitle the same task offline; B's edit is later and wins.
    const id = (await a.page.locator('.column[data-status="backlog"] .card').first().getAttribute('id')).slice('task-'.length);
    for (const d of [a, b]) {
      await goOffline(d.context);
      await waitForSyncState(d.page, (s) => !s.connected, { what: 'a dropped connection' });
    }
    const retitle = async (page, title) => {
      await cardByID(page, id).focus();
      await page.keyboard.press('Enter');
      await page.locator('#edit-title').fill(title);
      await page.locator('#edit-save').click();
      await page.locator('#edit-title').waitFor({ state: 'detached' });
    };
    await retitle(a.page, 'Title from A');
    await retitle(b.page, 'Title from B');
    for (const d of [a, b]) {
      await goOnline(d.context);
      await waitForSynced(d.page, { timeoutMs: 30000 });
    }
    await waitForSynced(a.page, { timeoutMs: 30000 });
    await cardByID(a.page, id).locator('.title', { hasText: 'Title from B' }).waitFor({ timeout: 20000 });

    // The inspector, in a tab beside A's board: A's worker leads the database.
    inspector = await a.context.newPage();
    await inspector.goto(new URL('inspector/?db=board-u-01', server.url).href);
    await inspector.locator('#status', { hasText: 'Inspecting board-u-01' }).waitFor({ timeout: 60000 });
    assert.match(await inspector.locator('#status').textContent(), /synced/);

    // Keyboard only: Tab to the tasks table's button, Enter, then to the
    // row's History button, Enter.
    await inspector.locator('#table-tasks').focus();
    await inspector.keyboard.press('Enter');
    await inspector.locator('#rows-caption', { hasText: 'tasks:' }).waitFor();
    const historyButton = inspector.locator('#rows button.history').first();
    await historyButton.waitFor();
    const row = inspector.locator('#rows tbody tr', { hasText: 'Title from B' });
    await row.locator('button.history').focus();
    await inspector.keyboard.press('Enter');
    await inspector.locator('#history-section').waitFor();
    assert.equal(await inspector.evaluate(() => document.activeElement?.id), 'h-history', 'focus moves to the history');

    const title = inspector.locator('#history-fields tbody tr', { hasText: 'title' }).first();
    assert.match(await title.textContent(), /Title from B/);
    assert.match(await title.textContent(), /update/);
    const lost = inspector.locator('#history-lost tbody tr', { hasText: 'Title from A' });
    await lost.waitFor();
    assert.match(await lost.textContent(), /update/, 'A’s title lost to B’s update');
    const journal = await inspector.locator('#history-journal tbody').textContent();
    assert.match(journal, /update/);
    assert.match(journal, /acknowledged/);

    // The journal panel, the sync timeline and the live-query statistics.
    assert.ok(await inspector.locator('#journal tbody tr').count() > 0, 'journal entries');
    await inspector.locator('#sync-timeline tbody tr').first().waitFor();
    await inspector.locator('#live-stats tbody tr').first().waitFor({ timeout: 10000 });
    assert.match(await inspector.locator('#live-stats tbody').textContent(), /SELECT/);
    assert.match(await inspector.locator('#sync-retries').textContent(), /Errors by class/);
    // How the database began (the board's, stored before the inspector's worker).
    assert.match(await inspector.locator('#sync-now').textContent(), /began as.*(replica file|snapshot|stored before)/s);
    await inspector.locator('#history-section').screenshot({ path: path.join(shots, 'inspector-history.png') });
    await inspector.evaluate(() => window.scrollTo(0, 0));
    await inspector.screenshot({ path: path.join(shots, 'inspector-overview.png') });
    await inspector.close();
  });

  test('db.editText on a task description: a watch sees the text, the server acknowledges it', async () => {
    // A page beside A's board opens the board's database as the inspector
    // does: A's board worker leads it, and the edit is forwarded there.
    const page = await hearthPage(a.context, server.url);
    try {
      const before = await page.evaluate(async () => {
        const schema = await hearth.loadSchema();
        window.db = await hearth.open({ name: 'board-u-01', migrations: schema.migrations, sync: { tables: schema.tables } });
        const { rows } = await db.query('SELECT id, description FROM tasks ORDER BY id LIMIT 1');
        window.seen = null;
        await db.watch('SELECT description FROM tasks WHERE id = ?', [rows[0].id], (r) => { window.seen = r.rows[0].description; });
        // Positions count code points: the emoji is one.
        window.edited = await db.editText('tasks', rows[0].id, 'description',
          [{ at: 0, insert: '👋 ' }, { at: [...rows[0].description].length + 2, insert: ' (edited)' }]);
        window.refused = await db.editText('tasks', rows[0].id, 'description', [{ at: 100000, insert: 'x' }]).catch((e) => e.code);
        return rows[0];
      });
      assert.equal(await page.evaluate(() => window.edited), `👋 ${before.description} (edited)`);
      assert.equal(await page.evaluate(() => window.refused), 'TEXT_OP_OUT_OF_RANGE');
      await page.waitForFunction(() => window.seen === window.edited, null, { timeout: 10000, polling: 20 });
      await page.waitForFunction(async (id) => {
        const [newest] = (await db.history('tasks', id)).journal;
        return newest?.op === 'update' && newest.state === 'acknowledged';
      }, before.id, { timeout: 30000, polling: 100 });
    } finally {
      await page.close();
    }
  });
});
