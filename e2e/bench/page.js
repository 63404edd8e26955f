// Page side of the browser benchmark: the same workload against Hearth
// (through web/hearth.js) and against the official SQLite WASM build (through
// anchor-worker.js). Every time is taken here, on the page, end to end.
// Times are absolute (performance.timeOrigin + now) so marks taken in a
// worker line up with the page's.
import { HearthWorker, open as hearthOpen } from '../hearth.js';

export const abs = () => performance.timeOrigin + performance.now();

const INSERT_SQL = 'INSERT INTO tasks VALUES (?,?,?,?,?)';
const POINT_SQL = 'SELECT title FROM tasks WHERE id = ?';
const PROJECT_SQL = 'SELECT * FROM tasks WHERE project_id = ? ORDER BY position';
const SCHEMA = [
  'CREATE TABLE tasks(id TEXT PRIMARY KEY, title TEXT, status TEXT, project_id TEXT, position REAL)',
  'CREATE INDEX tasks_project ON tasks(project_id)',
];
export const PROJECTS = 20;
export const ROWS = 10000;

// --- deterministic data ----------------------------------------------------

function prng(seed) {
  // xorshift32: small, fast and the same everywhere.
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x / 0x100000000;
  };
}

const WORDS = ('write review ship fix plan test deploy draft sync design check merge update clean refactor measure ' +
  'report the a new old board card list sprint release bug feature page query index cache worker storage').split(' ');
const STATUSES = ['todo', 'doing', 'review', 'done'];

export const taskId = (i) => `t${String(i).padStart(6, '0')}`;
export const projectId = (p) => `p${String(p).padStart(2, '0')}`;

/** [id, title, status, project_id, position] rows; titleBytes pads titles to about that many bytes. */
export function makeRows(n, { seed = 42, start = 0, titleBytes = 0 } = {}) {
  const rnd = prng(seed);
  const rows = new Array(n);
  for (let k = 0; k < n; k++) {
    const i = start + k;
    const words = 3 + Math.floor(rnd() * 6);
    let title = '';
    for (let w = 0; w < words; w++) title += (w ? ' ' : '') + WORDS[Math.floor(rnd() * WORDS.length)];
    while (title.length < titleBytes) title += ' ' + WORDS[Math.floor(rnd() * WORDS.length)];
    rows[k] = [taskId(i), title, STATUSES[Math.floor(rnd() * STATUSES.length)], projectId(i % PROJECTS), Math.round(rnd() * 1e6) / 100];
  }
  return rows;
}

// --- engines ---------------------------------------------------------------

/** Hearth through its public client. probe: use the instrumented bootstrap. */
class HearthEngine {
  constructor({ probe = false, wasmURL, probeParams, workerPath } = {}) {
    this.name = 'hearth';
    this.opts = {};
    if (workerPath) this.opts.workerURL = new URL(workerPath, location.href).href;
    if (probe) {
      const u = new URL('./probe-worker.js', location.href);
      for (const [k, v] of Object.entries(probeParams ?? {})) u.searchParams.set(k, v);
      this.opts.workerURL = u.href;
    }
    if (wasmURL) this.opts.wasmURL = new URL(wasmURL, location.href).href;
    this.probe = probe;
  }
  async start() {
    performance.mark('bench:create');
    const t = { create: abs() };
    this.hw = new HearthWorker(this.opts);
    t.created = abs();
    this.db = await hearthOpen({ name: 'bench', storage: 'memory', worker: this.hw });
    t.open = abs();
    const r = await this.db.query('select 1');
    t.select1 = abs();
    performance.mark('bench:select1');
    if (r.rows.length !== 1) throw new Error('hearth: select 1 returned no row');
    return t;
  }
  exec(sql, params) { return this.db.exec(sql, params); }
  async queryObjects(sql, params) { return (await this.db.query(sql, params)).rows; }
  async insertMany(sql, rows) {
    await this.db.batch(rows.map((r) => ({ sql, params: r })));
  }
  /** Probe-only: the instrumented bootstrap's marks and the wasm memory size. */
  stats() {
    if (!this.probe) return Promise.resolve(null);
    return new Promise((resolve) => {
      const w = this.hw.worker;
      const onMsg = (e) => {
        if (e.data && e.data.probe) { w.removeEventListener('message', onMsg); resolve(e.data.probe); }
      };
      w.addEventListener('message', onMsg);
      w.postMessage({ probe: 'stats' });
    });
  }
  terminate() { this.hw?.terminate(); }
}

