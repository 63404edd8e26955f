package syncserver_test

import (
	"fmt"
	"github.com/hearthdb/hearth/syncworker/merge"
	"math"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncworker/client"
	"github.com/hearthdb/hearth/syncworker/journal"
	"github.com/ncruces/go-sqlite3"
)

func fileServer(t *testing.T, cfg syncserver.Config) *harness {
	cfg.Path = filepath.Join(t.TempDir(), "sync.db")
	return newHarness(t, cfg)
}

// TestOfflineEditsConverge: two devices edit offline, then reconnect.
// Different fields of one row merge; the same field goes to the later
// write; a delete beats a concurrent edit. Both devices and the server
// end with the rule's answer, and the table checksums agree.
func TestOfflineEditsConverge(t *testing.T) { forEachStore(t, testOfflineEditsConverge) }

// TestNulTextIsRefusedOnEveryStore: PostgreSQL cannot hold a NUL in
// text, so no store takes it (TYPE_MISMATCH): an app's verdicts do not
// change with the store it is deployed on.
func TestNulTextIsRefusedOnEveryStore(t *testing.T) {
	forEachStore(t, func(t *testing.T, db *backend) {
		h := db.server(t, syncserver.Config{})
		d := newDevice(t, "d", h, nil, client.Config{}).start()
		d.mustExec(`INSERT INTO tasks(id, title) VALUES ('nul', ?), ('fine', 'ok')`, "a\x00b")
		d.synced(h)
		got := d.query(`SELECT code FROM _hearth_journal WHERE state = 'refused'`)
		if len(got) != 1 || got[0][0] != merge.CodeTypeMismatch {
			t.Fatalf("refused entries %v, want the NUL row's TYPE_MISMATCH", got)
		}
		if n := h.serverQuery(`SELECT count(*) FROM tasks`)[0][0]; n != int64(1) {
			t.Fatalf("server holds %v rows, want only the one without NUL", n)
		}
	})
}

func testOfflineEditsConverge(t *testing.T, db *backend) {
	h := db.server(t, syncserver.Config{})
	// "Later" must not hinge on a few milliseconds of real time: each
	// device's clock correction is only as exact as its round trip (on a
	// loaded machine, more than those milliseconds). The devices share a
	// clock the test steps by a second between the writes it orders.
	var step atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(step.Load())) }
	later := func() { step.Add(int64(time.Second)) }
	cfg := client.Config{ChecksumInterval: 20 * time.Millisecond, Now: now}
	a := newDevice(t, "a", h, nil, cfg).start()
	b := newDevice(t, "b", h, nil, cfg).start()

	a.mustExec(`INSERT INTO tasks(id, title, assignee) VALUES ('r1', 'draft', 'ann'), ('r2', 'two', NULL), ('r3', 'three', NULL)`)
	// Values of every type travel exactly. Text with NUL is refused on
	// every store (TestNulTextIsRefusedOnEveryStore).
	text := "tab\tand é"
	b.mustExec(`INSERT INTO tasks(id, title, done, rank, note, assignee) VALUES ('types', ?, ?, ?, ?, NULL)`,
		text, int64(math.MaxInt64), 0.1, []byte{0, 1, 254, 255})
	a.synced(h)
	b.synced(h)
	waitFor(t, "both to hold 4 rows", func() bool {
		return len(a.query(`SELECT id FROM tasks`)) == 4 && len(b.query(`SELECT id FROM tasks`)) == 4
	})

	// Offline for sure: the network down and the connections dropped (a
	// live session would push the edits, and stepping the clock below
	// would end it).
	for _, d := range []*device{a, b} {
		d.net.setDown(true)
		d.client.Online(false)
	}
	a.mustExec(`UPDATE tasks SET title = 'A title' WHERE id = 'r1'`) // different fields of r1
	b.mustExec(`UPDATE tasks SET done = 1 WHERE id = 'r1'`)
	a.mustExec(`UPDATE tasks SET title = 'A two' WHERE id = 'r2'`) // same field of r2: B writes later
	later()
	b.mustExec(`UPDATE tasks SET title = 'B two' WHERE id = 'r2'`)
	a.mustExec(`DELETE FROM tasks WHERE id = 'r3'`) // A deletes what B edits
	later()
	b.mustExec(`UPDATE tasks SET title = 'B three', assignee = 'bob' WHERE id = 'r3'`)
	waitFor(t, "a to count 3 pending changes while offline", func() bool { return a.status().Pending == 3 })

	a.net.setDown(false)
	b.net.setDown(false)
	a.client.Online(true)
	b.client.Online(true)

	want := []struct{ id, title, done, assignee string }{
		{"r1", "A title", "1", "ann"},
		{"r2", "B two", "0", "<nil>"},
	}
	waitFor(t, "convergence", func() bool {
		return a.tasks() == b.tasks() && len(a.query(`SELECT 1 FROM tasks`)) == 3 && a.status().Pending == 0 && b.status().Pending == 0
	})
	a.synced(h)
	b.synced(h)
	for _, w := range want {
		rows := a.query(`SELECT title, done, assignee FROM tasks WHERE id = ?`, w.id)
		if len(rows) != 1 || rows[0][0] != w.title || fmtv(rows[0][1]) != w.done || fmtv(rows[0][2]) != w.assignee {
			t.Fatalf("%s: got %v, want %+v", w.id, rows, w)
		}
	}
	if rows := a.query(`SELECT 1 FROM tasks WHERE id = 'r3'`); len(rows) != 0 {
		t.Fatal("the delete must beat the concurrent edit")
	}
	typed := b.query(`SELECT title, done, rank, note, assignee FROM tasks WHERE id = 'types'`)[0]
	if typed[0] != text || typed[1] != int64(math.MaxInt64) || typed[2] != 0.1 || string(typed[3].([]byte)) != "\x00\x01\xfe\xff" || typed[4] != nil {
		t.Fatalf("values changed in transit: %#v", typed)
	}
	if got, srv := a.tasks(), h.serverTasks(); got != b.tasks() || got != srv {
		t.Fatalf("diverged:\na:\n%s\nb:\n%s\nserver:\n%s", got, b.tasks(), srv)
	}
	// The periodic checksum comparison agrees.
	waitFor(t, "checksum comparisons", func() bool { return a.status().Checksums > 0 && b.status().Checksums > 0 })
	for _, d := range []*device{a, b} {
		if st := d.status(); st.Divergences != 0 {
			t.Fatalf("%s: divergences %d in %v", d.name, st.Divergences, st.DivergedTables)
		}
		var es []journal.Entry
		var err error
		d.with(func(conn *sqlite3.Conn) error { es, err = d.j.Entries(conn, journal.Acknowledged, 100); return nil })
		if err != nil || len(es) == 0 {
			t.Fatalf("%s: acknowledged entries stay queryable: %v %d", d.name, err, len(es))
		}
		st := d.status()
		if st.LatencySamples == 0 || st.ReconcileLatency <= 0 || st.LastSyncedAt.IsZero() {
			t.Fatalf("%s: status misses latency or last sync: %+v", d.name, st)
		}
	}
}

