// Package model is the demo task board's data model in plain Go with no
// database dependency: the migration SQL, the synced table names, the
// columns, and the seed as rows to insert. The board (js/wasm, talking to
// the worker through the Go client) and the server (native, through
// board/schema) both build on it, so the board's bundle does not carry
// SQLite or the sync server.
package model

import (
	"github.com/hearthdb/hearth/examples/board/app"
	"github.com/hearthdb/hearth/syncworker/appschema"
)

// Migrations are the board's schema steps, oldest first: the .sql files
// of examples/board/app/migrations, their single source. Ids are text
// (UUIDs or readable seed ids) so devices can create rows offline without
// colliding.
var Migrations = func() []appschema.Migration {
	m, err := appschema.ReadMigrations(app.FS, "migrations")
	if err != nil {
		panic(err) // embedded at build time: a test catches it
	}
	return m
}()

// Tables are the synced tables, in dependency order. Every table carries
// workspace_id (a workspace row its own id) so the server can scope rows
// to members.
var Tables = []string{"workspaces", "users", "members", "projects", "tasks", "rooms", "bookings"}

// Text names the collaborative text columns: two people editing one
// task's description, offline or not, both keep their edits (the
// server's hearth.yaml says the same).
var Text = map[string][]string{"tasks": {"description"}}

// Statuses are the board's columns, in order.
var Statuses = []string{"backlog", "doing", "done"}
