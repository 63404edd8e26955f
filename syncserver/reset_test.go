package syncserver_test

import (
	"fmt"
	"testing"

	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncworker/client"
)

// TestServerResetLosesNoAcknowledgedChange: the server comes back on an
// empty store (an in-memory store restarted, a database lost), and no
// device pushes again what it acknowledged. Now a device that finds
// another store pushes its whole state again under the stamps it holds:
// every row comes back, each replica's own writes under their very
// stamps, and a write made on the new server after the reset is not
// overwritten by an older state pushed after it.
func TestServerResetLosesNoAcknowledgedChange(t *testing.T) {
	forEachStore(t, testServerResetLosesNoAcknowledgedChange)
}

func testServerResetLosesNoAcknowledgedChange(t *testing.T, db *backend) {
	h := db.server(t, syncserver.Config{})
	a := newDevice(t, "a", h, nil, client.Config{}).start()
	b := newDevice(t, "b", h, nil, client.Config{}).start()
	a.mustExec(`INSERT INTO tasks(id, title) VALUES ('r1', 'a1'), ('r2', 'a2')`)
	b.mustExec(`INSERT INTO tasks(id, title, note) VALUES ('r3', 'b3', x'00ff')`)
	a.mustExec(`DELETE FROM tasks WHERE id = 'r2'`)
	a.synced(h)
	b.synced(h)
	b.mustExec(`UPDATE tasks SET title = 'b-edit' WHERE id = 'r1'`)
	b.synced(h)
	a.synced(h)
	before := h.serverTasks()
	stampOf := func(rows [][]any) string {
		if len(rows) != 1 {
			return fmt.Sprint(rows)
		}
		return fmt.Sprint(rows[0][0]) + "/" + serverText(rows[0][1])
	}
	// a's first insert, r1, with the stamp a gave it.
	aStamp := stampOf(a.query(`SELECT ins_hlc, ins_node FROM _hearth_rows WHERE ins_node = ? ORDER BY pk LIMIT 1`, a.j.Node()))
	b.stop()

	// The reset: the same address, an empty store.
	h.backend = db.fresh(t)
	h.path = h.backend.path
	h.restart(syncserver.Config{})
	a.synced(h)
	if got := h.serverTasks(); got != before {
		t.Fatalf("after the reset the server holds\n%swant\n%s", got, before)
	}
	// a's own insert came back under its very stamp.
	key := h.serverQuery(`SELECT ins_hlc, ins_node FROM _hearth_rows WHERE ins_node = ? ORDER BY pk LIMIT 1`, a.j.Node())
	if stampOf(key) != aStamp {
		t.Fatalf("a's insert is stamped %s on the new server, %s on a", stampOf(key), aStamp)
	}

	// A new device edits r1 on the new server; then b, which edited r1
	// before the reset, comes back and pushes its older state.
	c := newDevice(t, "c", h, nil, client.Config{}).start()
	c.synced(h)
	c.mustExec(`UPDATE tasks SET title = 'c-new' WHERE id = 'r1'`)
	c.synced(h)
	b.start()
	b.synced(h)
	a.synced(h)
	c.synced(h)
	if got := h.serverQuery(`SELECT title FROM tasks WHERE id = 'r1'`); len(got) != 1 || serverText(got[0][0]) != "c-new" {
		t.Fatalf("r1 on the server: %v, want c's newer title", got)
	}
	fresh := newDevice(t, "fresh", h, nil, client.Config{}).start()
	fresh.synced(h)
	want := h.serverTasks()
	for _, d := range []*device{a, b, c, fresh} {
		if got := d.tasks(); got != want {
			t.Fatalf("%s holds\n%sthe server\n%s", d.name, got, want)
		}
	}
	if n := h.serverQuery(`SELECT count(*) FROM tasks`)[0][0]; n != int64(2) {
		t.Fatalf("the server holds %v rows, want r1 and r3 (r2 stays deleted)", n)
	}
}
