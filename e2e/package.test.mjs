// The npm package as an app meets it: `make package`'s tarball installed
// with npm into a Vite + React app, an esbuild + React app and a webpack 5
// + React app (scratch
// directories under the OS temp dir), each built by its bundler, served on
// 127.0.0.1 (the Vite build by `hearth serve -web DIR`, with sync; the
// esbuild build by a static file server) and run in Chromium; the Vite app
// also under Vite's dev server. Both apps run the same React component
// through @hearthdb/hearth/react: a write and a live query round-trip
// through useQuery, a re-render with equal params keeps the watch, new
// params re-subscribe, unmount unsubscribes (the worker's own subscription
// count says so), a failing query reports its error; with sync,
// useSyncStatus follows a second database to 'syncing'. A TypeScript file
// type-checks against the installed package's exports, and the installed
// package served as it is (no bundler) opens and watches with the defaults.
//
// react, react-dom, vite, @vitejs/plugin-react, esbuild, webpack, webpack-cli,
// @types/react, kysely and typescript are this repo's devDependencies (pinned in package.json): the
// scratch apps link to them (or run them from here) instead of
// downloading them, so the test runs offline; only the tarball is installed
// by npm (`npm install --offline`, it has no dependencies).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { repoRoot, launchBrowser, loopbackOnly, startServer } from './harness.mjs';
import { run, packTarball, installPackage } from './npm-app.mjs';
import { transformSync } from 'esbuild';

// The component both apps render: Tasks watches a query with params that
// are a new array on every render; window.hearthApp lets the test drive it.
const appSource = `
import { StrictMode, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { HearthProvider, useQuery, useDatabase, useSyncStatus } from '@hearthdb/hearth/react';

const renders = [];

function Tasks({ done }) {
  const { rows, loading, error } = useQuery('SELECT id, title FROM tasks WHERE done = ? ORDER BY id', [done]);
  const db = useDatabase();
  renders.push({ done, loading, ids: rows.map((r) => r.id), error: error ? error.code : null, db: db.name });
  return <ul id="tasks" data-loading={String(loading)}>{rows.map((t) => <li key={t.id}>{t.title}</li>)}</ul>;
}

// A query that cannot run: useQuery reports the error, with its code.
function Broken() {
  const { error, loading } = useQuery('SELECT * FROM no_such_table');
  return <p id="broken">{loading ? 'loading' : error ? error.code + ': ' + error.message : 'no error'}</p>;
}

function Root() {
  const [state, setState] = useState({ show: true, done: 0, tick: 0 });
  window.hearthApp.setState = (patch) => setState((s) => ({ ...s, ...patch }));
  const status = useSyncStatus();
  return (
    <>
      {state.show ? <Tasks done={state.done} /> : <p id="unmounted">unmounted</p>}
      <p id="sync">{status === null ? 'no sync' : status.state}</p>
      <p id="tick">{state.tick}</p>
      <Broken />
    </>
  );
}

// The live sync status of a database opened with sync (its own provider).
function SyncState() {
  const status = useSyncStatus();
  window.hearthApp.syncStates.push(status ? status.state : null);
  return <p id="synced">{status === null ? 'none yet' : status.state}</p>;
}

export async function start(open) {
  window.hearthApp = { renders, syncStates: [] };
  const schema = window.hearthSyncSchema;
  if (schema) {
    const synced = await open({ name: 'package-sync', migrations: schema.migrations, sync: { url: '/sync', tables: schema.tables } });
    createRoot(document.getElementById('sync-root')).render(<HearthProvider db={synced}><SyncState /></HearthProvider>);
  }
  const db = await open({
    name: 'package-test',
    migrations: [{ version: 1, sql: 'CREATE TABLE tasks (id TEXT PRIMARY KEY, title TEXT NOT NULL, done INTEGER NOT NULL)' }],
  });
  window.hearthApp.db = db;
  createRoot(document.getElementById('root')).render(
    <StrictMode><HearthProvider db={db}><Root /></HearthProvider></StrictMode>,
  );
}
`;

const indexHTML = (script) => `<!doctype html>
<html><head><meta charset="utf-8"><title>hearth package test</title></head>
<body><div id="root"></div><div id="sync-root"></div><script type="module" src="${script}"></script></body></html>
`;

