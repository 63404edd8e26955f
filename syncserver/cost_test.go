package syncserver_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncworker/client"
	"github.com/hearthdb/hearth/syncworker/syncstatus"
	"github.com/hearthdb/hearth/syncworker/wire"
)

// rateLimitSeen records whether a device's status ever showed
// RATE_LIMITED.
type rateLimitSeen struct {
	mu   sync.Mutex
	seen int
}

func (r *rateLimitSeen) onStatus(st syncstatus.Status) {
	if st.LastError != nil && st.LastError.Code == wire.CodeRateLimited {
		r.mu.Lock()
		r.seen++
		r.mu.Unlock()
	}
}

func (r *rateLimitSeen) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen
}

// attackResult is what one attacking connection got back.
type attackResult struct {
	chunks, sums          int
	limitedSnap, limitSum int
	err                   error
}

// attack sends snapshots snapshot requests of 5,000 rows and sums
// checksum requests on one connection without waiting for answers, then
// reads an answer for every request and checks the connection still
// answers a ping. It runs on its own goroutine: errors are returned, not
// raised.
func attack(url, clientID string, snapshots, sums int) (res attackResult) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return attackResult{err: err}
	}
	defer ws.CloseNow()
	ws.SetReadLimit(1 << 26)
	send := func(m wire.Message) error {
		b, err := wire.Encode(m, 1)
		if err != nil {
			return err
		}
		return ws.Write(ctx, websocket.MessageBinary, b)
	}
	recv := func() (wire.Message, error) {
		_, b, err := ws.Read(ctx)
		if err != nil {
			return nil, err
		}
		f, err := wire.Decode(b)
		return f.Msg, err
	}
	if err := send(wire.Hello{Client: clientID, Cursor: -1}); err != nil {
		return attackResult{err: err}
	}
	if m, err := recv(); err != nil {
		return attackResult{err: err}
	} else if _, ok := m.(wire.Welcome); !ok {
		return attackResult{err: fmt.Errorf("want welcome, got %#v", m)}
	}
	// Checksum requests have ids from 1,000,000 on, to tell their answers.
	const sumBase = 1_000_000
	go func() {
		for i := range max(snapshots, sums) {
			if i < snapshots {
				if send(wire.SnapshotRequest{ID: int64(i + 1), At: -1, Limit: 5000}) != nil {
					return
				}
			}
			if i < sums {
				if send(wire.ChecksumRequest{ID: int64(sumBase + i + 1)}) != nil {
					return
				}
			}
		}
	}()
	for range snapshots + sums {
		m, err := recv()
		if err != nil {
			res.err = err
			return res
		}
		switch m := m.(type) {
		case wire.Chunk:
			res.chunks++
		case wire.Checksums:
			res.sums++
		case *wire.Error:
			if m.Code != wire.CodeRateLimited || m.RetryAfter <= 0 || m.Re == 0 {
				res.err = fmt.Errorf("want RATE_LIMITED with retryAfter on a request, got %#v", m)
				return res
			}
			if m.Re > sumBase {
				res.limitSum++
			} else {
				res.limitedSnap++
			}
		default:
			res.err = fmt.Errorf("unexpected %s", wire.Type(m))
			return res
		}
	}
	// Refused, not disconnected.
	if err := send(wire.Ping{ID: 7}); err != nil {
		res.err = err
		return res
	}
	if m, err := recv(); err != nil || m != (wire.Pong{Re: 7}) {
		res.err = fmt.Errorf("after the attack: %#v %v, want pong", m, err)
	}
	return res
}

// TestExpensiveReadsCannotStarveThePushes performs the attack of the
// security review: one principal floods the server with snapshot and
// checksum requests on several connections while an honest device pushes
// and another one syncs from scratch. The attacker's requests over its
// budget are answered RATE_LIMITED, its connections stay up, and the
// honest devices sync everything, in order, without ever being limited.
func TestExpensiveReadsCannotStarveThePushes(t *testing.T) {
	forEachStore(t, testExpensiveReadsCannotStarveThePushes)
}

