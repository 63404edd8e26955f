// Many tabs, one database: the worker-side router. Every tab has its own
// Hearth worker, but an OPFS sync access handle is exclusive and the
// IndexedDB VFS caches blocks, so exactly one worker per database — the
// leader, elected with a Web Lock that the browser releases when that
// worker dies — opens it. The other tabs' workers (followers) forward their
// pages' requests and watches to the leader over a BroadcastChannel. When
// the leader goes (tab closed, crashed, worker terminated, database
// closed), the next worker in the lock's queue opens the database, its
// pages' watches resume with a full result, and the other followers
// re-subscribe with it. Requests in flight to a leader that died reject
// with LEADER_CHANGED: their outcome is unknown, acknowledged writes are
// durable. No SharedWorker (Android Chrome has none; sync handles are not
// available in one).
import { encode, decode, peekHead, VERSION } from './protocol.js';

/**
 * Decodes an envelope from Go or from the page: the router reads and
 * rewrites their fields (id, sub, ok, …) whatever the op, so it sees them
 * as a plain map. Only bytes already known to be envelopes come here.
 * @param {Uint8Array} bytes
 * @returns {Record<string, any>}
 */
const decodeEnvelope = (bytes) => /** @type {Record<string, any>} */ (decode(bytes));

const VIRTUAL_BASE = 2 ** 40; // ids and handles the router invents, far above Go's
const lockName = (name) => `hearth-db:${name}`;
// Every router holds its own lock for as long as its worker lives: the
// leader waits on a follower's to learn that the follower died (closing a
// tab terminates its worker and releases its locks), and then rolls back
// the transaction that follower had open.
const lifeLockName = (router) => `hearth-tab:${router}`;

/**
 * The router between this worker's page, its Go engine and the other tabs'
 * workers. Every message from the page goes through fromPage, every message
 * from Go through fromGo.
 * @param {object} sides
 * @param {(bytes: Uint8Array) => void} sides.toGo hands Go a message
 * @param {(bytes: Uint8Array) => void} sides.toPage posts a message to the page
 * @param {(name: string, leading: boolean) => void} [sides.onLeadership] told when this worker starts or stops leading a database
 * @returns {{fromPage: (data: unknown) => void, fromGo: (bytes: Uint8Array) => void}}
 */
