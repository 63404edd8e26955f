// Package seed writes data into a sync server the way a device would:
// a native replica (in-memory SQLite with the journal installed) runs the
// app's migrations, lets the caller write rows, pushes them through the
// server's WebSocket endpoint and waits for every change to be
// acknowledged. Demo data, benchmarks and tests seed through the same
// path real writes take, merge and invariants included.
package seed

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/client"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/journal"
	"github.com/hearthdb/hearth/syncworker/syncstatus"
	"github.com/ncruces/go-sqlite3"
	_ "github.com/ncruces/go-sqlite3/vfs/memdb"
)

var seq atomic.Int64

// Write runs migrations on a fresh replica, calls write with its
// connection (writes to synced tables are journaled), then syncs with the
// server at url until nothing is pending. It returns the number of
// changes pushed.
func Write(ctx context.Context, url string, migrations []appschema.Migration, tables []appschema.Table, write func(conn *sqlite3.Conn) error) (int64, error) {
	conn, err := sqlite3.Open(fmt.Sprintf("file:/hearth-seeder-%d?vfs=memdb", seq.Add(1)))
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	j, err := journal.Prepare(conn, journal.Config{Clock: hlc.NewClock(nil), Tables: tables})
	if err != nil {
		return 0, err
	}
	for _, m := range migrations {
		if err := conn.Exec(fmt.Sprintf("BEGIN; %s; PRAGMA user_version = %d; COMMIT", m.SQL, m.Version)); err != nil {
			return 0, fmt.Errorf("migration %d: %w", m.Version, err)
		}
	}
	if err := j.Install(conn); err != nil {
		return 0, err
	}
	if err := write(conn); err != nil {
		return 0, err
	}
	pending, err := journal.Depth(conn)
	if err != nil {
		return 0, err
	}
	done := make(chan struct{})
	var closed atomic.Bool
	c, err := client.New(client.Config{
		URL: url, Local: client.NewLockedLocal(conn), Journal: j, PushBatch: 1000, PushBytes: 4 << 20,
		OnStatus: func(st syncstatus.Status) {
			if st.Connected && st.Pending == 0 && st.State == syncstatus.StateSyncing && closed.CompareAndSwap(false, true) {
				close(done)
			}
		},
	})
	if err != nil {
		return 0, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() { c.Run(runCtx); close(stopped) }()
	defer func() { cancel(); <-stopped }()
	select {
	case <-done:
		return pending, nil
	case <-ctx.Done():
		st := c.Status()
		return 0, fmt.Errorf("seeding %s: %d changes still pending (state %s, last error %v): %w", url, st.Pending, st.State, st.LastError, ctx.Err())
	}
}
