// Page side of the storage benchmark (storage.mjs): the same workload on
// durable storage for Hearth (through web/hearth.js, storage 'memory' |
// 'opfs' | 'idb') and for the anchors, each in its own worker behind a
// structured-clone RPC: the official SQLite WASM build
// (storage-official-worker.js: in-memory, opfs-sahpool) and wa-sqlite
// (storage-wasqlite-worker.js: OPFSCoopSyncVFS, IDBBatchAtomicVFS). Rows are
// generated here and posted; results come back and are materialized as
// objects here. Every time is taken on the page, end to end.
import { HearthWorker, open as hearthOpen } from '../hearth.js';
import { makeRows, projectId, PROJECTS, ROWS } from './page.js';

const now = () => performance.now();

export const INSERT_SQL = 'INSERT INTO tasks VALUES (?,?,?,?,?)';
export const PROJECT_SQL = 'SELECT * FROM tasks WHERE project_id = ? ORDER BY position';
const SCHEMA = [
  'CREATE TABLE tasks(id TEXT PRIMARY KEY, title TEXT, status TEXT, project_id TEXT, position REAL)',
  'CREATE INDEX tasks_project ON tasks(project_id)',
];
const SIZE_SQL = 'SELECT page_count * page_size AS n FROM pragma_page_count(), pragma_page_size()';

// --- engines -----------------------------------------------------------------
//
// Each target (see storage.mjs) names an engine and its options. Every
// engine has: boot() (worker started, engine initialized, no database open
// yet), open(name), exec, query (rows as objects), insertMany (one
// transaction), close(), terminate().

/** Hearth through its public client, one HearthWorker per engine instance. */
class HearthTarget {
  constructor({ storage, durability }) {
    this.storage = storage;
    this.durability = durability;
  }
  async boot() {
    this.hw = new HearthWorker();
    // Any request waits for the Go runtime; an in-memory open is the cheapest
    // one that touches neither OPFS nor IndexedDB.
    const d = await hearthOpen({ name: 'bench-boot', storage: 'memory', worker: this.hw });
    await d.close();
  }
  async open(name) {
    this.db = await hearthOpen({ name, storage: this.storage, durability: this.durability, worker: this.hw });
    if (this.db.storage !== this.storage) throw new Error(`hearth: asked for ${this.storage}, got ${this.db.storage} (${this.db.storageReason})`);
    return { storage: this.db.storage, reason: this.db.storageReason };
  }
  exec(sql, params) { return this.db.exec(sql, params); }
  async query(sql, params) { return (await this.db.query(sql, params)).rows; }
  insertMany(sql, rows) { return this.db.batch(rows.map((r) => ({ sql, params: r }))); }
  async close() { await this.db?.close(); this.db = null; }
  terminate() { this.hw?.terminate(); this.hw = null; }
}

/** An anchor worker: {id, op, ...args} in, {id, ok | error} out. */
class RpcTarget {
  constructor({ worker, params = {} }) {
    this.url = new URL(worker, import.meta.url);
    for (const [k, v] of Object.entries(params)) this.url.searchParams.set(k, typeof v === 'string' ? v : JSON.stringify(v));
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
  async boot() {
    this.worker = new Worker(this.url, { type: 'module', name: 'anchor' });
    this.worker.onmessage = (e) => {
      const { id, ok, error } = e.data;
      const p = this.pending.get(id);
      if (!p) return;
      this.pending.delete(id);
      if (error !== undefined) p.reject(new Error(error)); else p.resolve(ok);
    };
    this.worker.onerror = (e) => {
      e.preventDefault?.();
      for (const p of this.pending.values()) p.reject(new Error(`anchor worker failed: ${e.message ?? 'load error'}`));
      this.pending.clear();
    };
    this.info = await this.call('init');
  }
  open(name) { return this.call('open', { name }); }
  exec(sql, bind) { return this.call('exec', { sql, bind }); }
  query(sql, bind) { return this.call('query', { sql, bind }); }
  insertMany(sql, rows) { return this.call('insertMany', { sql, rows }); }
  close() { return this.call('close'); }
  terminate() { this.worker?.terminate(); this.worker = null; }
}

function makeTarget(t) {
  if (t.engine === 'hearth') return new HearthTarget(t.options);
  return new RpcTarget(t.options);
}

// --- statistics ----------------------------------------------------------------

function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function summary(samples) {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p95: percentile(s, 95), min: s[0], max: s[s.length - 1], n: s.length };
}

const dbName = (t, what) => `bench-${t.id}-${what}`;

// The worker the runner is using between page.evaluate calls: bootHeld()
// starts a fresh one (engine initialized, no database open) and keeps it, so
// the runner can wait until Chromium is idle (background wasm compilation
// done) before timing anything on it.
let held = null;

export async function bootHeld(t) {
  held?.terminate();
  held = makeTarget(t);
  const t0 = now();
  await held.boot();
  return { bootMs: now() - t0 };
}

export function stopHeld() {
  held?.terminate();
  held = null;
}

async function pragmas(e) {
  const one = async (p) => {
    const r = await e.query(`PRAGMA ${p}`);
    return r[0] ? Object.values(r[0])[0] : null;
  };
  return {
    journalMode: await one('journal_mode'),
    synchronous: await one('synchronous'),
    lockingMode: await one('locking_mode'),
    pageSize: await one('page_size'),
    cacheSize: await one('cache_size'),
  };
}

