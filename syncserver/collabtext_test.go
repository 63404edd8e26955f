package syncserver_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/hearthdb/hearth/codec"
	"github.com/hearthdb/hearth/internal/pgtest"
	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/client"
	"github.com/hearthdb/hearth/syncworker/collabtext"
)

var (
	notesMigration = appschema.Migration{Version: 1, SQL: `CREATE TABLE tasks(
		id TEXT PRIMARY KEY,
		title TEXT NOT NULL DEFAULT '',
		description TEXT NOT NULL DEFAULT '')`}
	notesTables = []appschema.Table{{Name: "tasks", Text: []string{"description"}}}
)

// TestCollaborativeTextKeepsBothOfflineEdits: two devices edit one
// task's description offline with plain SQL UPDATEs, one of them twice;
// after reconnecting, both devices, a third that joins later and the
// server read the same description, holding every edit. The title, an
// ordinary column, still goes to the later writer.
func TestCollaborativeTextKeepsBothOfflineEdits(t *testing.T) {
	forEachStore(t, func(t *testing.T, db *backend) {
		h := db.server(t, syncserver.Config{Migrations: []appschema.Migration{notesMigration}, Tables: notesTables})
		ms := []appschema.Migration{notesMigration}
		a := newDevice(t, "a", h, ms, client.Config{}).start()
		b := newDevice(t, "b", h, ms, client.Config{}).start()
		a.mustExec(`INSERT INTO tasks(id, title, description) VALUES ('t1', 'Plan', 'Buy milk. Call Ann.')`)
		a.synced(h)
		waitFor(t, "b to hold the task", func() bool { return len(b.query(`SELECT 1 FROM tasks WHERE id = 't1'`)) == 1 })

		for _, d := range []*device{a, b} {
			d.net.setDown(true)
			d.client.Online(false)
		}
		a.mustExec(`UPDATE tasks SET description = 'Buy oat milk. Call Ann.' WHERE id = 't1'`)
		a.mustExec(`UPDATE tasks SET description = replace(description, 'Buy', 'Get') WHERE id = 't1'`)
		b.mustExec(`UPDATE tasks SET description = 'Buy milk. Call Ann at 5.', title = 'Plan B' WHERE id = 't1'`)
		a.net.setDown(false)
		b.net.setDown(false)
		a.client.Online(true)
		b.client.Online(true)
		a.synced(h)
		b.synced(h)
		a.synced(h)

		want := "Get oat milk. Call Ann at 5."
		waitFor(t, "both devices to read the merged description", func() bool {
			return descOf(a) == want && descOf(b) == want
		})
		if got := h.serverQuery(`SELECT description, title FROM tasks WHERE id = 't1'`); len(got) != 1 || got[0][0] != want || got[0][1] != "Plan B" {
			t.Fatalf("server holds %v, want %q and the later title", got, want)
		}
		c := newDevice(t, "c", h, ms, client.Config{}).start()
		c.synced(h)
		waitFor(t, "a new device to read it", func() bool { return descOf(c) == want })
		// The newcomer edits on top of what it received: its ops hang
		// from characters the others know.
		c.mustExec(`UPDATE tasks SET description = description || ' Done.' WHERE id = 't1'`)
		c.synced(h)
		waitFor(t, "c's edit everywhere", func() bool {
			return descOf(a) == want+" Done." && descOf(b) == want+" Done."
		})
		for _, d := range []*device{a, b, c} {
			if st := d.status(); st.Refused != 0 || st.Divergences != 0 {
				t.Fatalf("%s: %d refused, %d divergences", d.name, st.Refused, st.Divergences)
			}
		}
	})
}

func descOf(d *device) string {
	rows := d.query(`SELECT description FROM tasks WHERE id = 't1'`)
	if len(rows) != 1 {
		return ""
	}
	s, _ := rows[0][0].(string)
	return s
}

