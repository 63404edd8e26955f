// The React bindings as a TypeScript app uses them, compiled with --strict
// by `make test-types` (web/types/tsconfig.json) next to usage.ts. Never
// run. Lines marked @ts-expect-error must stay errors.
import { useState, type ReactElement } from 'react';
import { open, type Database, type HearthError, type SQLValue, type SyncStatus } from '../hearth.js';
import { HearthProvider, useDatabase, useQuery, useSyncStatus, paramsKey, type QueryState } from '../react.js';

interface Task {
  id: string;
  title: string;
  done: number;
}

function Tasks({ done }: { done: boolean }): ReactElement {
  // Rows typed by the app; params compared by value, so a new array each render is fine.
  const { rows, error, loading, stale }: QueryState<Task> = useQuery<Task>('SELECT * FROM tasks WHERE done = ? ORDER BY id', [done]);
  const db: Database = useDatabase();
  if (loading) return <p>loading</p>;
  if (error) return <p>{error.code}: {error.message}</p>;
  const add = () => db.exec('INSERT INTO tasks VALUES (?, ?, 0)', [crypto.randomUUID(), 'new']);
  return (
    <ul onClick={add} aria-busy={stale}>
      {rows.map((task) => <li key={task.id}>{task.title.toUpperCase()}</li>)}
    </ul>
  );
}

function Count(): ReactElement {
  const untyped = useQuery('SELECT count(*) AS n FROM tasks');
  const n: SQLValue | undefined = untyped.rows[0]?.n;
  const arrays = useQuery('SELECT id, title FROM tasks', undefined, { rowMode: 'array' });
  const first: SQLValue[] | undefined = arrays.rows[0];
  // @ts-expect-error: array rows have no named fields
  arrays.rows[0].title;
  // @ts-expect-error: params are SQL values, not Dates
  useQuery('SELECT ?', [new Date()]);
  const err: HearthError | null = untyped.error;
  return <span>{String(n)} {String(first)} {err?.code}</span>;
}

function SyncBadge(): ReactElement {
  const status: SyncStatus | null = useSyncStatus();
  // @ts-expect-error: null before the first status, and without sync
  status.pending;
  return <span>{status ? `${status.state}, ${status.pending} pending` : 'local only'}</span>;
}

export function App({ db }: { db: Database }): ReactElement {
  const [done, setDone] = useState(false);
  console.log(paramsKey([1n, new Uint8Array([1])]));
  // @ts-expect-error: the provider needs a database
  <HearthProvider><Count /></HearthProvider>;
  return (
    <HearthProvider db={db}>
      <button onClick={() => setDone(!done)}>toggle</button>
      <Tasks done={done} />
      <Count />
      <SyncBadge />
    </HearthProvider>
  );
}

export async function start(): Promise<ReactElement> {
  const db = await open({ name: 'tasks', migrations: [{ version: 1, sql: 'CREATE TABLE tasks (id TEXT PRIMARY KEY, title TEXT, done INTEGER)' }] });
  return <App db={db} />;
}
