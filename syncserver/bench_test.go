package syncserver_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/hearthdb/hearth/internal/pgtest"
	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/client"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/merge"
	"github.com/hearthdb/hearth/syncworker/syncstatus"
	"github.com/ncruces/go-sqlite3"
)

// All benchmarks run a real server and real clients over loopback
// WebSockets, with the default in-memory SQLite store.

// BenchmarkInitialSync5000 measures a fresh device pulling 5,000 tasks
// until they are queryable.
func BenchmarkInitialSync5000(b *testing.B) {
	h := newHarness(b, syncserver.Config{})
	seed(b, h, 5000)
	b.ResetTimer()
	for range b.N {
		d := newDevice(b, "fresh", h, nil, client.Config{})
		d.start()
		waitFor(b, "the initial sync", func() bool {
			st := d.status()
			return st.Cursor >= 0 && !st.InitialSync.Active && st.State == syncstatus.StateSyncing
		})
		if n := d.query(`SELECT count(*) FROM tasks`)[0][0]; n != int64(5000) {
			b.Fatalf("%v rows", n)
		}
		b.StopTimer()
		d.stop()
		b.StartTimer()
	}
	b.ReportMetric(float64(5000*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkPush1000OfflineChanges measures a device that comes online
// with 1,000 changes made offline, until the server acknowledged all.
func BenchmarkPush1000OfflineChanges(b *testing.B) {
	measurePush1000(b, func() *harness { return newHarness(b, syncserver.Config{}) })
}

func measurePush1000(b *testing.B, newServer func() *harness) {
	b.StopTimer()
	for i := range b.N {
		h := newServer()
		d := newDevice(b, "offline", h, nil, client.Config{})
		d.with(func(conn *sqlite3.Conn) error {
			if err := conn.Exec("BEGIN"); err != nil {
				return err
			}
			for k := range 500 {
				if err := conn.Exec(fmt.Sprintf(`INSERT INTO tasks(id, title) VALUES ('t%d-%d', 'offline')`, i, k)); err != nil {
					return err
				}
				if err := conn.Exec(fmt.Sprintf(`UPDATE tasks SET done = 1 WHERE id = 't%d-%d'`, i, k)); err != nil {
					return err
				}
			}
			return conn.Exec("COMMIT")
		})
		b.StartTimer()
		d.start()
		waitFor(b, "every change acknowledged", func() bool {
			st := d.status()
			return st.Connected && st.Pending == 0 && st.LatencySamples == 1000
		})
		b.StopTimer()
		d.stop()
	}
	b.ReportMetric(float64(1000*b.N)/b.Elapsed().Seconds(), "changes/s")
}

// BenchmarkChangeVisibleOnOtherDevice measures a write on device A until
// device B has committed it, and reports the median and 95th percentile.
func BenchmarkChangeVisibleOnOtherDevice(b *testing.B) {
	h := newHarness(b, syncserver.Config{})
	measureVisible(b, h, h)
}

// measureVisible measures a write on a device of hA until a device of hB
// has committed it.
func measureVisible(b *testing.B, hA, hB *harness) {
	h := hA
	applied := make(chan struct{}, 1)
	a := newDevice(b, "a", hA, nil, client.Config{}).start()
	bdev := newDevice(b, "b", hB, nil, client.Config{Applied: func(conn *sqlite3.Conn, tables []string) {
		select {
		case applied <- struct{}{}:
		default:
		}
	}}).start()
	a.mustExec(`INSERT INTO tasks(id, title) VALUES ('hot', 'v0')`)
	a.synced(h)
	bdev.synced(h)
	waitFor(b, "b to hold the row", func() bool { return len(bdev.query(`SELECT 1 FROM tasks WHERE id = 'hot'`)) == 1 })
	select {
	case <-applied:
	default:
	}
	latencies := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		a.mustExec(`UPDATE tasks SET title = ? WHERE id = 'hot'`, fmt.Sprint("v", i+1))
		select {
		case <-applied:
		case <-time.After(10 * time.Second):
			b.Fatal("the change did not reach device B")
		}
		latencies = append(latencies, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.95), "p95-ms")
}

// BenchmarkScopedSnapshot reads a whole snapshot, in 5,000-row chunks,
// from a store holding 20,000 tasks spread over four workspaces: all of
// it, and the 5,000 rows of one workspace (the store skips the other
// scopes' rows by index).
func BenchmarkScopedSnapshot(b *testing.B) {
	for _, kind := range []string{"sqlite", "postgres"} {
		b.Run(kind, func(b *testing.B) {
			db := &backend{name: kind, path: filepath.Join(b.TempDir(), "sync.db")}
			if kind == "postgres" {
				db = &backend{name: kind, url: pgtest.URL(b)}
			}
			st := db.open(b)
			defer st.Close()
			ctx := context.Background()
			if _, err := st.Open(ctx, store.Schema{Migrations: []appschema.Migration{scopedMigration}, Tables: scopedTables, Scopes: scopeRules}); err != nil {
				b.Fatal(err)
			}
			ts := hlc.Make(time.Now().UnixMilli(), 0)
			for batch := range 20 {
				p := store.Push{Client: "seed", Schema: 1}
				for i := range 1000 {
					n := batch*1000 + i
					key, _ := change.EncodeKey(fmt.Sprintf("t%05d", n))
					ts++
					p.Changes = append(p.Changes, store.Pushed{Seq: int64(n + 1), Change: change.Change{Table: "tasks", Key: key, Op: change.Insert,
						Values: map[string]any{"workspace_id": fmt.Sprintf("w%d", n%4), "title": fmt.Sprintf("task %d", n)}, Stamp: hlc.Stamp{TS: ts, Node: "seed"}, Schema: 1}})
				}
				if _, err := st.Push(ctx, p, nil); err != nil {
					b.Fatal(err)
				}
			}
			for _, c := range []struct {
				name string
				view *store.View
				want int
			}{{"all", nil, 20000}, {"one-of-four", &store.View{Scopes: []string{"w1"}}, 5000}} {
				b.Run(c.name, func(b *testing.B) {
					for range b.N {
						at, after, rows := int64(-1), merge.Cursor{}, 0
						for {
							chunk, err := st.Snapshot(ctx, at, after, 5000, c.view)
							if err != nil {
								b.Fatal(err)
							}
							rows += int(chunk.Rows)
							if chunk.Done {
								break
							}
							at, after = chunk.At, chunk.Next
						}
						if rows != c.want {
							b.Fatalf("%d rows, want %d", rows, c.want)
						}
					}
				})
			}
		})
	}
}
