// The Hearth inspector: opened beside an app (same origin), it shows one
// database as Hearth sees it — storage and live queries, the sync status
// and its timeline, tables with live rows, a row's field history (who won
// each field and what lost), and the journal and quarantine with retry and
// discard. It opens the database by name: while the app's tab leads it,
// every request goes through the app's worker (hearth-tabs.js), so the
// inspector sees the app's sync. Opened alone, it opens the database with
// the server's schema (GET /v1/schema) and syncs it itself; give ?token=
// when the server needs one.
import { open, listDatabases, loadSchema } from '../hearth.js';

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const params = new URLSearchParams(location.search);
const TIMELINE_MAX = 200;

/** @param {unknown} v */
function show(v) {
  if (v === null || v === undefined) return 'NULL';
  if (v instanceof Uint8Array) return `blob(${v.length})`;
  if (typeof v === 'object') return JSON.stringify(v, (_, x) => (x instanceof Uint8Array ? `blob(${x.length})` : typeof x === 'bigint' ? String(x) : x));
  return String(v);
}

/** @param {number} ms */
const time = (ms) => (ms ? new Date(ms).toISOString().replace('T', ' ').replace('Z', '') : '—');

/** Fills a table body with rows of cells (strings or nodes). */
function fill(tbody, rows) {
  tbody.replaceChildren(...rows.map((cells) => {
    const tr = document.createElement('tr');
    for (const c of cells) {
      const td = document.createElement('td');
      if (c instanceof Node) td.append(c);
      else td.textContent = c;
      tr.append(td);
    }
    return tr;
  }));
}

/** Fills a definition list from [term, value] pairs. */
function describe(dl, pairs) {
  dl.replaceChildren(...pairs.flatMap(([k, v]) => [
    Object.assign(document.createElement('dt'), { textContent: k }),
    Object.assign(document.createElement('dd'), { textContent: v }),
  ]));
}

function button(label, onClick, attrs = {}) {
  const b = Object.assign(document.createElement('button'), { type: 'button', textContent: label, ...attrs });
  b.addEventListener('click', onClick);
  return b;
}

const quote = (name) => `"${String(name).replaceAll('"', '""')}"`;

async function start() {
  const dbs = await listDatabases();
  const select = /** @type {HTMLSelectElement} */ ($('db-select'));
  for (const d of dbs) select.append(new Option(`${d.name} (${d.storage})`, d.name));
  const wanted = params.get('db');
  if (wanted && !dbs.some((d) => d.name === wanted)) select.append(new Option(wanted, wanted));
  if (wanted) select.value = wanted;
  $('status').textContent = dbs.length ? `${dbs.length} database(s) on this origin.` : 'No database stored on this origin yet.';
  $('pick').addEventListener('submit', (e) => { e.preventDefault(); inspect(select.value); });
  if (wanted) await inspect(wanted);
}

/** @type {Array<() => Promise<void>>} */
let stops = [];

async function inspect(name) {
  if (!name) return;
  for (const stop of stops) await stop().catch(() => {});
  stops = [];
  $('status').textContent = `Opening ${name}…`;
  let options = {};
  try {
    const schema = await loadSchema();
    const token = params.get('token') ?? undefined;
    options = { migrations: schema.migrations, sync: { tables: schema.tables, token } };
  } catch {
    // No server schema: inspect the database as it is.
  }
  const db = await open({ name, ...options });
  $('status').textContent = `Inspecting ${name}: ${db.storage} storage, schema version ${db.version}, ${db.synced ? 'synced' : 'not synced'}${db.isLeader() ? ' (this tab leads it)' : ' (through the tab that leads it)'}.`;
  $('main').hidden = false;
  history.replaceState(null, '', `?db=${encodeURIComponent(name)}`);
  await Promise.all([overview(db), sync(db), tables(db), journal(db)]);
}

