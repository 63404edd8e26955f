package syncserver_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/client"
	"github.com/hearthdb/hearth/syncworker/wire"
)

// TestCompactionKeepsOldCursorsWhole: a device offline while rows it
// holds are updated and deleted comes back after the log was compacted
// past its cursor; it receives the current state instead (deletions
// included) and ends equal to the server. Pushes compacted away keep
// their verdicts, and a new device syncs from scratch.
func TestCompactionKeepsOldCursorsWhole(t *testing.T) {
	forEachStore(t, testCompactionKeepsOldCursorsWhole)
}

func testCompactionKeepsOldCursorsWhole(t *testing.T, db *backend) {
	h := db.server(t, syncserver.Config{})
	a := newDevice(t, "a", h, nil, client.Config{}).start()
	b := newDevice(t, "b", h, nil, client.Config{}).start()
	for i := range 30 {
		a.mustExec(`INSERT INTO tasks(id, title) VALUES (?, ?)`, fmt.Sprintf("t%02d", i), "first")
	}
	a.client.Notify()
	a.synced(h)
	b.synced(h)
	b.stop()
	a.mustExec(`UPDATE tasks SET title = 'second' WHERE id < 't10'`)
	a.mustExec(`DELETE FROM tasks WHERE id >= 't20'`)
	a.mustExec(`INSERT INTO tasks(id, title) VALUES ('new', 'while b was away')`)
	a.client.Notify()
	a.synced(h)

	raw := rawSession(t, h.url, "raw", nil)
	rawFirst := raw.change("tasks", "raw-1", change.Insert, map[string]any{"title": "raw"})
	first := raw.push(rawFirst)
	head := first.Results[0].Pos
	ctx := context.Background()
	floor, err := h.srv.Load().Compact(ctx, head)
	if err != nil || floor != head {
		t.Fatalf("compact to %d: floor %d, %v", head, floor, err)
	}
	if n := h.serverQuery(`SELECT count(*) FROM _hearth_log`); fmt.Sprint(n[0][0]) != "0" {
		t.Fatalf("log entries left after compaction: %v", n)
	}
	if again, _ := h.srv.Load().Compact(ctx, head-5); again != head {
		t.Fatalf("the floor moved back to %d", again)
	}
	// The compacted push keeps its verdict: a retry is not applied again.
	retry := raw.push(wire.Pushed{Seq: 1, Change: rawFirst.Change})
	if r := retry.Results[0]; r.State != wire.Acknowledged || r.Pos != head {
		t.Fatalf("retry after compaction: %+v, want acknowledged at %d", r, head)
	}
	// Subscribing below the floor streams the state as log messages.
	raw.r.send(wire.Subscribe{After: 0}, 1)
	rows := map[string]bool{}
	for upto := int64(0); upto < head; {
		m, ok := raw.r.recv().(wire.Changes)
		if !ok {
			continue
		}
		for _, e := range m.Entries {
			rows[keyID(t, e.Key)] = true
		}
		upto = m.Upto
	}
	// raw-1 is raw's own: the in-memory tail, which may still hold the
	// compacted entries, leaves it out; a snapshot includes it.
	delete(rows, "raw-1")
	if len(rows) != 31 { // 30 tasks (10 deleted: tombstones) and new
		t.Fatalf("state streamed after compaction covers %d rows: %v", len(rows), rows)
	}

	b.start()
	b.synced(h)
	want := h.serverTasks()
	if got := b.tasks(); got != want {
		t.Fatalf("b after compaction:\n%s\nserver:\n%s", got, want)
	}
	c := newDevice(t, "c", h, nil, client.Config{}).start()
	c.synced(h)
	if got := c.tasks(); got != want {
		t.Fatalf("new device after compaction:\n%s\nserver:\n%s", got, want)
	}
	// Writes after compaction stream as usual.
	a.mustExec(`UPDATE tasks SET title = 'third' WHERE id = 't00'`)
	a.client.Notify()
	a.synced(h)
	defer func() {
		if t.Failed() {
			t.Logf("server %s\nb %s\nc %s", h.serverTasks(), b.tasks(), c.tasks())
		}
	}()
	waitFor(t, "b and c to see the write after compaction", func() bool {
		return b.tasks() == h.serverTasks() && c.tasks() == h.serverTasks()
	})
}

// TestPeriodicCompaction: with CompactInterval the log keeps about
// CompactKeep entries.
func TestPeriodicCompaction(t *testing.T) {
	forEachStore(t, func(t *testing.T, db *backend) {
		h := db.server(t, syncserver.Config{CompactInterval: 10 * time.Millisecond, CompactKeep: 5})
		a := newDevice(t, "a", h, nil, client.Config{}).start()
		for i := range 40 {
			a.mustExec(`INSERT INTO tasks(id, title) VALUES (?, 'x')`, fmt.Sprintf("t%02d", i))
		}
		a.client.Notify()
		a.synced(h)
		waitFor(t, "the log to be compacted to 5 entries", func() bool {
			return fmt.Sprint(h.serverQuery(`SELECT count(*) FROM _hearth_log`)[0][0]) == "5"
		})
	})
}