export function createTabRouter({ toGo, toPage, onLeadership = () => {} }) {
  const me = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  const canLead = typeof navigator !== 'undefined' && navigator.locks && typeof BroadcastChannel !== 'undefined';
  let nextVirtual = VIRTUAL_BASE;
  const goWaiters = new Map(); // Go request id → function(bytes) taking its reply instead of the page
  const subRoutes = new Map(); // Go sub id → function(bytes) taking its pushes instead of the page
  const followers = new Map(); // virtual handle → follower state
  const leaders = new Map(); // database name → leader state
  if (canLead) navigator.locks.request(lifeLockName(me), () => new Promise(() => {})).catch(() => {});

  function askGo(fields, onReply) {
    const id = nextVirtual++;
    goWaiters.set(id, onReply);
    toGo(encode({ v: VERSION, id, ...fields }));
    return id;
  }

  function replyPage(id, ok, error) {
    toPage(encode(error ? { v: VERSION, id, error } : { v: VERSION, id, ok }));
  }

  // ---- leader side ----
  function lead(name, handle, info, release) {
    const channel = new BroadcastChannel(lockName(name));
    // txBySource: follower → {tx, stop}: its open transaction, and how to
    // stop waiting for its death.
    const state = { name, handle, info, release, channel, bySource: new Map(), txBySource: new Map() };
    leaders.set(name, state);
    channel.onmessage = ({ data: m }) => {
      if (m.to && m.to !== 'leader') return;
      if (m.t === 'hello') channel.postMessage({ t: 'welcome', to: m.from, leader: me, info });
      else if (m.t === 'req') serve(state, m);
      else if (m.t === 'bye') {
        for (const sub of state.bySource.get(m.from) ?? []) {
          subRoutes.delete(sub);
          askGo({ op: 'unwatch', db: handle, sub }, () => {});
        }
        state.bySource.delete(m.from);
        abandonTx(state, m.from);
      }
    };
    channel.postMessage({ t: 'leader', leader: me });
    onLeadership(name, true);
  }

  // A follower's transaction ends with it: rolled back if it is still open
  // when the follower says bye or dies.
  function watchTx(state, from, tx) {
    state.txBySource.get(from)?.stop.abort(); // one that timed out earlier
    const stop = new AbortController();
    state.txBySource.set(from, { tx, stop });
    navigator.locks.request(lifeLockName(from), { signal: stop.signal }, () => {
      if (state.txBySource.get(from)?.tx === tx) abandonTx(state, from);
    }).catch(() => {}); // aborted: the transaction ended first
  }

  function abandonTx(state, from) {
    const open = state.txBySource.get(from);
    if (!open) return;
    state.txBySource.delete(from);
    open.stop.abort();
    askGo({ op: 'rollback', db: state.handle, tx: open.tx }, () => {});
  }

  function serve(state, m) {
    const ends = (m.req.op === 'commit' || m.req.op === 'rollback') && state.txBySource.get(m.from)?.tx === m.req.tx;
    if (ends) {
      state.txBySource.get(m.from).stop.abort();
      state.txBySource.delete(m.from);
    }
    askGo({ ...m.req, db: state.handle }, (bytes) => {
      if (m.req.op === 'begin') {
        const reply = decodeEnvelope(bytes);
        if (reply.ok) watchTx(state, m.from, reply.ok.tx);
      }
      if (m.req.op === 'watch') {
        const reply = decodeEnvelope(bytes);
        if (reply.ok) {
          const sub = reply.ok.sub;
          subRoutes.set(sub, (push) => state.channel.postMessage({ t: 'push', to: m.from, bytes: push }));
          if (!state.bySource.has(m.from)) state.bySource.set(m.from, []);
          state.bySource.get(m.from).push(sub);
        }
      }
      state.channel.postMessage({ t: 'rep', to: m.from, rid: m.rid, bytes });
    });
  }

  function stopLeading(name) {
    const state = leaders.get(name);
    if (!state) return;
    leaders.delete(name);
    for (const subs of state.bySource.values()) for (const sub of subs) subRoutes.delete(sub);
    state.channel.postMessage({ t: 'gone', leader: me });
    state.channel.close();
    state.release();
    onLeadership(name, false);
  }

  // ---- follower side ----
  function follow(req) {
    const v = nextVirtual++;
    const abort = new AbortController();
    const f = {
      handle: v, name: req.name, openReq: req, pageOpenID: req.id, local: null,
      channel: new BroadcastChannel(lockName(req.name)), leader: null, abort,
      queue: [], pending: new Map(), nextRid: 1, watches: new Map(), // vsub → {spec, sub}: spec is the watch request's fields
      answered: false,
    };
    followers.set(v, f);
    f.channel.onmessage = ({ data: m }) => followerMessage(f, m);
    f.channel.postMessage({ t: 'hello', from: me, to: 'leader' });
    // Queue for the lock: granted when the leader is gone.
    navigator.locks.request(lockName(req.name), { signal: abort.signal }, () => new Promise((release) => promote(f, release)))
      .catch(() => {}); // aborted on close
  }

  function followerMessage(f, m) {
    if (f.local) return;
    if (m.t === 'welcome' && m.to === me) {
      f.leader = m.leader;
      if (!f.answered) {
        f.answered = true;
        replyPage(f.pageOpenID, { ...m.info, db: f.handle, reason: `${m.info.reason}; opened by another tab's worker (this tab follows it)` });
      }
      for (const [vsub, w] of f.watches) resubscribe(f, vsub, w);
      for (const req of f.queue.splice(0)) forward(f, req);
    } else if (m.t === 'leader' && m.leader !== f.leader) {
      failInFlight(f);
      f.leader = null;
      f.channel.postMessage({ t: 'hello', from: me, to: 'leader' });
    } else if (m.t === 'gone' && m.leader === f.leader) {
      failInFlight(f);
      f.leader = null;
    } else if (m.t === 'rep' && m.to === me) {
      const p = f.pending.get(m.rid);
      if (!p) return;
      f.pending.delete(m.rid);
      p(m.bytes);
    } else if (m.t === 'push' && m.to === me) {
      const push = decodeEnvelope(m.bytes);
      for (const [vsub, w] of f.watches) {
        if (w.sub === push.sub) toPage(encode({ ...push, sub: vsub }));
      }
    }
  }

  function failInFlight(f) {
    for (const [rid, p] of f.pending) {
      f.pending.delete(rid);
      p(null);
    }
  }

  function forward(f, req) {
    if (f.leader === null) {
      f.queue.push(req);
      return;
    }
    const rid = f.nextRid++;
    const { id, db, v, ...fields } = req;
    f.pending.set(rid, (bytes) => {
      if (bytes === null) {
        replyPage(id, null, { code: 'LEADER_CHANGED', message: 'the tab that owned the database went away while this request was in flight; its outcome is unknown' });
        return;
      }
      const reply = decodeEnvelope(bytes);
      reply.id = id;
      if (reply.ok && req.op === 'watch') {
        const vsub = nextVirtual++;
        const { op, ...spec } = fields;
        f.watches.set(vsub, { spec, sub: reply.ok.sub });
        reply.ok.sub = vsub;
      }
      toPage(encode(reply));
    });
    if (req.op === 'unwatch') {
      const w = f.watches.get(req.sub);
      f.watches.delete(req.sub);
      fields.sub = w?.sub ?? -1;
    }
    f.channel.postMessage({ t: 'req', from: me, to: 'leader', rid, req: fields });
  }

  // The first push after a watch moved to another leader: a live query's
  // full result, or the sync status.
  function resumedPush(vsub, ok) {
    return ok.status !== undefined ? { v: VERSION, sub: vsub, status: ok.status } : { v: VERSION, sub: vsub, full: ok.result };
  }

  function resubscribe(f, vsub, w) {
    const rid = f.nextRid++;
    f.pending.set(rid, (bytes) => {
      if (!bytes) return;
      const reply = decodeEnvelope(bytes);
      if (!reply.ok) return;
      w.sub = reply.ok.sub;
      toPage(encode(resumedPush(vsub, reply.ok)));
    });
    f.channel.postMessage({ t: 'req', from: me, to: 'leader', rid, req: { op: 'watch', ...w.spec } });
  }

  // The leader is gone: open the database here and carry this tab's
  // watches over.
  function promote(f, release) {
    failInFlight(f);
    f.leader = null; // queue the page's requests until the database is open here
    const { id, v, ...open } = f.openReq;
    askGo(open, (bytes) => {
      const reply = decodeEnvelope(bytes);
      if (!reply.ok) {
        release();
        if (!f.answered) {
          f.answered = true;
          followers.delete(f.handle);
          replyPage(f.pageOpenID, null, reply.error);
        }
        return;
      }
      f.local = reply.ok.db;
      if (!f.answered) {
        f.answered = true;
        replyPage(f.pageOpenID, { ...reply.ok, db: f.handle });
      }
      lead(f.name, f.local, { ...reply.ok, db: undefined }, release);
      for (const [vsub, w] of f.watches) {
        askGo({ op: 'watch', ...w.spec, db: f.local }, (wb) => {
          const r = decodeEnvelope(wb);
          if (!r.ok) return;
          w.sub = r.ok.sub;
          subRoutes.set(r.ok.sub, (push) => {
            const p = decodeEnvelope(push);
            toPage(encode({ ...p, sub: vsub }));
          });
          toPage(encode(resumedPush(vsub, r.ok)));
        });
      }
      for (const req of f.queue.splice(0)) fromPage(encode(req));
    });
  }

  // ---- entry points ----
  function fromPage(data) {
    if (!(data instanceof Uint8Array) || !canLead) return toGo(data);
    // The write path: with no database followed from here, only open and
    // close concern the router; everything else goes to Go undecoded (a
    // 10,000-row batch is a megabyte and more to decode).
    if (followers.size === 0) {
      const { op } = peekHead(data);
      if (op !== undefined && op !== 'open' && op !== 'close') return toGo(data);
    }
    let req;
    try {
      req = decodeEnvelope(data);
    } catch {
      return toGo(data); // Go answers BAD_REQUEST
    }
    if (req.op === 'open' && req.storage !== 'memory' && typeof req.name === 'string') {
      navigator.locks.request(lockName(req.name), { ifAvailable: true }, (lock) => {
        if (!lock) {
          follow(req);
          return undefined;
        }
        return /** @type {Promise<void>} */ (new Promise((release) => {
          goWaiters.set(req.id, (bytes) => {
            const reply = decodeEnvelope(bytes);
            if (reply.ok) lead(req.name, reply.ok.db, { ...reply.ok, db: undefined }, release);
            else release();
            toPage(bytes);
          });
          toGo(data);
        }));
      });
      return;
    }
    const f = followers.get(req.db);
    if (f) {
      if (req.op === 'close') {
        followers.delete(req.db);
        f.abort.abort();
        f.channel.postMessage({ t: 'bye', from: me, to: 'leader' });
        f.channel.close();
        if (f.local !== null) {
          return fromPage(encode({ ...req, db: f.local }));
        }
        return replyPage(req.id, {});
      }
      if (f.local !== null) return toGo(encode({ ...req, db: f.local }));
      return forward(f, req);
    }
    if (req.op === 'close') {
      for (const [name, s] of leaders) {
        if (s.handle === req.db) {
          goWaiters.set(req.id, (bytes) => { stopLeading(name); toPage(bytes); });
        }
      }
    }
    return toGo(data);
  }

  function fromGo(bytes) {
    const head = peekHead(bytes);
    if (head.id != null && goWaiters.has(head.id)) {
      // An open with migrations reports progress under its id before it
      // replies: the page's own requests get it, the router's (virtual
      // ids) do not need it; either way the reply is still to come.
      if (decodeEnvelope(bytes).progress !== undefined) return head.id < VIRTUAL_BASE ? toPage(bytes) : undefined;
      const take = goWaiters.get(head.id);
      goWaiters.delete(head.id);
      return take(bytes);
    }
    if (head.sub != null && subRoutes.has(head.sub)) return subRoutes.get(head.sub)(bytes);
    return toPage(bytes);
  }

  return { fromPage, fromGo };
}
