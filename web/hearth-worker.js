// Hearth worker bootstrap: loads Go's wasm_exec.js and the Hearth bundle,
// then hands every message to Go. Messages that arrive while the module
// compiles are queued and delivered in order once Go is ready.
import './dist/wasm_exec.js';
import { hearthStorage } from './hearth-storage.js';
import { wasmFile } from './dist/bundle.js';
import { createTabRouter } from './hearth-tabs.js';

// The storage glue Go awaits (sqlitevfs/browser).
globalThis.hearthStorage = hearthStorage;

const wasmURL = new URL(new URL(self.location.href).searchParams.get('wasm') ?? `./dist/${wasmFile}`, import.meta.url);

const pending = [];
let receive = null;
const postToPage = self.postMessage.bind(self);

function toGo(msg) {
  if (receive) receive(msg);
  else pending.push(msg);
}

// Requests for a database another tab's worker owns are forwarded there;
// see hearth-tabs.js.
const router = createTabRouter({
  toGo,
  toPage: (bytes) => postToPage(bytes, [bytes.buffer]),
  // Tests (the conformance kit's killLeaderTab) and apps want to know
  // which tab owns a database; only the worker knows, so it says so. A
  // plain object like hearthFatal: clients skip what is not binary.
  onLeadership: (name, leading) => postToPage({ hearthLeader: { name, leading } }),
});

self.onmessage = (event) => router.fromPage(event.data);

// Go posts its replies with postMessage: route them (most go to the page).
globalThis.postMessage = (msg) => router.fromGo(msg);

// Called by Go's main with the function that takes each message.
globalThis.__hearthReady = (fn) => {
  receive = fn;
  for (const msg of pending.splice(0)) fn(msg);
};

function fatal(message) {
  // A plain object, not a binary reply: the page tells them apart by type.
  postToPage({ hearthFatal: String(message) });
}

try {
  const go = new globalThis.Go();
  // Streaming compile starts while the bytes arrive; with a cacheable
  // response Chromium also reuses its compiled-code cache on the next start.
  const { instance } = await WebAssembly.instantiateStreaming(fetch(wasmURL), go.importObject);
  go.run(instance).then(
    () => fatal('the Hearth worker exited'),
    (err) => fatal(`the Hearth worker crashed: ${err?.message ?? err}`),
  );
} catch (err) {
  fatal(`loading ${wasmURL} failed: ${err?.message ?? err}`);
}
