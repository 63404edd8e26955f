// The public API as a TypeScript app uses it, compiled with --strict by
// `make test-types` (web/types/tsconfig.json). Never run: it only has to
// type-check, so a declaration that drifts from how the API is meant to be
// used breaks the build. Lines marked @ts-expect-error must stay errors.
import {
  open,
  preload,
  listDatabases,
  deleteDatabase,
  loadSchema,
  cachedResult,
  preloadCachedResults,
  saveCachedResult,
  clearCachedResults,
  type CachedResult,
  type AppSchema,
  HearthError,
  HearthWorker,
  type Database,
  type ErrorCode,
  type QueryResult,
  type ResultChange,
  type SQLValue,
  type SyncState,
  type SyncStatus,
} from '../hearth.js';
import { encode, decode, peekHead, type EnvelopeHead } from '../protocol.js';

interface Note {
  id: string;
  body: string;
  done: number;
}

export async function app(): Promise<void> {
  const worker: HearthWorker = preload({ wasmURL: '/dist/hearth.wasm' });
  worker.onUnmatchedError = (err) => console.warn(err.code);
  // The open below comes after the app's own start: its replica file and
  // sync connection need not wait for it.
  worker.headStart({ name: 'tasks', sync: { url: '/sync', token: 'token' } });
  // @ts-expect-error sync is required: a head start is of a synced database
  worker.headStart({ name: 'tasks' });

  const db: Database = await open({
    name: 'notes',
    storage: 'auto',
    durability: 'normal',
    key: 'correct horse battery staple',
    migrations: [{ version: 1, sql: 'CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT, done INTEGER)' }],
    onProgress: ({ phase, version, done, total }) => console.log(phase, version, done, total),
    sync: { url: '/sync', tables: ['notes', { name: 'tags', resurrect: true }], token: 't', deferIndexes: false },
    worker,
  });
  await open({ name: 'fresh', sync: { tables: ['notes'], replica: '/api/replica' } });
  await open({ name: 'fresh', sync: { tables: ['notes'], replica: false } });
  // @ts-expect-error: replica is true, false or a URL
  await open({ name: 'fresh', sync: { tables: ['notes'], replica: 1 } });
  // @ts-expect-error: a database needs a name
  await open({ storage: 'memory' });
  // @ts-expect-error: no such storage
  await open({ name: 'x', storage: 'disk' });

  const { changes, lastInsertRowid } = await db.exec('INSERT INTO notes VALUES (?, ?, ?)', ['a', 'hello', false]);
  const rowid: number | bigint = lastInsertRowid;
  console.log(changes + 1, rowid);
  await db.exec('UPDATE notes SET body = :body WHERE id = :id', { body: 'hi', id: 'a' });
  // @ts-expect-error: a Date does not bind
  await db.exec('SELECT ?', [new Date()]);

  // Rows are objects by default, typed by the app...
  const notes: QueryResult<Note> = await db.query<Note>('SELECT * FROM notes');
  const body: string = notes.rows[0].body;
  // ...or SQL values by column name...
  const untyped = await db.query('SELECT count(*) AS n FROM notes');
  const n: SQLValue = untyped.rows[0].n;
  // ...or arrays with rowMode 'array'.
  const arrays = await db.query('SELECT id, body FROM notes', undefined, { rowMode: 'array' });
  const first: SQLValue[] = arrays.rows[0];
  const columns: string[] = arrays.columns;
  // @ts-expect-error: array rows have no named fields
  arrays.rows[0].body;
  console.log(body, n, first, columns);

  const results = await db.batch(['BEGIN IMMEDIATE', { sql: 'DELETE FROM notes WHERE id = ?', params: ['a'] }], { rowMode: 'object' });
  console.log(results.length);

  const stop: () => Promise<void> = await db.watch<Note>(
    'SELECT * FROM notes WHERE done = ?',
    [0],
    (result: QueryResult<Note>, change: ResultChange) => {
      if (change.kind === 'delta') console.log(change.removed + change.inserted + change.changed);
      console.log(result.rows.map((note) => note.body));
    },
    { onError: (err) => console.warn(err.code) },
  );
  await stop();

  for await (const live of db.live<Note>('SELECT * FROM notes')) {
    console.log(live.rows.length);
    break;
  }

  const status: SyncStatus = await db.syncStatus();
  describe(status.state);
  if (status.lastError) console.log(status.lastError.class, status.retries[status.lastError.class]);
  if (!status.replica.used && status.replica.reason) console.log('synced by snapshot:', status.replica.reason, status.initialSync.rows);
  // @ts-expect-error: states are a closed set
  status.state === 'sleeping';
  const unsubscribe = await db.onSyncStatus((s) => {
    if (s.state === 'paused-auth') void db.setSyncToken('new token');
  });
  await unsubscribe();
  const seq: number = await db.retryQuarantined(1, { old_name: 'new_name' });
  await db.discardQuarantined(2);
  await db.dismissChange(seq);
  const h = await db.history('notes', 'n1');
  const winner: string | undefined = h.fields.find((f) => f.column === 'title')?.writer?.node;
  const lostTo: 'insert' | 'update' | 'delete' | undefined = h.lost[0]?.lostToOp;
  void winner; void lostTo;
  const edited: string = await db.editText('notes', 'n1', 'body', [{ at: 0, insert: 'oat ' }, { at: 8, delete: 2 }]);
  void edited;
  // @ts-expect-error: an op inserts or deletes, not both
  await db.editText('notes', ['n1'], 'body', [{ at: 0, insert: 'x', delete: 1 }]);

  const leader: boolean = db.isLeader();
  const info = await db.info();
  console.log(leader, info.storage, info.persistent, info.queueDepth, db.synced, db.version, db.storageReason);

  try {
    await db.exec('INSERT INTO notes VALUES (?, ?, ?)', ['a', 'dup', 0]);
  } catch (err) {
    if (err instanceof HearthError) handle(err.code, err.index);
  }

  for (const stored of await listDatabases({ worker })) {
    const where: 'opfs' | 'idb' = stored.storage;
    console.log(stored.name, where);
  }
  await db.close();
  await deleteDatabase('notes');
  worker.terminate();
  // @ts-expect-error: the worker's request is internal
  worker.request('exec', {});
}

