// HearthWebSocket (hearth-socket.js) against fakes of the browser's
// WebSocket and Worker. The relay's own code runs too: the fake Worker
// evaluates the file it is given (hearth-socket-relay.js) in a scope of
// its own, so what is tested is the traffic between the two sides as
// shipped.
import { test, beforeEach, mock } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';

/** Every fake socket made, in order, with the scope that made it. */
let sockets = [];

class FakeWebSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSED = 3;
  readyState = FakeWebSocket.CONNECTING;
  binaryType = 'blob';
  protocol = '';
  bufferedAmount = 0;
  /** @type {any[]} */
  sent = [];
  /** @type {[number?, string?] | null} */
  closedWith = null;
  onopen = null;
  onmessage = null;
  onerror = null;
  onclose = null;
  constructor(url, protocols, scope) {
    this.url = url;
    this.protocols = protocols;
    this.scope = scope;
    sockets.push(this);
  }
  send(data) { this.sent.push(data); }
  close(code, reason) { this.closedWith = [code, reason]; }
  open(protocol = 'hearth-sync') {
    this.readyState = FakeWebSocket.OPEN;
    this.protocol = protocol;
    this.onopen?.({});
  }
  receive(data) { this.onmessage?.({ data }); }
  end(code, reason, wasClean) {
    this.readyState = FakeWebSocket.CLOSED;
    this.onclose?.({ code, reason, wasClean });
  }
}

/** How the next fake Worker behaves: 'run' the relay, 'throw', 'error' or 'silent'. */
let workerMode = 'run';
let workers = [];