async function overview(db) {
  const refresh = async () => {
    const i = await db.info();
    describe($('overview'), [
      ['storage', `${i.storage} (${i.storageReason})`],
      ['persistent', i.persistent ? 'yes' : `no: ${i.persistReason}`],
      ['usage / quota', i.usage < 0 ? 'unknown' : `${(i.usage / 1e6).toFixed(1)} MB of ${(i.quota / 1e6).toFixed(0)} MB`],
      ['queue depth', String(i.queueDepth)],
      ['live queries / subscriptions / runs', `${i.liveQueries} / ${i.subscriptions} / ${i.liveQueryRuns}`],
      ['in a transaction', i.inTransaction ? `yes (${i.heldByTransaction} waiting)` : 'no'],
    ]);
    fill($('live-stats').querySelector('tbody'), (i.liveQueryStats ?? []).map((q) => [q.sql, String(q.subscribers), String(q.runs), String(q.patches), String(q.spared ?? 0), q.whyRerun || '—', q.lastMs.toFixed(2), q.totalMs.toFixed(2)]));
  };
  await refresh();
  const timer = setInterval(() => refresh().catch(() => {}), 2000);
  stops.push(async () => clearInterval(timer));
}

/**
 * How the database began: the server's replica file, or why not.
 * @param {import('../hearth.js').SyncStatus['replica']} r
 */
function beganAs(r) {
  if (r.used) return `the server's replica file (${(r.bytes / 1048576).toFixed(1)} MiB: downloaded in ${r.downloadMs.toFixed(0)} ms, copied in ${r.restoreMs.toFixed(0)} ms)`;
  return r.reason ? `a snapshot (no replica file: ${r.reason})` : 'a database stored before this worker';
}

async function sync(db) {
  if (!db.synced) {
    describe($('sync-now'), [['sync', 'this database was opened without sync']]);
    return;
  }
  const timeline = [];
  let last = '';
  const stop = await db.onSyncStatus((s) => {
    describe($('sync-now'), [
      ['state', s.state],
      ['connected / online', `${s.connected} / ${s.online}`],
      ['pending changes', String(s.pending)],
      ['cursor / head', `${s.cursor} / ${s.head}`],
      ['last synced', time(s.lastSyncedAt)],
      ['next attempt', time(s.nextAttemptAt)],
      ['initial sync', s.initialSync.active ? `${s.initialSync.rows} of ${s.initialSync.total} rows` : 'done'],
      ['began as', beganAs(s.replica)],
      ['checksums / divergences', `${s.checksums} / ${s.divergences}${s.divergedTables.length ? ` (${s.divergedTables.join(', ')})` : ''}`],
      ['flagged / refused / quarantined', `${s.flagged} / ${s.refused} / ${s.quarantined}`],
      ['reconcile latency', `${s.reconcileLatencyMs.toFixed(1)} ms`],
    ]);
    const err = s.lastError ? `${s.lastError.class} ${s.lastError.code}: ${s.lastError.message}` : '';
    // A timeline of what moved: connects, backoffs, errors, state.
    const key = `${s.state}|${s.connected}|${err}`;
    if (key !== last) {
      last = key;
      timeline.unshift([time(Date.now()), s.state, String(s.connected), String(s.pending), `${s.cursor} / ${s.head}`, err]);
      timeline.length = Math.min(timeline.length, TIMELINE_MAX);
      fill($('sync-timeline').querySelector('tbody'), timeline);
    }
    const retries = Object.entries(s.retries).filter(([, n]) => n > 0).map(([c, n]) => `${c}: ${n}`);
    $('sync-retries').textContent = `Errors by class: ${retries.length ? retries.join(', ') : 'none'}`;
  });
  stops.push(stop);
}

