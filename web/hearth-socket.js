// The sync server's WebSocket, opened in a relay worker of its own and
// installed by the worker's bootstrap as globalThis.hearthWebSocket, which
// syncworker/browserws prefers to the browser's WebSocket.
//
// Why: a WebSocket's messages reach the thread that opened it, and Chromium
// reads a large message off the network in pieces, a task on that thread
// each. The Hearth worker's thread is busy merging one snapshot chunk while
// the server sends the next, so the next was read only once the merge
// ended, piece by piece: in a measurement of a worker busy 150 ms after
// each 1 MB message, the next message came 50-65 ms after the busy spell
// ended on the worker's own socket and 0.2 ms after it through a relay. The
// relay reads while the Hearth worker merges and hands each message over
// whole, its ArrayBuffer transferred, not copied.
//
// HearthWebSocket has the part of the WebSocket interface browserws uses:
// the constructor, binaryType, onopen, onmessage, onerror, onclose, send,
// close and bufferedAmount. Where the relay cannot start (a browser without
// workers in workers, a build that left hearth-socket-relay.js out), each
// socket is the browser's own WebSocket, as before; so is a socket whose
// relay fails before it opened.

/**
 * The relay: one worker for every socket the Hearth worker opens, started
 * with the first.
 * @typedef {{ worker: Worker, ready: boolean, sockets: Map<number, HearthWebSocket> }} Relay
 */

/** @type {Relay | null | undefined} null once a relay failed: sockets are then direct */
let relay;
let nextID = 1;

/** How long a relay may take to start before its sockets go direct. */
const relayStartLimit = 5000;

/** @returns {Relay | null} */
function startRelay() {
  if (relay !== undefined) return relay;
  if (typeof Worker === 'undefined') {
    return (relay = null);
  }
  /** @type {Worker} */
  let worker;
  try {
    // Literally so: bundlers copy the file and rewrite the URL.
    worker = new Worker(new URL('./hearth-socket-relay.js', import.meta.url), { name: 'hearth-socket-relay' });
  } catch {
    return (relay = null);
  }
  /** @type {Relay} */
  const r = { worker, ready: false, sockets: new Map() };
  // Refused, crashed or never started: later sockets are direct, and those
  // it held go direct (not yet open) or end (open: the client reconnects).
  const fail = () => {
    if (relay === r) relay = null;
    worker.terminate();
    const held = [...r.sockets.values()];
    r.sockets.clear();
    for (const socket of held) socket._relayFailed();
  };
  const startTimer = setTimeout(() => { if (!r.ready) fail(); }, relayStartLimit);
  worker.onmessage = (event) => {
    const m = event.data;
    if (m.ev === 'ready') {
      r.ready = true;
      clearTimeout(startTimer);
      return;
    }
    r.sockets.get(m.id)?._fromRelay(m);
  };
  worker.onerror = (event) => {
    event.preventDefault();
    clearTimeout(startTimer);
    fail();
  };
  return (relay = r);
}

/** @typedef {{ data: ArrayBuffer | string }} SocketMessage */
/** @typedef {{ code: number, reason: string, wasClean: boolean }} SocketClose */

/** A WebSocket whose connection lives in the relay worker (see above). */
export class HearthWebSocket {
  /** @type {((event: {}) => void) | null} */
  onopen = null;
  /** @type {((event: SocketMessage) => void) | null} */
  onmessage = null;
  /** @type {((event: {}) => void) | null} */
  onerror = null;
  /** @type {((event: SocketClose) => void) | null} */
  onclose = null;
  /** @type {BinaryType} Only 'arraybuffer' is relayed; kept for the interface. */
  binaryType = 'arraybuffer';
  protocol = '';

  #id = nextID++;
  #url;
  #protocols;
  /** @type {WebSocket | null} the browser's socket, when not relayed */
  #direct = null;
  /** @type {Relay | null} the relay holding this socket, if any */
  #relay = null;
  #opened = false;
  #closing = false;
  #closed = false;
  // What send handed the relay, what the relay took off its queue, and
  // what its socket still held at its last report.
  #sent = 0;
  #taken = 0;
  #relayBuffered = 0;

