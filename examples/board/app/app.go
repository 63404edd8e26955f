// Package app is the demo task board as a Hearth app: its hearth.yaml
// (the reference example of the config format) and its migrations, the
// single source of the board's schema. `hearth serve` without -config runs
// it; the board (js/wasm) reads the migrations through board/model. It
// imports nothing but embed, so the board's bundle stays small.
package app

import "embed"

// FS holds hearth.yaml and migrations/.
//
//go:embed hearth.yaml migrations
var FS embed.FS
