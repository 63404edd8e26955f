// The board's Hearth worker. Its URL is under /board/ so that the board's
// service worker (sw.js, scope /board/) controls it and answers its
// imports and its wasm from the offline app shell's cache; the worker
// itself is the library's (/hearth-worker.js).
import '/hearth-worker.js';