// --- the workload ----------------------------------------------------------------

/**
 * Steps 1–3 on the held worker (bootHeld) and a new, empty database named
 * after `which`: the 10,000-row insert in one transaction, the 500-row
 * indexed read (1 warm-up, then `reads` timed), then the sequential
 * single-row autocommit inserts. The database is closed at the end; the
 * worker stays.
 */
export async function workloadHeld(t, which, { reads = 20, inserts = 200 } = {}) {
  const e = held;
  if (!e) throw new Error('workloadHeld: no worker (bootHeld first)');
  const out = { target: t.id, which };
  let t0 = now();
  out.opened = await e.open(dbName(t, which));
  out.openEmptyMs = now() - t0;
  for (const sql of SCHEMA) await e.exec(sql);

  // 1. 10,000 rows in one transaction, generated here.
  const rows = makeRows(ROWS);
  t0 = now();
  await e.insertMany(INSERT_SQL, rows);
  out.insertBatchMs = now() - t0;
  const [{ n }] = await e.query('SELECT count(*) AS n FROM tasks');
  if (n !== ROWS) throw new Error(`${t.id}: ${n} rows after the batch, want ${ROWS}`);

  // 3. 500-row indexed read as objects: one warm-up, then `reads` timed.
  const times = [];
  for (let k = 0; k <= reads; k++) {
    const p = projectId(k % PROJECTS);
    t0 = now();
    const r = await e.query(PROJECT_SQL, [p]);
    const dt = now() - t0;
    if (r.length !== ROWS / PROJECTS || typeof r[0].title !== 'string' || typeof r[0].position !== 'number' || r[0].project_id !== p) {
      throw new Error(`${t.id}: project read returned ${r.length} rows`);
    }
    if (k === 0) out.readFirstMs = dt; else times.push(dt);
  }
  out.read500 = summary(times);
  out.read500All = times;

  // 2. Single-row autocommit inserts, sequential.
  const extra = makeRows(inserts, { seed: 99, start: ROWS });
  const ins = [];
  for (const r of extra) {
    t0 = now();
    const res = await e.exec(INSERT_SQL, r);
    ins.push(now() - t0);
    if (res.changes !== 1) throw new Error(`${t.id}: autocommit insert changed ${res.changes} rows`);
  }
  out.autocommit = summary(ins);
  out.autocommitAll = ins;
  out.pragmas = await pragmas(e);
  out.dbBytes = (await e.query(SIZE_SQL))[0].n;
  await e.close();
  return out;
}

/** Step 4, part one: builds a database of about targetBytes (1 KB titles, 1,000-row transactions), closes it. */
export async function build(t, targetBytes, { chunk = 1000, titleBytes = 1000 } = {}) {
  const e = makeTarget(t);
  try {
    await e.boot();
    await e.open(dbName(t, '10mb'));
    for (const sql of SCHEMA) await e.exec(sql);
    let dbBytes = 0;
    let start = 0;
    const t0 = now();
    while (dbBytes < targetBytes) {
      await e.insertMany(INSERT_SQL, makeRows(chunk, { seed: 1000 + start, start, titleBytes }));
      start += chunk;
      dbBytes = (await e.query(SIZE_SQL))[0].n;
    }
    const ms = now() - t0;
    const prag = await pragmas(e);
    await e.close();
    return { rows: start, dbBytes, ms, pragmas: prag };
  } finally {
    e.terminate();
  }
}

/**
 * Step 4 as a page load sees it: new Worker() → engine up (bootMs) → open →
 * first `SELECT count(*)`, back to back (coldMs covers all of it; openMs and
 * openQueryMs are timed from the open request, with any background
 * compilation of the new worker still running).
 */
export async function reopen(t, wantRows) {
  const e = makeTarget(t);
  try {
    const t0 = now();
    await e.boot();
    const t1 = now();
    await e.open(dbName(t, '10mb'));
    const t2 = now();
    const [{ n }] = await e.query('SELECT count(*) AS n FROM tasks');
    const t3 = now();
    if (n !== wantRows) throw new Error(`${t.id}: reopened database has ${n} rows, want ${wantRows}`);
    await e.close();
    return { bootMs: t1 - t0, openMs: t2 - t1, openQueryMs: t3 - t1, coldMs: t3 - t0 };
  } finally {
    e.terminate();
  }
}


export async function openHeld(t, wantRows) {
  const e = held;
  held = null;
  try {
    const t1 = now();
    await e.open(dbName(t, '10mb'));
    const t2 = now();
    const [{ n }] = await e.query('SELECT count(*) AS n FROM tasks');
    const t3 = now();
    if (n !== wantRows) throw new Error(`${t.id}: reopened database has ${n} rows, want ${wantRows}`);
    await e.close();
    return { openMs: t2 - t1, openQueryMs: t3 - t1 };
  } finally {
    e.terminate();
  }
}

/** What the browser says about storage (for the report). */
export async function storageInfo() {
  const est = await navigator.storage.estimate().catch(() => ({}));
  return {
    persisted: await navigator.storage.persisted?.().catch(() => null),
    usage: est.usage ?? null,
    quota: est.quota ?? null,
    crossOriginIsolated,
  };
}
