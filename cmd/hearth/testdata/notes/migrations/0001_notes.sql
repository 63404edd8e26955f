CREATE TABLE notebooks(
	id   TEXT PRIMARY KEY,
	name TEXT NOT NULL DEFAULT ''
);
CREATE TABLE notes(
	id          TEXT PRIMARY KEY,
	notebook_id TEXT NOT NULL DEFAULT '',
	title       TEXT NOT NULL DEFAULT '',
	body        TEXT NOT NULL DEFAULT ''
);
