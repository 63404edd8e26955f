// The React example (examples/react-notes) as a developer builds it: the
// npm package's tarball installed with npm into a scratch copy, type-checked
// with tsc, built with Vite, served by `hearth serve -config` on a copy of
// the notes app (examples/notes: its schema, scopes and invariant; SQLite
// store) with the build at /. Two users in two Chromium browsers on
// persistent profiles (real OPFS): notes and filters through useQuery, the
// sync indicator through useSyncStatus, a duplicate through db.transaction. Bob
// goes offline, edits, reloads with no network (the app comes back from its
// service worker with his data), edits again and comes back: both converge.
//
// Bob reaches the server through a loopback link the test cuts (and his
// browser is put offline too, so the page is told): with the link cut
// nothing of the reload can come from the network.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, repoRoot, launchPersistent, loopbackOnly } from './harness.mjs';
import { waitForSynced, goOffline, goOnline, pendingChanges } from './kit.mjs';
import { runAsync, packTarball, installPackage, linkedPackages } from './npm-app.mjs';
import { startLink } from './scenarios/sync.mjs';

const hearthBin = path.join(repoRoot, 'bin', 'hearth');
const example = path.join(repoRoot, 'examples', 'react-notes');
const notesApp = path.join(repoRoot, 'examples', 'notes');

// Screenshots go to e2e/artifacts/ (ignored by git); UPDATE_SCREENSHOTS=1
// writes the committed ones the README shows.
const shots = process.env.UPDATE_SCREENSHOTS
  ? path.join(repoRoot, 'e2e', 'screenshots')
  : path.join(repoRoot, 'e2e', 'artifacts', 'screenshots');

/** The example's files a developer writes (not its installs or builds). */
function copyExample(to) {
  fs.cpSync(example, to, {
    recursive: true,
    filter: (src) => !['node_modules', 'dist'].includes(path.basename(src)),
  });
}

/** Titles and bodies a page shows, in its order. */
function shownNotes(page) {
  return page.$$eval('[data-testid=notes] li', (lis) => lis.map((li) => ({
    title: li.querySelector('[data-testid=title]').value,
    body: li.querySelector('[data-testid=body]').value,
  })));
}

