package syncserver_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearthdb/hearth/internal/pgtest"
	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/client"
	"github.com/hearthdb/hearth/syncworker/journal"
	"github.com/hearthdb/hearth/syncworker/syncstatus"
	"github.com/ncruces/go-sqlite3"
)

// Several server instances on one PostgreSQL database, as a deployment
// behind a load balancer runs them.

// TestTwoInstancesOnOnePostgreSQLConverge: devices on two instances edit
// at random while their networks drop; every device and the database end
// with the same tasks. Then it measures how long a change pushed to one
// instance takes to reach a device on the other.
func TestTwoInstancesOnOnePostgreSQLConverge(t *testing.T) {
	db := &backend{name: "postgres", url: pgtest.URL(t)}
	h1 := db.server(t, syncserver.Config{})
	h2 := db.server(t, syncserver.Config{})
	if h1.srv.Load().Info().ID != h2.srv.Load().Info().ID {
		t.Fatal("two instances on one database must share the store id")
	}
	devs := []*device{
		newDevice(t, "a", h1, nil, client.Config{PushBatch: 7}).start(),
		newDevice(t, "b", h2, nil, client.Config{PushBatch: 7}).start(),
		newDevice(t, "c", h2, nil, client.Config{PushBatch: 7}).start(),
	}
	rng := rand.New(rand.NewPCG(6, 7))
	randomEdits(t, rng, devs, 200)
	converge(t, h1, devs, "the database")

	// Fan-out latency: a device on instance 1 writes; how long until a
	// device on instance 2 (another process's clients) holds the row,
	// beside a device on instance 1 itself.
	a, b := devs[0], devs[1]
	same := newDevice(t, "a2", h1, nil, client.Config{}).start()
	same.synced(h1)
	var cross, local []time.Duration
	for i := range 40 {
		id := fmt.Sprint("lat", i)
		start := time.Now()
		a.mustExec(`INSERT INTO tasks(id, title) VALUES (?, 'x')`, id)
		var sawLocal, sawCross time.Duration
		deadline := start.Add(10 * time.Second)
		for (sawLocal == 0 || sawCross == 0) && time.Now().Before(deadline) {
			if sawCross == 0 && len(b.query(`SELECT 1 FROM tasks WHERE id = ?`, id)) == 1 {
				sawCross = time.Since(start)
			}
			if sawLocal == 0 && len(same.query(`SELECT 1 FROM tasks WHERE id = ?`, id)) == 1 {
				sawLocal = time.Since(start)
			}
			time.Sleep(100 * time.Microsecond)
		}
		if sawLocal == 0 || sawCross == 0 {
			t.Fatalf("change %d did not reach both devices", i)
		}
		cross, local = append(cross, sawCross), append(local, sawLocal)
	}
	t.Logf("fan-out latency, write on instance 1 to a device on instance 2: p50 %v p95 %v; to a device on instance 1: p50 %v p95 %v",
		percentile(cross, 50), percentile(cross, 95), percentile(local, 50), percentile(local, 95))
}

func percentile(ds []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)*p/100].Round(10 * time.Microsecond)
}

// killedStore is the store of an instance that dies during its nth
// push (after committing it, or before) and stays dead: every later call
// fails, as nothing answers from a killed process.
type killedStore struct {
	store.Store
	n           int64
	afterCommit bool
	pushes      atomic.Int64
	dead        atomic.Bool
	killed      chan struct{}
	once        sync.Once
}

func (s *killedStore) Push(ctx context.Context, p store.Push, check store.Checker) (store.PushResult, error) {
	if s.dead.Load() {
		return store.PushResult{}, errCrash
	}
	if s.pushes.Add(1) != s.n {
		return s.Store.Push(ctx, p, check)
	}
	if s.afterCommit {
		if _, err := s.Store.Push(ctx, p, check); err != nil {
			return store.PushResult{}, err
		}
	}
	s.dead.Store(true)
	s.once.Do(func() { close(s.killed) })
	return store.PushResult{}, errCrash
}

