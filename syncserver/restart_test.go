package syncserver_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/client"
	"github.com/hearthdb/hearth/syncworker/journal"
	"github.com/hearthdb/hearth/syncworker/syncstatus"
	"github.com/ncruces/go-sqlite3"
)

// crashingStore dies during its nth push: after committing it (the ack
// never leaves) or before (nothing is stored).
type crashingStore struct {
	store.Store
	n           int64
	afterCommit bool
	pushes      atomic.Int64
	crashed     chan struct{}
	once        sync.Once
}

var errCrash = errors.New("simulated crash")

func (s *crashingStore) Push(ctx context.Context, p store.Push, check store.Checker) (store.PushResult, error) {
	if s.pushes.Add(1) != s.n {
		return s.Store.Push(ctx, p, check)
	}
	if s.afterCommit {
		if _, err := s.Store.Push(ctx, p, check); err != nil {
			return store.PushResult{}, err
		}
	}
	s.once.Do(func() { close(s.crashed) })
	return store.PushResult{}, errCrash
}

// TestServerRestartMidPushLosesAndDuplicatesNothing: the server dies in
// the middle of a device's pushes, once after committing a batch it never
// acknowledged and once before committing one, and restarts on the same
// database. Every change ends up in the server's log exactly once.
func TestServerRestartMidPushLosesAndDuplicatesNothing(t *testing.T) {
	forEachStore(t, testServerRestartMidPushLosesAndDuplicatesNothing)
}

func testServerRestartMidPushLosesAndDuplicatesNothing(t *testing.T, db *backend) {
	for _, afterCommit := range []bool{true, false} {
		t.Run(fmt.Sprintf("crash after commit %v", afterCommit), func(t *testing.T) {
			db := db.fresh(t)
			crash := &crashingStore{Store: db.open(t), n: 3, afterCommit: afterCommit, crashed: make(chan struct{})}
			h := db.server(t, syncserver.Config{Store: crash})
			d := newDevice(t, "d", h, nil, client.Config{PushBatch: 40})
			// 300 changes written offline, pushed in batches of 40.
			for i := range 200 {
				d.mustExec(`INSERT INTO tasks(id, title) VALUES (?, ?)`, fmt.Sprintf("t%03d", i), "x")
			}
			for i := range 100 {
				d.mustExec(`UPDATE tasks SET done = 1 WHERE id = ?`, fmt.Sprintf("t%03d", i*2))
			}
			d.start()
			<-crash.crashed
			h.restart(syncserver.Config{}) // the same file, a fresh store
			d.synced(h)

			rows := h.serverQuery(`SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM _hearth_log WHERE client = ?`, d.j.Node())
			if rows[0][0] != int64(300) || rows[0][1] != int64(300) {
				t.Fatalf("server log holds %v entries (%v distinct seqs) for the device, want 300 once each", rows[0][0], rows[0][1])
			}
			var depth int64
			d.with(func(conn *sqlite3.Conn) (err error) { depth, err = journal.Depth(conn); return err })
			if depth != 0 {
				t.Fatalf("%d journal entries not acknowledged", depth)
			}
			if d.tasks() != h.serverTasks() {
				t.Fatal("device and server differ")
			}
			st := d.status()
			if st.Retries[syncstatus.ClassServer] == 0 {
				t.Fatalf("the crash should count as a server failure: %+v", st.Retries)
			}
		})
	}
}