  /**
   * @param {string | URL} url
   * @param {string | string[]} [protocols]
   */
  constructor(url, protocols = []) {
    // As the WebSocket constructor: relative to the worker's URL, http(s)
    // taken as ws(s), and a bad URL throws here, not later.
    /** @type {URL} */
    let parsed;
    try {
      parsed = new URL(url, self.location.href);
    } catch {
      throw new DOMException(`${url} is not a valid URL`, 'SyntaxError');
    }
    if (parsed.protocol === 'http:' || parsed.protocol === 'https:') parsed.protocol = parsed.protocol === 'http:' ? 'ws:' : 'wss:';
    if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
      throw new DOMException(`the URL's scheme must be ws or wss, not ${parsed.protocol}`, 'SyntaxError');
    }
    this.#url = parsed.href;
    this.#protocols = protocols;
    // A worker the browser says is offline (a test's network emulation,
    // which does not reach a worker's own workers) keeps the browser's
    // socket, which fails there as it should.
    const r = self.navigator?.onLine === false ? null : startRelay();
    if (!r) {
      this.#goDirect();
      return;
    }
    this.#relay = r;
    r.sockets.set(this.#id, this);
    r.worker.postMessage({ op: 'open', id: this.#id, url: this.#url, protocols });
  }

  get bufferedAmount() {
    if (this.#direct) return this.#direct.bufferedAmount;
    return this.#sent - this.#taken + this.#relayBuffered;
  }

  /** @param {BufferSource | string} data */
  send(data) {
    if (this.#direct) {
      this.#direct.send(data);
      return;
    }
    if (!this.#opened) throw new DOMException('the socket is not open', 'InvalidStateError');
    if (this.#closed) return;
    /** @type {ArrayBuffer | string} */
    let payload;
    if (typeof data === 'string') {
      payload = data;
    } else if (data instanceof ArrayBuffer) {
      payload = data.slice(0);
    } else {
      // A copy of the view's bytes, which the transfer below gives away.
      payload = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
    }
    const n = typeof payload === 'string' ? payload.length : payload.byteLength;
    this.#sent += n;
    this.#relay?.worker.postMessage({ op: 'send', id: this.#id, data: payload }, typeof payload === 'string' ? [] : [payload]);
  }

  /**
   * @param {number} [code]
   * @param {string} [reason]
   */
  close(code, reason) {
    if (this.#direct) {
      this.#direct.close(code, reason);
      return;
    }
    this.#closing = true;
    this.#relay?.worker.postMessage({ op: 'close', id: this.#id, code, reason });
  }

  /**
   * An event of this socket from the relay.
   * @param {any} m
   * @internal
   */
  _fromRelay(m) {
    switch (m.ev) {
      case 'open':
        this.#opened = true;
        this.protocol = m.protocol;
        this.onopen?.({});
        return;
      case 'message':
        this.onmessage?.({ data: m.data });
        return;
      case 'buffered':
        this.#taken += m.taken;
        this.#relayBuffered = m.amount;
        return;
      case 'error':
        this.onerror?.({});
        return;
      case 'close':
        this.#end({ code: m.code, reason: m.reason, wasClean: m.wasClean });
        return;
    }
  }

  /**
   * The relay failed: a socket not yet open opens directly; an open one
   * ends as a connection that dropped.
   * @internal
   */
  _relayFailed() {
    this.#relay = null;
    if (this.#closed) return;
    if (!this.#opened && !this.#closing) {
      this.#goDirect();
      return;
    }
    this.onerror?.({});
    this.#end({ code: 1006, reason: 'the socket relay worker failed', wasClean: false });
  }

  /** @param {SocketClose} event */
  #end(event) {
    if (this.#closed) return;
    this.#closed = true;
    this.#relay?.sockets.delete(this.#id);
    this.onclose?.(event);
  }

  #goDirect() {
    const ws = new WebSocket(this.#url, this.#protocols);
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      this.#opened = true;
      this.protocol = ws.protocol;
      this.onopen?.({});
    };
    ws.onmessage = (e) => this.onmessage?.({ data: e.data });
    ws.onerror = () => this.onerror?.({});
    ws.onclose = (e) => this.#end({ code: e.code, reason: e.reason, wasClean: e.wasClean });
    this.#direct = ws;
  }
}

/**
 * A socket's identity for adoption: its URL as the constructor resolves
 * it, query parameters sorted, and its subprotocols.
 * @param {string | URL} url
 * @param {string | string[]} [protocols]
 */
function socketKey(url, protocols = []) {
  const u = new URL(url, self.location.href);
  if (u.protocol === 'http:' || u.protocol === 'https:') u.protocol = u.protocol === 'http:' ? 'ws:' : 'wss:';
  u.searchParams.sort();
  return `${u.href} ${[protocols].flat().join(',')}`;
}

/**
 * Sockets opened before their caller asked (preopen), with the events
 * they had meanwhile, oldest first.
 * @type {{ key: string, socket: HearthWebSocket, events: [string, any][] }[]}
 */
const ahead = [];

/**
 * Opens a socket before its caller asks for it, to be adopted by the
 * first `new adoptingWebSocket(url, protocols)` for the same URL and
 * subprotocols: on a first visit the worker's bootstrap opens the sync
 * connection while the wasm compiles (hearth-head-start.js), and Go's
 * dial takes it, its handshakes done. One not adopted within keepMs is
 * closed (the server closes one that says nothing for 10 s).
 * @param {string | URL} url
 * @param {string | string[]} [protocols]
 * @param {number} [keepMs]
 */
export function preopen(url, protocols = [], keepMs = 8000) {
  const entry = { key: socketKey(url, protocols), socket: new HearthWebSocket(url, protocols), events: /** @type {[string, any][]} */ ([]) };
  const { socket, events } = entry;
  socket.onopen = (e) => events.push(['open', e]);
  socket.onmessage = (e) => events.push(['message', e]);
  socket.onerror = (e) => events.push(['error', e]);
  socket.onclose = (e) => events.push(['close', e]);
  ahead.push(entry);
  /** @type {any} */ (setTimeout(() => {
    const i = ahead.indexOf(entry);
    if (i < 0) return;
    ahead.splice(i, 1);
    socket.close();
  }, keepMs))?.unref?.();
}

/**
 * What Go's browserws constructs as its WebSocket: the socket preopened
 * for the same URL and subprotocols, if one is waiting and has not
 * failed, else a new HearthWebSocket. The adopted socket's events so far
 * are replayed, in order, once the caller has set its handlers (in a
 * microtask: Go sets them as it constructs, before it yields).
 * @param {string | URL} url
 * @param {string | string[]} [protocols]
 * @returns {HearthWebSocket}
 */
export function adoptingWebSocket(url, protocols = []) {
  const key = socketKey(url, protocols);
  const i = ahead.findIndex((e) => e.key === key);
  if (i >= 0) {
    const [{ socket, events }] = ahead.splice(i, 1);
    socket.onopen = socket.onmessage = socket.onerror = socket.onclose = null;
    if (!events.some(([type]) => type === 'error' || type === 'close')) {
      queueMicrotask(() => {
        for (const [type, e] of events) /** @type {any} */ (socket)[`on${type}`]?.(e);
      });
      return socket;
    }
    socket.close(); // it failed: a new one reports its own failure
  }
  return new HearthWebSocket(url, protocols);
}

/**
 * Forgets the relay and the preopened sockets (tests start each case from none).
 * @internal
 */
export function resetRelayForTests() {
  relay?.worker.terminate();
  relay = undefined;
  ahead.length = 0;
}