func fmtv(v any) string {
	if v == nil {
		return "<nil>"
	}
	return fmt.Sprint(v)
}

// TestChecksumDetectsDivergence: a replica whose table was changed behind
// the journal's back (here: written with journaling off) is reported as
// diverged by the periodic checksum comparison.
func TestChecksumDetectsDivergence(t *testing.T) {
	h := fileServer(t, syncserver.Config{})
	d := newDevice(t, "d", h, nil, client.Config{ChecksumInterval: 10 * time.Millisecond}).start()
	d.mustExec(`INSERT INTO tasks(id, title) VALUES ('t1', 'same')`)
	d.synced(h)
	waitFor(t, "a clean comparison", func() bool { return d.status().Checksums > 0 })
	if st := d.status(); st.Divergences != 0 {
		t.Fatalf("divergences before tampering: %d", st.Divergences)
	}
	d.with(func(conn *sqlite3.Conn) error {
		return d.j.Applying(func() error { return conn.Exec(`UPDATE tasks SET title = 'tampered'`) })
	})
	waitFor(t, "the divergence to be seen", func() bool { return d.status().Divergences > 0 })
	if st := d.status(); len(st.DivergedTables) != 1 || st.DivergedTables[0] != "tasks" {
		t.Fatalf("diverged tables: %v", st.DivergedTables)
	}
}

// TestOversizedChangeIsQuarantined: a change larger than the server
// accepts is set aside for the app instead of blocking the journal.
func TestOversizedChangeIsQuarantined(t *testing.T) {
	h := fileServer(t, syncserver.Config{MaxMessageBytes: 32 << 10})
	d := newDevice(t, "d", h, nil, client.Config{}).start()
	d.mustExec(`INSERT INTO tasks(id, title, note) VALUES ('big', 'x', zeroblob(100000))`)
	d.mustExec(`INSERT INTO tasks(id, title) VALUES ('small', 'y')`)
	d.synced(h)
	var q []journal.Quarantined
	d.with(func(conn *sqlite3.Conn) (err error) { q, err = journal.ListQuarantine(conn); return err })
	if len(q) != 1 || q[0].Code != journal.CodeTooLarge {
		t.Fatalf("quarantine: %+v", q)
	}
	if got := h.serverQuery(`SELECT id FROM tasks`); len(got) != 1 || got[0][0] != "small" {
		t.Fatalf("server rows: %v", got)
	}
}
