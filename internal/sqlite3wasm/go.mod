// The js/wasm worker's replacement of go-sqlite3-wasm
// (docs/sqlite-module.md): go.wasm.mod replaces the module with this
// directory, for the worker's build only.
module github.com/ncruces/go-sqlite3-wasm/v6

go 1.26
