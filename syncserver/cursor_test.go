package syncserver_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/client"
	"github.com/hearthdb/hearth/syncworker/wire"
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

// TestWritesAConnectionMayNotReadAreNotEachAMessage: a connection that is
// caught up hears nothing of writes it may not read (another workspace's);
// its cursor moves past them with the next entry it may read, when it asks
// for checksums, or once the log has been quiet for QuietCursorDelay.
func TestWritesAConnectionMayNotReadAreNotEachAMessage(t *testing.T) {
	for _, delay := range []time.Duration{time.Hour, time.Millisecond} {
		cfg := scopedConfig()
		cfg.QuietCursorDelay = delay
		// The server's clock is the test's: the delay passes when it says.
		base := time.Now()
		var step atomic.Int64
		cfg.Now = func() time.Time { return base.Add(time.Duration(step.Load())) }
		h := fileServer(t, cfg)
		admin := rawSession(t, asUser(h, "admin", "*"), "admin", nil)
		ack := admin.push(admin.change("workspaces", "w1", change.Insert, nil), admin.change("workspaces", "w2", change.Insert, nil))
		ann := rawSession(t, asUser(h, "ann", "w1"), "ann", nil)
		ann.r.send(wire.Subscribe{After: -1}, 1)
		for upto := int64(-1); upto < ack.Results[1].Pos; {
			upto = ann.r.recv().(wire.Changes).Upto
		}
		var head int64
		theirs := func(n int) {
			for i := range n {
				head = admin.push(admin.change("tasks", fmt.Sprintf("w2-%d-%d", head, i), change.Insert, map[string]any{"workspace_id": "w2"})).Results[0].Pos
			}
		}
		if delay == time.Millisecond {
			// Once the delay has passed, messages with no entries (one
			// may come between the writes), the last at the head.
			theirs(3)
			for upto := int64(-1); upto < head; {
				m, ok := ann.r.recv().(wire.Changes)
				if !ok || len(m.Entries) != 0 || m.Head != m.Upto || m.Upto <= upto || m.Upto > head {
					t.Fatalf("after the quiet delay: %#v, want no entries, upto and head past %d up to %d", m, upto, head)
				}
				upto = m.Upto
			}
			continue
		}
		theirs(10)
		mine := admin.push(admin.change("tasks", "w1-a", change.Insert, map[string]any{"workspace_id": "w1"})).Results[0].Pos
		// The first message since: the entry ann may read, its cursor past
		// the ten writes before it.
		m, ok := ann.r.recv().(wire.Changes)
		if !ok || len(m.Entries) != 1 || m.Entries[0].Pos != mine || m.Upto != mine {
			t.Fatalf("after ten writes to w2 and one to w1: %#v, want w1's entry at %d alone", m, mine)
		}
		// Checksums are of the log's head: the cursor is told first.
		theirs(3)
		ann.r.send(wire.ChecksumRequest{ID: 7}, 1)
		m, ok = ann.r.recv().(wire.Changes)
		if !ok || len(m.Entries) != 0 || m.Upto != head {
			t.Fatalf("before the checksums: %#v, want no entries and upto %d", m, head)
		}
		if sums, ok := ann.r.recv().(wire.Checksums); !ok || sums.Pos != head {
			t.Fatalf("checksums %#v, want at %d", sums, head)
		}
		// While the log keeps moving, the cursor is told once the delay
		// has passed on the server's clock.
		unsent := func() float64 { return scrape(t, h.srv.Load().MetricsHandler())["hearth_sync_unsent_pulls_total"] }
		before := unsent()
		theirs(1)
		waitFor(t, "ann's session past the write", func() bool { return unsent() > before })
		step.Add(int64(2 * delay))
		theirs(1)
		m, ok = ann.r.recv().(wire.Changes)
		if !ok || len(m.Entries) != 0 || m.Upto != head {
			t.Fatalf("a write after the delay: %#v, want no entries and upto %d", m, head)
		}
	}
}

// TestAWriteIsAMessageOnlyToWhoMayReadIt: twenty caught-up connections,
// each of its own workspace, and forty writes spread over the
// workspaces: forty log messages in all (at most), not one to every
// connection for every write.
func TestAWriteIsAMessageOnlyToWhoMayReadIt(t *testing.T) {
	cfg := scopedConfig()
	cfg.QuietCursorDelay = time.Hour
	h := fileServer(t, cfg)
	admin := rawSession(t, asUser(h, "admin", "*"), "admin", nil)
	const n, writes = 20, 40
	var rows []wire.Pushed
	for i := range n {
		rows = append(rows, admin.change("workspaces", fmt.Sprint("w", i), change.Insert, nil))
	}
	head := admin.push(rows...).Results[n-1].Pos
	sessions := make([]*pusher, n)
	for i := range sessions {
		sessions[i] = rawSession(t, asUser(h, fmt.Sprint("u", i), fmt.Sprint("w", i)), fmt.Sprint("u", i), nil)
		sessions[i].r.send(wire.Subscribe{After: -1}, 1)
		for upto := int64(-1); upto < head; {
			upto = sessions[i].r.recv().(wire.Changes).Upto
		}
	}
	// A session counts a message after sending it: a ping answered is a
	// session done with what it sent before.
	settled := func() float64 {
		for i, s := range sessions {
			s.r.send(wire.Ping{ID: int64(i + 1)}, 1)
			if m, ok := s.r.recv().(wire.Pong); !ok {
				t.Fatalf("u%d: want pong, got %#v", i, m)
			}
		}
		return scrape(t, h.srv.Load().MetricsHandler())["hearth_sync_pulls_total"]
	}
	before := settled()
	for w := range writes {
		admin.push(admin.change("tasks", fmt.Sprint("t", w), change.Insert, map[string]any{"workspace_id": fmt.Sprint("w", w%n)}))
	}
	for i, s := range sessions {
		for got := 0; got < writes/n; {
			m := s.r.recv().(wire.Changes)
			got += len(m.Entries)
			if len(m.Entries) == 0 {
				t.Fatalf("u%d: a message with no entries %#v", i, m)
			}
		}
	}
	sent := settled() - before
	t.Logf("%d writes to %d workspaces, %d connections: %v log messages", writes, n, n, sent)
	if sent > writes {
		t.Fatalf("%v log messages for %d writes each readable by one connection", sent, writes)
	}
}
