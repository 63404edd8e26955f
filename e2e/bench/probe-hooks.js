// Hooks for probe-worker.js, the instrumented wrapper around Hearth's real
// worker bootstrap (web/hearth-worker.js), used for the cold-start breakdown
// and the memory figures only: it records when each stage happens; the
// bootstrap itself runs unchanged. Nothing here is part of Hearth.
//
// Hooks (all observe, none change behaviour):
//   globalThis.Go setter       wasm_exec.js evaluated; Go.prototype.run called
//   fetch / WebAssembly.*      bundle fetch, compile and instantiate
//   Go's import object         first call of each import (runtime init order)
//   globalThis.__hearthReady   Go's main has registered its message handler
//   self.postMessage           the worker's binary replies leave
// A plain-object message {probe: 'stats'} is answered here and never reaches
// Hearth.
const abs = () => performance.timeOrigin + performance.now();
const marks = { workerOrigin: performance.timeOrigin, probeStart: abs() };
const firstImport = {};
const importCalls = {};
const messagesIn = [];
const repliesOut = [];
let instance = null;
let countingImports = true;

let GoClass;
Object.defineProperty(globalThis, 'Go', {
  configurable: true,
  get() { return GoClass; },
  set(cls) {
    marks.wasmExecEvaluated ??= abs();
    const run = cls.prototype.run;
    cls.prototype.run = function (inst) {
      marks.goRun ??= abs();
      return run.call(this, inst);
    };
    GoClass = cls;
  },
});

let ready;
Object.defineProperty(globalThis, '__hearthReady', {
  configurable: true,
  get() { return ready; },
  set(fn) {
    marks.bootstrapEvaluated ??= abs();
    ready = (receive) => {
      marks.hearthReady ??= abs();
      countingImports = false;
      return fn(receive);
    };
  },
});

function wrapImports(importObject) {
  if (!importObject || importObject.__probed) return;
  importObject.__probed = true;
  for (const mod of Object.values(importObject)) {
    if (!mod || typeof mod !== 'object') continue;
    for (const [name, fn] of Object.entries(mod)) {
      if (typeof fn !== 'function') continue;
      mod[name] = (...args) => {
        if (!(name in firstImport)) firstImport[name] = abs();
        if (countingImports) importCalls[name] = (importCalls[name] ?? 0) + 1;
        return fn(...args);
      };
    }
  }
}

const origFetch = globalThis.fetch;
globalThis.fetch = function (input, init) {
  const url = String(input instanceof Request ? input.url : input);
  if (url.includes('.wasm')) {
    marks.fetchCalled ??= abs();
    const p = origFetch.call(this, input, init);
    p.then(() => { marks.fetchHeaders ??= abs(); }, () => {});
    return p;
  }
  return origFetch.call(this, input, init);
};

const W = WebAssembly;
const origInstantiateStreaming = W.instantiateStreaming;
const origCompileStreaming = W.compileStreaming;
const origInstantiate = W.instantiate;
W.instantiateStreaming = async function (source, imports) {
  marks.compileCalled ??= abs();
  marks.api = 'instantiateStreaming';
  wrapImports(imports);
  const result = await origInstantiateStreaming.call(W, source, imports);
  marks.instantiated ??= abs();
  instance ??= result.instance;
  return result;
};
W.compileStreaming = async function (source) {
  marks.compileCalled ??= abs();
  marks.api = 'compileStreaming';
  const mod = await origCompileStreaming.call(W, source);
  marks.compiled ??= abs();
  return mod;
};
W.instantiate = async function (source, imports) {
  marks.compileCalled ??= abs();
  marks.api ??= 'instantiate';
  wrapImports(imports);
  const result = await origInstantiate.call(W, source, imports);
  marks.instantiated ??= abs();
  instance ??= result instanceof W.Instance ? result : result.instance;
  return result;
};

// Also times each postMessage call itself: the cost of sending a reply.
const posts = { count: 0, totalMs: 0, maxMs: 0 };
const handling = [];
let lastIn = null;
const origPost = self.postMessage;
self.postMessage = function (msg, transfer) {
  const t = performance.now();
  if (msg instanceof Uint8Array && repliesOut.length < 4) repliesOut.push(abs());
  // Worker-side time of a request: its message event to its reply (the
  // benchmark sends one request at a time when it reads these).
  if (msg instanceof Uint8Array && lastIn != null) { handling.push(t - lastIn); lastIn = null; }
  try {
    return origPost.call(this, msg, transfer);
  } finally {
    const dt = performance.now() - t;
    posts.count++;
    posts.totalMs += dt;
    if (dt > posts.maxMs) posts.maxMs = dt;
  }
};

function memoryOf(inst) {
  if (!inst) return null;
  for (const v of Object.values(inst.exports)) if (v instanceof W.Memory) return v.buffer.byteLength;
  return null;
}

// Registered before the bootstrap sets onmessage, so it runs first.
self.addEventListener('message', (event) => {
  if (event.data && typeof event.data === 'object' && event.data.probe === 'stats') {
    event.stopImmediatePropagation();
    origPost.call(self, {
      probe: {
        marks, firstImport, importCalls, messagesIn, repliesOut, posts, handling,
        wasmMemory: memoryOf(instance),
        resources: performance.getEntriesByType('resource').map((e) => ({
          name: e.name, startTime: e.startTime, fetchStart: e.fetchStart, requestStart: e.requestStart,
          responseStart: e.responseStart, responseEnd: e.responseEnd, transferSize: e.transferSize,
          encodedBodySize: e.encodedBodySize, decodedBodySize: e.decodedBodySize,
        })),
      },
    });
    return;
  }
  if (messagesIn.length < 4) messagesIn.push(abs());
  lastIn = performance.now();
});

