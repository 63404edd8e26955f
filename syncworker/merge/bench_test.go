package merge_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/collabtext"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/journal"
	"github.com/hearthdb/hearth/syncworker/merge"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/ncruces/go-sqlite3"
)

// The initial sync's apply path, without network or server: a fresh
// replica (the board's tasks table, its index and the journal's
// triggers) merging a snapshot of n rows in chunks, one transaction per
// chunk, as the client does. Run natively, and in wasm under Node to see
// the browser's CPU cost without the browser:
//
//	GOOS=js GOARCH=wasm go test -exec="$(go env GOROOT)/lib/wasm/go_js_wasm_exec" -run XXX -bench ApplySnapshot ./syncworker/merge

const boardTasksDDL = `
CREATE TABLE tasks(
	id           TEXT PRIMARY KEY,
	workspace_id TEXT NOT NULL DEFAULT '',
	project_id   TEXT NOT NULL DEFAULT '',
	title        TEXT NOT NULL DEFAULT '',
	description  TEXT NOT NULL DEFAULT '',
	status       TEXT NOT NULL DEFAULT 'backlog',
	position     REAL NOT NULL DEFAULT 0,
	assignee_id  TEXT NOT NULL DEFAULT '',
	due_date     TEXT NOT NULL DEFAULT '',
	priority     INTEGER NOT NULL DEFAULT 0,
	archived     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX tasks_by_column ON tasks(project_id, status, position);
`

// snapshotOf is what a server's snapshot of n board tasks carries: one
// insert per row, in key order, every row with the server's stamp.
// snapshotOf is a fresh device's snapshot of n tasks; with text the
// description ships as a collaborative text state, as the server sends it.
func snapshotOf(tb testing.TB, n int, text bool) []change.Change {
	const description = "A task of the seed workspace, with a description of ordinary length."
	var descriptionValue any = description
	if text {
		doc, _, err := collabtext.FromText("server-seed-node", description)
		if err != nil {
			tb.Fatal(err)
		}
		descriptionValue, _ = doc.MarshalBinary()
	}
	chs := make([]change.Change, n)
	base := hlc.Timestamp(1_800_000_000_000 << 16)
	for i := range chs {
		id := fmt.Sprintf("t-%05d", i+1)
		key, err := change.EncodeKey(id)
		if err != nil {
			tb.Fatal(err)
		}
		chs[i] = change.Change{Table: "tasks", Key: key, Op: change.Insert, Schema: 1,
			Stamp: hlc.Stamp{TS: base + hlc.Timestamp(i), Node: "server-seed-node"},
			Values: map[string]any{
				"workspace_id": "w-main", "project_id": fmt.Sprintf("p-%03d", i%200),
				"title": fmt.Sprintf("Task %d: tidy the thing", i), "description": descriptionValue,
				"status": []string{"backlog", "todo", "doing", "done"}[i%4], "position": float64(i) * 1024,
				"assignee_id": fmt.Sprintf("u-%02d", i%50), "due_date": "2026-12-31", "priority": int64(i % 4), "archived": int64(0),
			}}
	}
	return chs
}

// freshReplica opens an empty replica with the journal installed.
func freshReplica(tb testing.TB, textCols ...string) (*sqlite3.Conn, *journal.Journal, []*schema.Info) {
	conn := openMem(tb)
	if err := conn.Exec(boardTasksDDL); err != nil {
		tb.Fatal(err)
	}
	tables := []appschema.Table{{Name: "tasks", Text: textCols}}
	j, err := journal.Prepare(conn, journal.Config{Clock: hlc.NewClock(func() time.Time { return time.UnixMilli(1_800_000_000_000) }), Tables: tables})
	if err != nil {
		tb.Fatal(err)
	}
	if err := j.Install(conn); err != nil {
		tb.Fatal(err)
	}
	infos, err := schema.DescribeAll(conn, tables)
	if err != nil {
		tb.Fatal(err)
	}
	return conn, j, infos
}

// applyChunks merges chs in chunks of chunk changes, each in its own
// transaction with its own Applier, as the client's session does;
// preload: the Applier first finds the rows without metadata and merges
// with ApplyAll, as the client does; else Apply, change by change.
func applyChunks(tb testing.TB, conn *sqlite3.Conn, j *journal.Journal, infos []*schema.Info, chs []change.Change, chunk int, preload bool) {
	for from := 0; from < len(chs); from += chunk {
		part := chs[from:min(from+chunk, len(chs))]
		if err := conn.Exec("BEGIN IMMEDIATE"); err != nil {
			tb.Fatal(err)
		}
		a := merge.NewApplier(conn, infos, false)
		err := j.Applying(func() error {
			if !preload {
				for i := range part {
					if _, err := a.Apply(&part[i]); err != nil {
						return err
					}
				}
				return nil
			}
			if err := a.Preload(part); err != nil {
				return err
			}
			_, errs, err := a.ApplyAll(part)
			if err != nil {
				return err
			}
			return errors.Join(errs...)
		})
		a.Close()
		if err != nil {
			tb.Fatal(err)
		}
		if err := conn.Exec("COMMIT"); err != nil {
			tb.Fatal(err)
		}
	}
}

func BenchmarkApplySnapshot(b *testing.B) {
	for _, c := range []struct {
		n       int
		preload bool
		text    bool // the description a collaborative text column, as on the board
	}{{5000, false, false}, {5000, true, false}, {5000, true, true}} {
		n, chs := c.n, snapshotOf(b, c.n, c.text)
		var textCols []string
		if c.text {
			textCols = []string{"description"}
		}
		b.Run(fmt.Sprintf("rows=%d/preload=%v/text=%v", n, c.preload, c.text), func(b *testing.B) {
			var cpu time.Duration
			for range b.N {
				b.StopTimer()
				conn, j, infos := freshReplica(b, textCols...)
				before, _ := cpuTime()
				b.StartTimer()
				applyChunks(b, conn, j, infos, chs, 1000, c.preload)
				b.StopTimer()
				after, _ := cpuTime()
				cpu += after - before
				conn.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
			if _, ok := cpuTime(); ok {
				// The process's CPU time (the GC's included) per run.
				b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
			}
		})
	}
}

// BenchmarkSnapshotRead is the server's side of an initial sync: the
// pages of a snapshot of 5,000 tasks read in chunks of 1,000, from a
// store that merged them (a collaborative text column among them).
func BenchmarkSnapshotRead(b *testing.B) {
	const n = 5000
	conn, j, infos := freshReplica(b, "description")
	applyChunks(b, conn, j, infos, snapshotOf(b, n, true), 1000, true)
	a := merge.NewApplier(conn, infos, false)
	defer a.Close()
	b.ResetTimer()
	for range b.N {
		var cur merge.Cursor
		rows := 0
		for {
			page, err := a.Snapshot(cur, 1000, 1)
			if err != nil {
				b.Fatal(err)
			}
			rows += page.Rows
			cur = page.Next
			if page.Done {
				break
			}
		}
		if rows != n {
			b.Fatalf("read %d rows, want %d", rows, n)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
}
