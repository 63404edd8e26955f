import { createContext, useCallback, useContext, useDeferredValue, useId, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import { useDatabase, useQuery, useSyncStatus, type QueryState } from '@hearthdb/hearth/react';
import type { Session } from './session';
import { addNote, deleteNote, duplicateNote, flagsQuery, notesQuery, updateNote, type Filter, type Note } from './notes';
import { syncView } from './sync';

/** Reports a failed write to the app's alert line. */
const ReportContext = createContext<(err: unknown) => void>(() => {});

export function App({ session }: { session: Session }) {
  const [problem, setProblem] = useState<string | null>(null);
  const [announcement, setAnnouncement] = useState('');
  const report = useCallback((err: unknown) => {
    const e = err as { code?: string; message?: string };
    setProblem(`${e.code ?? 'ERROR'}: ${e.message ?? String(err)}`);
  }, []);
  const [filter, setFilter] = useState<Filter>({ text: '', pinnedOnly: false });
  return (
    <ReportContext.Provider value={report}>
      <header className="bar">
        <h1>Notes</h1>
        <span className="who">{session.user} · space {session.space}</span>
        <SyncIndicator />
      </header>
      <main>
        {problem && (
          <p className="problem" role="alert">
            {problem} <button type="button" onClick={() => setProblem(null)}>Dismiss</button>
          </p>
        )}
        <AddNote session={session} />
        <FilterBar filter={filter} onChange={setFilter} />
        <Flags />
        <NoteList session={session} filter={filter} onAnnounce={setAnnouncement} />
        <p className="visually-hidden" aria-live="polite" data-testid="announce">{announcement}</p>
      </main>
    </ReportContext.Provider>
  );
}

/** Online, offline, changes waiting to be sent, synced: useSyncStatus, live. */
function SyncIndicator() {
  const view = syncView(useSyncStatus());
  return (
    <output className="sync" data-testid="sync" data-state={view.state} data-pending={view.pending} aria-live="polite">
      <span className="dot" aria-hidden="true" /> {view.label}
    </output>
  );
}

function AddNote({ session }: { session: Session }) {
  const db = useDatabase();
  const report = useContext(ReportContext);
  const titleRef = useRef<HTMLInputElement>(null);
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const data = new FormData(form);
    try {
      await addNote(db, session.space, session.user, String(data.get('title')).trim(), String(data.get('body')));
      form.reset();
      titleRef.current?.focus();
    } catch (err) {
      report(err);
    }
  };
  return (
    <form className="add" onSubmit={submit} aria-label="New note">
      <input ref={titleRef} name="title" placeholder="Title" aria-label="Title of the new note" data-testid="new-title" required />
      <textarea name="body" placeholder="Write something…" aria-label="Text of the new note" data-testid="new-body" />
      <button data-testid="add">Add note</button>
    </form>
  );
}

function FilterBar({ filter, onChange }: { filter: Filter; onChange: (f: Filter) => void }) {
  const id = useId();
  return (
    <div className="filter" role="search">
      <label htmlFor={`${id}-text`} className="visually-hidden">Filter notes</label>
      <input
        id={`${id}-text`} type="search" placeholder="Filter notes" data-testid="filter"
        value={filter.text} onChange={(e) => onChange({ ...filter, text: e.target.value })}
      />
      <label>
        <input
          type="checkbox" data-testid="pinned-only"
          checked={filter.pinnedOnly} onChange={(e) => onChange({ ...filter, pinnedOnly: e.target.checked })}
        /> Pinned only
      </label>
    </div>
  );
}

/**
 * The last loaded state of a query: while a new filter's query starts,
 * the previous rows stay on screen instead of an empty list.
 */
function useLastLoaded<Row>(state: QueryState<Row>): QueryState<Row> {
  const [last, setLast] = useState(state);
  if (!state.loading && state !== last) setLast(state);
  return state.loading ? last : state;
}

function NoteList({ session, filter, onAnnounce }: { session: Session; filter: Filter; onAnnounce: (text: string) => void }) {
  // Typing in the filter stays responsive: the list catches up in a
  // background render. Each new value re-subscribes (useQuery compares
  // params by value).
  const deferred = useDeferredValue(filter);
  const [sql, params] = notesQuery(session.space, deferred);
  const { rows, loading, error } = useLastLoaded(useQuery<Note>(sql, params));
  if (error) return <p className="problem" role="alert">{error.code}: {error.message}</p>;
  if (loading) return <p className="empty">Loading…</p>;
  if (rows.length === 0) {
    const filtered = deferred.text !== '' || deferred.pinnedOnly;
    return <p className="empty" data-testid="empty">{filtered ? 'No note matches the filter.' : 'No notes yet: add the first one above.'}</p>;
  }
  return (
    <ul className="notes" data-testid="notes" aria-label="Notes">
      {rows.map((note) => <NoteItem key={note.id} note={note} session={session} onAnnounce={onAnnounce} />)}
    </ul>
  );
}