/** The Vite app: nothing Hearth-specific in its config. */
const viteApp = {
  name: 'vite',
  files: {
    'index.html': indexHTML('/src/main.jsx'),
    'vite.config.js': `import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
export default defineConfig({ plugins: [react()], logLevel: 'warn' });
`,
    'src/app.jsx': appSource,
    'src/main.jsx': `import { open } from '@hearthdb/hearth';
import { start } from './app.jsx';
start(open).catch((err) => { window.hearthAppError = String(err && err.stack || err); });
`,
  },
  build: (dir) => run(process.execPath, [path.join(dir, 'node_modules', 'vite', 'bin', 'vite.js'), 'build'], dir),
  served: 'dist',
};

/** The esbuild app: the README's recipe (the worker a second entry point, the wasm by the file loader). */
const esbuildApp = {
  name: 'esbuild',
  files: {
    'public/index.html': indexHTML('/build/app.js'),
    'build.mjs': `import * as esbuild from 'esbuild';
await esbuild.build({
  entryPoints: { app: 'src/main.jsx', 'hearth-worker': '@hearthdb/hearth/worker', 'hearth-socket-relay': '@hearthdb/hearth/socket-relay' },
  bundle: true, format: 'esm', outdir: 'public/build', loader: { '.wasm': 'file' },
  jsx: 'automatic', minify: true, logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
});
`,
    'src/app.jsx': appSource,
    'src/main.jsx': `import { open, preload } from '@hearthdb/hearth';
import wasm from '@hearthdb/hearth/hearth.wasm';
import { start } from './app.jsx';
preload({
  workerURL: new URL('./hearth-worker.js', import.meta.url),
  wasmURL: new URL(wasm, import.meta.url),
});
start(open).catch((err) => { window.hearthAppError = String(err && err.stack || err); });
`,
  },
  build: (dir) => run(process.execPath, ['build.mjs'], dir),
  served: 'public',
};

/**
 * The webpack 5 app: nothing Hearth-specific in its config (webpack finds
 * the worker and the wasm through new URL(..., import.meta.url) itself).
 * webpack has no JSX loader of its own, so the component is compiled to
 * plain JS with esbuild first, as a babel-loader would.
 */
const webpackApp = {
  name: 'webpack',
  files: {
    'public/index.html': indexHTML('/build/main.mjs'),
    'webpack.config.mjs': `export default {
  mode: 'production',
  entry: './src/main.js',
  experiments: { outputModule: true },
  output: { module: true, path: new URL('./public/build/', import.meta.url).pathname, publicPath: '/build/' },
  performance: { hints: false },
};
`,
    'src/app.js': transformSync(appSource, { loader: 'jsx', jsx: 'automatic' }).code,
    'src/main.js': `import { open } from '@hearthdb/hearth';
import { start } from './app.js';
start(open).catch((err) => { window.hearthAppError = String(err && err.stack || err); });
`,
  },
  build: (dir) => run(process.execPath, [path.join(dir, 'node_modules', 'webpack-cli', 'bin', 'cli.js'), '--config', 'webpack.config.mjs'], dir),
  served: 'public',
};

/** A TypeScript app that only type-checks against the package (every export). */
const typesApp = {
  name: 'types',
  files: {
    'check.tsx': `import { open, preload, type Database, type SyncStatus } from '@hearthdb/hearth';
import { HearthProvider, useQuery, useSyncStatus, type QueryState } from '@hearthdb/hearth/react';
import { HearthDialect } from '@hearthdb/hearth/kysely';
import { Kysely } from 'kysely';
import wasm from '@hearthdb/hearth/hearth.wasm';
import '@hearthdb/hearth/worker';
import manifest from '@hearthdb/hearth/package.json' with { type: 'json' };

interface Task { id: string; title: string }
preload({ workerURL: new URL('./hearth-worker.js', import.meta.url), wasmURL: new URL(wasm, import.meta.url) });
export function Tasks({ done }: { done: boolean }) {
  const { rows, error }: QueryState<Task> = useQuery<Task>('SELECT * FROM tasks WHERE done = ?', [done]);
  const status: SyncStatus | null = useSyncStatus();
  return <ul title={error?.code}>{rows.map((t) => <li key={t.id}>{t.title} {status?.state}</li>)}</ul>;
}
export async function main(): Promise<Database> {
  const db = await open({ name: 'x' });
  console.log(<HearthProvider db={db}><Tasks done /></HearthProvider>, manifest.version);
  const k = new Kysely<{ tasks: Task }>({ dialect: new HearthDialect({ database: db }) });
  const titles: string[] = (await k.selectFrom('tasks').select('title').execute()).map((t) => t.title);
  const n: number = await db.transaction(async (tx) => (await tx.exec('DELETE FROM tasks')).changes);
  console.log(titles, n);
  return db;
}
`,
  },
};