// TestCollaborativeTextRefusesBadOps: ops that do not decode are refused
// with TEXT_INVALID, and the column must be TEXT NOT NULL.
func TestCollaborativeTextColumnMustBeTextNotNull(t *testing.T) {
	_, err := syncserver.New(syncserver.Config{
		Path:       t.TempDir() + "/sync.db",
		Migrations: []appschema.Migration{notesMigration},
		Tables:     []appschema.Table{{Name: "tasks", Text: []string{"nope"}}},
	})
	if err == nil || !strings.Contains(err.Error(), `"nope" does not exist`) {
		t.Fatalf("a missing column: %v", err)
	}
	m := appschema.Migration{Version: 1, SQL: `CREATE TABLE tasks(id TEXT PRIMARY KEY, body TEXT)`}
	_, err = syncserver.New(syncserver.Config{
		Path: t.TempDir() + "/sync.db", Migrations: []appschema.Migration{m},
		Tables: []appschema.Table{{Name: "tasks", Text: []string{"body"}}},
	})
	if err == nil || !strings.Contains(err.Error(), "TEXT NOT NULL") {
		t.Fatalf("a nullable column: %v", err)
	}
}

// offlineEditBeside sets up a task synced to device d, takes d offline,
// edits its description there, runs serverEdit (which must leave the
// description reading serverText), and reconnects; both edits must be in
// the result on the device and the server.
func offlineEditBeside(t *testing.T, h *harness, serverEdit func(), serverText string) {
	t.Helper()
	ms := []appschema.Migration{notesMigration}
	d := newDevice(t, "d", h, ms, client.Config{}).start()
	d.mustExec(`INSERT INTO tasks(id, title, description) VALUES ('t1', 'Plan', 'Buy milk. Call Ann.')`)
	d.synced(h)
	d.net.setDown(true)
	d.client.Online(false) // the connection dropped: the edit stays here
	d.mustExec(`UPDATE tasks SET description = 'Buy milk. Call Ann at 5.' WHERE id = 't1'`)
	serverEdit()
	waitFor(t, "the server's edit", func() bool {
		got := h.serverQuery(`SELECT description FROM tasks WHERE id = 't1'`)
		return len(got) == 1 && got[0][0] == serverText
	})
	d.net.setDown(false)
	d.client.Online(true)
	d.synced(h)
	want := "Buy oat milk. Call Ann at 5."
	waitFor(t, "the device to read both edits", func() bool { return descOf(d) == want })
	if got := h.serverQuery(`SELECT description FROM tasks WHERE id = 't1'`); got[0][0] != want {
		t.Fatalf("the server reads %q, want %q", got[0][0], want)
	}
	if st := d.status(); st.Refused != 0 {
		t.Fatalf("%d refused", st.Refused)
	}
}

// TestBackendWriteOfCollaborativeTextMerges: the app's backend writes a
// new description (plain text, through Server.Write) while a device edits
// it offline; the server turns the backend's text into the characters it
// changed, so both edits survive.
func TestBackendWriteOfCollaborativeTextMerges(t *testing.T) {
	forEachStore(t, func(t *testing.T, db *backend) {
		h := db.server(t, syncserver.Config{Migrations: []appschema.Migration{notesMigration}, Tables: notesTables})
		offlineEditBeside(t, h, func() {
			res, err := h.srv.Load().Write(context.Background(), syncserver.WriteRequest{Principal: "service:app", IdempotencyKey: "k1",
				Changes: []syncserver.RowWrite{{Table: "tasks", Op: syncserver.OpUpsert, Values: map[string]any{"id": "t1", "description": "Buy oat milk. Call Ann."}}}})
			if err != nil || res.Results[0].Status != syncserver.WriteApplied {
				t.Fatalf("Write: %+v %v", res, err)
			}
		}, "Buy oat milk. Call Ann.")
	})
}

