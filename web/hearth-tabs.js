// Many tabs, one database: the worker-side router. Every tab has its own
// Hearth worker, but an OPFS sync access handle is exclusive and the
// IndexedDB VFS caches blocks, so exactly one worker per database — the
// leader, elected with a Web Lock that the browser releases when that
// worker dies — opens it. The other tabs' workers (followers) forward their
// pages' requests and watches to the leader over a BroadcastChannel. When
// the leader goes (tab closed, crashed, worker terminated, database
// closed), the next worker in the lock's queue opens the database, its
// pages' watches resume with a full result, and the other followers
// re-subscribe with it. Requests in flight to a leader that died are sent
// again to the next one: reads run again, writes carry a write id that
// makes them apply exactly once (wasm/engine/requests.go); a transaction
// that was open on the dead leader was rolled back with its connection,
// and its requests fail with TX_FINISHED (its commit succeeds if it had
// committed). Apps never see LEADER_CHANGED unless one request outlives
// MAX_HANDOVERS hand-overs. No SharedWorker (Android Chrome has none; sync handles are not
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
// How many hand-overs one request lives through before it fails with
// LEADER_CHANGED (each needs a tab to close or a worker to die).
const MAX_HANDOVERS = 8;
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
      // epoch counts leaders: a transaction lives and dies with the leader
      // that began it. txs: the page's (virtual) tx id → {tx, epoch}.
      epoch: 0, txs: new Map(), nextWid: 1,
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
      if (f.leader === m.leader) return; // a second hello's answer
      f.leader = m.leader;
      if (!f.answered) {
        f.answered = true;
        replyPage(f.pageOpenID, { ...m.info, db: f.handle, reason: `${m.info.reason}; opened by another tab's worker (this tab follows it)` });
      }
      for (const [vsub, w] of f.watches) resubscribe(f, vsub, w);
      for (const req of f.queue.splice(0)) dispatch(f, req);
    } else if (m.t === 'leader' && m.leader !== f.leader) {
      leaderLost(f);
      f.channel.postMessage({ t: 'hello', from: me, to: 'leader' });
    } else if (m.t === 'gone' && m.leader === f.leader) {
      leaderLost(f);
    } else if (m.t === 'rep' && m.to === me) {
      const p = f.pending.get(m.rid);
      if (!p) return;
      f.pending.delete(m.rid);
      p.take(m.bytes);
    } else if (m.t === 'push' && m.to === me) {
      const push = decodeEnvelope(m.bytes);
      for (const [vsub, w] of f.watches) {
        if (w.sub === push.sub) toPage(encode({ ...push, sub: vsub }));
      }
    }
  }

  // The leader went away (or is going): the requests in flight to it are
  // sent again, in order, to the next one. Reads simply run again; writes
  // carry a write id, so the new leader answers one that committed with
  // its recorded result instead of applying it twice; a transaction's
  // statements fail with TX_FINISHED (SQLite rolled it back with the
  // leader's connection), except its commit, which learns whether it
  // committed.
  function leaderLost(f) {
    f.leader = null;
    f.epoch++;
    const again = [];
    for (const [rid, p] of f.pending) {
      f.pending.delete(rid);
      if (!p.req) continue; // a watch's re-subscription: welcome sends it again
      p.req.tries = (p.req.tries ?? 0) + 1;
      if (p.req.tries > MAX_HANDOVERS) {
        replyPage(p.req.id, null, { code: 'LEADER_CHANGED', message: `the database changed hands ${MAX_HANDOVERS} times while this request was in flight; gave up` });
        continue;
      }
      if (p.req.wid) p.req.retry = true;
      again.push(p.req);
    }
    f.queue.unshift(...again);
  }

  function txLost(id) {
    return { code: 'TX_FINISHED', message: `transaction ${id} is finished: the tab that owned the database went away and its uncommitted work was rolled back` };
  }

  // Sends a page's request on: to the leader, to Go once this worker leads,
  // or into the queue while no leader is known.
  function dispatch(f, req) {
    if (req.tx != null && !(req.op === 'commit' && req.retry)) {
      const t = f.txs.get(req.tx);
      if (!t || t.epoch !== f.epoch) {
        if (req.op === 'commit' || req.op === 'rollback') f.txs.delete(req.tx);
        return replyPage(req.id, null, txLost(req.tx));
      }
    }
    if (req.op === 'unwatch' && !f.watches.has(req.sub) && req.tries) {
      return replyPage(req.id, {}); // ended before the hand-over
    }
    if (f.local !== null) return sendLocal(f, req);
    if (f.leader === null) {
      f.queue.push(req);
      return;
    }
    forward(f, req);
  }

  // The request's fields for Go: the page's virtual tx id becomes Go's (a
  // retried commit names none: its transaction is not open anywhere).
  function goFields(f, req, local = false) {
    const { id, db, v, tries, ...fields } = req;
    if (req.tx != null) fields.tx = req.op === 'commit' && req.retry ? -1 : f.txs.get(req.tx).tx;
    if (req.op === 'commit' || req.op === 'rollback') f.txs.delete(req.tx);
    if (req.op === 'unwatch') {
      const w = f.watches.get(req.sub);
      f.watches.delete(req.sub);
      if (w && local) subRoutes.delete(w.sub);
      // Not one of the router's: once this worker leads, a watch the page
      // started here carries Go's own sub id.
      fields.sub = w ? w.sub : local ? req.sub : -1;
    }
    return fields;
  }

  // The page's (virtual) tx id for a transaction Go began.
  function virtualTx(f, reply, epoch) {
    if (!reply.ok) return;
    const vtx = nextVirtual++;
    f.txs.set(vtx, { tx: reply.ok.tx, epoch });
    reply.ok.tx = vtx;
  }

  function sendLocal(f, req) {
    const fields = goFields(f, req, true);
    if (req.op === 'begin') {
      const epoch = f.epoch;
      goWaiters.set(req.id, (bytes) => {
        const reply = decodeEnvelope(bytes);
        virtualTx(f, reply, epoch);
        toPage(encode(reply));
      });
    }
    toGo(encode({ v: VERSION, id: req.id, ...fields, db: f.local }));
  }

  function forward(f, req) {
    // A write another tab applies (exec, batch, editText, a transaction's
    // commit) carries a write id: if the leader dies
    // before this tab learns the outcome, the retry cannot apply it twice.
    if (req.tx == null ? req.op === 'exec' || req.op === 'batch' || req.op === 'editText' : req.op === 'commit') req.wid ??= `${me}.${f.nextWid++}`;
    const rid = f.nextRid++;
    const epoch = f.epoch;
    const fields = goFields(f, req);
    f.pending.set(rid, {
      req,
      take: (bytes) => {
        const reply = decodeEnvelope(bytes);
        reply.id = req.id;
        if (reply.ok && req.op === 'watch') {
          const vsub = nextVirtual++;
          const { op, wid, retry, ...spec } = fields;
          f.watches.set(vsub, { spec, sub: reply.ok.sub });
          reply.ok.sub = vsub;
        }
        if (req.op === 'begin') virtualTx(f, reply, epoch);
        toPage(encode(reply));
      },
    });
    f.channel.postMessage({ t: 'req', from: me, to: 'leader', rid, req: fields });
  }

  // The first push after a watch moved to another leader: a live query's
  // full result, or the sync status.
  function resumedPush(vsub, ok) {
    return ok.status !== undefined ? { v: VERSION, sub: vsub, status: ok.status } : { v: VERSION, sub: vsub, full: ok.result };
  }

  function resubscribe(f, vsub, w) {
    const rid = f.nextRid++;
    f.pending.set(rid, {
      req: null,
      take: (bytes) => {
        const reply = decodeEnvelope(bytes);
        if (!reply.ok) return;
        w.sub = reply.ok.sub;
        toPage(encode(resumedPush(vsub, reply.ok)));
      },
    });
    f.channel.postMessage({ t: 'req', from: me, to: 'leader', rid, req: { op: 'watch', ...w.spec } });
  }

  // The leader is gone: open the database here and carry this tab's
  // watches over.
  function promote(f, release) {
    leaderLost(f); // queue the page's requests until the database is open here
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
      for (const req of f.queue.splice(0)) dispatch(f, req);
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
      return dispatch(f, req);
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
