// Storage-bench anchor: the official SQLite WASM build (@sqlite.org/sqlite-wasm,
// oo1 API) in its own dedicated worker, on an in-memory database
// (?vfs=memory) or on the opfs-sahpool VFS (?vfs=sahpool, installed with
// installOpfsSAHPoolVfs), behind the same structured-clone RPC as
// anchor-worker.js. ?pragmas=[...] run right after each open.
import sqlite3InitModule from '../anchor/sqlite-wasm/index.mjs';

const params = new URL(self.location.href).searchParams;
const mode = params.get('vfs') ?? 'memory';
const openPragmas = JSON.parse(params.get('pragmas') ?? '[]');
// One pool directory per backend variant and use: the workload's databases
// (several, never deleted) get a larger pool; the 10 MB database one at the
// VFS's default capacity, so its fresh-worker open costs what a user's does.
const poolId = params.get('pool') ?? 'bench';

let sqlite3 = null;
let pool = null;
let db = null;

const ops = {
  async init() {
    sqlite3 = await sqlite3InitModule({ print: () => {}, printErr: () => {} });
    return { version: sqlite3.version.libVersion };
  },
  async open({ name }) {
    if (mode === 'sahpool') {
      // Installing the pool opens a sync access handle on every pool file:
      // part of opening OPFS storage, so it is timed with the first open.
      const big = !name.endsWith('-10mb');
      pool ??= await sqlite3.installOpfsSAHPoolVfs({ directory: `.bench-${poolId}-${big ? 'work' : '10mb'}`, ...(big ? { initialCapacity: 16 } : {}) });
      db = new pool.OpfsSAHPoolDb(`/${name}.sqlite`);
    } else {
      db = new sqlite3.oo1.DB(':memory:', 'c');
    }
    for (const p of openPragmas) db.exec(p);
    return { vfs: mode };
  },
  query({ sql, bind }) {
    return db.exec({ sql, bind, rowMode: 'object', returnValue: 'resultRows' });
  },
  exec({ sql, bind }) {
    db.exec({ sql, bind });
    return { changes: db.changes() };
  },
  // One transaction, one prepared statement, every row bound and stepped.
  insertMany({ sql, rows }) {
    db.transaction(() => {
      const st = db.prepare(sql);
      try {
        for (const r of rows) {
          st.bind(r);
          st.stepReset();
        }
      } finally {
        st.finalize();
      }
    });
    return { inserted: rows.length };
  },
  // Closes the database; the pool stays installed (and its handles open)
  // for the next open in this worker, until the worker is terminated.
  close() {
    db?.close();
    db = null;
    return true;
  },
};

let chain = Promise.resolve();
self.onmessage = (event) => {
  const { id, op, ...args } = event.data;
  chain = chain.then(async () => {
    try {
      const fn = ops[op];
      if (!fn) throw new Error(`unknown op ${op}`);
      self.postMessage({ id, ok: await fn(args) });
    } catch (err) {
      self.postMessage({ id, error: String(err?.message ?? err) });
    }
  });
};
