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

// countingServer accepts WebSockets and counts them in n; each gets
// then, with its number (from 1).
func countingServer(t *testing.T, n *atomic.Int32, then func(ctx context.Context, ws *websocket.Conn, id int32)) string {
	return fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		then(r.Context(), ws, n.Add(1))
	})
}

// The first session says hello on the connection dialled before the
// client existed, and a later session dials its own.
func TestTheFirstSessionTakesThePreconnection(t *testing.T) {
	local, j := replica(t)
	var conns atomic.Int32
	var hellos [3]atomic.Int32
	url := countingServer(t, &conns, func(ctx context.Context, ws *websocket.Conn, id int32) {
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
			url := countingServer(t, &conns, func(ctx context.Context, ws *websocket.Conn, id int32) {
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
