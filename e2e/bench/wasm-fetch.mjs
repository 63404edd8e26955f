// What a first visit pays Chromium to bring the worker's wasm in: the
// built bundle (web/dist, `make build`), served on 127.0.0.1 by a plain
// Node server with each encoding (brotli, gzip, none: the bytes `make
// build` precompressed), fetched by a page in a fresh incognito context
// (nothing cached) and read whole, then compiled from a second fetch with
// WebAssembly.compileStreaming as the worker does; and the same bytes
// compiled from memory (V8 compiles lazily: most of it is validation).
// On loopback the transfer is free, so what remains is the browser's own
// pipeline (decoding, moving the decoded bytes to the page), which grows
// with the wasm's raw size and not its compressed one.
// WASM_FETCH_RUNS (default 5) rounds of the three encodings; prints the
// medians. Asserts nothing.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { launchBrowser, repoRoot } from '../harness.mjs';
import { median, runBench } from './common.mjs';

const RUNS = Number(process.env.WASM_FETCH_RUNS ?? 5);

await runBench(import.meta.url, async () => {
  const dist = path.join(repoRoot, 'web', 'dist');
  const name = fs.readFileSync(path.join(dist, 'bundle.js'), 'utf8').match(/hearth\.[0-9a-f]+\.wasm/)?.[0];
  if (!name) throw new Error('web/dist/bundle.js names no wasm: run make build');
  const bodies = {
    br: { encoding: 'br', bytes: fs.readFileSync(path.join(dist, `${name}.br`)) },
    gzip: { encoding: 'gzip', bytes: fs.readFileSync(path.join(dist, `${name}.gz`)) },
    none: { encoding: null, bytes: fs.readFileSync(path.join(dist, name)) },
  };
  const server = http.createServer((req, res) => {
    const body = bodies[req.url.slice(1)];
    if (!body) {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end('<!doctype html><title>wasm fetch</title>');
      return;
    }
    res.writeHead(200, {
      'Content-Type': 'application/wasm',
      'Cache-Control': 'no-store',
      ...(body.encoding ? { 'Content-Encoding': body.encoding } : {}),
    });
    res.end(body.bytes);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}/`;
  const browser = await launchBrowser();
  try {
    /** @type {Record<string, {fetch: number[], streaming: number[], compile: number[]}>} */
    const times = {};
    for (let i = 0; i < RUNS; i++) {
      for (const kind of Object.keys(bodies)) {
        const context = await browser.newContext();
        const page = await context.newPage();
        await page.goto(base);
        const r = await page.evaluate(async (kind) => {
          const t0 = performance.now();
          const bytes = await (await fetch(`/${kind}`)).arrayBuffer();
          const t1 = performance.now();
          await WebAssembly.compileStreaming(fetch(`/${kind}`));
          const t2 = performance.now();
          await WebAssembly.compile(bytes);
          const t3 = performance.now();
          return { fetch: t1 - t0, streaming: t2 - t1, compile: t3 - t2 };
        }, kind);
        await context.close();
        times[kind] ??= { fetch: [], streaming: [], compile: [] };
        for (const k of /** @type {const} */ (['fetch', 'streaming', 'compile'])) times[kind][k].push(r[k]);
      }
    }
    const ms = (xs) => `${median(xs).toFixed(0)} ms (${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)})`;
    console.log(`The worker's wasm, ${name}, on 127.0.0.1 in Chromium, a fresh context each; medians (min–max) of ${RUNS}:`);
    for (const [kind, t] of Object.entries(times)) {
      console.log(`  ${kind.padEnd(5)} ${String(bodies[kind].bytes.length).padStart(9)} B sent: fetched and read ${ms(t.fetch)}; compileStreaming ${ms(t.streaming)}; compile from memory ${ms(t.compile)}`);
    }
  } finally {
    await browser.close();
    server.close();
  }
});