// TestExternalWriteOfCollaborativeTextMerges: another program UPDATEs the
// description in PostgreSQL while a device edits it offline; ingestion
// turns the program's new text into character ops, so both survive.
func TestExternalWriteOfCollaborativeTextMerges(t *testing.T) {
	db := &backend{name: "postgres", url: pgtest.URL(t)}
	h := db.server(t, syncserver.Config{Migrations: []appschema.Migration{notesMigration}, Tables: notesTables})
	x := connectExternal(t, db.url)
	offlineEditBeside(t, h, func() {
		x.exec(`UPDATE tasks SET description = 'Buy oat milk. Call Ann.' WHERE id = 't1'`)
	}, "Buy oat milk. Call Ann.")
}

// TestCollaborativeTextCompacts: a field that keeps being edited is
// compacted by the server once it holds TextCompactTombstones deleted
// characters; the devices rebase onto each compaction, an edit made
// offline before it is translated when it arrives, and every device, a
// newcomer and the server read the same text, with the server's stored
// state and the devices' copies holding fewer tombstones than the bound.
func TestCollaborativeTextCompacts(t *testing.T) {
	forEachStore(t, func(t *testing.T, db *backend) {
		const bound = 8
		h := db.server(t, syncserver.Config{Migrations: []appschema.Migration{notesMigration}, Tables: notesTables, TextCompactTombstones: bound})
		ms := []appschema.Migration{notesMigration}
		a := newDevice(t, "a", h, ms, client.Config{}).start()
		b := newDevice(t, "b", h, ms, client.Config{}).start()
		a.mustExec(`INSERT INTO tasks(id, title, description) VALUES ('t1', 'Plan', '0123456789abcdefghij')`)
		a.synced(h)
		waitFor(t, "b to hold the task", func() bool { return descOf(b) == "0123456789abcdefghij" })

		b.net.setDown(true)
		b.client.Online(false)
		b.mustExec(`UPDATE tasks SET description = replace(description, 'abc', 'ABC') WHERE id = 't1'`)
		b.mustExec(`UPDATE tasks SET description = description || ' B' WHERE id = 't1'`)
		// a deletes the digits one by one: past the bound, the server
		// compacts; a goes on editing in the new epoch.
		for range 10 {
			a.mustExec(`UPDATE tasks SET description = substr(description, 2) WHERE id = 't1'`)
			a.synced(h)
		}
		a.mustExec(`UPDATE tasks SET description = description || ' A' WHERE id = 't1'`)
		a.synced(h)
		epoch, tombstones := serverTextState(t, h)
		if epoch == 0 || tombstones >= bound {
			t.Fatalf("after 10 deletes the server's field is at epoch %d with %d tombstones", epoch, tombstones)
		}

		b.net.setDown(false)
		b.client.Online(true)
		b.synced(h)
		a.synced(h)
		ok := func(s string) bool { return s == "ABCdefghij A B" || s == "ABCdefghij B A" }
		waitFor(t, "both devices to read both edits", func() bool {
			return ok(descOf(a)) && descOf(a) == descOf(b)
		})
		want := descOf(a)
		if got := h.serverQuery(`SELECT description FROM tasks WHERE id = 't1'`); len(got) != 1 || got[0][0] != want {
			t.Fatalf("server holds %v, want %q", got, want)
		}
		c := newDevice(t, "c", h, ms, client.Config{}).start()
		c.synced(h)
		waitFor(t, "a new device to read it", func() bool { return descOf(c) == want })
		epoch, _ = serverTextState(t, h)
		for _, d := range []*device{a, b, c} {
			st := d.query(`SELECT val FROM _hearth_fields WHERE tbl = 'tasks' AND col = 'description'`)
			got, err := collabtext.StateEpoch(st[0][0].([]byte))
			if err != nil || got != epoch {
				t.Fatalf("%s's copy of the field is at epoch %d (%v), the server's at %d", d.name, got, err, epoch)
			}
			if st := d.status(); st.Refused != 0 || st.Divergences != 0 || st.Quarantined != 0 {
				t.Fatalf("%s: %d refused, %d divergences, %d quarantined", d.name, st.Refused, st.Divergences, st.Quarantined)
			}
		}
		if kept := h.serverQuery(`SELECT count(*) FROM _hearth_text_epochs`); kept[0][0] != int64(epoch) {
			t.Fatalf("the server keeps %v old states, want one per epoch passed (%d)", kept, epoch)
		}
	})
}

