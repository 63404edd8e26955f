// The notes example (examples/notes) served by `hearth serve -config` alone,
// on PostgreSQL: its own schema, scopes and SQL invariant, no Go of its
// own. Two Chromium browsers on persistent profiles (real OPFS), one of
// them offline for a while; edits converge; a write from the app's backend
// (POST /v1/write with a service token) and a row inserted with psql into
// PostgreSQL reach both pages live.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServer, repoRoot, launchPersistent, loopbackOnly } from './harness.mjs';
import { waitForSynced, goOffline, goOnline, pendingChanges } from './kit.mjs';

const hearthBin = path.join(repoRoot, 'bin', 'hearth');
const example = path.join(repoRoot, 'examples', 'notes');

/** Starts a private PostgreSQL (bin/pgserve); resolves to {url, stop}. */
async function startPostgres() {
  const proc = spawn(path.join(repoRoot, 'bin', 'pgserve'), [], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pgserve printed no URL in 60 s:\n${stderr}`)), 60000);
    createInterface({ input: proc.stdout }).on('line', (line) => {
      if (line.startsWith('postgres://')) { clearTimeout(timer); resolve(line.trim()); }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`pgserve exited with ${code}:\n${stderr}`)); });
  });
  return {
    url,
    stop: () => new Promise((resolve) => { proc.on('exit', resolve); proc.stdin.end(); }),
  };
}

/** Titles and bodies the page shows, in its order. */
function shownNotes(page) {
  return page.$$eval('[data-testid=notes] li', (lis) => lis.map((li) => ({
    title: li.querySelector('[data-testid=title]').value,
    body: li.querySelector('[data-testid=body]').value,
  })));
}

/** Waits (bounded) until the page shows a note satisfying pred. */
async function waitForNote(page, pred, what) {
  const deadline = Date.now() + 20000;
  let notes;
  for (;;) {
    notes = await shownNotes(page);
    const hit = notes.find(pred);
    if (hit) return hit;
    if (Date.now() > deadline) throw new Error(`${what} not shown after 20 s; shown: ${JSON.stringify(notes)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('notes example: hearth serve -config on PostgreSQL', { timeout: 240000 }, () => {
  let pg, server, work, serviceToken;
  const browsers = [];
  const pages = {};

  before(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'hearth-notes-'));
    // The example as a user checks it out: its config and migrations, and
    // the secrets `make notes-secrets` would create.
    const app = path.join(work, 'app');
    cpSync(path.join(example, 'hearth.yaml'), path.join(app, 'hearth.yaml'));
    cpSync(path.join(example, 'migrations'), path.join(app, 'migrations'), { recursive: true });
    mkdirSync(path.join(app, 'secrets'));
    writeFileSync(path.join(app, 'secrets', 'jwt-secret'), randomBytes(32).toString('hex'));
    serviceToken = randomBytes(32).toString('hex');
    writeFileSync(path.join(app, 'secrets', 'service-token'), serviceToken + '\n');
    const config = path.join(app, 'hearth.yaml');
    execFileSync(hearthBin, ['check', '-config', config]);

    pg = await startPostgres();
    server = await startServer(['-config', config, '-store', pg.url], {
      web: [path.join(repoRoot, 'web'), `/notes/=${path.join(example, 'web')}`],
    });
    const token = (sub) => execFileSync(hearthBin, ['token', '-config', config, '-sub', sub, '-scopes', 'team'], { encoding: 'utf8' }).trim();
    for (const user of ['alice', 'bob']) {
      const context = await launchPersistent(path.join(work, `profile-${user}`));
      await loopbackOnly(context);
      browsers.push(context);
      const page = await context.newPage();
      await page.goto(new URL(`notes/?token=${token(user)}`, server.url).href);
      await page.waitForFunction(() => window.hearthSyncStatus);
      await waitForSynced(page, { timeoutMs: 60000 });
      pages[user] = page;
    }
  });

  after(async () => {
    for (const b of browsers) await b.close().catch(() => {});
    await server?.stop();
    await pg?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('a note added in one browser appears live in the other', async () => {
    const { alice, bob } = pages;
    await alice.fill('[data-testid=new-title]', 'Groceries');
    await alice.fill('[data-testid=new-body]', 'milk');
    await alice.click('[data-testid=add]');
    await waitForNote(bob, (n) => n.title === 'Groceries' && n.body === 'milk', 'alice\'s note on bob\'s page');
  });

  test('offline edits on both sides converge field by field', async () => {
    const { alice, bob } = pages;
    const bobContext = browsers[1];
    await goOffline(bobContext);
    // Bob changes the text offline; Alice renames the note online.
    const bobBody = bob.locator('[data-testid=notes] li').first();
    await bobBody.locator('[data-testid=body]').fill('milk, eggs');
    await bobBody.locator('[data-testid=body]').blur();
    await bob.waitForFunction(() => document.querySelector('[data-testid=sync]').dataset.pending !== '0');
    assert.ok(await pendingChanges(bob) > 0, 'bob\'s edit waits to be sent');
    const aliceNote = alice.locator('[data-testid=notes] li').first();
    await aliceNote.locator('[data-testid=title]').fill('Groceries (Saturday)');
    await aliceNote.locator('[data-testid=title]').blur();
    await waitForSynced(alice);

    await goOnline(bobContext);
    for (const page of [alice, bob]) {
      await waitForNote(page, (n) => n.title === 'Groceries (Saturday)' && n.body === 'milk, eggs', 'the merged note');
    }
  });

  test('a write from the app\'s backend (POST /v1/write) appears live in both', async () => {
    const res = await fetch(new URL('v1/write', server.url), {
      method: 'POST',
      headers: { authorization: `Bearer ${serviceToken}`, 'idempotency-key': 'notes-e2e-1', 'content-type': 'application/json' },
      body: JSON.stringify({ changes: [{ table: 'notes', op: 'upsert', values: { id: 'from-backend', space_id: 'team', title: 'Invoice paid', body: 'by the billing service', author: 'billing' } }] }),
    });
    const reply = await res.json();
    assert.equal(res.status, 200, JSON.stringify(reply));
    assert.equal(reply.results[0].status, 'applied', JSON.stringify(reply));
    for (const page of Object.values(pages)) {
      await waitForNote(page, (n) => n.title === 'Invoice paid', 'the backend\'s note');
    }
  });

  test('a row inserted with psql into PostgreSQL appears live in both', async () => {
    execFileSync('psql', [pg.url, '-v', 'ON_ERROR_STOP=1', '-c',
      "INSERT INTO hearth.notes (id, space_id, title, body, author, pinned, updated_at) VALUES ('from-psql', 'team', 'Typed into psql', 'hello from SQL', 'dba', 0, 0)"]);
    for (const page of Object.values(pages)) {
      await waitForNote(page, (n) => n.title === 'Typed into psql' && n.body === 'hello from SQL', 'the psql row');
    }
    // And an UPDATE by another program reaches them too.
    execFileSync('psql', [pg.url, '-v', 'ON_ERROR_STOP=1', '-c', "UPDATE hearth.notes SET body = 'edited in psql' WHERE id = 'from-psql'"]);
    for (const page of Object.values(pages)) {
      await waitForNote(page, (n) => n.title === 'Typed into psql' && n.body === 'edited in psql', 'the psql update');
    }
  });

  test('the SQL invariant flags a duplicate title on every page', async () => {
    const { alice, bob } = pages;
    await alice.fill('[data-testid=new-title]', 'Invoice paid');
    await alice.click('[data-testid=add]');
    for (const page of [alice, bob]) {
      await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=flags] li')]
        .some((li) => li.textContent.includes('another note in this space is titled Invoice paid')), null, { timeout: 20000 });
    }
  });
});