/** The official build behind a structured-clone RPC (anchor-worker.js). */
class OfficialEngine {
  constructor() {
    this.name = 'official';
    this.pending = new Map();
    this.nextID = 1;
  }
  call(op, args = {}) {
    const id = this.nextID++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, op, ...args });
    });
  }
  async start() {
    performance.mark('bench:create');
    const t = { create: abs() };
    this.worker = new Worker(new URL('./anchor-worker.js', import.meta.url), { type: 'module', name: 'official' });
    this.worker.onmessage = (e) => {
      const { id, ok, error } = e.data;
      const p = this.pending.get(id);
      if (!p) return;
      this.pending.delete(id);
      if (error !== undefined) p.reject(new Error(error)); else p.resolve(ok);
    };
    this.worker.onerror = (e) => {
      e.preventDefault?.();
      for (const p of this.pending.values()) p.reject(new Error(`official worker failed: ${e.message}`));
      this.pending.clear();
    };
    t.created = abs();
    this.info = await this.call('open');
    t.open = abs();
    const rows = await this.call('query', { sql: 'select 1', rowMode: 'array' });
    t.select1 = abs();
    performance.mark('bench:select1');
    if (rows.length !== 1) throw new Error('official: select 1 returned no row');
    return t;
  }
  exec(sql, bind) { return this.call('exec', { sql, bind }); }
  queryObjects(sql, bind) { return this.call('query', { sql, bind }); }
  insertMany(sql, rows) { return this.call('insertMany', { sql, rows }); }
  stats() { return this.call('stats'); }
  terminate() { this.worker?.terminate(); }
}

let current = null;

function makeEngine(name, opts) {
  if (name === 'hearth') return new HearthEngine(opts);
  if (name === 'official') return new OfficialEngine(opts);
  throw new Error(`unknown engine ${name}`);
}

/** Cold start: from new Worker() to `select 1` answered. The engine stays up. */
export async function coldStart(name, opts = {}) {
  current?.terminate();
  current = makeEngine(name, opts);
  const t = await current.start();
  return {
    engine: name,
    open: t.open - t.create,
    select1: t.select1 - t.create,
    createCall: t.created - t.create,
    marks: t,
    info: current.info ?? null,
  };
}

function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

function summary(samples) {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p95: percentile(s, 95), min: s[0], max: s[s.length - 1], n: s.length };
}