// serverTextState is the epoch of the server's stored state of t1's
// description and the tombstones it holds.
func serverTextState(t *testing.T, h *harness) (epoch uint64, tombstones int) {
	t.Helper()
	rows := h.serverQuery(`SELECT val FROM _hearth_fields WHERE tbl = 'tasks' AND col = 'description'`)
	if len(rows) != 1 {
		t.Fatalf("the server's field metadata: %v", rows)
	}
	state, _ := rows[0][0].([]byte)
	if h.backend != nil && h.backend.postgres() {
		// PostgreSQL's val holds the value in Hearth's tagged encoding.
		v, err := codec.Decode(state)
		if err != nil {
			t.Fatal(err)
		}
		state, _ = v.([]byte)
	}
	doc, err := collabtext.Load("", state)
	if err != nil {
		t.Fatal(err)
	}
	return doc.Epoch(), doc.Tombstones()
}

// TestTextEditFromBeforeACompactionSurvivesAResync: b edits a field
// offline; meanwhile the server compacts the field and then its log, so
// b comes back to a snapshot, whose state of the field (of a later
// epoch) replaces b's copy. b's edit, pushed in the old epoch, is
// translated by the server and sent back to b too, so both devices end
// with it.
func TestTextEditFromBeforeACompactionSurvivesAResync(t *testing.T) {
	forEachStore(t, func(t *testing.T, db *backend) {
		h := db.server(t, syncserver.Config{Migrations: []appschema.Migration{notesMigration}, Tables: notesTables, TextCompactTombstones: 8})
		ms := []appschema.Migration{notesMigration}
		a := newDevice(t, "a", h, ms, client.Config{}).start()
		b := newDevice(t, "b", h, ms, client.Config{}).start()
		a.mustExec(`INSERT INTO tasks(id, title, description) VALUES ('t1', 'Plan', 'abcdefghijklmnop')`)
		a.synced(h)
		waitFor(t, "b to hold the task", func() bool { return descOf(b) == "abcdefghijklmnop" })
		b.net.setDown(true)
		b.client.Online(false)
		b.mustExec(`UPDATE tasks SET description = 'B: ' || description WHERE id = 't1'`)
		for range 10 {
			a.mustExec(`UPDATE tasks SET description = substr(description, 2) WHERE id = 't1'`)
			a.synced(h)
		}
		if epoch, _ := serverTextState(t, h); epoch == 0 {
			t.Fatal("the field was not compacted")
		}
		head := h.logHead()
		if floor, err := h.srv.Load().Compact(context.Background(), head); err != nil || floor != head {
			t.Fatalf("compact the log to %d: %d, %v", head, floor, err)
		}
		b.net.setDown(false)
		b.client.Online(true)
		b.synced(h)
		a.synced(h)
		const want = "B: klmnop"
		waitFor(t, "both devices to read b's edit on a's", func() bool { return descOf(a) == want && descOf(b) == want })
		// b's push was translated, and logged again as the server's, for
		// b: whichever b got first, the snapshot or its own push's
		// merge, it ends with its edit.
		if n := h.serverQuery(`SELECT count(*) FROM _hearth_log WHERE length(client) = 0 AND pos > ?`, head); fmt.Sprint(n[0][0]) != "1" {
			t.Fatalf("server entries after b's push: %v, want its translated change again", n)
		}
		for _, d := range []*device{a, b} {
			if st := d.status(); st.Refused != 0 || st.Divergences != 0 || st.Quarantined != 0 {
				t.Fatalf("%s: %d refused, %d divergences, %d quarantined", d.name, st.Refused, st.Divergences, st.Quarantined)
			}
		}
	})
}
