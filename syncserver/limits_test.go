package syncserver_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncworker/client"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/syncstatus"
	"github.com/hearthdb/hearth/syncworker/wire"
)

// unadvertised hides welcome's maxBatch, as a server that predates it
// (or sits behind a proxy with a lower limit) would: the client learns
// the limit only from BATCH_TOO_LARGE.
type unadvertised struct{ client.Transport }

func (t unadvertised) Read(ctx context.Context) ([]byte, error) {
	b, err := t.Transport.Read(ctx)
	if err != nil {
		return b, err
	}
	f, err := wire.Decode(b)
	if err != nil {
		return b, nil
	}
	if w, ok := f.Msg.(wire.Welcome); ok {
		w.MaxBatch = 0
		return wire.Encode(w, f.Schema)
	}
	return b, nil
}

// TestClientSplitsBatchesTheServerRefuses: pushes over the server's
// batch limit are halved until they fit, on the same connection, and
// every change arrives once.
func TestClientSplitsBatchesTheServerRefuses(t *testing.T) {
	h := fileServer(t, syncserver.Config{MaxPushBatch: 7})
	var d *device
	d = newDevice(t, "d", h, nil, client.Config{PushBatch: 50, Dial: func(ctx context.Context, url string) (client.Transport, error) {
		tr, err := d.net.dial(ctx, url)
		if err != nil {
			return nil, err
		}
		return unadvertised{tr}, nil
	}})
	for i := range 100 {
		d.mustExec(`INSERT INTO tasks(id, title) VALUES (?, 'x')`, fmt.Sprintf("b%03d", i))
	}
	d.start()
	d.synced(h)
	rows := h.serverQuery(`SELECT count(*), count(DISTINCT seq) FROM _hearth_log WHERE client = ?`, d.j.Node())
	if rows[0][0] != int64(100) || rows[0][1] != int64(100) {
		t.Fatalf("server log %v", rows[0])
	}
	if n := d.net.dials.Load(); n != 1 {
		t.Fatalf("%d connections; splitting needs none but the first", n)
	}
	m := scrape(t, h.srv.Load().MetricsHandler())
	// 50 → 25 → 12 → 6 fits: three refusals, then pushes of 6.
	if got := m[`hearth_sync_errors_total{code="BATCH_TOO_LARGE",kind="session"}`]; got != 3 {
		t.Fatalf("%v BATCH_TOO_LARGE, want 3", got)
	}
}

// TestClientHonoursWelcomeMaxBatch: a client told the limit never sends
// a push over it.
func TestClientHonoursWelcomeMaxBatch(t *testing.T) {
	h := fileServer(t, syncserver.Config{MaxPushBatch: 7})
	d := newDevice(t, "d", h, nil, client.Config{PushBatch: 50})
	for i := range 30 {
		d.mustExec(`INSERT INTO tasks(id, title) VALUES (?, 'x')`, fmt.Sprintf("w%03d", i))
	}
	d.start()
	d.synced(h)
	m := scrape(t, h.srv.Load().MetricsHandler())
	if m[`hearth_sync_errors_total{code="BATCH_TOO_LARGE",kind="session"}`] != 0 || m["hearth_sync_pushes_total"] != 5 {
		t.Fatalf("want 5 pushes of at most 7 and no refusal: %v pushes", m["hearth_sync_pushes_total"])
	}
}

// TestClientWaitsOutRateLimits: a client over the push rate waits the
// retry-after (through its backoff) on the same connection and syncs
// everything without hammering the server.
func TestClientWaitsOutRateLimits(t *testing.T) {
	h := fileServer(t, syncserver.Config{MaxPushBatch: 10, PushRate: 100, PushBurst: 10})
	var mu sync.Mutex
	limited := 0
	d := newDevice(t, "d", h, nil, client.Config{PushBatch: 10, OnStatus: func(st syncstatus.Status) {
		mu.Lock()
		defer mu.Unlock()
		if st.LastError != nil && st.LastError.Code == wire.CodeRateLimited {
			limited++
		}
	}})
	for i := range 60 {
		d.mustExec(`INSERT INTO tasks(id, title) VALUES (?, 'x')`, fmt.Sprintf("r%03d", i))
	}
	d.start()
	d.synced(h)
	if n := h.serverQuery(`SELECT count(*) FROM _hearth_log`)[0][0]; n != int64(60) {
		t.Fatalf("log holds %v, want 60", n)
	}
	if n := d.net.dials.Load(); n != 1 {
		t.Fatalf("%d connections; a rate limit needs no reconnect", n)
	}
	m := scrape(t, h.srv.Load().MetricsHandler())
	refusals := m[`hearth_sync_errors_total{code="RATE_LIMITED",kind="session"}`]
	// 50 changes over the burst at 100/s: about half a second of
	// waiting; each refusal's retry-after covers a whole push.
	if refusals < 1 || refusals > 15 {
		t.Fatalf("%v RATE_LIMITED answers", refusals)
	}
	mu.Lock()
	defer mu.Unlock()
	if limited == 0 {
		t.Fatal("the status never showed RATE_LIMITED")
	}
	if st := d.status(); st.Retries[syncstatus.ClassServer] == 0 {
		t.Fatalf("rate limits should count as server retries: %+v", st.Retries)
	}
}

