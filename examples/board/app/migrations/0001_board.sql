
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