/** Writes the app, installs the tarball with npm, links the pinned tools from this repo. */
function makeApp(root, app, tarball) {
  const dir = path.join(root, app.name);
  for (const [name, text] of Object.entries(app.files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `hearth-package-test-${app.name}`, private: true, type: 'module' }));
  installPackage(dir, tarball);
  return dir;
}

const contentTypes = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css', '.json': 'application/json', '.svg': 'image/svg+xml' };

/** A static file server on 127.0.0.1 for one directory; resolves to {url, close}. */
async function serveStatic(dir) {
  const server = http.createServer((req, res) => {
    const pathname = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    let file = path.join(dir, pathname);
    if (!file.startsWith(dir)) { res.writeHead(403).end(); return; }
    if (fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, 'index.html');
    if (!fs.existsSync(file)) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'Content-Type': contentTypes[path.extname(file)] ?? 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${server.address().port}/`, close: () => new Promise((resolve) => server.close(resolve)) };
}

/** Every file under dir, relative to it. */
function listFiles(dir) {
  return fs.readdirSync(dir, { recursive: true }).filter((f) => fs.statSync(path.join(dir, f)).isFile());
}

/**
 * The scenario both apps run (the app in appSource): opens, round-trips a
 * write through useQuery, keeps the watch for equal params, re-subscribes
 * for new ones, unsubscribes on unmount.
 */
async function runScenario(browser, url, { syncSchema } = {}) {
  const context = await browser.newContext();
  await loopbackOnly(context);
  if (syncSchema) await context.addInitScript((schema) => { window.hearthSyncSchema = schema; }, syncSchema);
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (err) => pageErrors.push(err));
  try {
    await page.goto(url);
    await page.waitForFunction(() => window.hearthAppError || window.hearthApp?.db, null, { timeout: 30000 });
    assert.equal(await page.evaluate(() => window.hearthAppError ?? null), null);
    const storage = await page.evaluate(() => window.hearthApp.db.storage);
    assert.ok(storage === 'opfs' || storage === 'idb', `durable storage, got ${storage}`);
    await page.waitForSelector('#tasks[data-loading="false"]', { state: 'attached', timeout: 10000 });
    assert.equal(await page.textContent('#sync'), 'no sync');
    await page.waitForFunction(() => document.getElementById('broken')?.textContent !== 'loading', null, { timeout: 10000 });
    assert.match(await page.textContent('#broken'), /^SQLITE_ERROR: .*no_such_table/);
    if (syncSchema) {
      // useSyncStatus follows the synced database to 'syncing' (connected, caught up).
      await page.waitForFunction(() => document.getElementById('synced')?.textContent === 'syncing', null, { timeout: 20000 });
      // The bundler built the worker's socket relay and the sync runs
      // through it (web/hearth-socket.js).
      assert.ok(page.workers().some((w) => /hearth-socket-relay/.test(w.url())), page.workers().map((w) => w.url()).join(', '));
      const states = await page.evaluate(() => window.hearthApp.syncStates);
      assert.ok(states.length >= 2 && states.at(-1) === 'syncing', JSON.stringify(states));
    }

    const titles = () => page.$$eval('#tasks li', (lis) => lis.map((li) => li.textContent));
    const waitTitles = (want) => page.waitForFunction(
      (w) => JSON.stringify([...document.querySelectorAll('#tasks li')].map((li) => li.textContent)) === w,
      JSON.stringify(want), { timeout: 10000 },
    );
    const subscriptions = () => page.evaluate(async () => (await window.hearthApp.db.info()).subscriptions);
    const waitSubscriptions = (want) => page.waitForFunction(
      async (w) => (await window.hearthApp.db.info()).subscriptions === w, want, { timeout: 10000, polling: 50 },
    );

    // A write re-renders the watching component with the new row.
    await page.evaluate(() => window.hearthApp.db.exec("INSERT INTO tasks VALUES ('a', 'first', 0), ('z', 'done one', 1)"));
    await waitTitles(['first']);
    await page.evaluate(() => window.hearthApp.db.exec("INSERT INTO tasks VALUES ('b', 'second', 0)"));
    await waitTitles(['first', 'second']);
    assert.equal(await subscriptions(), 1);

    // A re-render passes a new params array with the same value: the watch stays.
    const rendersBefore = await page.evaluate(() => window.hearthApp.renders.length);
    await page.evaluate(() => window.hearthApp.setState({ tick: 1 }));
    await page.waitForFunction(() => document.getElementById('tick').textContent === '1', null, { timeout: 10000 });
    await page.evaluate(() => window.hearthApp.db.exec("INSERT INTO tasks VALUES ('c', 'third', 0)"));
    await waitTitles(['first', 'second', 'third']);
    const sameParams = await page.evaluate((from) => window.hearthApp.renders.slice(from), rendersBefore);
    assert.ok(sameParams.every((r) => !r.loading && r.done === 0), JSON.stringify(sameParams));
    assert.equal(await subscriptions(), 1);

    // New params: the watch moves to done = 1, and the old one ends.
    await page.evaluate(() => window.hearthApp.setState({ done: 1 }));
    await waitTitles(['done one']);
    await waitSubscriptions(1);
    await page.evaluate(() => window.hearthApp.db.exec("INSERT INTO tasks VALUES ('y', 'done two', 1), ('d', 'fourth', 0)"));
    await waitTitles(['done two', 'done one']);

    // Unmount: the worker's subscription ends and nothing renders Tasks again.
    await page.evaluate(() => window.hearthApp.setState({ show: false }));
    await page.waitForSelector('#unmounted', { timeout: 10000 });
    await waitSubscriptions(0);
    const rendersAtUnmount = await page.evaluate(() => window.hearthApp.renders.length);
    await page.evaluate(() => window.hearthApp.db.exec("INSERT INTO tasks VALUES ('x', 'after unmount', 1)"));
    assert.equal((await page.evaluate(() => window.hearthApp.db.query('SELECT count(*) AS n FROM tasks'))).rows[0].n, 7);
    assert.equal(await page.evaluate(() => window.hearthApp.renders.length), rendersAtUnmount);
    assert.equal(await subscriptions(), 0);

    // Mounted again: a fresh watch with every row so far.
    await page.evaluate(() => window.hearthApp.setState({ show: true }));
    await waitTitles(['after unmount', 'done two', 'done one']);
    assert.equal(await subscriptions(), 1);
    assert.deepEqual(await titles(), ['after unmount', 'done two', 'done one']);
    assert.deepEqual(pageErrors, []);
  } finally {
    await context.close();
  }
}

/**
 * Starts Vite's dev server in dir on a free loopback port; resolves to
 * {url, stop}. It serves the app unbundled, the package's modules
 * pre-bundled by Vite into node_modules/.vite.
 */
async function startViteDev(dir) {
  const proc = spawn(process.execPath, [path.join(dir, 'node_modules', 'vite', 'bin', 'vite.js'), '--host', '127.0.0.1', '--port', '0', '--logLevel', 'info'], {
    cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
  });
  let output = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`vite printed no URL in 30 s:\n${output}`)), 30000);
    const onData = (d) => {
      output += d;
      const m = output.match(/(http:\/\/127\.0\.0\.1:\d+\/)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`vite exited with ${code}:\n${output}`)); });
  });
  return {
    url,
    // Vite's SIGTERM handler waits for its server to close, which can take
    // long after a browser has held connections open: a bounded wait, then
    // SIGKILL (it keeps nothing we need).
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = once(proc, 'exit');
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

describe('the npm package in a Vite app, an esbuild app and a webpack app', () => {
  let scratch, tarball, browser;
  const servers = [];
  /** @type {Record<string, string>} each app's directory, made once */
  const appDirs = {};
  const appDir = (app) => (appDirs[app.name] ??= makeApp(scratch, app, tarball));

  before(async () => {
    tarball = packTarball();
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-package-'));
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    for (const s of servers) await (s.close ?? s.stop).call(s);
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });

  test('the tarball holds the package and nothing else', () => {
    const listing = run('tar', ['-tzf', tarball], repoRoot).trim().split('\n').map((f) => f.replace(/^package\//, '')).sort();
    assert.deepEqual(listing, [
      'README.md', 'dist/hearth.wasm', 'dist/wasm_exec.js', 'hearth-head-start.js', 'hearth-socket-relay.js', 'hearth-socket.js', 'hearth-storage.js', 'hearth-tabs.js', 'hearth-worker-boot.js',
      'hearth-worker-wasm.js', 'hearth-worker.d.ts', 'hearth-worker.js', 'hearth.d.ts', 'hearth.js', 'hearth.wasm.d.ts', 'kysely.d.ts', 'kysely.js',
      'package.json', 'protocol.js', 'react.d.ts', 'react.js',
    ]);
    const manifest = JSON.parse(run('tar', ['-xzOf', tarball, 'package/package.json'], repoRoot));
    assert.equal(manifest.name, '@hearthdb/hearth');
    assert.equal(manifest.version, JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).version);
    assert.deepEqual(Object.keys(manifest.exports), ['.', './worker', './socket-relay', './hearth.wasm', './react', './kysely', './package.json']);
    assert.deepEqual(manifest.peerDependenciesMeta, { react: { optional: true }, kysely: { optional: true } });
    assert.equal(manifest.peerDependencies.kysely, '^0.29.9');
    assert.equal(manifest.dependencies, undefined);
  });

  test('its types resolve through its exports (tsc --strict, module resolution bundler and nodenext)', () => {
    const dir = appDir(typesApp);
    const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
    for (const [module, resolution] of [['esnext', 'bundler'], ['nodenext', 'nodenext']]) {
      run(process.execPath, [tsc, '--noEmit', '--strict', '--jsx', 'react-jsx', '--target', 'es2022', '--lib', 'es2022,dom',
        '--module', module, '--moduleResolution', resolution, '--resolveJsonModule', '--types', 'react', 'check.tsx'], dir);
    }
    // And a misuse is an error, so the check is not vacuous.
    fs.writeFileSync(path.join(dir, 'bad.tsx'), "import { useQuery } from '@hearthdb/hearth/react';\nexport const n: number = useQuery<{ id: string }>('SELECT 1').rows[0].id;\n");
    assert.throws(() => run(process.execPath, [tsc, '--noEmit', '--strict', '--module', 'esnext', '--moduleResolution', 'bundler', '--types', 'react', 'bad.tsx'], dir), /TS2322/);
  });

  for (const app of [viteApp, esbuildApp, webpackApp]) {
    test(`${app.name}: builds from the tarball; useQuery round-trips, re-subscribes on new params, unsubscribes on unmount${app.name === 'vite' ? '; useSyncStatus is live' : ''}`, async () => {
      const dir = appDir(app);
      app.build(dir);
      const served = path.join(dir, app.served);
      const built = listFiles(served);
      // The bundler (or, for esbuild, its file loader) copied the wasm under a content-hashed name
      // (webpack names an asset by its hash alone).
      assert.ok(built.some((f) => /^(hearth[-.][\w-]{6,}|[0-9a-f]{16,})\.wasm$/.test(path.basename(f))), `a hashed wasm in ${built.join(', ')}`);
      assert.ok(!built.some((f) => /\.(br|gz)$/.test(f)), 'no precompressed copies');
      if (app.name === 'esbuild') assert.ok(built.some((f) => path.basename(f) === 'hearth-socket-relay.js'), `the socket relay in ${built.join(', ')}`);

      if (app.name === 'vite') {
        // Served by `hearth serve -web DIR`, whose /sync replicates the demo
        // board's schema: useSyncStatus gets a live status too.
        const server = await startServer([], { web: [served] });
        servers.push(server);
        const syncSchema = JSON.parse(run(path.join(repoRoot, 'bin', 'hearth'), ['schema'], repoRoot));
        await runScenario(browser, server.url, { syncSchema });
      } else {
        const server = await serveStatic(served);
        servers.push(server);
        await runScenario(browser, server.url);
      }
    });
  }

  test('no bundler: the installed package served as it is; the defaults find the worker and the wasm', async () => {
    const pkg = path.join(appDir(typesApp), 'node_modules', '@hearthdb', 'hearth');
    fs.writeFileSync(path.join(pkg, 'index.html'), `<!doctype html><script type="module">
import { open } from './hearth.js';
try {
  const db = await open({ name: 'plain' });
  await db.exec('CREATE TABLE IF NOT EXISTS t (x)');
  const seen = [];
  const stop = await db.watch('SELECT x FROM t ORDER BY x', [], ({ rows }) => seen.push(rows.map((r) => r.x)));
  await db.exec('INSERT INTO t VALUES (1), (2)');
  await db.query('SELECT 1'); // the watch's push for the insert comes before this reply
  await stop();
  window.plain = { storage: db.storage, seen };
} catch (err) { window.plain = { error: String(err) }; }
</script>`);
    const server = await serveStatic(pkg);
    servers.push(server);
    const context = await browser.newContext();
    await loopbackOnly(context);
    try {
      const page = await context.newPage();
      await page.goto(server.url);
      await page.waitForFunction(() => window.plain, null, { timeout: 30000 });
      const plain = await page.evaluate(() => window.plain);
      assert.ok(plain.storage === 'opfs' || plain.storage === 'idb', JSON.stringify(plain));
      assert.deepEqual(plain.seen, [[], [1, 2]]);
    } finally {
      await context.close();
    }
  });

  test('vite dev server: the same app, unbundled, passes the same scenario', async () => {
    const dev = await startViteDev(appDir(viteApp));
    servers.push(dev);
    await runScenario(browser, dev.url);
  });
});
