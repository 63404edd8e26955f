package client

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/hearthdb/hearth/syncworker/wire"
)

// readMsg reads one message from the client, failing the test on a
// timeout: the client is expected to send it without waiting for an
// answer.
func readMsg(t *testing.T, ctx context.Context, ws *websocket.Conn) wire.Message {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, b, err := ws.Read(ctx)
	if err != nil {
		t.Errorf("read from the client: %v", err)
		return nil
	}
	f, err := wire.Decode(b)
	if err != nil {
		t.Errorf("decode: %v", err)
		return nil
	}
	return f.Msg
}

func sendMsg(ctx context.Context, ws *websocket.Conn, m wire.Message) {
	b, _ := wire.Encode(m, 1)
	ws.Write(ctx, websocket.MessageBinary, b)
}

// A replica that has never synced asks for its first chunk right after
// its hello, before the welcome comes: a round trip less before its first
// rows. It does not ask for that chunk again once the welcome came.
func TestAFreshReplicaAsksForItsFirstChunkWithItsHello(t *testing.T) {
	local, j := replica(t)
	var asked, again atomic.Value
	url := fakeServer(t, acceptThen(t, func(ctx context.Context, ws *websocket.Conn) {
		m := readMsg(t, ctx, ws) // sent before any answer
		req, ok := m.(wire.SnapshotRequest)
		if !ok {
			t.Errorf("after the hello the client sent %T, want a SnapshotRequest", m)
			return
		}
		asked.Store(req)
		sendMsg(ctx, ws, wire.Welcome{Server: "s1", Head: 7, Min: 1, Max: 1, MaxMessage: 1 << 20})
		sendMsg(ctx, ws, wire.Chunk{Re: req.ID, At: 7, Done: true})
		again.Store(readMsg(t, ctx, ws))
		drain(ctx, ws)
	}))
	c := runClient(t, Config{URL: url, Local: local, Journal: j, MinBackoff: time.Hour, MaxBackoff: time.Hour})
	waitFor(t, "the snapshot applied", func() bool { return c.Status().Cursor == 7 && again.Load() != nil })
	req := asked.Load().(wire.SnapshotRequest)
	if req.At != -1 || req.After.Table != "" || len(req.After.Key) != 0 || req.Limit != 1000 {
		t.Fatalf("first chunk asked as %+v, want from the start, 1000 rows", req)
	}
	if _, ok := again.Load().(wire.SnapshotRequest); ok {
		t.Fatalf("the client asked for a chunk again after the welcome: %+v", again.Load())
	}
}

// countingServer accepts WebSockets and counts them; each gets then.
func countingServer(t *testing.T, n *atomic.Int32, then func(ctx context.Context, ws *websocket.Conn)) string {
	return fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		n.Add(1)
		then(r.Context(), ws)
	})
}

// The first session says hello on the connection dialled before the
// client existed, and a later session dials its own.
func TestTheFirstSessionTakesThePreconnection(t *testing.T) {
	local, j := replica(t)
	var conns atomic.Int32
	var hellos [3]atomic.Int32
	url := countingServer(t, &conns, func(ctx context.Context, ws *websocket.Conn) {
		id := conns.Load()
		if _, ok := readMsg(t, ctx, ws).(wire.Hello); ok && id <= 2 {
			hellos[id].Add(1)
		}
		// Ends the session: the client reconnects.
		sendMsg(ctx, ws, &wire.Error{Code: wire.CodeInternal, Message: "bye"})
		drain(ctx, ws)
	})
	p := Preconnect(Config{URL: url})
	waitFor(t, "the preconnection accepted", func() bool { return conns.Load() == 1 })
	d := &delays{release: func(n int) bool { return n < 2 }}
	runClient(t, Config{URL: url, Local: local, Journal: j, Preconnected: p, After: d.after})
	waitFor(t, "two sessions", func() bool { return hellos[2].Load() == 1 })
	if hellos[1].Load() != 1 || conns.Load() != 2 {
		t.Fatalf("hellos on connections 1, 2: %d, %d; %d connections: the first session must use the preconnection", hellos[1].Load(), hellos[2].Load(), conns.Load())
	}
}

// A preconnection older than the server's patience is closed unused and
// the client dials anew; one that failed is dialled again at once, with
// no backoff.
func TestAStaleOrFailedPreconnectionIsDialledAgain(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ahead time.Duration // how far the client's clock is past the dial
		fail  bool
	}{
		{"stale", preconnectMaxAge + time.Second, false},
		{"failed", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			local, j := replica(t)
			var conns atomic.Int32
			var helloOn atomic.Int32
			url := countingServer(t, &conns, func(ctx context.Context, ws *websocket.Conn) {
				id := conns.Load()
				ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				defer cancel()
				if _, b, err := ws.Read(ctx); err == nil {
					if f, err := wire.Decode(b); err == nil {
						if _, ok := f.Msg.(wire.Hello); ok {
							helloOn.CompareAndSwap(0, id)
						}
					}
				}
				drain(ctx, ws)
			})
			dial := func(ctx context.Context, u string) (Transport, error) { return DialWebSocket(ctx, u) }
			preDial := dial
			if tc.fail {
				preDial = func(context.Context, string) (Transport, error) { return nil, context.DeadlineExceeded }
			}
			p := Preconnect(Config{URL: url, Dial: preDial})
			if !tc.fail {
				waitFor(t, "the preconnection accepted", func() bool { return conns.Load() == 1 })
			}
			d := &delays{}
			runClient(t, Config{URL: url, Local: local, Journal: j, Preconnected: p, Dial: dial, After: d.after,
				Now: func() time.Time { return time.Now().Add(tc.ahead) }})
			want := int32(2)
			if tc.fail {
				want = 1
			}
			waitFor(t, "a hello", func() bool { return helloOn.Load() != 0 })
			if got := helloOn.Load(); got != want {
				t.Fatalf("hello on connection %d, want %d", got, want)
			}
			if got := d.get(); len(got) != 0 {
				t.Fatalf("backoff delays %v before the first session: want none", got)
			}
		})
	}
}
