// Package model is the demo task board's data model in plain Go with no
// database dependency: the migration SQL, the synced table names, the
// columns, and the seed as rows to insert. The board (js/wasm, talking to
// the worker through the Go client) and the server (native, through
// board/schema) both build on it, so the board's bundle does not carry
// SQLite or the sync server.
package model

import "github.com/hearthdb/hearth/syncworker/appschema"

// Migrations are the board's schema steps, oldest first. Ids are text
// (UUIDs or readable seed ids) so devices can create rows offline without
// colliding.
var Migrations = []appschema.Migration{
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

// Tables are the synced tables, in dependency order. Every table carries
// workspace_id (a workspace row its own id) so the server can scope rows
// to members.
var Tables = []string{"workspaces", "users", "members", "projects", "tasks", "rooms", "bookings"}

// Statuses are the board's columns, in order.
var Statuses = []string{"backlog", "doing", "done"}
