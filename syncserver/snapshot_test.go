package syncserver_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/client"
	"github.com/hearthdb/hearth/syncworker/merge"
	"github.com/hearthdb/hearth/syncworker/syncstatus"
	"github.com/ncruces/go-sqlite3"
)

// flakySnapshots fails one snapshot call and records every call's cursor.
type flakySnapshots struct {
	store.Store
	failCall int
	mu       sync.Mutex
	calls    []merge.Cursor
}

func (s *flakySnapshots) Snapshot(ctx context.Context, at int64, after merge.Cursor, limit int, view *store.View) (store.Chunk, error) {
	s.mu.Lock()
	s.calls = append(s.calls, after)
	n := len(s.calls)
	s.mu.Unlock()
	if n == s.failCall {
		return store.Chunk{}, errors.New("simulated failure while reading a chunk")
	}
	return s.Store.Snapshot(ctx, at, after, limit, view)
}

// seed writes n tasks on a device and syncs them to the server.
func seed(t testing.TB, h *harness, n int) {
	d := newDevice(t, "seed", h, nil, client.Config{PushBatch: 1000})
	err := d.local.Do(context.Background(), func(conn *sqlite3.Conn) error {
		if err := conn.Exec("BEGIN"); err != nil {
			return err
		}
		s, _, err := conn.Prepare(`INSERT INTO tasks(id, title, done, rank) VALUES (?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer s.Close()
		for i := range n {
			s.BindText(1, fmt.Sprintf("task-%05d", i))
			s.BindText(2, fmt.Sprintf("Task number %d", i))
			s.BindInt64(3, int64(i%2))
			s.BindFloat(4, float64(i)/3)
			if err := s.Exec(); err != nil {
				return err
			}
		}
		return conn.Exec("COMMIT")
	})
	if err != nil {
		t.Fatal(err)
	}
	d.start()
	d.synced(h)
	d.stop()
}

// TestInitialSyncIsResumable: a fresh device pulls 5,000 rows in chunks of
// 500; one chunk fails mid-way. The device resumes from the chunk that
// failed, not from the start, and ends with every row; progress counts up
// to the total.
func TestInitialSyncIsResumable(t *testing.T) { forEachStore(t, testInitialSyncIsResumable) }

func testInitialSyncIsResumable(t *testing.T, db *backend) {
	inner := db.open(t)
	flaky := &flakySnapshots{Store: inner, failCall: 4}
	h := db.server(t, syncserver.Config{Store: flaky})
	seed(t, h, 5000)
	flaky.mu.Lock()
	flaky.calls = nil // the seeding device's own (empty) initial sync
	flaky.mu.Unlock()

	var mu sync.Mutex
	var progress []syncstatus.Progress
	fresh := newDevice(t, "fresh", h, nil, client.Config{SnapshotChunk: 500, OnStatus: func(st syncstatus.Status) {
		mu.Lock()
		defer mu.Unlock()
		if n := len(progress); st.InitialSync != (syncstatus.Progress{}) && (n == 0 || progress[n-1] != st.InitialSync) {
			progress = append(progress, st.InitialSync)
		}
	}}).start()
	fresh.synced(h)

	if got := fresh.query(`SELECT count(*) FROM tasks`)[0][0]; got != int64(5000) {
		t.Fatalf("fresh device has %v rows", got)
	}
	if fresh.tasks() != h.serverTasks() {
		t.Fatal("fresh device differs from the server")
	}
	flaky.mu.Lock()
	calls := append([]merge.Cursor(nil), flaky.calls...)
	flaky.mu.Unlock()
	starts := 0
	for _, c := range calls {
		if c.Table == "" {
			starts++
		}
	}
	if starts != 1 {
		t.Fatalf("the snapshot started over %d times; it must resume", starts-1)
	}
	if len(calls) < 5 || calls[4].Table != calls[3].Table || string(calls[4].Key) != string(calls[3].Key) {
		t.Fatalf("the retry must ask for the chunk that failed: calls %d, 4th %v, 5th %v", len(calls), calls[3], calls[4])
	}
	mu.Lock()
	defer mu.Unlock()
	last := progress[len(progress)-1]
	if last.Active || last.Rows != 5000 || last.Total != 5000 {
		t.Fatalf("final progress %+v", last)
	}
	for i := 1; i < len(progress); i++ {
		if progress[i].Rows < progress[i-1].Rows {
			t.Fatalf("progress went backwards: %+v", progress)
		}
	}
	if st := fresh.status(); st.Retries[syncstatus.ClassServer] != 1 {
		t.Fatalf("one server failure expected: %+v", st.Retries)
	}
	// Automatic WAL checkpoints, off while an initial sync runs, are on
	// again after it, the failed session's included.
	if got := fresh.query(`PRAGMA wal_autocheckpoint`); len(got) != 1 || got[0][0] != int64(1000) {
		t.Fatalf("wal_autocheckpoint after the initial sync: %v", got)
	}
}

// TestInitialSyncCheckpointsWhenDone: a device whose database is a WAL
// file pulls 3,000 rows. Its initial sync defers SQLite's checkpoints,
// and the session checkpoints the WAL once the sync is done, before any
// write of the app's: the rows reach the database file itself, and the
// WAL file is left empty (the next open reads none of it).
func TestInitialSyncCheckpointsWhenDone(t *testing.T) {
	h := fileServer(t, syncserver.Config{})
	seed(t, h, 3000)
	path := filepath.Join(t.TempDir(), "device.db")
	d := newFileDevice(t, "file", path, h, client.Config{SnapshotChunk: 500}).start()
	d.synced(h)
	var pages, pageSize int64
	d.with(func(conn *sqlite3.Conn) error {
		for q, v := range map[string]*int64{`PRAGMA page_count`: &pages, `PRAGMA page_size`: &pageSize} {
			s, _, err := conn.Prepare(q)
			if err != nil {
				return err
			}
			if s.Step() {
				*v = s.ColumnInt64(0)
			}
			s.Close()
		}
		return nil
	})
	waitFor(t, "the WAL checkpointed into the database file, and emptied", func() bool {
		fi, err := os.Stat(path)
		wal, werr := os.Stat(path + "-wal")
		return err == nil && fi.Size() >= pages*pageSize && (werr != nil || wal.Size() == 0)
	})
}
