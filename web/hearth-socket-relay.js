// The Hearth worker's socket relay (see hearth-socket.js): a worker of its
// own that holds the sync server's WebSockets, reads their messages while
// the Hearth worker's thread is busy, and hands each over whole, its
// ArrayBuffer transferred. A classic script with no imports, started by
// hearth-socket.js as new Worker(new URL(this file, import.meta.url)), the
// form bundlers find and copy.

function relayMain() {
  /** @type {Map<number, WebSocket>} */
  const sockets = new Map();
  /** @type {Set<number>} sockets whose bufferedAmount is being watched */
  const draining = new Set();
  /** @param {any} message @param {Transferable[]} [transfer] */
  const post = (message, transfer = []) => self.postMessage(message, transfer);

  // The browser has no event for a send buffer draining: while bytes are
  // held, report the amount every few milliseconds.
  /** @param {number} id */
  function watch(id) {
    if (draining.has(id)) return;
    draining.add(id);
    const tick = () => {
      const ws = sockets.get(id);
      const amount = ws ? ws.bufferedAmount : 0;
      post({ id, ev: 'buffered', taken: 0, amount });
      if (amount > 0 && ws) setTimeout(tick, 5);
      else draining.delete(id);
    };
    setTimeout(tick, 5);
  }

  self.onmessage = (event) => {
    const m = event.data;
    const ws = sockets.get(m.id);
    switch (m.op) {
      case 'open': {
        /** @type {WebSocket} */
        let socket;
        try {
          socket = new WebSocket(m.url, m.protocols);
        } catch (err) {
          post({ id: m.id, ev: 'close', code: 1006, reason: String(/** @type {any} */ (err)?.message ?? err), wasClean: false });
          return;
        }
        socket.binaryType = 'arraybuffer';
        sockets.set(m.id, socket);
        socket.onopen = () => post({ id: m.id, ev: 'open', protocol: socket.protocol });
        socket.onmessage = (e) => {
          if (typeof e.data === 'string') post({ id: m.id, ev: 'message', data: e.data });
          else post({ id: m.id, ev: 'message', data: e.data }, [e.data]);
        };
        socket.onerror = () => post({ id: m.id, ev: 'error' });
        socket.onclose = (e) => {
          sockets.delete(m.id);
          post({ id: m.id, ev: 'close', code: e.code, reason: e.reason, wasClean: e.wasClean });
        };
        return;
      }
      case 'send': {
        const taken = typeof m.data === 'string' ? m.data.length : m.data.byteLength;
        if (ws && ws.readyState === WebSocket.OPEN) ws.send(m.data);
        // A socket that is closing drops the bytes, as the browser's own
        // does; the Hearth worker still learns they left the queue.
        const amount = ws ? ws.bufferedAmount : 0;
        post({ id: m.id, ev: 'buffered', taken, amount });
        if (amount > 0) watch(m.id);
        return;
      }
      case 'close':
        ws?.close(m.code, m.reason);
        return;
    }
  };
  post({ ev: 'ready' });
}

relayMain();
