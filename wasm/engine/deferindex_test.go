package engine

import (
	"fmt"
	"testing"

	"github.com/ncruces/go-sqlite3"
)

// An initial sync stopped part way leaves the synced tables' plain
// indexes dropped and recorded (syncworker/client/deferindex.go). An open
// that runs a migration restores them first, so a migration that names
// one works; an open without sync restores them too, so the app does not
// run without its indexes for good.
func TestAnOpenRestoresTheIndexesAnInterruptedInitialSyncDropped(t *testing.T) {
	for _, migrating := range []bool{true, false} {
		t.Run(fmt.Sprintf("migrating=%v", migrating), func(t *testing.T) {
			name := fmt.Sprintf("deferred-indexes-%d", hopRuns.Add(1))
			// The memory database lives while a connection holds it:
			// this one, which leaves it as the sync client would.
			raw, err := sqlite3.Open("file:/" + name + "?vfs=memdb")
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			if err := raw.Exec(`PRAGMA user_version = 1;
				CREATE TABLE notes(id TEXT PRIMARY KEY, body TEXT);
				CREATE TABLE _hearth_deferred_indexes(name TEXT PRIMARY KEY, sql TEXT NOT NULL) WITHOUT ROWID;
				INSERT INTO _hearth_deferred_indexes VALUES ('notes_by_body', 'CREATE INDEX notes_by_body ON notes(body)');`); err != nil {
				t.Fatal(err)
			}
			migrations := []any{map[string]any{"version": int64(1), "sql": "CREATE TABLE notes(id TEXT PRIMARY KEY, body TEXT); CREATE INDEX notes_by_body ON notes(body)"}}
			if migrating {
				migrations = append(migrations, map[string]any{"version": int64(2), "sql": "DROP INDEX notes_by_body; CREATE INDEX notes_by_id_body ON notes(id, body)"})
			}
			p := newPage(t)
			db := p.call("open", map[string]any{"name": name, "storage": "memory", "migrations": migrations})["db"].(int64)
			rows := p.call("query", map[string]any{"db": db, "sql": "SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL ORDER BY name)"})["rows"].([]any)
			want := "notes_by_body"
			if migrating {
				want = "notes_by_id_body"
			}
			if got := rows[0].([]any)[0]; got != want {
				t.Fatalf("indexes after the open: %v, want %s", got, want)
			}
			left := p.call("query", map[string]any{"db": db, "sql": "SELECT count(*) FROM _hearth_deferred_indexes"})["rows"].([]any)
			if n := left[0].([]any)[0]; n != int64(0) {
				t.Fatalf("%v indexes still recorded as deferred", n)
			}
			p.call("close", map[string]any{"db": db})
		})
	}
}
