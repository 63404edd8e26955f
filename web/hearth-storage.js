// Storage glue for the Hearth worker: the promise-returning parts of OPFS and
// IndexedDB, called from Go (sqlitevfs/browser) and awaited there on the
// goroutine that owns the database. Bytes cross into Go in one piece per call.
//
// OPFS layout:      <origin root>/hearth/<database>/<file>
// IndexedDB layout: one IDB database "hearth:<database>" per database, with
//   object store "blocks" (key [file, index] → Uint8Array block) and
//   object store "files"  (key file → {size}).

const IDB_PREFIX = 'hearth:';
const OPFS_DIR = 'hearth';

async function opfsRoot(create) {
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle(OPFS_DIR, { create });
}

async function opfsDir(database, create) {
  return (await opfsRoot(create)).getDirectoryHandle(database, { create });
}

// A browser that has OPFS but refuses its root directory is running an
// ephemeral data store: Safari's and WebKit's private or automation
// sessions reject with UnknownError, Firefox's private windows with
// SecurityError.
async function opfsRefused() {
  if (!navigator.storage?.getDirectory) return false;
  try {
    await navigator.storage.getDirectory();
    return false;
  } catch {
    return true;
  }
}

/**
 * What a failed browser call threw, for matching DOMException names and
 * for messages: anything may be thrown, so every field may be missing.
 * @param {unknown} err
 * @returns {{name?: string, message?: string} | null | undefined}
 */
const thrown = (err) => /** @type {{name?: string, message?: string} | null | undefined} */ (err);

const idbHandles = new Map();

function idbRequest(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function idbDone(tx) {
  return /** @type {Promise<void>} */ (new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error ?? new DOMException('transaction aborted', 'AbortError'));
    tx.onerror = () => {}; // the abort that follows carries the error
  }));
}

/** Queues a batch's changes on tx (idbCommit). */
function idbApply(tx, changes, data, blockSize) {
  const blocks = tx.objectStore('blocks');
  const files = tx.objectStore('files');
  let at = 0;
  for (const ch of changes) {
    if (ch.delete) {
      blocks.delete(IDBKeyRange.bound([ch.name, 0], [ch.name, Infinity]));
      files.delete(ch.name);
      continue;
    }
    if (ch.truncateFrom >= 0) blocks.delete(IDBKeyRange.bound([ch.name, ch.truncateFrom], [ch.name, Infinity]));
    for (const index of ch.indexes) {
      // slice: each record gets its own buffer (put clones what it is given).
      blocks.put(data.slice(at, at + blockSize), [ch.name, index]);
      at += blockSize;
    }
    files.put({ size: ch.size }, ch.name);
  }
}

async function idb(database) {
  let db = idbHandles.get(database);
  if (db) return db;
  const req = indexedDB.open(IDB_PREFIX + database, 1);
  req.onupgradeneeded = () => {
    req.result.createObjectStore('blocks');
    req.result.createObjectStore('files');
  };
  db = await idbRequest(req);
  // Another tab deleting or upgrading the database must not wait on us forever.
  db.onversionchange = () => { db.close(); idbHandles.delete(database); };
  idbHandles.set(database, db);
  return db;
}

/** @type {Promise<string> | undefined} the probe's result (hearthStorage.probeOPFS) */
let probed;

/** Creates a sync access handle on a probe file once: "" when it worked, else why not. */
async function probeOPFSOnce() {
  if (typeof FileSystemFileHandle === 'undefined' || !('createSyncAccessHandle' in FileSystemFileHandle.prototype)) {
    return 'FileSystemSyncAccessHandle is not available in this browser';
  }
  if (!navigator.storage?.getDirectory) return 'navigator.storage.getDirectory is not available';
  try {
    const root = await opfsRoot(true);
    const probe = await root.getFileHandle('.probe', { create: true });
    const handle = await probe.createSyncAccessHandle();
    handle.close();
    await root.removeEntry('.probe');
    return '';
  } catch (err) {
    return `OPFS sync access handles failed: ${thrown(err)?.name ?? 'Error'}: ${thrown(err)?.message ?? err}`;
  }
}

