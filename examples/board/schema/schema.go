// Package schema is the demo task board's data model: the migrations the
// board's clients and the sync server both run, the tables that sync, its
// loaded hearth.yaml (scopes, access rules, the invariant that flags
// double-booked rooms), and a deterministic seed of realistic size.
//
// It is the server's view of board/model, which the board (js/wasm)
// imports directly so its bundle carries neither SQLite nor the server.
package schema

import (
	"sync"

	"github.com/hearthdb/hearth/examples/board/app"
	"github.com/hearthdb/hearth/examples/board/model"
	"github.com/hearthdb/hearth/syncserver/appconfig"
	"github.com/hearthdb/hearth/syncworker/appschema"
)

// Migrations are the board's schema steps, oldest first.
var Migrations = model.Migrations

// Tables are the synced tables (model.Tables, model.Text).
var Tables = func() []appschema.Table {
	out := make([]appschema.Table, len(model.Tables))
	for i, name := range model.Tables {
		out[i] = appschema.Table{Name: name, Text: model.Text[name]}
	}
	return out
}()

// App is the board's hearth.yaml (examples/board/app), loaded: its scope
// rules, access rules and the double-booking invariant, in SQL. Loading
// runs the migrations on a scratch database, so it happens once, when
// first asked.
var App = sync.OnceValues(func() (*appconfig.App, error) { return appconfig.LoadFS(app.FS, "hearth.yaml") })

// Statuses are the board's columns, in order.
var Statuses = model.Statuses