async function tables(db) {
  const list = await db.query(`SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_hearth_%' ORDER BY name`);
  const box = $('tables');
  box.replaceChildren();
  /** @type {null | (() => Promise<void>)} */
  let stopRows = null;
  stops.push(async () => { if (stopRows) await stopRows(); });
  for (const { name } of list.rows) {
    const b = button(String(name), async () => {
      for (const other of box.querySelectorAll('button')) other.setAttribute('aria-pressed', String(other === b));
      if (stopRows) await stopRows();
      const pk = (await db.query(`SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk`, [name])).rows.map((r) => String(r.name));
      stopRows = await db.watch(`SELECT * FROM ${quote(name)} LIMIT 100`, undefined, (res) => {
        $('rows-caption').textContent = `${name}: ${res.rows.length} row(s) shown (live, first 100)`;
        const head = document.createElement('tr');
        for (const c of [...res.columns, '']) head.append(Object.assign(document.createElement('th'), { textContent: c }));
        $('rows').querySelector('thead').replaceChildren(head);
        fill($('rows').querySelector('tbody'), res.rows.map((r) => [
          ...res.columns.map((c) => show(r[c])),
          pk.length ? button('History', () => rowHistory(db, String(name), pk.map((k) => r[k])), { className: 'history', 'aria-label': `History of ${name} ${pk.map((k) => show(r[k])).join(', ')}` }) : '',
        ]));
      });
    }, { 'aria-pressed': 'false', id: `table-${name}` });
    box.append(b);
  }
}

async function rowHistory(db, table, key) {
  const h = await db.history(table, key);
  const stamp = (s) => (s ? `${s.node}` : '—');
  const at = (s) => (s ? `${time(s.at)} (${s.hlc})` : '—');
  fill($('history-fields').querySelector('tbody'), h.fields.map((f) => [f.column, show(f.value), stamp(f.writer), at(f.writer), f.merged ? 'merged (collaborative text)' : f.byInsert ? 'insert' : f.writer ? 'update' : '—']));
  fill($('history-lost').querySelector('tbody'), h.lost.map((l) => [l.column, show(l.value), stamp(l.writer), at(l.writer), stamp(l.lostTo), at(l.lostTo), l.lostToOp]));
  fill($('history-journal').querySelector('tbody'), h.journal.map((e) => {
    const state = Object.assign(document.createElement('span'), { textContent: e.state, className: `state-${e.state}` });
    return [e.seq ? String(e.seq) : '—', e.op, state, e.code, e.detail, at(e.stamp), Object.keys(e.values ?? {}).join(', ')];
  }));
  $('h-history').textContent = `Row history: ${table} ${key.map(show).join(', ')}${h.exists ? '' : ' (not in the table now)'}`;
  $('history-section').hidden = false;
  $('h-history').focus();
}

async function journal(db) {
  stops.push(await db.watch(`SELECT seq, tbl, op, state, coalesce(code, '') AS code, coalesce(detail, '') AS detail FROM _hearth_journal ORDER BY seq DESC LIMIT 100`, undefined, (res) => {
    fill($('journal').querySelector('tbody'), res.rows.map((r) => [String(r.seq), String(r.tbl), String(r.op), Object.assign(document.createElement('span'), { textContent: String(r.state), className: `state-${r.state}` }), String(r.code), String(r.detail)]));
  }).catch(() => async () => {}));
  stops.push(await db.watch(`SELECT id, direction, tbl, op, code, reason FROM _hearth_quarantine ORDER BY id DESC`, undefined, (res) => {
    fill($('quarantine').querySelector('tbody'), res.rows.map((r) => {
      const actions = document.createElement('span');
      actions.append(
        button('Retry', () => db.retryQuarantined(Number(r.id)), { 'aria-label': `Retry quarantined change ${r.id}` }),
        ' ',
        button('Discard', () => db.discardQuarantined(Number(r.id)), { 'aria-label': `Discard quarantined change ${r.id}` }),
      );
      return [String(r.id), String(r.direction), String(r.tbl), String(r.op), String(r.code), String(r.reason), actions];
    }));
  }).catch(() => async () => {}));
}

start().catch((err) => {
  $('status').textContent = `The inspector failed: ${err.message ?? err}`;
});