// TestInstanceKilledMidPushLosesAndDuplicatesNothing: of two instances on
// one database, one dies abruptly in the middle of a device's pushes (its
// sockets cut, no drain, no goodbye), once after committing a batch it
// never acknowledged and once before committing one. The device
// reconnects to the surviving instance; every change is in the log
// exactly once, and a device that stayed on the survivor converges too.
func TestInstanceKilledMidPushLosesAndDuplicatesNothing(t *testing.T) {
	for _, afterCommit := range []bool{true, false} {
		t.Run(fmt.Sprintf("killed after commit %v", afterCommit), func(t *testing.T) {
			db := &backend{name: "postgres", url: pgtest.URL(t)}
			victim := &killedStore{Store: db.open(t), n: 3, afterCommit: afterCommit, killed: make(chan struct{})}
			h1 := db.server(t, syncserver.Config{Store: victim})
			h2 := db.server(t, syncserver.Config{})
			watcher := newDevice(t, "watcher", h2, nil, client.Config{}).start()

			// The device's load balancer: instance 1 until it dies.
			var target atomic.Pointer[string]
			target.Store(&h1.url)
			var d *device
			d = newDevice(t, "d", h1, nil, client.Config{PushBatch: 40, Dial: func(ctx context.Context, _ string) (client.Transport, error) {
				return d.net.dial(ctx, *target.Load())
			}})
			for i := range 200 {
				d.mustExec(`INSERT INTO tasks(id, title) VALUES (?, ?)`, fmt.Sprintf("t%03d", i), "x")
			}
			for i := range 100 {
				d.mustExec(`UPDATE tasks SET done = 1 WHERE id = ?`, fmt.Sprintf("t%03d", i*2))
			}
			d.start()
			<-victim.killed
			// SIGKILL: the listener and every connection go at once.
			h1.http.Listener.Close()
			h1.http.CloseClientConnections()
			target.Store(&h2.url)
			d.synced(h2)

			rows := h2.serverQuery(`SELECT count(*), count(DISTINCT seq) FROM _hearth_log WHERE client = ?`, d.j.Node())
			if rows[0][0] != int64(300) || rows[0][1] != int64(300) {
				t.Fatalf("the log holds %v entries (%v distinct seqs) for the device, want 300 once each", rows[0][0], rows[0][1])
			}
			var depth int64
			d.with(func(conn *sqlite3.Conn) (err error) { depth, err = journal.Depth(conn); return err })
			if depth != 0 {
				t.Fatalf("%d journal entries not acknowledged", depth)
			}
			waitFor(t, "both devices to match the database", func() bool {
				want := h2.serverTasks()
				return d.tasks() == want && watcher.tasks() == want
			})
			if n := watcher.query(`SELECT count(*) FROM tasks WHERE done = 1`)[0][0]; n != int64(100) {
				t.Fatalf("the watcher has %v done tasks, want 100", n)
			}
		})
	}
}

// BenchmarkChangeVisibleAcrossInstances: a write on a device of one
// instance until a device of another instance on the same PostgreSQL
// database has committed it (p50/p95). Compare with
// BenchmarkChangeVisibleOnOtherDevice (one SQLite server).
func BenchmarkChangeVisibleAcrossInstances(b *testing.B) {
	db := &backend{name: "postgres", url: pgtest.URL(b)}
	measureVisible(b, db.server(b, syncserver.Config{}), db.server(b, syncserver.Config{}))
}

// BenchmarkPush1000OfflineChangesPostgres is BenchmarkPush1000OfflineChanges
// on a PostgreSQL store.
func BenchmarkPush1000OfflineChangesPostgres(b *testing.B) {
	measurePush1000(b, func() *harness {
		db := &backend{name: "postgres", url: pgtest.URL(b)}
		return db.server(b, syncserver.Config{})
	})
}

// storeOnly hides every optional interface of a store (HeadWatcher): an
// instance on it hears only of its own pushes.
type storeOnly struct{ store.Store }

// TestResumeOnAnInstanceBehindTheCursor: a device moves from one instance
// to another whose head signal has not caught up with the database (here
// it never does: it does not watch). Its cursor is beyond what that
// instance last heard of but within the log, so it must be served, not
// told its cursor is bad.
func TestResumeOnAnInstanceBehindTheCursor(t *testing.T) {
	db := &backend{name: "postgres", url: pgtest.URL(t)}
	h1 := db.server(t, syncserver.Config{})
	h2 := db.server(t, syncserver.Config{Store: storeOnly{db.open(t)}})
	var target atomic.Pointer[string]
	target.Store(&h1.url)
	// d is assigned before it starts: its first dial reads d.
	var d *device
	d = newDevice(t, "d", h1, nil, client.Config{Dial: func(ctx context.Context, _ string) (client.Transport, error) {
		return d.net.dial(ctx, *target.Load())
	}})
	d.start()
	for i := range 5 {
		d.mustExec(`INSERT INTO tasks(id, title) VALUES (?, 'x')`, fmt.Sprint("t", i))
	}
	d.synced(h1)
	waitFor(t, "the cursor at 5", func() bool { return d.status().Cursor == 5 })
	target.Store(&h2.url)
	d.net.setDown(true)
	d.net.setDown(false)
	d.client.Online(true)
	d.mustExec(`INSERT INTO tasks(id, title) VALUES ('on-h2', 'x')`)
	d.synced(h2)
	waitFor(t, "the cursor at 6", func() bool { return d.status().Cursor == 6 })
	if st := d.status(); st.LastError != nil && st.LastError.Class != syncstatus.ClassOffline {
		t.Fatalf("on the second instance: %+v", st.LastError)
	}
}
