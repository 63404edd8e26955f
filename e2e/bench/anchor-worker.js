// The anchor: the official SQLite WASM build (@sqlite.org/sqlite-wasm) in its
// own dedicated worker, used through its oo1 API on an in-memory database,
// behind the small postMessage RPC people typically write around it
// (structured-clone messages: {id, op, ...} in, {id, ok | error} out).
import sqlite3InitModule from '../anchor/sqlite-wasm/index.mjs';

const abs = () => performance.timeOrigin + performance.now();
// Runs once the static import above (index.mjs, ~650 KB of JS) is evaluated.
const marks = { workerOrigin: performance.timeOrigin, scriptStart: abs() };

// Started at once, like a real app's worker would: the page's first request
// waits for it.
const ready = sqlite3InitModule({ print: () => {}, printErr: () => {} }).then((sqlite3) => {
  marks.initDone = abs();
  return sqlite3;
});

let sqlite3 = null;
let db = null;

const ops = {
  async open() {
    sqlite3 = await ready;
    db = new sqlite3.oo1.DB(':memory:', 'c');
    marks.opened = abs();
    return {
      version: sqlite3.version.libVersion,
      opfsVfs: !!sqlite3.capi.sqlite3_vfs_find('opfs'),
    };
  },
  query({ sql, bind, rowMode = 'object' }) {
    return db.exec({ sql, bind, rowMode, returnValue: 'resultRows' });
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
  stats() {
    const mem = sqlite3.wasm.memory ?? sqlite3.wasm.exports.memory;
    return {
      wasmMemory: mem ? mem.buffer.byteLength : sqlite3.wasm.heap8u().byteLength,
      marks,
      handling,
      resources: performance.getEntriesByType('resource').map((e) => ({
        name: e.name, fetchStart: e.fetchStart, responseStart: e.responseStart, responseEnd: e.responseEnd,
        transferSize: e.transferSize, encodedBodySize: e.encodedBodySize, decodedBodySize: e.decodedBodySize,
      })),
    };
  },
};

// Worker-side time of each request, message event to reply (read by the
// benchmark only while it sends one request at a time).
const handling = [];

// Requests run one at a time, in arrival order.
let chain = Promise.resolve();
self.onmessage = (event) => {
  const arrived = performance.now();
  const { id, op, ...args } = event.data;
  chain = chain.then(async () => {
    try {
      const fn = ops[op];
      if (!fn) throw new Error(`unknown op ${op}`);
      const ok = await fn(args);
      if (op !== 'stats') handling.push(performance.now() - arrived);
      self.postMessage({ id, ok });
    } catch (err) {
      self.postMessage({ id, error: String(err?.message ?? err) });
    }
  });
};
