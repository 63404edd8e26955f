// Package schema is the demo task board's data model: the migrations the
// board's clients and the sync server both run, the tables that sync, the
// server invariant that flags double-booked rooms, and a deterministic seed
// of realistic size.
//
// It is pure Go so the server (native) and the board (js/wasm) share it.
package schema

import (
	"context"
	"fmt"

	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/schema"
)

// Migrations are the board's schema steps, oldest first. Ids are text
// (UUIDs or readable seed ids) so devices can create rows offline without
// colliding.
var Migrations = []store.Migration{
	{Version: 1, SQL: `
CREATE TABLE workspaces(
	id   TEXT PRIMARY KEY,
	name TEXT NOT NULL DEFAULT ''
);
CREATE TABLE users(
	id    TEXT PRIMARY KEY,
	name  TEXT NOT NULL DEFAULT '',
	email TEXT NOT NULL DEFAULT ''
);
CREATE TABLE members(
	id           TEXT PRIMARY KEY,
	workspace_id TEXT NOT NULL DEFAULT '',
	user_id      TEXT NOT NULL DEFAULT '',
	role         TEXT NOT NULL DEFAULT 'member'
);
CREATE TABLE projects(
	id           TEXT PRIMARY KEY,
	workspace_id TEXT NOT NULL DEFAULT '',
	name         TEXT NOT NULL DEFAULT '',
	archived     INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE tasks(
	id           TEXT PRIMARY KEY,
	workspace_id TEXT NOT NULL DEFAULT '',
	project_id   TEXT NOT NULL DEFAULT '',
	title        TEXT NOT NULL DEFAULT '',
	description  TEXT NOT NULL DEFAULT '',
	status       TEXT NOT NULL DEFAULT 'backlog',
	position     REAL NOT NULL DEFAULT 0,
	assignee_id  TEXT NOT NULL DEFAULT '',
	due_date     TEXT NOT NULL DEFAULT '',
	priority     INTEGER NOT NULL DEFAULT 0,
	archived     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX tasks_by_column ON tasks(project_id, status, position);
CREATE TABLE rooms(
	id           TEXT PRIMARY KEY,
	workspace_id TEXT NOT NULL DEFAULT '',
	name         TEXT NOT NULL DEFAULT ''
);
CREATE TABLE bookings(
	id           TEXT PRIMARY KEY,
	workspace_id TEXT NOT NULL DEFAULT '',
	room_id      TEXT NOT NULL DEFAULT '',
	slot         TEXT NOT NULL DEFAULT '',
	title        TEXT NOT NULL DEFAULT '',
	booked_by    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX bookings_by_slot ON bookings(room_id, slot);
`},
}

// Tables are the synced tables. Every table carries workspace_id (a
// workspace row its own id) so the server can scope rows to members.
var Tables = []schema.Table{
	{Name: "workspaces"}, {Name: "users"}, {Name: "members"}, {Name: "projects"},
	{Name: "tasks"}, {Name: "rooms"}, {Name: "bookings"},
}

// Scopes is the board's scope rule for the sync server
// (syncserver.Config.Scopes): a row belongs to its workspace, a
// workspace to itself. Users have no scope: every member may read them.
var Scopes = map[string]string{
	"workspaces": "id", "members": "workspace_id", "projects": "workspace_id",
	"tasks": "workspace_id", "rooms": "workspace_id", "bookings": "workspace_id",
}

// Statuses are the board's columns, in order.
var Statuses = []string{"backlog", "doing", "done"}

// DoubleBooking flags a booking whose room and slot another live booking
// already holds. The change is kept (both people booked offline; neither
// loses their edit) and the violation syncs to every board, which shows
// both bookings so someone can move one.
func DoubleBooking(ctx context.Context, q store.Querier, ch syncserver.Change) (string, error) {
	if ch.Table != "bookings" || ch.Op == "delete" || len(ch.Key) != 1 {
		return "", nil
	}
	rows, err := q.Query(ctx, `SELECT b.id, b.title, r.name, b.slot FROM bookings b
		JOIN bookings me ON me.id = ? AND me.room_id = b.room_id AND me.slot = b.slot
		LEFT JOIN rooms r ON r.id = b.room_id
		WHERE b.id <> me.id AND b.slot <> '' AND b.room_id <> ''`, ch.Key[0])
	if err != nil {
		return "", err
	}
	if len(rows) == 0 {
		return "", nil
	}
	other := rows[0]
	return fmt.Sprintf("double booking: %v at %v is also booked for %q (booking %v)", other[2], other[3], other[1], other[0]), nil
}
