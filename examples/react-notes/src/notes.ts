// The notes' SQL: every write is a local write (instant, offline too) that
// Hearth syncs in the background. The tables are the notes app's
// (examples/notes/migrations, loaded from the server by loadSchema).
import type { Database, QueryResult } from '@hearthdb/hearth';

export interface Note {
  id: string;
  title: string;
  body: string;
  pinned: number;
  author: string;
}

export interface Filter {
  /** Words to look for in titles and bodies; '' for every note. */
  text: string;
  pinnedOnly: boolean;
}

/** The query and params of the note list, for useQuery. */
export function notesQuery(space: string, filter: Filter): [string, (string | number)[]] {
  return [
    `SELECT n.id, n.title, n.body, n.pinned, coalesce(nullif(p.display_name, ''), n.author) AS author
       FROM notes n LEFT JOIN profiles p ON p.user_id = n.author
      WHERE n.space_id = ?
        AND (? = '' OR instr(lower(n.title || ' ' || n.body), lower(?)) > 0)
        AND (n.pinned = 1 OR ? = 0)
      ORDER BY n.pinned DESC, n.updated_at DESC, n.id`,
    [space, filter.text, filter.text, filter.pinnedOnly ? 1 : 0],
  ];
}

export function addNote(db: Database, space: string, author: string, title: string, body: string) {
  return db.exec(
    'INSERT INTO notes (id, space_id, title, body, author, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
    [crypto.randomUUID(), space, title, body, author, Date.now()],
  );
}

/** Sets one field; only that column syncs, so edits elsewhere in the note merge. */
export function updateNote(db: Database, id: string, field: 'title' | 'body' | 'pinned', value: string | number) {
  return db.exec(`UPDATE notes SET ${field} = ?, updated_at = ? WHERE id = ?`, [value, Date.now(), id]);
}

export function deleteNote(db: Database, id: string) {
  return db.exec('DELETE FROM notes WHERE id = ?', [id]);
}

/**
 * Copies a note, titled "<title> (copy)", or "(copy 2)", "(copy 3)"…
 * when that title is taken in the space (the server flags two notes of a
 * space with one title). One db.batch, so one transaction: the INSERT …
 * SELECT picks the title from the notes as they are when it runs, and the
 * SELECT after it reads the copy back in the same transaction. Resolves
 * to the copy's title.
 */
export async function duplicateNote(db: Database, id: string, author: string): Promise<string> {
  const copy = crypto.randomUUID();
  const [, readBack] = await db.batch([
    {
      sql: `WITH RECURSIVE
              src AS (SELECT space_id, title, body FROM notes WHERE id = :id),
              k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < 1000),
              candidate AS (SELECT n, src.title || ' (copy' || iif(n = 1, '', ' ' || n) || ')' AS title FROM k, src)
            INSERT INTO notes (id, space_id, title, body, author, pinned, updated_at)
            SELECT :copy, src.space_id, candidate.title, src.body, :author, 0, :now
              FROM src, candidate
             WHERE NOT EXISTS (SELECT 1 FROM notes o WHERE o.space_id = src.space_id AND o.title = candidate.title)
             ORDER BY candidate.n LIMIT 1`,
      params: { id, copy, author, now: Date.now() },
    },
    { sql: 'SELECT title FROM notes WHERE id = ?', params: [copy] },
  ]);
  const rows = (readBack as QueryResult<{ title: string }>).rows;
  if (rows.length === 0) throw new Error('no copy made: the note is gone, or it has 1,000 copies already');
  return rows[0].title;
}

/** The server's invariant violations for notes (hearth.yaml: invariants), newest first. */
export const flagsQuery = `SELECT id, message FROM _hearth_violations WHERE tbl = 'notes' ORDER BY at DESC LIMIT 5`;
