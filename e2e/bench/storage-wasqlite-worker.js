// Storage-bench anchor: wa-sqlite (@journeyapps/wa-sqlite) in its own
// dedicated worker, behind the same structured-clone RPC as
// anchor-worker.js. ?vfs=coop: OPFSCoopSyncVFS on the synchronous build;
// ?vfs=idb: IDBBatchAtomicVFS on the Asyncify build (it needs async VFS
// methods). ?pragmas=[...] run right after each open.
import * as SQLite from '../anchor/wa-sqlite/src/sqlite-api.js';

const params = new URL(self.location.href).searchParams;
const kind = params.get('vfs') ?? 'coop';
const openPragmas = JSON.parse(params.get('pragmas') ?? '[]');

const builds = {
  coop: { build: '../anchor/wa-sqlite/dist/wa-sqlite.mjs', vfs: '../anchor/wa-sqlite/src/examples/OPFSCoopSyncVFS.js', cls: 'OPFSCoopSyncVFS' },
  idb: { build: '../anchor/wa-sqlite/dist/wa-sqlite-async.mjs', vfs: '../anchor/wa-sqlite/src/examples/IDBBatchAtomicVFS.js', cls: 'IDBBatchAtomicVFS' },
};

let module = null;
let sqlite3 = null;
let VFSClass = null;
let vfs = null;
let db = null;

/** Runs one statement; rows as objects. */
async function run(sql, bind, wantRows) {
  const rows = wantRows ? [] : null;
  for await (const stmt of sqlite3.statements(db, sql)) {
    if (bind) sqlite3.bind_collection(stmt, bind);
    let cols = null;
    while ((await sqlite3.step(stmt)) === SQLite.SQLITE_ROW) {
      if (!rows) continue;
      cols ??= sqlite3.column_names(stmt);
      const vals = sqlite3.row(stmt);
      const o = {};
      for (let i = 0; i < cols.length; i++) o[cols[i]] = vals[i];
      rows.push(o);
    }
  }
  return rows;
}

const ops = {
  async init() {
    const b = builds[kind];
    if (!b) throw new Error(`unknown wa-sqlite vfs ${kind}`);
    const [{ default: factory }, vfsModule] = await Promise.all([import(b.build), import(b.vfs)]);
    module = await factory();
    sqlite3 = SQLite.Factory(module);
    VFSClass = vfsModule[b.cls];
    return { version: sqlite3.libversion(), build: b.build.split('/').pop(), vfs: b.cls };
  },
  async open({ name }) {
    if (!vfs) {
      // Creating the VFS opens its storage (temporary-file handle pool,
      // or the IndexedDB database): timed with the first open.
      vfs = await VFSClass.create(`bench-${kind}`, module);
      sqlite3.vfs_register(vfs, false);
    }
    db = await sqlite3.open_v2(`${name}.sqlite`, SQLite.SQLITE_OPEN_CREATE | SQLite.SQLITE_OPEN_READWRITE, vfs.name);
    for (const p of openPragmas) await run(p, null, false);
    return { vfs: VFSClass.name };
  },
  query({ sql, bind }) { return run(sql, bind, true); },
  async exec({ sql, bind }) {
    await run(sql, bind, false);
    return { changes: sqlite3.changes(db) };
  },
  // One transaction, one prepared statement, every row bound and stepped.
  async insertMany({ sql, rows }) {
    await run('BEGIN', null, false);
    try {
      for await (const stmt of sqlite3.statements(db, sql)) {
        for (const r of rows) {
          sqlite3.bind_collection(stmt, r);
          await sqlite3.step(stmt);
          await sqlite3.reset(stmt);
        }
      }
      await run('COMMIT', null, false);
    } catch (err) {
      await run('ROLLBACK', null, false).catch(() => {});
      throw err;
    }
    return { inserted: rows.length };
  },
  // Closes the database; the VFS stays registered for the next open in
  // this worker, until the worker is terminated.
  async close() {
    if (db) await sqlite3.close(db);
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
