// The notes' SQL: every write is a local write (instant, offline too) that
// Hearth syncs in the background. The tables are the notes app's
// (examples/notes/migrations, loaded from the server by loadSchema).
import type { Database } from '@hearthdb/hearth';

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
 * space with one title). One transaction: the titles read are still the
 * titles when the copy is inserted, in this tab, in others and from sync.
 * Resolves to the copy's title.
 */
export function duplicateNote(db: Database, id: string, author: string): Promise<string> {
  return db.transaction(async (tx) => {
    const { rows: [source] } = await tx.query<{ space_id: string; title: string; body: string }>(
      'SELECT space_id, title, body FROM notes WHERE id = ?', [id]);
    if (!source) throw new Error('the note to copy is gone');
    const { rows } = await tx.query<{ title: string }>(
      "SELECT title FROM notes WHERE space_id = ? AND substr(title, 1, length(?)) = ?",
      [source.space_id, `${source.title} (copy`, `${source.title} (copy`]);
    const taken = new Set(rows.map((r) => r.title));
    let title = `${source.title} (copy)`;
    for (let n = 2; taken.has(title); n++) title = `${source.title} (copy ${n})`;
    await tx.exec('INSERT INTO notes (id, space_id, title, body, author, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
      [crypto.randomUUID(), source.space_id, title, source.body, author, Date.now()]);
    return title;
  });
}

/** The server's invariant violations for notes (hearth.yaml: invariants), newest first. */
export const flagsQuery = `SELECT id, message FROM _hearth_violations WHERE tbl = 'notes' ORDER BY at DESC LIMIT 5`;