/** The workload, on the engine that coldStart left running. */
export async function workload({ pointQueries = 1000, warmup = 50, inserts = 200 } = {}) {
  const e = current;
  const out = { engine: e.name };
  for (const sql of SCHEMA) await e.exec(sql);

  // 3. 10,000 rows in one batch, rows generated here on the page.
  const rows = makeRows(ROWS);
  let t = abs();
  await e.insertMany(INSERT_SQL, rows);
  out.insertBatchMs = abs() - t;
  const count = await e.queryObjects('SELECT count(*) AS n FROM tasks');
  if (count[0].n !== ROWS) throw new Error(`${e.name}: ${count[0].n} rows after the batch, want ${ROWS}`);

  // 4. 500-row select materialized as objects, once per project.
  const selects = [];
  for (let p = 0; p < PROJECTS; p++) {
    t = abs();
    const r = await e.queryObjects(PROJECT_SQL, [projectId(p)]);
    selects.push(abs() - t);
    if (r.length !== ROWS / PROJECTS || typeof r[0].title !== 'string' || typeof r[0].position !== 'number') {
      throw new Error(`${e.name}: project select returned ${r.length} rows`);
    }
  }
  out.select500 = { first: selects[0], ...summary(selects.slice(1)), all: selects };

  // 2. Round trip for a one-row query, sequential.
  performance.mark('bench:point:start');
  const rnd = prng(7);
  const ids = Array.from({ length: warmup + pointQueries }, () => Math.floor(rnd() * ROWS));
  const rts = [];
  for (let k = 0; k < ids.length; k++) {
    const id = taskId(ids[k]);
    t = abs();
    const r = await e.queryObjects(POINT_SQL, [id]);
    const dt = abs() - t;
    if (r.length !== 1 || r[0].title !== rows[ids[k]][1]) throw new Error(`${e.name}: point query for ${id} returned ${JSON.stringify(r)}`);
    if (k >= warmup) rts.push(dt);
  }
  out.roundTrip = summary(rts);
  performance.mark('bench:point:end');

  // 5. Single autocommit inserts, sequential.
  const extra = makeRows(inserts, { seed: 99, start: ROWS });
  const ins = [];
  for (const r of extra) {
    t = abs();
    const res = await e.exec(INSERT_SQL, r);
    ins.push(abs() - t);
    if (res.changes !== 1) throw new Error(`${e.name}: autocommit insert changed ${res.changes} rows`);
  }
  out.autocommit = { ...summary(ins), all: ins };
  out.journalMode = (await e.queryObjects('PRAGMA journal_mode'))[0]?.journal_mode;
  return out;
}

/** Fills the running engine's database to about targetBytes; returns the database size SQLite reports. */
export async function fill(targetBytes, { chunk = 1000, titleBytes = 1000 } = {}) {
  const e = current;
  for (const sql of SCHEMA) await e.exec(sql);
  let dbBytes = 0;
  let start = 0;
  const t = abs();
  while (dbBytes < targetBytes) {
    await e.insertMany(INSERT_SQL, makeRows(chunk, { seed: 1000 + start, start, titleBytes }));
    start += chunk;
    const [{ n }] = await e.queryObjects('SELECT page_count * page_size AS n FROM pragma_page_count(), pragma_page_size()');
    dbBytes = n;
  }
  return { rows: start, dbBytes, ms: abs() - t };
}

/** Worker-attributed bytes from performance.measureUserAgentSpecificMemory() (needs cross-origin isolation). */
export async function uaMemory() {
  if (!crossOriginIsolated || !performance.measureUserAgentSpecificMemory) return { available: false, crossOriginIsolated };
  const m = await performance.measureUserAgentSpecificMemory();
  const byScope = {};
  const workers = {};
  for (const entry of m.breakdown) {
    for (const a of entry.attribution) {
      const scope = a.scope ?? 'unknown';
      byScope[scope] = (byScope[scope] ?? 0) + entry.bytes / entry.attribution.length;
      if (scope === 'DedicatedWorkerGlobalScope') {
        const key = new URL(a.url).pathname.split('/').pop();
        workers[key] = (workers[key] ?? 0) + entry.bytes / entry.attribution.length;
      }
    }
    if (!entry.attribution.length) byScope.shared = (byScope.shared ?? 0) + entry.bytes;
  }
  return { available: true, total: m.bytes, byScope, workers, breakdown: m.breakdown };
}

export function engineStats() { return current?.stats() ?? null; }

export function stop() {
  current?.terminate();
  current = null;
}

/** n sequential one-row queries on the workload's table; the page-side time of each, in order. */
export async function pointQueries(n = 1000) {
  const e = current;
  const rnd = prng(11);
  const out = [];
  for (let k = 0; k < n; k++) {
    const id = taskId(Math.floor(rnd() * ROWS));
    const t = abs();
    const r = await e.queryObjects(POINT_SQL, [id]);
    out.push(abs() - t);
    if (r.length !== 1) throw new Error(`${e.name}: point query for ${id} returned ${r.length} rows`);
  }
  return out;
}

/** Drops the workload's table so workload() can run again on the same worker. */
export async function dropAll() {
  await current.exec('DROP TABLE IF EXISTS tasks');
}
