// Two tabs of one user on the board (one database, one leader worker),
// with a second device of another user on the same real server: both
// tabs are live, closing the leader tab hands the database over
// (the kit's killLeaderTab), and the remaining tab keeps working and
// syncing.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { startServer, testClockServerArgs } from './harness.mjs';
import { killLeaderTab, waitForSynced, pendingChanges } from './kit.mjs';
import { openBoard, shots, cardByID } from './scenarios/board.mjs';

const columnOf = (page, id) => page.evaluate((id) => document.getElementById(`task-${id}`)?.closest('.column')?.dataset.status ?? null, id);
const waitColumn = (page, id, status) => page.waitForFunction(([id, s]) => document.getElementById(`task-${id}`)?.closest('.column')?.dataset.status === s, [id, status], { timeout: 20000 });

async function moveRight(page, id) {
  await cardByID(page, id).focus();
  await page.keyboard.press('Alt+ArrowRight');
}

describe('board: two tabs of one user', () => {
  let server, me, other, tabs;

  before(async () => {
    mkdirSync(shots, { recursive: true });
    server = await startServer(['-demo-auth', ...testClockServerArgs()]);
    [me, other] = await Promise.all([
      openBoard(server, { user: 'u-01', backend: 'opfs' }),
      openBoard(server, { user: 'u-02', backend: 'opfs' }),
    ]);
    const second = await me.context.newPage();
    await second.goto(me.page.url());
    await second.locator('nav.projects button[aria-current="true"][aria-label$=", 25 tasks"]').waitFor({ timeout: 45000 });
    tabs = [me.page, second];
  });

  after(async () => {
    for (const device of [me, other]) await device?.close();
    await server?.stop();
  });

  test('one tab leads; a change in either tab shows in the other', async () => {
    const leads = await Promise.all(tabs.map((p) => p.evaluate(() => globalThis.hearthIsLeader())));
    assert.equal(leads.filter(Boolean).length, 1, `leaders: ${leads}`);
    const [first, second] = tabs;
    const a = (await first.locator('.column[data-status="backlog"] .card').nth(0).getAttribute('id')).slice(5);
    const b = (await first.locator('.column[data-status="backlog"] .card').nth(1).getAttribute('id')).slice(5);
    await moveRight(first, a);
    await waitColumn(second, a, 'doing');
    await moveRight(second, b);
    await waitColumn(first, b, 'doing');
    for (const p of tabs) await waitForSynced(p);
    await waitColumn(other.page, b, 'doing');
  });

  test('closing the leader tab hands the database over; the remaining tab keeps working and syncing', async () => {
    const [remaining] = await killLeaderTab(tabs);
    await remaining.waitForFunction(() => globalThis.hearthIsLeader(), null, { timeout: 20000 });
    const id = (await remaining.locator('.column[data-status="backlog"] .card').nth(0).getAttribute('id')).slice(5);
    await moveRight(remaining, id);
    await waitColumn(remaining, id, 'doing');
    // The write reaches the server from the new leader's worker, and the
    // other device sees it live. The board shows a move before it writes
    // it (the write waits for the frame), so "synced" is asked only once
    // the other device shows it: before the write, this tab was synced
    // with nothing pending.
    await waitColumn(other.page, id, 'doing');
    await waitForSynced(remaining);
    assert.equal(await pendingChanges(remaining), 0);
    // And the other way: the other device's change reaches this tab.
    const theirs = (await other.page.locator('.column[data-status="backlog"] .card').nth(0).getAttribute('id')).slice(5);
    await moveRight(other.page, theirs);
    await waitColumn(remaining, theirs, 'doing');
    assert.equal(await columnOf(remaining, id), 'doing');
    await remaining.screenshot({ path: path.join(shots, 'tabs-after-handover.png') });
  });
});