func testExpensiveReadsCannotStarveThePushes(t *testing.T, db *backend) {
	h := db.server(t, syncserver.Config{MaxSnapshotChunk: 1000, SnapshotRate: 1000, SnapshotBurst: 10_000,
		Authenticate: func(r *http.Request) (string, error) {
			if u := r.URL.Query().Get("user"); u != "" {
				return u, nil
			}
			return "devices", nil
		}})
	seed(t, h, 2000)

	var bobLimited, carolLimited rateLimitSeen
	bob := newDevice(t, "bob", h, nil, client.Config{OnStatus: bobLimited.onStatus}).start()
	bob.synced(h)

	const conns, snapshots, sums = 4, 50, 10
	results := make(chan attackResult, conns)
	for i := range conns {
		go func() { results <- attack(h.url+"?user=mallory", fmt.Sprintf("mallory-%d", i), snapshots, sums) }()
	}
	// Pushes while the attack runs, one transaction at a time: each is
	// acknowledged before the next is written.
	const pushes = 40
	for i := range pushes {
		bob.mustExec(`INSERT INTO tasks(id, title) VALUES (?, 'during the attack')`, fmt.Sprintf("bob-%03d", i))
		waitFor(t, "bob's push", func() bool {
			return h.serverQuery(`SELECT count(*) FROM _hearth_log WHERE client = ?`, bob.j.Node())[0][0] == int64(i+1)
		})
	}
	carol := newDevice(t, "carol", h, nil, client.Config{SnapshotChunk: 500, ChecksumInterval: 5 * time.Minute, OnStatus: carolLimited.onStatus}).start()

	var total attackResult
	for range conns {
		r := <-results
		if r.err != nil {
			t.Fatalf("attacker: %v", r.err)
		}
		total.chunks += r.chunks
		total.sums += r.sums
		total.limitedSnap += r.limitedSnap
		total.limitSum += r.limitSum
	}
	t.Logf("attacker: %d chunks, %d checksums, %d snapshots and %d checksums refused", total.chunks, total.sums, total.limitedSnap, total.limitSum)
	if total.chunks+total.limitedSnap != conns*snapshots || total.sums+total.limitSum != conns*sums {
		t.Fatalf("every request gets one answer: %+v", total)
	}
	// 200,000 rows asked for against a burst of 10,000 at 1,000/s; 40
	// checksum requests against a burst of 8, one per 10 s.
	if total.chunks > 100 || total.limitedSnap < 100 {
		t.Fatalf("the attacker's snapshots were not limited: %+v", total)
	}
	if total.sums > 16 || total.limitSum < 24 {
		t.Fatalf("the attacker's checksums were not limited: %+v", total)
	}

	bob.synced(h)
	carol.synced(h)
	if got := carol.query(`SELECT count(*) FROM tasks`)[0][0]; got != int64(2000+pushes) {
		t.Fatalf("carol has %v rows", got)
	}
	if carol.tasks() != h.serverTasks() || bob.tasks() != h.serverTasks() {
		t.Fatal("the honest devices differ from the server")
	}
	// Bob's pushes are in the log in the order he wrote them.
	seqs := h.serverQuery(`SELECT seq FROM _hearth_log WHERE client = ? ORDER BY pos`, bob.j.Node())
	if len(seqs) != pushes {
		t.Fatalf("%d of bob's changes in the log", len(seqs))
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i][0].(int64) <= seqs[i-1][0].(int64) {
			t.Fatalf("bob's changes out of order: %v", seqs)
		}
	}
	if bobLimited.count() != 0 || carolLimited.count() != 0 {
		t.Fatalf("honest devices were rate limited: bob %d, carol %d", bobLimited.count(), carolLimited.count())
	}
}

// TestClientWaitsOutSnapshotRateLimits: a device whose initial sync goes
// over the snapshot budget waits the retry-after on the same connection,
// resumes from the last applied chunk, and ends with every row.
func TestClientWaitsOutSnapshotRateLimits(t *testing.T) {
	// The second chunk is asked for as soon as the first arrives: it
	// finds the bucket empty unless that round trip took a second.
	h := fileServer(t, syncserver.Config{MaxSnapshotChunk: 100, SnapshotRate: 100, SnapshotBurst: 100})
	seed(t, h, 300)
	var limited rateLimitSeen
	// A long request timeout: the test counts connections, and a loaded
	// machine must not add one by timing a request out.
	fresh := newDevice(t, "fresh", h, nil, client.Config{SnapshotChunk: 100, OnStatus: limited.onStatus, RequestTimeout: 30 * time.Second}).start()
	fresh.synced(h)
	if got := fresh.query(`SELECT count(*) FROM tasks`)[0][0]; got != int64(300) {
		t.Fatalf("fresh device has %v rows", got)
	}
	if fresh.tasks() != h.serverTasks() {
		t.Fatal("fresh device differs from the server")
	}
	if n := fresh.net.dials.Load(); n != 1 {
		t.Fatalf("%d connections; a rate limit needs no reconnect", n)
	}
	m := scrape(t, h.srv.Load().MetricsHandler())
	if m[`hearth_sync_errors_total{code="RATE_LIMITED",kind="session"}`] < 1 {
		t.Fatal("300 rows against a burst of 100: the server should have refused a chunk")
	}
	if limited.count() == 0 {
		t.Fatal("the status never showed RATE_LIMITED")
	}
}

