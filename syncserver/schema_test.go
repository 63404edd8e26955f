package syncserver_test

import (
	"context"
	"sync"
	"testing"

	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/client"
	"github.com/hearthdb/hearth/syncworker/journal"
	"github.com/hearthdb/hearth/syncworker/syncstatus"
	"github.com/ncruces/go-sqlite3"
)

// stateLog records the states a client went through.
type stateLog struct {
	mu     sync.Mutex
	states map[string]bool
}

func (l *stateLog) record(st syncstatus.Status) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.states == nil {
		l.states = map[string]bool{}
	}
	l.states[st.State] = true
}

func (l *stateLog) saw(state string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.states[state]
}

// TestSchemaMismatchClientAhead: a client already on schema 2 meets a
// server on 1. Sync pauses with SCHEMA_MISMATCH, local writes wait in the
// journal, and once the server is migrated the client resumes on its own.
func TestSchemaMismatchClientAhead(t *testing.T) { forEachStore(t, testSchemaMismatchClientAhead) }

func testSchemaMismatchClientAhead(t *testing.T, db *backend) {
	h := db.server(t, syncserver.Config{})
	var states stateLog
	d := newDevice(t, "d", h, []appschema.Migration{migrationV1, migrationV2}, client.Config{OnStatus: states.record}).start()
	d.mustExec(`INSERT INTO tasks(id, title, priority) VALUES ('t1', 'new app', 3)`)
	waitFor(t, "the pause", func() bool { return states.saw(syncstatus.StatePausedSchema) })
	waitFor(t, "1 pending change", func() bool { return d.status().Pending == 1 })
	st := d.status()
	if st.LastError == nil || st.LastError.Code != "SCHEMA_MISMATCH" || st.ServerMax != 1 {
		t.Fatalf("paused status: %+v %+v", st, st.LastError)
	}
	h.restart(syncserver.Config{Migrations: []appschema.Migration{migrationV1, migrationV2}})
	d.synced(h)
	if got := h.serverQuery(`SELECT priority FROM tasks WHERE id = 't1'`); len(got) != 1 || got[0][0] != int64(3) {
		t.Fatalf("server row: %v", got)
	}
}

// TestSchemaMismatchClientBehind: the server requires schema 2, which
// dropped a column. The client pauses with its changes kept; after the app
// migrates it replays them: a change to the dropped column is quarantined
// for the app to see, the rest syncs.
func TestSchemaMismatchClientBehind(t *testing.T) { forEachStore(t, testSchemaMismatchClientBehind) }

func testSchemaMismatchClientBehind(t *testing.T, db *backend) {
	h := db.server(t, syncserver.Config{Migrations: []appschema.Migration{migrationV1, migrationV2}, MinSchemaVersion: 2})
	var states stateLog
	d := newDevice(t, "d", h, nil, client.Config{OnStatus: states.record}).start()
	d.mustExec(`INSERT INTO tasks(id, title) VALUES ('t1', 'written on v1')`)
	d.mustExec(`UPDATE tasks SET legacy = 'old data' WHERE id = 't1'`)
	d.mustExec(`UPDATE tasks SET done = 1 WHERE id = 't1'`)
	waitFor(t, "the pause", func() bool { return states.saw(syncstatus.StatePausedSchema) })
	waitFor(t, "3 pending changes", func() bool { return d.status().Pending == 3 })
	if st := d.status(); st.ServerMin != 2 {
		t.Fatalf("paused status: %+v", st)
	}

	// The app upgrades: Hearth's triggers come off for the migration and
	// go back on for the new schema; the client is told.
	err := d.local.Do(context.Background(), func(conn *sqlite3.Conn) error {
		if err := journal.DropTriggers(conn); err != nil {
			return err
		}
		if err := conn.Exec(migrationV2.SQL + "; PRAGMA user_version = 2"); err != nil {
			return err
		}
		return d.j.Install(conn)
	})
	if err != nil {
		t.Fatal(err)
	}
	d.client.SchemaChanged()
	d.synced(h)

	var q []journal.Quarantined
	var es []journal.Entry
	d.with(func(conn *sqlite3.Conn) (err error) {
		if q, err = journal.ListQuarantine(conn); err != nil {
			return err
		}
		es, err = d.j.Entries(conn, "", 10)
		return err
	})
	if len(q) != 1 || q[0].Code != journal.CodeColumnDropped || q[0].Values["legacy"] != "old data" {
		t.Fatalf("quarantine: %+v", q)
	}
	if st := d.status(); st.Quarantined != 1 {
		t.Fatalf("status quarantined %d", st.Quarantined)
	}
	got := h.serverQuery(`SELECT title, done FROM tasks WHERE id = 't1'`)
	if len(got) != 1 || got[0][0] != "written on v1" || got[0][1] != int64(1) {
		t.Fatalf("server row: %v", got)
	}
	for _, e := range es {
		if e.Schema != 1 || e.State != journal.Acknowledged {
			t.Fatalf("entries keep the version they were written under and are acknowledged: %+v", e)
		}
	}
}
