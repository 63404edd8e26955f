// Transactions and the Kysely dialect as a TypeScript app uses them, under
// --strict (`make test-types`). Never run; lines marked @ts-expect-error
// must stay errors.
import { Kysely, type Generated, type Selectable } from 'kysely';
import { open, type Database, type Transaction } from '../hearth.js';
import { HearthDialect } from '../kysely.js';

// The board's tables (examples/board/app/migrations), as Kysely sees them.
interface ProjectTable {
  id: string;
  workspace_id: string;
  name: string;
  archived: Generated<number>;
}
interface TaskTable {
  id: string;
  workspace_id: string;
  project_id: string;
  title: string;
  status: Generated<string>;
  position: Generated<number>;
  priority: Generated<number>;
}
interface Board {
  projects: ProjectTable;
  tasks: TaskTable;
}

export async function transactions(db: Database): Promise<number> {
  const moved: number = await db.transaction(async (tx: Transaction) => {
    const { rows } = await tx.query<{ n: number }>('SELECT count(*) AS n FROM tasks WHERE status = ?', ['todo']);
    const r = await tx.exec('UPDATE tasks SET status = :to WHERE status = :from', { to: 'doing', from: 'todo' });
    await tx.transaction(async (inner) => {
      await inner.batch(['DELETE FROM tasks WHERE archived = 1']);
    });
    const [first] = (await tx.query('SELECT id FROM tasks', undefined, { rowMode: 'array' })).rows;
    console.log(first?.[0], tx.id, tx.finished);
    return rows[0].n + r.changes;
  }, { timeoutMs: 5000 });
  // @ts-expect-error the callback's value is the transaction's: a number, not a string
  const wrong: string = await db.transaction(async () => 1);
  console.log(wrong);
  return moved;
}

export async function kysely(): Promise<void> {
  const db = await open({ name: 'board' });
  const k = new Kysely<Board>({ dialect: new HearthDialect({ database: db }) });
  const lazy = new Kysely<Board>({ dialect: new HearthDialect({ database: () => open({ name: 'board' }), transactionTimeoutMs: 2000 }) });

  const tasks: Array<Selectable<TaskTable>> = await k.selectFrom('tasks').selectAll().where('status', '=', 'todo').execute();
  const joined = await k
    .selectFrom('tasks')
    .innerJoin('projects', 'projects.id', 'tasks.project_id')
    .select(['tasks.title', 'projects.name as project'])
    .execute();
  const title: string = joined[0].title;
  const project: string = joined[0].project;
  // @ts-expect-error no such column
  await k.selectFrom('tasks').select('nope').execute();

  const inserted = await k.insertInto('projects').values({ id: 'p1', workspace_id: 'w1', name: 'P' }).executeTakeFirst();
  const rowid: bigint | undefined = inserted.insertId;
  const count = await k.transaction().execute(async (trx) => {
    await trx.updateTable('tasks').set({ status: 'done' }).where('project_id', '=', 'p1').execute();
    return (await trx.selectFrom('tasks').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n;
  });
  const n: number = count;
  console.log(tasks.length, title, project, rowid, n, await lazy.selectFrom('projects').select('id').execute());
}
