package engine

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/seed"
	"github.com/hearthdb/hearth/wasm/protocol"
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
			raw, err := sqlite3.Open("file:/" + name + "?vfs=" + MemoryVFSName)
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

// The page's sync.deferIndexes: by default a sync of 2,000 rows or more
// builds the synced table's index at its end (it recorded the index), with
// false it keeps the index throughout (nothing recorded, no time spent);
// either way the index is there afterwards. Anything but a boolean is
// refused.
func TestSyncDeferIndexesOption(t *testing.T) {
	const rows = 2100
	migration := syncTestMigration + "; CREATE INDEX tasks_by_title ON tasks(title)"
	migrations := []appschema.Migration{{Version: 1, SQL: migration}}
	srv, err := syncserver.New(syncserver.Config{Migrations: migrations, Tables: []appschema.Table{{Name: "tasks"}}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	if _, err := seed.Write(context.Background(), url, migrations, []appschema.Table{{Name: "tasks"}}, func(conn *sqlite3.Conn) error {
		return conn.Exec(fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)
			INSERT INTO tasks(id, title) SELECT printf('t%%05d', i), 'task ' || (i * 7919 %% %d) FROM n`, rows, rows))
	}); err != nil {
		t.Fatal(err)
	}
	for _, deferIndexes := range []any{nil, false} {
		t.Run(fmt.Sprintf("deferIndexes=%v", deferIndexes), func(t *testing.T) {
			p := newPage(t)
			syncOpts := map[string]any{"url": url, "tables": []any{"tasks"}}
			if deferIndexes != nil {
				syncOpts["deferIndexes"] = deferIndexes
			}
			db := p.call("open", map[string]any{"name": fmt.Sprintf("defer-option-%d", hopRuns.Add(1)), "storage": "memory",
				"migrations": []any{map[string]any{"version": int64(1), "sql": migration}}, "sync": syncOpts})["db"].(int64)
			status := p.call("watch", map[string]any{"db": db, "sync": true})["sub"].(int64)
			var st map[string]any
			p.waitUntil("synced", func() bool {
				st, _ = p.latest(status)["status"].(map[string]any)
				return st != nil && st["connected"] == true && st["initialSync"].(map[string]any)["active"] == false && st["head"].(int64) > 0 && st["cursor"] == st["head"]
			})
			// Only a deferral that found an index creates the table that
			// records it (deterministic, where the time spent is not).
			recorded := p.call("query", map[string]any{"db": db, "sql": "SELECT count(*) FROM sqlite_schema WHERE name = '_hearth_deferred_indexes'"})["rows"].([]any)[0].([]any)[0]
			if deferred := recorded == int64(1); deferred != (deferIndexes == nil) {
				t.Fatalf("indexes deferred: %v (deferIndexes %v)", deferred, deferIndexes)
			}
			if indexMs := st["initialSync"].(map[string]any)["indexMs"].(float64); deferIndexes != nil && indexMs != 0 {
				t.Fatalf("%v ms spent on deferred indexes with deferIndexes %v", indexMs, deferIndexes)
			}
			got := p.call("query", map[string]any{"db": db, "sql": "SELECT (SELECT sql FROM sqlite_schema WHERE name = 'tasks_by_title'), (SELECT count(*) FROM tasks)"})["rows"].([]any)[0].([]any)
			if got[0] != "CREATE INDEX tasks_by_title ON tasks(title)" || got[1] != int64(rows) {
				t.Fatalf("after the sync: index %v, %v rows", got[0], got[1])
			}
			p.call("close", map[string]any{"db": db})
		})
	}
	p := newPage(t)
	p.fail("open", map[string]any{"name": "defer-option-bad", "storage": "memory",
		"sync": map[string]any{"url": url, "tables": []any{"tasks"}, "deferIndexes": "no"}}, protocol.CodeBadRequest)
}
