package syncserver_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncworker/client"
)

// TestACursorPastOwnChangesIsSavedOnceQuiet: the log messages that only
// move a device's cursor past its own changes (the server leaves those
// out) do not each write the cursor to the database; it is saved once
// the device has been quiet for a moment, or with the next message that
// brings changes. The device's clock is the test's: the moment passes
// when the test says so.
func TestACursorPastOwnChangesIsSavedOnceQuiet(t *testing.T) {
	h := fileServer(t, syncserver.Config{})
	base := time.Now()
	var step atomic.Int64
	now := func() time.Time { return base.Add(time.Duration(step.Load())) }
	a := newDevice(t, "a", h, nil, client.Config{Now: now}).start()
	a.synced(h)
	saved := func(d *device) int64 {
		t.Helper()
		rows := d.query(`SELECT v FROM _hearth_sync WHERE k = 'cursor'`)
		if len(rows) != 1 {
			t.Fatalf("%s: no saved cursor", d.name)
		}
		v, ok := rows[0][0].(int64)
		if !ok {
			t.Fatalf("%s: saved cursor %#v", d.name, rows[0][0])
		}
		return v
	}
	before := saved(a)
	for i := range 3 {
		a.mustExec(`INSERT INTO tasks(id, title) VALUES (?, 'mine')`, fmt.Sprint("mine-", i))
		a.synced(h)
	}
	waitFor(t, "a's cursor past its own writes", func() bool { return a.status().Cursor >= h.logHead() })
	if got := saved(a); got != before {
		t.Fatalf("saved cursor %d after the device's own writes only, want %d until it is quiet", got, before)
	}
	step.Add(int64(time.Second))
	waitFor(t, "the cursor saved once quiet", func() bool { return saved(a) == h.logHead() })

	// Ahead again, then another device's change arrives: saved with it.
	b := newDevice(t, "b", h, nil, client.Config{Now: now}).start()
	b.synced(h)
	a.mustExec(`INSERT INTO tasks(id, title) VALUES ('mine-3', 'mine')`)
	a.synced(h)
	b.mustExec(`INSERT INTO tasks(id, title) VALUES ('theirs', 'from b')`)
	b.synced(h)
	waitFor(t, "b's change on a", func() bool { return len(a.query(`SELECT 1 FROM tasks WHERE id = 'theirs'`)) == 1 })
	if got, head := saved(a), h.logHead(); got != head {
		t.Fatalf("saved cursor %d once a change arrived, want the log's head %d", got, head)
	}

	// A device that stops before it saved asks from the saved cursor
	// and ends where it was, with nothing applied twice.
	a.mustExec(`INSERT INTO tasks(id, title) VALUES ('mine-4', 'mine')`)
	a.synced(h)
	a.stop()
	a.start()
	a.synced(h)
	if n := a.query(`SELECT count(*) FROM tasks`)[0][0]; n != int64(6) {
		t.Fatalf("a holds %v tasks after its restart, want 6", n)
	}
	if got := a.status().Cursor; got != h.logHead() {
		t.Fatalf("a's cursor %d after its restart, want the log's head %d", got, h.logHead())
	}
}