class FakeWorker {
  onmessage = null;
  onerror = null;
  terminated = false;
  /** @type {((m: any) => void) | null} the relay's onmessage, once it runs */
  #relayReceive = null;
  #early = [];
  #timers = new Set();
  constructor(url, options) {
    if (workerMode === 'throw') throw new DOMException('refused by policy', 'SecurityError');
    this.name = options?.name;
    workers.push(this);
    if (workerMode === 'error') {
      setImmediate(() => this.onerror?.({ preventDefault() {} }));
      return;
    }
    if (workerMode === 'silent') return;
    assert.equal(url.href, new URL('./hearth-socket-relay.js', import.meta.url).href);
    fs.promises.readFile(url, 'utf8').then((code) => {
      const scope = {
        postMessage: (m, transfer = []) => {
          const copy = structuredClone(m, { transfer });
          setImmediate(() => { if (!this.terminated) this.onmessage?.({ data: copy }); });
        },
        onmessage: null,
      };
      const ScopedWebSocket = class extends FakeWebSocket {
        constructor(u, p) { super(u, p, 'relay'); }
      };
      // The relay's timers end with it, as a terminated worker's do.
      const scopedSetTimeout = (fn, ms) => {
        const t = setTimeout(() => { this.#timers.delete(t); if (!this.terminated) fn(); }, ms);
        this.#timers.add(t);
        return t;
      };
      new Function('self', 'WebSocket', 'setTimeout', code)(scope, ScopedWebSocket, scopedSetTimeout);
      this.#relayReceive = (m) => scope.onmessage?.({ data: m });
      for (const m of this.#early.splice(0)) this.#relayReceive(m);
    });
  }
  postMessage(m, transfer = []) {
    const copy = structuredClone(m, { transfer });
    setImmediate(() => {
      if (this.terminated) return;
      if (this.#relayReceive) this.#relayReceive(copy);
      else this.#early.push(copy);
    });
  }
  terminate() {
    this.terminated = true;
    for (const t of this.#timers) clearTimeout(t);
  }
}

globalThis.self = /** @type {any} */ ({ location: { href: 'https://app.example/assets/worker.js' }, navigator: { onLine: true } });
globalThis.Worker = /** @type {any} */ (FakeWorker);
globalThis.WebSocket = /** @type {any} */ (class extends FakeWebSocket {
  constructor(u, p) { super(u, p, 'worker'); }
});

const { HearthWebSocket, resetRelayForTests, preopen, adoptingWebSocket } = await import('./hearth-socket.js');

/** Waits (bounded) until ok() holds. */
async function until(what, ok) {
  for (let i = 0; i < 2000; i++) {
    if (ok()) return;
    await new Promise((r) => setTimeout(r, 1));
  }
  assert.fail(`timed out waiting for ${what}`);
}

function record(socket) {
  const events = [];
  socket.onopen = () => events.push(['open']);
  socket.onmessage = (e) => events.push(['message', e.data]);
  socket.onerror = () => events.push(['error']);
  socket.onclose = (e) => events.push(['close', e.code, e.reason, e.wasClean]);
  return events;
}

beforeEach(() => {
  resetRelayForTests();
  sockets = [];
  workers = [];
  workerMode = 'run';
  globalThis.self.navigator.onLine = true;
});

test('a relayed socket opens, carries binary messages both ways and closes, in the relay worker', async () => {
  const socket = new HearthWebSocket('wss://sync.example/v1', ['hearth-sync']);
  const events = record(socket);
  await until('the relay socket', () => sockets.length === 1);
  const [ws] = sockets;
  assert.equal(ws.scope, 'relay');
  assert.equal(ws.url, 'wss://sync.example/v1');
  assert.deepEqual(ws.protocols, ['hearth-sync']);
  assert.equal(ws.binaryType, 'arraybuffer');
  assert.equal(workers.length, 1);
  assert.equal(workers[0].name, 'hearth-socket-relay');

  assert.throws(() => socket.send(new Uint8Array([1])), { name: 'InvalidStateError' });
  ws.open();
  await until('open', () => events.length === 1);
  assert.equal(socket.protocol, 'hearth-sync');

  ws.receive(new Uint8Array([1, 2, 3]).buffer);
  ws.receive('a text frame');
  await until('two messages', () => events.length === 3);
  assert.deepEqual(new Uint8Array(events[1][1]), new Uint8Array([1, 2, 3]));
  assert.equal(events[2][1], 'a text frame');

  // A view of part of a buffer sends just its bytes, and the caller's
  // buffer stays usable (the relay gets a copy).
  const backing = new Uint8Array([9, 8, 7, 6, 5]);
  socket.send(backing.subarray(1, 4));
  assert.equal(backing.byteLength, 5);
  assert.equal(socket.bufferedAmount, 3, 'sent bytes count as buffered until the relay takes them');
  await until('the send', () => ws.sent.length === 1);
  assert.deepEqual(new Uint8Array(ws.sent[0]), new Uint8Array([8, 7, 6]));
  await until('the relay\'s report', () => socket.bufferedAmount === 0);

  socket.close(1000, 'client closing');
  await until('the close request', () => ws.closedWith !== null);
  assert.deepEqual(ws.closedWith, [1000, 'client closing']);
  ws.end(1000, 'bye', true);
  await until('close', () => events.length === 4);
  assert.deepEqual(events[3], ['close', 1000, 'bye', true]);
});

test('bufferedAmount follows the relay socket\'s until it drains', async () => {
  const socket = new HearthWebSocket('ws://127.0.0.1:1/sync');
  record(socket);
  await until('the relay socket', () => sockets.length === 1);
  const [ws] = sockets;
  ws.open();
  await until('open', () => socket.protocol !== '');
  ws.bufferedAmount = 1000; // what the browser holds after this send
  socket.send(new Uint8Array(10));
  await until('the relay\'s report', () => socket.bufferedAmount === 1000);
  ws.bufferedAmount = 0;
  await until('the drain', () => socket.bufferedAmount === 0);
});

test('one relay serves every socket; a socket that fails to connect reports error then close', async () => {
  const a = new HearthWebSocket('ws://127.0.0.1:1/a');
  const b = new HearthWebSocket('ws://127.0.0.1:1/b');
  const ea = record(a);
  const eb = record(b);
  await until('two relay sockets', () => sockets.length === 2);
  assert.equal(workers.length, 1);
  sockets[1].onerror?.({});
  sockets[1].end(1006, '', false);
  sockets[0].open();
  await until('events', () => ea.length === 1 && eb.length === 2);
  assert.deepEqual(eb, [['error'], ['close', 1006, '', false]]);
  assert.deepEqual(ea, [['open']]);
});

test('URLs as the WebSocket constructor takes them: relative to the worker, http(s) as ws(s), any other scheme thrown at once', async () => {
  assert.throws(() => new HearthWebSocket('ftp://sync.example/'), { name: 'SyntaxError' });
  assert.throws(() => new HearthWebSocket('http://['), { name: 'SyntaxError' });
  new HearthWebSocket('/v1/sync');
  new HearthWebSocket('http://127.0.0.1:1/x');
  await until('the relay sockets', () => sockets.length === 2);
  assert.deepEqual(sockets.map((s) => s.url), ['wss://app.example/v1/sync', 'ws://127.0.0.1:1/x']);
});

test('where the relay cannot be made, the socket is the worker\'s own', async () => {
  workerMode = 'throw';
  const socket = new HearthWebSocket('ws://127.0.0.1:1/sync');
  const events = record(socket);
  assert.equal(sockets.length, 1);
  assert.equal(sockets[0].scope, 'worker');
  sockets[0].open();
  sockets[0].receive(new Uint8Array([4]).buffer);
  socket.send(new Uint8Array([5]));
  assert.deepEqual(new Uint8Array(sockets[0].sent[0]), new Uint8Array([5]));
  assert.deepEqual(events.map((e) => e[0]), ['open', 'message']);
  // Later sockets do not try again.
  workerMode = 'run';
  new HearthWebSocket('ws://127.0.0.1:1/sync');
  assert.equal(sockets[1].scope, 'worker');
});

test('a relay that fails to start sends its waiting sockets direct', async () => {
  workerMode = 'error';
  const socket = new HearthWebSocket('ws://127.0.0.1:1/sync');
  const events = record(socket);
  await until('the direct socket', () => sockets.length === 1);
  assert.equal(sockets[0].scope, 'worker');
  assert.ok(workers[0].terminated);
  sockets[0].open();
  assert.deepEqual(events, [['open']]);
});

test('a relay that never starts is given up after a bound', async () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    workerMode = 'silent';
    const socket = new HearthWebSocket('ws://127.0.0.1:1/sync');
    record(socket);
    assert.equal(sockets.length, 0);
    mock.timers.tick(4999);
    assert.equal(sockets.length, 0);
    mock.timers.tick(1);
    assert.equal(sockets.length, 1);
    assert.equal(sockets[0].scope, 'worker');
    assert.ok(workers[0].terminated);
  } finally {
    mock.timers.reset();
  }
});

test('an open socket whose relay dies ends as a dropped connection', async () => {
  const socket = new HearthWebSocket('ws://127.0.0.1:1/sync');
  const events = record(socket);
  await until('the relay socket', () => sockets.length === 1);
  sockets[0].open();
  await until('open', () => events.length === 1);
  workers[0].onerror({ preventDefault() {} });
  assert.deepEqual(events.slice(1), [['error'], ['close', 1006, 'the socket relay worker failed', false]]);
  // The next socket is direct.
  new HearthWebSocket('ws://127.0.0.1:1/sync');
  assert.equal(sockets.at(-1).scope, 'worker');
});

test('a worker the browser says is offline keeps its own socket', () => {
  globalThis.self.navigator.onLine = false;
  new HearthWebSocket('ws://127.0.0.1:1/sync');
  assert.equal(sockets.length, 1);
  assert.equal(sockets[0].scope, 'worker');
  assert.equal(workers.length, 0);
});

test('a preopened socket is adopted by the first caller of its URL and subprotocols, with what happened meanwhile', async () => {
  preopen('wss://sync.example/sync?token=t&b=2', ['hearth-sync.v1']);
  await until('the relay socket', () => sockets.length === 1);
  sockets[0].open('hearth-sync.v1');
  await new Promise((r) => setTimeout(r, 5)); // the open reaches the preopened socket
  // Another URL or subprotocol is not it.
  const other = new adoptingWebSocket('wss://sync.example/sync?token=u&b=2', ['hearth-sync.v1']);
  const otherProto = new adoptingWebSocket('wss://sync.example/sync?b=2&token=t', ['other']);
  assert.notEqual(other, otherProto);
  // The same, its query in another order, as Go's url.Values writes it.
  const socket = new adoptingWebSocket('wss://sync.example/sync?b=2&token=t', ['hearth-sync.v1']);
  const events = record(socket);
  await until('the replayed open', () => events.length === 1);
  assert.deepEqual(events, [['open']]);
  assert.equal(socket.protocol, 'hearth-sync.v1');
  assert.equal(sockets.length, 3, 'the other two are new sockets');
  socket.send(new Uint8Array([1]));
  await until('the send', () => sockets[0].sent.length === 1);
  // Only once.
  const again = new adoptingWebSocket('wss://sync.example/sync?b=2&token=t', ['hearth-sync.v1']);
  assert.notEqual(again, socket);
});

test('a preopened socket that failed is not adopted; one nobody adopts is closed', async () => {
  preopen('wss://sync.example/a', ['p']);
  preopen('wss://sync.example/b', ['p'], 20);
  await until('two relay sockets', () => sockets.length === 2);
  sockets[0].end(1006, '', false);
  await new Promise((r) => setTimeout(r, 5));
  const fresh = new adoptingWebSocket('wss://sync.example/a', ['p']);
  const events = record(fresh);
  await until('a third socket', () => sockets.length === 3);
  assert.deepEqual(events, [], 'the failure was the preopened socket\'s');
  await until('the unadopted socket\'s close', () => sockets[1].closedWith !== null);
});
