package syncserver_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/client"
	"github.com/hearthdb/hearth/syncworker/history"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/ncruces/go-sqlite3"
)

func (d *device) history(table string, key ...any) history.Row {
	d.t.Helper()
	var row history.Row
	d.with(func(conn *sqlite3.Conn) error {
		info, err := schema.Describe(conn, appschema.Table{Name: table})
		if err != nil {
			return err
		}
		row, err = history.Read(conn, info, d.j, key)
		return err
	})
	return row
}

// TestHistoryShowsWhoWonAndWhatLost: two devices set one task's title
// offline; the later wins. Each device's history of the row names the
// winning write (device and clock), the losing value with its device,
// and the journal entries that touched the row.
func TestHistoryShowsWhoWonAndWhatLost(t *testing.T) {
	h := fileServer(t, syncserver.Config{})
	var step atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(step.Load())) }
	a := newDevice(t, "a", h, nil, client.Config{Now: now}).start()
	b := newDevice(t, "b", h, nil, client.Config{Now: now}).start()
	a.mustExec(`INSERT INTO tasks(id, title) VALUES ('t1', 'first')`)
	a.synced(h)
	waitFor(t, "b to hold t1", func() bool { return len(b.query(`SELECT 1 FROM tasks WHERE id = 't1'`)) == 1 })
	// Offline for sure: the network down and the connections dropped, so
	// neither edit reaches the other before both are made.
	for _, d := range []*device{a, b} {
		d.net.setDown(true)
		d.client.Online(false)
	}
	a.mustExec(`UPDATE tasks SET title = 'from a' WHERE id = 't1'`)
	step.Add(int64(time.Second))
	b.mustExec(`UPDATE tasks SET title = 'from b' WHERE id = 't1'`)
	for _, d := range []*device{a, b} {
		d.net.setDown(false)
		d.client.Online(true)
	}
	a.synced(h)
	b.synced(h)
	a.synced(h)
	waitFor(t, "both to read b's title", func() bool {
		return len(a.query(`SELECT 1 FROM tasks WHERE title = 'from b'`)) == 1 && len(b.query(`SELECT 1 FROM tasks WHERE title = 'from b'`)) == 1
	})

	for _, d := range []*device{a, b} {
		row := d.history("tasks", "t1")
		if !row.Exists || row.Inserted == nil || row.Inserted.Node != a.j.Node() {
			t.Fatalf("%s: row %+v", d.name, row)
		}
		var title history.Field
		for _, f := range row.Fields {
			if f.Column == "title" {
				title = f
			}
		}
		if title.Value != "from b" || title.Writer == nil || title.Writer.Node != b.j.Node() || title.ByInsert {
			t.Fatalf("%s: title %+v, want b's update", d.name, title)
		}
		var lost *history.Lost
		for i, l := range row.Lost {
			if l.Column == "title" && l.Value == "from a" {
				lost = &row.Lost[i]
			}
		}
		if lost == nil || lost.Writer.Node != a.j.Node() || lost.LostTo.Node != b.j.Node() || lost.LostToOp != "update" {
			t.Fatalf("%s: lost values %+v, want a's title lost to b's update", d.name, row.Lost)
		}
		if !lost.LostTo.At.After(lost.Writer.At) {
			t.Fatalf("%s: the winner's clock %v is not after the loser's %v", d.name, lost.LostTo.At, lost.Writer.At)
		}
	}
	// a's journal shows its insert and its (losing) update, acknowledged.
	ja := a.history("tasks", "t1").Journal
	if len(ja) != 2 || ja[0].Op != "update" || ja[1].Op != "insert" || ja[0].State != "acknowledged" || ja[0].Values["title"] != "from a" {
		t.Fatalf("a's journal for t1: %+v", ja)
	}
	// A device with nothing lost shows nothing lost.
	c := newDevice(t, "c", h, nil, client.Config{}).start()
	c.synced(h)
	waitFor(t, "c to hold t1", func() bool { return len(c.query(`SELECT 1 FROM tasks WHERE id = 't1'`)) == 1 })
	if row := c.history("tasks", "t1"); len(row.Lost) != 0 || len(row.Journal) != 0 {
		t.Fatalf("a newcomer's history: %+v", row)
	}
}