function NoteItem({ note, session, onAnnounce }: { note: Note; session: Session; onAnnounce: (text: string) => void }) {
  const db = useDatabase();
  const report = useContext(ReportContext);
  const save = (field: 'title' | 'body' | 'pinned', value: string | number) => updateNote(db, note.id, field, value);
  const [pinned, setPinned] = useWritten(note.pinned === 1, report);
  const name = note.title || 'untitled note';
  return (
    <li data-id={note.id}>
      <EditableText label={`Title of ${name}`} value={note.title} testId="title" onSave={(v) => save('title', v.trim())} />
      <EditableText label={`Text of ${name}`} value={note.body} testId="body" multiline onSave={(v) => save('body', v)} />
      <div className="meta">
        <span className="author">{note.author ? `by ${note.author}` : ''}</span>
        <label>
          <input
            type="checkbox" data-testid="pinned" checked={pinned}
            onChange={(e) => { const on = e.target.checked; setPinned(on, () => save('pinned', on ? 1 : 0)); }}
          /> Pinned
        </label>
        <button
          type="button" data-testid="duplicate" aria-label={`Duplicate ${name}`}
          onClick={() => duplicateNote(db, note.id, session.user).then((title) => onAnnounce(`Copied as ${title}`), report)}
        >Duplicate</button>
        <button type="button" data-testid="delete" aria-label={`Delete ${name}`} onClick={() => deleteNote(db, note.id).catch(report)}>Delete</button>
      </div>
    </li>
  );
}

/**
 * A value from a live query that the user can change: set(next, write)
 * shows next at once and runs write; next stays shown until the query's
 * value moves (to next when the write commits, or to whatever another
 * device wrote). A failed write is reported and the query's value shown.
 */
function useWritten<T>(value: T, report: (err: unknown) => void): [T, (next: T, write: () => Promise<unknown>) => void] {
  const [written, setWritten] = useState<{ next: T; over: T } | null>(null);
  if (written !== null && !Object.is(written.over, value)) setWritten(null);
  const shown = written !== null && Object.is(written.over, value) ? written.next : value;
  const set = (next: T, write: () => Promise<unknown>) => {
    setWritten({ next, over: value });
    write().catch((err) => { setWritten(null); report(err); });
  };
  return [shown, set];
}

/**
 * A field showing a synced value: while it has the focus it shows what
 * is typed (a change arriving from another device does not move the
 * caret); on blur or Enter (title) the edit is written; Escape drops it.
 */
function EditableText({ label, value, testId, multiline = false, onSave }: {
  label: string; value: string; testId: string; multiline?: boolean; onSave: (value: string) => Promise<unknown>;
}) {
  const report = useContext(ReportContext);
  const [shown, write] = useWritten(value, report);
  const [draft, setDraft] = useState<string | null>(null);
  const drop = useRef(false);
  const common = {
    'aria-label': label,
    'data-testid': testId,
    value: draft ?? shown,
    onFocus: () => { drop.current = false; setDraft(shown); },
    onChange: (e: { target: { value: string } }) => setDraft(e.target.value),
    onBlur: () => {
      if (draft !== null && draft !== shown && !drop.current) write(draft, () => onSave(draft));
      setDraft(null);
    },
    onKeyDown: (e: KeyboardEvent<HTMLInputElement | HTMLTextAreaElement>) => {
      if (e.key === 'Escape') { drop.current = true; e.currentTarget.blur(); }
      if (e.key === 'Enter' && !multiline) e.currentTarget.blur();
    },
  };
  return multiline ? <textarea className="body" {...common} /> : <input className="title" {...common} />;
}

/** The server's invariant violations (a duplicate title), synced like rows. */
function Flags() {
  const { rows } = useQuery<{ id: number; message: string }>(flagsQuery);
  if (rows.length === 0) return null;
  return (
    <ul className="flags" data-testid="flags" aria-label="Problems the server found">
      {rows.map((r) => <li key={r.id}>{r.message}</li>)}
    </ul>
  );
}