/** Waits (bounded) until the page's note titles are exactly want, in order. */
async function waitForTitles(page, want, what) {
  const deadline = Date.now() + 20000;
  let titles;
  for (;;) {
    titles = (await shownNotes(page)).map((n) => n.title);
    if (JSON.stringify(titles) === JSON.stringify(want)) return;
    if (Date.now() > deadline) throw new Error(`${what}: shows ${JSON.stringify(titles)}, want ${JSON.stringify(want)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits (bounded) until the page shows a note satisfying pred. */
async function waitForNote(page, pred, what) {
  const deadline = Date.now() + 20000;
  let notes;
  for (;;) {
    notes = await shownNotes(page);
    if (notes.some(pred)) return;
    if (Date.now() > deadline) throw new Error(`${what} not shown after 20 s; shown: ${JSON.stringify(notes)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The list item of the note titled title (found by its id: it stays put while the list moves). */
async function note(page, title) {
  const id = await page.$$eval('[data-testid=notes] li', (lis, t) => lis.find((li) => li.querySelector('[data-testid=title]').value === t)?.dataset.id, title);
  if (!id) throw new Error(`no note titled ${title}: ${JSON.stringify(await shownNotes(page))}`);
  return page.locator(`[data-testid=notes] li[data-id="${id}"]`);
}

/** Every state the sync indicator showed since the page loaded (recordIndicatorStates). */
const indicatorStates = (page) => page.evaluate(() => window.syncIndicatorStates ?? []);

/**
 * The README's quick start: its TSX block and its `./bin/hearth serve` and
 * `./bin/hearth token` commands (argument lists, comments dropped).
 */
function readQuickStart() {
  const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  const section = readme.match(/^## Quick start for web developers\n([\s\S]*?)(?=^## )/m)?.[1];
  assert.ok(section, 'README.md has a "## Quick start for web developers" section');
  const code = section.match(/^```tsx\n([\s\S]*?)^```/m)?.[1];
  assert.ok(code, 'the quick start has a tsx block');
  const command = (name) => {
    const line = section.split('\n').find((l) => l.startsWith(`./bin/hearth ${name} `));
    assert.ok(line, `the quick start runs ./bin/hearth ${name}`);
    return line.replace(/#.*$/, '').trim().split(/\s+/).slice(1);
  };
  const install = section.split('\n').find((l) => l.startsWith('npm install '));
  return { code, install, serve: command('serve'), token: command('token') };
}

/**
 * The quick start's code as a second page of the app (quickstart.html),
 * built with the example's Vite config plus that entry.
 */
function addQuickStartPage(app, code) {
  fs.writeFileSync(path.join(app, 'src', 'quickstart.tsx'), code);
  fs.writeFileSync(path.join(app, 'quickstart.html'), '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Quick start</title></head>\n'
    + '<body><div id="root"></div><script type="module" src="/src/quickstart.tsx"></script></body></html>\n');
  fs.writeFileSync(path.join(app, 'vite.quickstart.config.js'), `import config from './vite.config.js';
export default { ...config, build: { ...config.build, rolldownOptions: { input: {
  main: new URL('./index.html', import.meta.url).pathname,
  quickstart: new URL('./quickstart.html', import.meta.url).pathname,
} } } };
`);
}

/** An init script: every state the sync indicator takes, in window.syncIndicatorStates. */
function recordIndicatorStates() {
  const states = window.syncIndicatorStates = [];
  const push = (state) => { if (state && states.at(-1) !== state) states.push(state); };
  new MutationObserver((records) => {
    const el = document.querySelector('[data-testid=sync]');
    for (const r of records) if (r.target === el && r.type === 'attributes') push(r.oldValue);
    push(el?.dataset.state);
  }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'], attributeOldValue: true });
}

describe('React notes example: the npm package, Vite, hearth serve -config', { timeout: 180000 }, () => {
  let work, dist, server, link, quickStart;
  const contexts = {};
  const pages = {};
  const errors = [];

  before(async () => {
    fs.mkdirSync(shots, { recursive: true });
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-react-notes-'));
    quickStart = readQuickStart();

    // The browsers start while the app builds (both take a while on 2 cores).
    // Alice on a desktop-sized window, Bob on a phone-sized one.
    const viewports = { alice: { width: 1100, height: 720 }, bob: { width: 390, height: 760 } };
    const launched = Promise.all(Object.entries(viewports).map(async ([user, viewport]) => {
      const context = await launchPersistent(path.join(work, `profile-${user}`), { viewport });
      contexts[user] = context;
      await loopbackOnly(context);
      await context.addInitScript(recordIndicatorStates);
    }));

    // The app, as a developer has it after `npm install`, `npm run check`
    // and `npm run build`: its registry dependencies are the pinned ones
    // this repo tests with (checked below), linked, so this runs offline.
    // The README's quick start is built beside it, as a second page.
    const app = path.join(work, 'app');
    copyExample(app);
    const manifest = JSON.parse(fs.readFileSync(path.join(app, 'package.json'), 'utf8'));
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ ...manifest, dependencies: {}, devDependencies: {} }));
    installPackage(app, packTarball({ reuse: true }), [...linkedPackages, '@types/react-dom', 'typescript']);
    addQuickStartPage(app, quickStart.code);
    const tool = (pkg, bin) => path.join(app, 'node_modules', pkg, 'bin', bin);
    await Promise.all([
      runAsync(process.execPath, [tool('typescript', 'tsc'), '--noEmit', '-p', '.'], app),
      runAsync(process.execPath, [tool('vite', 'vite.js'), 'build', '--config', 'vite.quickstart.config.js', '--logLevel', 'warn'], app),
    ]);
    dist = path.join(app, 'dist');

    // The notes app with fresh secrets (what `make notes-secrets` makes), on
    // a SQLite file, served by the quick start's command.
    const notes = path.join(work, 'notes');
    fs.cpSync(path.join(notesApp, 'hearth.yaml'), path.join(notes, 'hearth.yaml'));
    fs.cpSync(path.join(notesApp, 'migrations'), path.join(notes, 'migrations'), { recursive: true });
    fs.mkdirSync(path.join(notes, 'secrets'));
    fs.mkdirSync(path.join(notes, 'data'));
    fs.writeFileSync(path.join(notes, 'secrets', 'jwt-secret'), randomBytes(32).toString('hex'));
    fs.writeFileSync(path.join(notes, 'secrets', 'service-token'), randomBytes(32).toString('hex'));
    const paths = { 'examples/notes/hearth.yaml': path.join(notes, 'hearth.yaml'), 'path/to/your-app/dist': dist };
    server = await startServer(quickStart.serve.slice(1).map((a) => paths[a] ?? a), { web: [] });
    link = await startLink(server.url);

    // Bob reaches the server through the link.
    await launched;
    const urls = { alice: server.url, bob: link.url };
    await Promise.all(Object.keys(viewports).map(async (user) => {
      const page = contexts[user].pages()[0] ?? await contexts[user].newPage();
      page.on('pageerror', (err) => errors.push(`${user}: ${err}`));
      await page.goto(new URL(`?token=${token(user)}`, urls[user]).href);
      pages[user] = page;
    }));

    /** A token by the quick start's command, for user. */
    function token(user) {
      const args = quickStart.token.map((a) => paths[a] ?? a);
      args[args.indexOf('-sub') + 1] = user;
      return execFileSync(hearthBin, args, { encoding: 'utf8' }).trim();
    }
  });

  after(async () => {
    for (const c of Object.values(contexts)) await c.close().catch(() => {});
    await link?.close();
    await server?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  test('the example pins the tools this repository tests with, and the package from its tarball', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(example, 'package.json'), 'utf8'));
    const root = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8'));
    const pinned = { ...manifest.dependencies, ...manifest.devDependencies };
    for (const [name, version] of Object.entries(pinned)) {
      if (name === '@hearthdb/hearth') {
        assert.equal(version, `file:../../build/package/hearthdb-hearth-${root.version}.tgz`);
      } else {
        assert.equal(version, root.devDependencies[name], `${name} is pinned as the repository pins it`);
      }
    }
    // And the build holds no Go and nothing of web/ but what the package brought.
    const built = fs.readdirSync(dist, { recursive: true, encoding: 'utf8' });
    assert.ok(built.some((f) => /^assets\/hearth-[\w-]+\.wasm$/.test(f)), built.join(', '));
    assert.ok(built.includes('sw.js'), built.join(', '));
  });

  test('both users open the app and sync; the indicator says so', async () => {
    for (const page of Object.values(pages)) {
      await waitForSynced(page, { timeoutMs: 60000 });
      await page.locator('[data-testid=sync][data-state=synced]').waitFor({ timeout: 20000 });
      assert.match(await page.locator('[data-testid=sync]').textContent(), /Synced/);
      assert.match(await page.locator('.who').textContent(), /space team/);
      assert.equal(new URL(page.url()).search, '', 'the token is taken out of the address bar');
    }
  });

  test('a note added by one user appears live at the other; the filter re-queries as it changes', async () => {
    const { alice, bob } = pages;
    for (const [title, body] of [['Groceries', 'milk'], ['Trip', 'train tickets'], ['Books', 'return the library books']]) {
      await alice.fill('[data-testid=new-title]', title);
      await alice.fill('[data-testid=new-body]', body);
      await alice.click('[data-testid=add]');
      await waitForNote(bob, (n) => n.title === title && n.body === body, `alice's ${title} at bob's`);
    }
    await waitForTitles(bob, ['Books', 'Trip', 'Groceries'], 'newest first');

    // Filter by text (title or body), then pinned only: new params each time.
    await bob.fill('[data-testid=filter]', 'TICK');
    await waitForTitles(bob, ['Trip'], 'filtered by "TICK"');
    await bob.fill('[data-testid=filter]', 'book');
    await waitForTitles(bob, ['Books'], 'filtered by "book"');
    await bob.fill('[data-testid=filter]', 'nothing like it');
    await bob.locator('[data-testid=empty]', { hasText: 'No note matches' }).waitFor();
    await bob.fill('[data-testid=filter]', '');
    await bob.check('[data-testid=pinned-only]');
    await bob.locator('[data-testid=empty]').waitFor();
    await (await note(alice, 'Groceries')).locator('[data-testid=pinned]').check();
    await waitForTitles(bob, ['Groceries'], 'pinned only, after alice pins Groceries');
    await bob.uncheck('[data-testid=pinned-only]');
    await waitForTitles(bob, ['Groceries', 'Books', 'Trip'], 'pinned first');
    // The filter's old watches have ended (asynchronously): two are left,
    // the notes and the server's flags.
    await bob.waitForFunction(async () => (await window.notesDB.info()).subscriptions === 2, null, { timeout: 10000, polling: 100 });
  });

  test('duplicate (one db.transaction): "(copy)", then "(copy 2)", announced; the server flags no title twice', async () => {
    const { alice, bob } = pages;
    await (await note(alice, 'Trip')).locator('[data-testid=duplicate]').click();
    await alice.locator('[data-testid=announce]', { hasText: 'Copied as Trip (copy)' }).waitFor();
    await (await note(alice, 'Trip')).locator('[data-testid=duplicate]').click();
    await alice.locator('[data-testid=announce]', { hasText: 'Copied as Trip (copy 2)' }).waitFor();
    await waitForNote(bob, (n) => n.title === 'Trip (copy 2)' && n.body === 'train tickets', 'the second copy at bob\'s');
    await waitForSynced(alice);
    assert.equal(await alice.locator('[data-testid=flags]').count(), 0);
    await (await note(alice, 'Trip (copy 2)')).locator('[data-testid=delete]').click();
    await waitForNote(bob, (n) => n.title === 'Trip (copy)', 'the first copy');
    await waitForTitles(bob, ['Groceries', 'Trip (copy)', 'Books', 'Trip'], 'pinned first, then newest first, after the delete');
    await alice.mouse.move(0, 0);
    await alice.evaluate(() => { document.activeElement?.blur(); window.scrollTo(0, 0); });
    await alice.screenshot({ path: path.join(shots, 'react-notes-desktop.png') });
  });

  test('offline: edits, a reload with no network (from the service worker), more edits; back online both converge', async () => {
    const { alice, bob } = pages;
    // The service worker has cached the app (installed and in charge).
    await bob.evaluate(async () => { await navigator.serviceWorker.ready; });
    await bob.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 20000 });

    link.cut();
    await goOffline(contexts.bob);
    await bob.locator('[data-testid=sync][data-state=offline]').waitFor({ timeout: 20000 });

    // Bob changes the text of Groceries offline; Alice renames it online.
    const body = (await note(bob, 'Groceries')).locator('[data-testid=body]');
    await body.fill('milk, eggs');
    await body.blur();
    await bob.locator('[data-testid=sync][data-state=offline][data-pending="1"]', { hasText: 'Offline · 1 change to send' }).waitFor();
    const title = (await note(alice, 'Groceries')).locator('[data-testid=title]');
    await title.fill('Groceries (Saturday)');
    await title.press('Enter');
    await waitForSynced(alice);

    // The reload: nothing can reach the server, yet the app starts with his data.
    await bob.reload();
    await waitForNote(bob, (n) => n.title === 'Groceries' && n.body === 'milk, eggs', 'bob\'s offline edit after the offline reload');
    assert.ok(await bob.evaluate(() => navigator.serviceWorker.controller !== null), 'the reload was served by the service worker');
    await bob.locator('[data-testid=sync][data-state=offline][data-pending="1"]').waitFor();
    assert.equal(await pendingChanges(bob), 1);

    // More edits, still offline.
    await bob.fill('[data-testid=new-title]', 'Written offline');
    await bob.click('[data-testid=add]');
    await bob.locator('[data-testid=sync][data-state=offline][data-pending="2"]').waitFor();
    await bob.screenshot({ path: path.join(shots, 'react-notes-phone-offline.png') });

    link.restore();
    await goOnline(contexts.bob);
    for (const page of [alice, bob]) {
      await waitForNote(page, (n) => n.title === 'Groceries (Saturday)' && n.body === 'milk, eggs', 'the merged note');
      await waitForNote(page, (n) => n.title === 'Written offline', 'bob\'s note written offline');
      await waitForSynced(page);
    }
    await bob.locator('[data-testid=sync][data-state=synced]').waitFor({ timeout: 20000 });
    // Since the reload: offline, then synced; "sending" between them if
    // it was shown at all. The push lasts milliseconds on loopback, and
    // the worker sends at most one status per window (its newest), so a
    // fast machine may go from offline to synced in one step.
    const states = await indicatorStates(bob);
    const at = (s) => states.indexOf(s);
    const synced = states.lastIndexOf('synced');
    assert.ok(at('offline') >= 0 && synced > at('offline') && (at('pending') < 0 || (at('pending') > at('offline') && at('pending') < synced)), JSON.stringify(states));
    assert.equal(await pendingChanges(bob), 0);
    assert.deepEqual(await shownNotes(alice), await shownNotes(bob));
  });

  test('a network that accepts requests and never answers: the app starts from its cache and its stored schema', async () => {
    const { bob } = pages;
    await bob.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 20000 });
    link.hang();
    try {
      // Its load event too: nothing the page waits for goes to the network.
      await bob.reload({ timeout: 30000 });
      await waitForNote(bob, (n) => n.title === 'Written offline', 'bob\'s notes while the server does not answer');
    } finally {
      link.restore();
    }
    await bob.locator('[data-testid=sync][data-state=synced]').waitFor({ timeout: 60000 });
  });

  test('the README quick start: its code, built with Vite from the tarball, opens, writes, queries, watches and syncs', async () => {
    const version = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).version;
    assert.equal(quickStart.install.split('#')[0].trim(), `npm install path/to/hearth/build/package/hearthdb-hearth-${version}.tgz react react-dom`);
    const page = await contexts.alice.newPage();
    page.on('pageerror', (err) => errors.push(`quick start: ${err}`));
    const logged = [];
    page.on('console', (m) => logged.push(m.text()));
    const alice = await pages.alice.evaluate(() => localStorage.getItem('react-notes.token'));
    await page.goto(new URL(`quickstart.html?token=${alice}`, server.url).href);
    // Its list is live: the insert, then every team note by initial sync.
    await page.locator('li', { hasText: 'Hello' }).waitFor({ timeout: 30000 });
    await page.locator('li', { hasText: 'Written offline' }).waitFor({ timeout: 20000 });
    await page.locator('p', { hasText: /^syncing$/ }).waitFor({ timeout: 20000 });
    assert.ok(logged.some((t) => /^\d+ notes$/.test(t)), JSON.stringify(logged));
    // And its note reaches Bob's app.
    await waitForNote(pages.bob, (n) => n.title === 'Hello', 'the quick start\'s note at bob\'s');
    await page.close();
  });

  test('no page errors', () => {
    assert.deepEqual(errors, []);
  });
});
