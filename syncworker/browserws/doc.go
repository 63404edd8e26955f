// Package browserws is the browser's WebSocket as a message connection,
// for Go compiled to js/wasm (the worker). It exists so the worker need not
// link a WebSocket library: github.com/coder/websocket wraps the same
// browser object under js/wasm but imports net/http, which brings
// crypto/tls, crypto/x509, math/big and the rest of the HTTP stack into
// the bundle. Everything but this comment builds only for js/wasm.
package browserws