export const hearthStorage = {
  /**
   * Whether this context can create OPFS sync access handles: tried for
   * real, not guessed, once per worker ("" when they work, else why not).
   * Go's storage and the replica head start (hearth-head-start.js) both
   * ask; two probes at once would fight over the probe file's handle.
   * @returns {Promise<string>}
   */
  probeOPFS() {
    probed ??= probeOPFSOnce();
    return probed;
  },

  async opfsOpen(database, file, create) {
    const dir = await opfsDir(database, create);
    const fh = await dir.getFileHandle(file, { create });
    // A worker that was just terminated (a crashed or closed tab) frees
    // its handles a moment later: wait for them rather than fail.
    for (let attempt = 0; ; attempt++) {
      try {
        return await fh.createSyncAccessHandle();
      } catch (err) {
        if (thrown(err)?.name !== 'NoModificationAllowedError' || attempt >= 40) throw err;
        await new Promise((resolve) => setTimeout(resolve, 25 + attempt * 5));
      }
    }
  },

  async opfsDelete(database, file) {
    try {
      await (await opfsDir(database, false)).removeEntry(file);
    } catch (err) {
      if (thrown(err)?.name !== 'NotFoundError') throw err;
    }
  },

  async opfsList(database) {
    const names = [];
    try {
      for await (const name of (await opfsDir(database, false)).keys()) names.push(name);
    } catch (err) {
      if (thrown(err)?.name !== 'NotFoundError') throw err;
    }
    return names;
  },

  async opfsDatabases() {
    const names = [];
    try {
      for await (const [name, h] of (await opfsRoot(false)).entries()) if (h.kind === 'directory') names.push(name);
    } catch (err) {
      if (thrown(err)?.name !== 'NotFoundError') throw err;
    }
    return names;
  },

  async opfsDropDatabase(database) {
    try {
      await (await opfsRoot(false)).removeEntry(database, { recursive: true });
    } catch (err) {
      if (thrown(err)?.name !== 'NotFoundError') throw err;
    }
  },

  /**
   * Reads blocks first..first+count-1 of file in one transaction. Returns
   * {indexes, data}: the indexes found and their blocks concatenated, so Go
   * copies them out in one call.
   */
  async idbRead(database, file, first, count) {
    const db = await idb(database);
    const tx = db.transaction('blocks', 'readonly');
    const store = tx.objectStore('blocks');
    const range = IDBKeyRange.bound([file, first], [file, first + count - 1]);
    const [keys, values] = await Promise.all([idbRequest(store.getAllKeys(range)), idbRequest(store.getAll(range))]);
    let total = 0;
    for (const v of values) total += v.byteLength;
    const data = new Uint8Array(total);
    const indexes = new Array(keys.length);
    let at = 0;
    for (let i = 0; i < keys.length; i++) {
      indexes[i] = keys[i][1];
      data.set(values[i], at);
      at += values[i].byteLength;
    }
    return { indexes, data };
  },

  /**
   * The byte length of the first block stored in database (every block of a
   * store has one length), 0 when it stores none.
   */
  async idbBlockSize(database) {
    const db = await idb(database);
    const cursor = await idbRequest(db.transaction('blocks', 'readonly').objectStore('blocks').openCursor());
    return cursor ? cursor.value.byteLength : 0;
  },

  async idbFileSize(database, file) {
    const db = await idb(database);
    const rec = await idbRequest(db.transaction('files', 'readonly').objectStore('files').get(file));
    return rec === undefined ? -1 : rec.size;
  },

  /**
   * Applies a batch in ONE readwrite transaction: all of it or none.
   * changes: [{name, size, truncateFrom, indexes, delete}]; data holds the
   * blocks of every change, in order, each blockSize bytes. A change with
   * delete removes the file and all of its blocks instead.
   */
  async idbCommit(database, changes, data, blockSize, durability) {
    const db = await idb(database);
    // Firefox makes the first readwrite transaction after a quota error
    // on a connection a "cleanup" one, which may delete but not put: its
    // first put throws. That transaction is aborted before anything in it
    // is applied, and the next one is an ordinary readwrite transaction.
    for (let attempt = 0; ; attempt++) {
      const tx = db.transaction(['blocks', 'files'], 'readwrite', { durability });
      const done = idbDone(tx);
      try {
        idbApply(tx, changes, data, blockSize);
      } catch (err) {
        tx.abort();
        await done.catch(() => {});
        if (attempt === 0 && thrown(err)?.name === 'InvalidStateError') continue;
        throw err;
      }
      await done;
      return;
    }
  },

  async idbDelete(database, file) {
    const db = await idb(database);
    const tx = db.transaction(['blocks', 'files'], 'readwrite');
    const done = idbDone(tx);
    tx.objectStore('blocks').delete(IDBKeyRange.bound([file, 0], [file, Infinity]));
    tx.objectStore('files').delete(file);
    await done;
  },

  async idbList(database) {
    const db = await idb(database);
    return idbRequest(db.transaction('files', 'readonly').objectStore('files').getAllKeys());
  },

  async idbDatabases() {
    const all = await indexedDB.databases();
    return all.map((d) => d.name ?? '').filter((n) => n.startsWith(IDB_PREFIX)).map((n) => n.slice(IDB_PREFIX.length));
  },

  async idbDropDatabase(database) {
    idbHandles.get(database)?.close();
    idbHandles.delete(database);
    await /** @type {Promise<void>} */ (new Promise((resolve, reject) => {
      const req = indexedDB.deleteDatabase(IDB_PREFIX + database);
      req.onsuccess = () => resolve();
      req.onerror = () => reject(req.error);
      req.onblocked = () => {}; // resolves once the other connections close (onversionchange above)
    }));
  },

  /** navigator.storage.persist() and estimate(), for db.info(). */
  async health() {
    const out = { persisted: false, persistReason: '', usage: -1, quota: -1 };
    try {
      // persist() is specified for windows only; some browsers offer it to
      // workers too, and where they do not, persisted() is the answer.
      const storage = /** @type {StorageManager & {persist?: () => Promise<boolean>}} */ (navigator.storage);
      out.persisted = (await storage.persisted?.()) || (await storage.persist?.()) || false;
      if (!out.persisted) {
        out.persistReason = (await opfsRefused())
          ? 'this is a private or throwaway browsing session (the browser refuses OPFS here, as Safari and Firefox do in private windows): the data is discarded when the session ends'
          : 'the browser did not grant persistent storage; it may evict the data under storage pressure';
      }
    } catch (err) {
      out.persistReason = `navigator.storage.persist failed: ${thrown(err)?.message ?? err}`;
    }
    try {
      const e = await navigator.storage.estimate();
      out.usage = e.usage ?? -1;
      out.quota = e.quota ?? -1;
    } catch {
      // estimate is optional information
    }
    return out;
  },
};
