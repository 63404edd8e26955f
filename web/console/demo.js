// The SQL console: statements are split on ';' by SQLite itself — every
// statement but the last runs with exec, the last with query so its rows show.
import { open, preload } from '../hearth.js';

preload();
const $ = (id) => document.getElementById(id);

function render(result) {
  const out = $('output');
  out.replaceChildren();
  if (!result.columns) {
    out.textContent = `${result.changes} row(s) changed, last insert rowid ${result.lastInsertRowid}`;
    return;
  }
  const table = document.createElement('table');
  const head = table.insertRow();
  for (const c of result.columns) head.appendChild(Object.assign(document.createElement('th'), { textContent: c }));
  for (const row of result.rows) {
    const tr = table.insertRow();
    for (const v of row) tr.insertCell().textContent = v instanceof Uint8Array ? `blob(${v.length})` : String(v);
  }
  out.append(`${result.rows.length} row(s)`, table);
}

function splitLast(sql) {
  const trimmed = sql.trim().replace(/;\s*$/, '');
  const i = trimmed.lastIndexOf(';');
  return i < 0 ? ['', trimmed] : [trimmed.slice(0, i + 1), trimmed.slice(i + 1)];
}

const started = performance.now();
const db = await open({ name: 'console', storage: 'auto' });
$('status').textContent = `Ready in ${(performance.now() - started).toFixed(0)} ms — storage: ${db.storage} (${db.storageReason})`;
$('run').disabled = false;

async function run() {
  const [head, last] = splitLast($('sql').value);
  try {
    if (head.trim()) await db.exec(head);
    if (!last.trim()) return;
    const stmt = last.trim().toUpperCase();
    if (/^(SELECT|WITH|PRAGMA|VALUES|EXPLAIN)/.test(stmt) || /\bRETURNING\b/.test(stmt)) {
      render(await db.query(last, undefined, { rowMode: 'array' }));
    } else {
      render(await db.exec(last));
    }
  } catch (err) {
    const out = $('output');
    out.replaceChildren(Object.assign(document.createElement('div'), { className: 'error', textContent: `${err.code}: ${err.message}` }));
  }
}
$('run').onclick = run;
$('sql').addEventListener('keydown', (e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); run(); } });
