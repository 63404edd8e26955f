-- Notes live in a space (a team, a family): the space is the unit of
-- sharing. A user's token lists the spaces it may sync (its ws claim).
CREATE TABLE notes (
  id TEXT PRIMARY KEY,
  space_id TEXT NOT NULL,
  title TEXT NOT NULL DEFAULT '',
  body TEXT NOT NULL DEFAULT '',
  author TEXT NOT NULL DEFAULT '',
  pinned INTEGER NOT NULL DEFAULT 0,
  updated_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX notes_by_space ON notes(space_id, pinned, updated_at);
