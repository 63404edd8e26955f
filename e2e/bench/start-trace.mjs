// What a first visit compiles before its first answer (issue 15, goals 2
// and 3): a fresh profile (nothing in the HTTP or code cache) opens a
// database (START_TRACE_STORAGE: memory, opfs or idb) and answers
// `select 1` under a Chromium trace (the worker starts with the open);
// prints the time to each answer, V8's
// lazy compiles on first call (count, time) and the functions they
// compiled, largest compile time first, with each function's size in the
// module (START_TRACE_TOP rows, default 30), grouped by Go package too.
// Names need the worker built with its name section (`make wasm-names`);
// without it functions print as wasm-function[N]. Asserts nothing.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, launchPersistent, loopbackOnly, hearthPage } from '../harness.mjs';
import { startTrace, wasmFunctions } from './trace.mjs';
import { printHelpIfAsked } from './common.mjs';

if (printHelpIfAsked(import.meta.url)) process.exit(0);

const storage = process.env.START_TRACE_STORAGE ?? 'memory';
const top = Number(process.env.START_TRACE_TOP ?? 30);
const dist = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'web', 'dist');
const { wasmFile } = await import(path.join(dist, 'bundle.js'));
const bytes = readFileSync(path.join(dist, wasmFile));
const { names, sizes } = wasmFunctions(bytes);

const server = await startServer();
const dir = mkdtempSync(path.join(tmpdir(), 'hearth-start-trace-'));
const context = await launchPersistent(dir);
try {
  await loopbackOnly(context);
  const page = await hearthPage(context, server.url);
  const stop = await startTrace(context, page, ['v8.wasm', 'disabled-by-default-v8.wasm.detailed', 'v8', '__metadata']);
  const times = await page.evaluate(async (storage) => {
    const t0 = performance.now();
    const db = await hearth.open({ name: 'start-trace', storage });
    const open = performance.now() - t0;
    await db.query('select 1');
    return { open, select1: performance.now() - t0 };
  }, storage);
  const events = await stop();
  const lazy = new Map();
  let n = 0, ms = 0;
  for (const e of events) {
    if (e.name !== 'wasm.CompileLazy') continue;
    const index = e.args?.func_index ?? e.args?.funcIndex;
    const dur = (e.dur ?? 0) / 1000;
    n++; ms += dur;
    const cur = lazy.get(index) ?? { ms: 0, n: 0 };
    cur.ms += dur; cur.n++;
    lazy.set(index, cur);
  }
  console.log(`${storage}: open answered at ${times.open.toFixed(0)} ms, select 1 at ${times.select1.toFixed(0)} ms after the page asked`);
  console.log(`lazy compiles on first call: ${n} functions, ${ms.toFixed(0)} ms (${names.size ? 'names from the name section' : 'no name section: make wasm-names for names'})`);
  const label = (index) => names.get(index) ?? `wasm-function[${index}]`;
  const rows = [...lazy].map(([index, v]) => ({ name: label(index), bytes: sizes.get(index) ?? 0, ...v })).sort((a, b) => b.ms - a.ms);
  for (const r of rows.slice(0, top)) console.log(`  ${r.ms.toFixed(1).padStart(7)} ms ${String(r.bytes).padStart(8)} B  ${r.name}`);
  // Go's wasm names are the import path with '/' as '_', then '.' and the
  // function: the package ends at the first '.' after a host's own ('github.com').
  const packageOf = (name) => name.match(/^((?:[a-z0-9-]+\.[a-z]+_)?[^.]*)\./)?.[1] ?? name;
  const byPackage = new Map();
  for (const r of names.size ? rows : []) {
    const pkg = packageOf(r.name);
    const cur = byPackage.get(pkg) ?? { ms: 0, n: 0, bytes: 0 };
    cur.ms += r.ms; cur.n++; cur.bytes += r.bytes;
    byPackage.set(pkg, cur);
  }
  if (byPackage.size) console.log('by package (largest compile time first):');
  for (const [pkg, v] of [...byPackage].sort((a, b) => b[1].ms - a[1].ms).slice(0, 15)) {
    console.log(`  ${v.ms.toFixed(1).padStart(7)} ms ${String(v.n).padStart(5)} functions ${String(v.bytes).padStart(9)} B  ${pkg}`);
  }
} finally {
  await context.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