// TestClientWaitsOutChecksumRateLimits: a device asking for checksums
// more often than the server allows gets RATE_LIMITED, keeps its
// connection and keeps syncing.
func TestClientWaitsOutChecksumRateLimits(t *testing.T) {
	h := fileServer(t, syncserver.Config{ChecksumInterval: 200 * time.Millisecond, ChecksumBurst: 1})
	var limited rateLimitSeen
	// A long request timeout: the test counts connections, and a loaded
	// machine must not add one by timing a request out.
	d := newDevice(t, "d", h, nil, client.Config{ChecksumInterval: 20 * time.Millisecond, OnStatus: limited.onStatus, RequestTimeout: 30 * time.Second}).start()
	d.synced(h)
	srv := h.srv.Load()
	waitFor(t, "two refused checksum requests", func() bool {
		return scrape(t, srv.MetricsHandler())[`hearth_sync_errors_total{code="RATE_LIMITED",kind="session"}`] >= 2
	})
	d.mustExec(`INSERT INTO tasks(id, title) VALUES ('after', 'x')`)
	d.synced(h)
	if n := d.net.dials.Load(); n != 1 {
		t.Fatalf("%d connections; a rate limit needs no reconnect", n)
	}
	if limited.count() == 0 {
		t.Fatal("the status never showed RATE_LIMITED")
	}
	if d.tasks() != h.serverTasks() {
		t.Fatal("the device differs from the server")
	}
}

// TestSubscribingAgainCostsTheEntriesItReReads: a client subscribes once
// per connection; a connection that subscribes again and again from the
// start of the log (each time streaming it all again) draws on the
// snapshot budget and gets RATE_LIMITED, and stays connected.
func TestSubscribingAgainCostsTheEntriesItReReads(t *testing.T) {
	h := fileServer(t, syncserver.Config{MaxSnapshotChunk: 10, SnapshotRate: 0.001, SnapshotBurst: 10})
	seed(t, h, 30)
	r := dialRaw(t, h.url)
	r.send(wire.Hello{Client: "raw-resubscriber", Cursor: 0}, 1)
	if _, ok := r.recv().(wire.Welcome); !ok {
		t.Fatal("want welcome")
	}
	// until reads past streamed log batches to the first other message.
	until := func() wire.Message {
		for range 1000 {
			m := r.recv()
			if _, ok := m.(wire.Changes); !ok {
				return m
			}
		}
		t.Fatal("only log batches")
		return nil
	}
	r.send(wire.Subscribe{After: 0}, 1) // the first is free
	r.send(wire.Subscribe{After: 0}, 1) // 10 of 30 entries' cost: the burst
	r.send(wire.Subscribe{After: 0}, 1)
	e, ok := until().(*wire.Error)
	if !ok || e.Code != wire.CodeRateLimited || e.RetryAfter <= 0 {
		t.Fatalf("the third subscription: %#v, want RATE_LIMITED", e)
	}
	r.send(wire.Ping{ID: 9}, 1)
	if m := until(); m != (wire.Pong{Re: 9}) {
		t.Fatalf("after the refusal: %#v, want pong", m)
	}
}

// TestRowsReadOutsideASessionDrawOnTheSnapshotBucket: TakeSnapshotRows
// (a replica file sent as it was kept) charges the principal's own
// bucket, the one its sessions read snapshots from, refuses what does not
// fit now, and charges more than a bucket holds as a full one.
func TestRowsReadOutsideASessionDrawOnTheSnapshotBucket(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	srv, err := syncserver.New(syncserver.Config{MaxSnapshotChunk: 10, SnapshotRate: 100, SnapshotBurst: 1000, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	for i, c := range []struct {
		principal string
		rows      int64
		advance   time.Duration
		want      bool
	}{
		{"p", 600, 0, true},
		{"p", 600, 0, false}, // 400 left
		{"q", 600, 0, true},  // a bucket of its own
		{"p", 600, 2 * time.Second, true},
		{"p", 1_000_000, 10 * time.Second, true}, // full: charged as 1,000
		{"p", 1, 0, false},
	} {
		now = now.Add(c.advance)
		if got := srv.TakeSnapshotRows(c.principal, c.rows); got != c.want {
			t.Fatalf("step %d: %s taking %d rows: %v, want %v", i, c.principal, c.rows, got, c.want)
		}
	}
}