// TestLimitsFollowThePrincipal: a principal's push rate is shared by its
// connections, so reconnecting does not refill it (a review pushed 20,000
// changes in half a second against 1,000/s that way), and a principal may
// hold only so many connections; another principal is not affected.
func TestLimitsFollowThePrincipal(t *testing.T) {
	h := fileServer(t, syncserver.Config{MaxPushBatch: 10, PushRate: 1, PushBurst: 10, MaxConnectionsPerPrincipal: 2,
		Authenticate: func(r *http.Request) (string, error) { return r.URL.Query().Get("user"), nil }})
	// Each user's device has an id of its own: an id belongs to the
	// principal that used it first.
	connect := func(user string) *raw {
		r := dialRaw(t, h.url+"?user="+user)
		r.send(wire.Hello{Client: "raw-" + user, Cursor: -1}, 1)
		if _, ok := r.recv().(wire.Welcome); !ok {
			t.Fatalf("%s: want welcome", user)
		}
		return r
	}
	batch := func(user string, first int) []wire.Pushed {
		var out []wire.Pushed
		for i := first; i < first+10; i++ {
			out = append(out, rawChangeBy("raw-"+user, int64(i), fmt.Sprintf("p%02d", i)))
		}
		return out
	}
	first := connect("eve")
	first.send(wire.Push{ID: 1, Changes: batch("eve", 1)}, 1)
	if _, ok := first.recv().(wire.Ack); !ok {
		t.Fatal("the first burst is allowed")
	}
	// A second connection, as after a reconnect, finds the bucket empty.
	again := connect("eve")
	again.send(wire.Push{ID: 2, Changes: batch("eve", 11)}, 1)
	again.expectError(wire.CodeRateLimited)
	other := connect("ann")
	other.send(wire.Push{ID: 3, Changes: batch("ann", 21)}, 1)
	if _, ok := other.recv().(wire.Ack); !ok {
		t.Fatal("another principal has a bucket of its own")
	}

	// eve holds two connections, her cap: a third is refused.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, h.url+"?user=eve", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a third connection of eve: %v %v, want HTTP 429", resp, err)
	}
	body, _ := io.ReadAll(resp.Body)
	if !strings.HasPrefix(string(body), wire.CodeTooManyConnections) {
		t.Fatalf("refusal body %q, want the stable code first", body)
	}
	connect("ann") // ann's second
}

// steppedClock is a wall clock a test moves by hand.
type steppedClock struct {
	mu sync.Mutex
	at time.Time
}

func (c *steppedClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at
}

func (c *steppedClock) step(d time.Duration) {
	c.mu.Lock()
	c.at = c.at.Add(d)
	c.mu.Unlock()
}

// TestPushRateRunsOnTheServersClock: the push rate's buckets refill by
// the server's clock (Config.Now), not the machine's: with the clock
// still, an emptied bucket stays empty and the retry-after is exact
// whatever the machine's speed; a step of the clock refills it.
func TestPushRateRunsOnTheServersClock(t *testing.T) {
	clock := &steppedClock{at: time.Now()}
	h := fileServer(t, syncserver.Config{MaxPushBatch: 10, PushRate: 10, PushBurst: 10, Now: clock.now,
		Authenticate: func(r *http.Request) (string, error) { return "eve", nil }})
	r := dialRaw(t, h.url)
	r.send(wire.Hello{Client: "raw-eve", Cursor: -1}, 1)
	if _, ok := r.recv().(wire.Welcome); !ok {
		t.Fatal("want welcome")
	}
	push := func(id int64, first int) wire.Message {
		var changes []wire.Pushed
		for i := first; i < first+10; i++ {
			c := rawChangeBy("raw-eve", int64(i), fmt.Sprintf("p%02d", i))
			c.Stamp.TS = hlc.Make(clock.now().UnixMilli(), uint16(i))
			changes = append(changes, c)
		}
		r.send(wire.Push{ID: id, Changes: changes}, 1)
		return r.recv()
	}
	if _, ok := push(1, 1).(wire.Ack); !ok {
		t.Fatal("the first burst is allowed")
	}
	for id := int64(2); id <= 4; id++ {
		e, ok := push(id, 11).(*wire.Error)
		if !ok || e.Code != wire.CodeRateLimited || e.RetryAfter != 1000 {
			t.Fatalf("push %d with the clock still: %#v, want RATE_LIMITED after exactly 1000 ms", id, e)
		}
	}
	clock.step(999 * time.Millisecond)
	if e, ok := push(5, 11).(*wire.Error); !ok || e.RetryAfter != 1 {
		t.Fatalf("999 ms later: %#v, want RATE_LIMITED after 1 ms", e)
	}
	clock.step(time.Millisecond)
	if m, ok := push(6, 11).(wire.Ack); !ok {
		t.Fatalf("a second later: %#v, want the push acknowledged", m)
	}
}