function handle(code: ErrorCode, index: number | undefined): void {
  switch (code) {
    case 'SQLITE_CONSTRAINT_UNIQUE':
      console.log('duplicate', index);
      break;
    case 'NOT_FOUND':
    case 'TX_FINISHED':
    case 'LEADER_CHANGED':
    case 'WRONG_KEY':
      console.log('retry or ask', code);
      break;
    default:
      console.log(code);
  }
  // @ts-expect-error: codes are Hearth's own or SQLite's
  const bogus: ErrorCode = 'NOPE';
  console.log(bogus);
}

// Every state is named: adding one to hearth.d.ts without handling it here
// fails (the never check), as it would in an app's exhaustive switch.
function describe(state: SyncState): string {
  switch (state) {
    case 'starting':
    case 'connecting':
    case 'initial-sync':
      return 'connecting';
    case 'syncing':
      return 'live';
    case 'backoff':
    case 'offline':
      return 'offline';
    case 'paused-schema':
    case 'paused-auth':
    case 'paused-replica':
      return 'needs attention';
    case 'stopped':
      return 'stopped';
    default: {
      const unhandled: never = state;
      return unhandled;
    }
  }
}

export function wire(bytes: Uint8Array): void {
  const head: EnvelopeHead = peekHead(bytes);
  if (head.op !== undefined) console.log(head.op.toUpperCase(), head.id);
  console.log(decode(encode({ v: 1, id: 1 })));
}

// The schema from the sync server, so that page and server run the same migrations.
export async function fromServerSchema(): Promise<Database> {
  const schema: AppSchema = await loadSchema('/v1/schema', { storage: null });
  await loadSchema(new URL('https://sync.example/v1/schema'), { waitMs: 500 });
  // @ts-expect-error: waitMs is a number of milliseconds
  await loadSchema('/v1/schema', { waitMs: '2s' });
  // @ts-expect-error: storage must be a Storage-like object or null
  await loadSchema('/v1/schema', { storage: 'local' });
  return open({ name: 'notes', migrations: schema.migrations, sync: { tables: schema.tables } });
}

// The result cache: paint the last result before the database is open, then live.
export async function paintFromCache(render: (rows: { id: string; title: string }[], stale: boolean) => void): Promise<void> {
  await preloadCachedResults('notes');
  const cached: CachedResult<{ id: string; title: string }> | null = await cachedResult<{ id: string; title: string }>('notes', 'SELECT id, title FROM notes', [], { scope: 'u-01' });
  if (cached) render(cached.rows, cached.stale);
  const arrays = await cachedResult('notes', 'SELECT id, title FROM notes', undefined, { rowMode: 'array' });
  if (arrays) console.log(arrays.rows[0]?.[0], arrays.savedAt);
  const db = await open({ name: 'notes', cache: { scope: 'u-01', maxBytes: 1 << 20 } });
  await db.watch<{ id: string; title: string }>('SELECT id, title FROM notes', [], (r, change: ResultChange) => {
    render(r.rows, change.kind === 'cached');
    if (change.kind === 'cached') console.log(change.savedAt);
  }, { cache: true });
  await saveCachedResult('notes', 'SELECT 1', undefined, { columns: ['1'], rows: [[1]] }, { scope: 'u-01' });
  await clearCachedResults('notes');
  await clearCachedResults();
  // @ts-expect-error: a cache scope is a string
  await open({ name: 'notes', cache: { scope: 1 } });
}
