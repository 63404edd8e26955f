// The notes example: a page that syncs its own schema through
// `hearth serve -config examples/notes/hearth.yaml`, with no Go of its own.
// It loads the migrations from the server (/v1/schema), opens the database
// with sync, renders live queries and writes with plain SQL.
import { open, loadSchema } from '/hearth.js';

const $ = (id) => document.getElementById(id);

// The token comes from the app's own login in a real app; here from the
// URL (?token=, minted with `hearth token`), kept for offline reloads.
const params = new URLSearchParams(location.search);
if (params.has('token')) localStorage.setItem('notes.token', params.get('token'));
const token = localStorage.getItem('notes.token') ?? undefined;
const claims = token ? readClaims(token) : {};
const user = claims.sub ?? 'anonymous';
const space = params.get('space') ?? [].concat(claims.ws ?? [])[0] ?? 'public';

/** The token's payload, for display and defaults only: the server verifies it. */
function readClaims(jwt) {
  try {
    const b64 = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(b64));
  } catch {
    return {};
  }
}

function showProblem(err) {
  $('problem').hidden = false;
  $('problem').textContent = `${err.code ?? 'ERROR'}: ${err.message}`;
}

let db;
try {
  const schema = await loadSchema('/v1/schema');
  db = await open({ name: `notes-${user}`, migrations: schema.migrations, sync: { url: '/sync', tables: schema.tables, token } });
} catch (err) {
  showProblem(err);
  throw err;
}
window.notesDB = db; // for the e2e test and the curious
window.hearthSyncStatus = () => db.syncStatus(); // e2e/kit.mjs reads it
$('who').textContent = `${user} · space ${space}`;
$('add').hidden = false;
$('profile').hidden = user === 'anonymous';

db.onSyncStatus((s) => {
  const pending = s.pending ? ` · ${s.pending} to send` : '';
  const error = s.lastError && s.state !== 'syncing' ? ` · ${s.lastError.code}` : '';
  $('sync').textContent = `${s.state}${pending}${error}`;
  $('sync').dataset.state = s.state;
  $('sync').dataset.pending = String(s.pending);
});

$('add').addEventListener('submit', async (e) => {
  e.preventDefault();
  const form = e.target;
  await db.exec('INSERT INTO notes (id, space_id, title, body, author, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
    [crypto.randomUUID(), space, form.title.value.trim(), form.body.value, user, Date.now()]);
  form.reset();
});

$('profile').addEventListener('submit', async (e) => {
  e.preventDefault();
  await db.exec('INSERT INTO profiles (user_id, display_name) VALUES (?, ?) ON CONFLICT (user_id) DO UPDATE SET display_name = excluded.display_name',
    [user, e.target.display_name.value.trim()]);
});

// One <li> per note, kept across renders so that a field being edited
// keeps its focus and caret while other notes change.
const items = new Map();

function noteItem(id) {
  let li = items.get(id);
  if (li) return li;
  li = document.createElement('li');
  li.dataset.id = id;
  li.innerHTML = '<input class="title" data-testid="title" aria-label="Title"><textarea class="body" data-testid="body" aria-label="Text"></textarea>'
    + '<div class="meta"><span class="author"></span><label><input type="checkbox" class="pinned"> pinned</label><button class="delete" data-testid="delete">Delete</button></div>';
  const save = (col, value) => db.exec(`UPDATE notes SET ${col} = ?, updated_at = ? WHERE id = ?`, [value, Date.now(), id]).catch(showProblem);
  li.querySelector('.title').addEventListener('change', (e) => save('title', e.target.value.trim()));
  li.querySelector('.body').addEventListener('change', (e) => save('body', e.target.value));
  li.querySelector('.pinned').addEventListener('change', (e) => save('pinned', e.target.checked ? 1 : 0));
  li.querySelector('.delete').addEventListener('click', () => db.exec('DELETE FROM notes WHERE id = ?', [id]).catch(showProblem));
  items.set(id, li);
  return li;
}

function setValue(el, value) {
  if (document.activeElement !== el && el.value !== value) el.value = value;
}

await db.watch(`SELECT n.id, n.title, n.body, n.pinned, coalesce(nullif(p.display_name, ''), n.author) AS author
  FROM notes n LEFT JOIN profiles p ON p.user_id = n.author
  WHERE n.space_id = ? ORDER BY n.pinned DESC, n.updated_at DESC, n.id`, [space], ({ rows }) => {
  const list = $('notes');
  const seen = new Set();
  rows.forEach((row, i) => {
    const li = noteItem(row.id);
    seen.add(row.id);
    setValue(li.querySelector('.title'), row.title);
    setValue(li.querySelector('.body'), row.body);
    li.querySelector('.pinned').checked = row.pinned === 1;
    li.querySelector('.author').textContent = row.author ? `by ${row.author}` : '';
    if (list.children[i] !== li) list.insertBefore(li, list.children[i] ?? null);
  });
  for (const [id, li] of items) {
    if (!seen.has(id)) { li.remove(); items.delete(id); }
  }
}, { onError: showProblem });

if (user !== 'anonymous') {
  await db.watch('SELECT display_name FROM profiles WHERE user_id = ?', [user], ({ rows }) => {
    setValue($('profile').display_name, rows[0]?.display_name ?? '');
  });
}

// The server's invariant violations (hearth.yaml: invariants) sync like
// rows; the newest few are shown.
await db.watch(`SELECT id, message FROM _hearth_violations WHERE tbl = 'notes' ORDER BY at DESC LIMIT 5`, [], ({ rows }) => {
  $('flags').replaceChildren(...rows.map((r) => Object.assign(document.createElement('li'), { textContent: r.message })));
}, { onError: () => {} });
