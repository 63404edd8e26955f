package client

import (
	"context"
	"fmt"
	"github.com/hearthdb/hearth/syncworker/syncstatus"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/wire"
	"github.com/ncruces/go-sqlite3"
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

// Chunks that come late (the server, or the link, slower than the merge)
// are asked for in doubling sizes, up to eight times the configured one;
// the first chunk, whose wait is the connection's set-up, does not count.
func TestLateChunksAreAskedForLarger(t *testing.T) {
	local, j := replica(t)
	var limits []int64
	var done atomic.Bool
	url := fakeServer(t, acceptThen(t, func(ctx context.Context, ws *websocket.Conn) {
		sendMsg(ctx, ws, wire.Welcome{Server: "s1", Head: 7, Min: 1, Max: 1, MaxMessage: 1 << 20})
		for i := 1; i <= 6; i++ {
			req, ok := readMsg(t, ctx, ws).(wire.SnapshotRequest)
			if !ok {
				t.Errorf("request %d is not a snapshot request", i)
				return
			}
			limits = append(limits, req.Limit)
			if i > 1 {
				// Later than any merge of an empty chunk: a slow link.
				time.Sleep(200 * time.Millisecond)
			}
			sendMsg(ctx, ws, wire.Chunk{Re: req.ID, At: 7, Next: wire.SnapshotCursor{Table: "notes", Key: []byte{byte(i)}}, Done: i == 6})
		}
		done.Store(true)
		drain(ctx, ws)
	}))
	c := runClient(t, Config{URL: url, Local: local, Journal: j, MinBackoff: time.Hour, MaxBackoff: time.Hour})
	waitFor(t, "the snapshot applied", func() bool { return done.Load() && c.Status().Cursor == 7 })
	want := []int64{1000, 1000, 2000, 4000, 8000, 8000}
	if fmt.Sprint(limits) != fmt.Sprint(want) {
		t.Fatalf("rows asked per chunk %v, want %v", limits, want)
	}
}

func TestNextChunkLimit(t *testing.T) {
	for _, tc := range []struct {
		limit  int
		waited time.Duration
		want   int
	}{
		{1000, 0, 1000},
		{1000, chunkWaitTolerance, 1000},
		{1000, chunkWaitTolerance + 1, 2000},
		{4000, time.Second, 8000},
		{8000, time.Second, 8000},
		{6000, time.Second, 8000},
	} {
		if got := nextChunkLimit(tc.limit, tc.waited, 1000); got != tc.want {
			t.Errorf("nextChunkLimit(%d, %v, 1000) = %d, want %d", tc.limit, tc.waited, got, tc.want)
		}
	}
}

// A replica that has synced subscribes right after its hello, before the
// welcome comes. When the welcome names another server (a store restored
// or replaced), it applies nothing the subscription streamed: it starts
// over at once, with no backoff, and takes a snapshot.
func TestASyncedReplicaSubscribesWithItsHello(t *testing.T) {
	local, j := replica(t)
	var conns atomic.Int32
	type seen struct {
		early wire.Message // what came after the hello, before any answer
		after wire.Message // what came after the welcome
	}
	var got [5]atomic.Value
	var retries, retriesBefore4 atomic.Int32
	url := countingServer(t, &conns, func(ctx context.Context, ws *websocket.Conn, n int32) {
		if n > 4 {
			drain(ctx, ws)
			return
		}
		readMsg(t, ctx, ws) // hello
		var s seen
		server := "s1"
		if n >= 3 {
			server = "s2"
		}
		if n != 4 {
			s.early = readMsg(t, ctx, ws)
		}
		sendMsg(ctx, ws, wire.Welcome{Server: server, Head: 7, Min: 1, Max: 1, MaxMessage: 1 << 20})
		switch n {
		case 1: // fresh: its first chunk came with the hello
			sendMsg(ctx, ws, wire.Chunk{Re: s.early.(wire.SnapshotRequest).ID, At: 7, Done: true})
			s.after = readMsg(t, ctx, ws)
		case 4: // after the server changed: a snapshot, asked after the welcome
			s.after = readMsg(t, ctx, ws)
			retriesBefore4.Store(retries.Load())
		}
		got[n].Store(s)
		if n == 3 {
			drain(ctx, ws) // the client leaves
			return
		}
		sendMsg(ctx, ws, &wire.Error{Code: wire.CodeInternal, Message: "bye"})
		drain(ctx, ws)
	})
	// Retries counts the sessions that ended in a backoff.
	runClient(t, Config{URL: url, Local: local, Journal: j, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond,
		OnStatus: func(st syncstatus.Status) {
			var n int64
			for _, r := range st.Retries {
				n += r
			}
			retries.Store(int32(n))
		}})
	// Session 3's handler may still be on its way to recording it when
	// the client, which left at its welcome, is in session 4.
	waitFor(t, "four sessions", func() bool {
		return got[1].Load() != nil && got[2].Load() != nil && got[3].Load() != nil && got[4].Load() != nil
	})
	if sub, ok := got[1].Load().(seen).after.(wire.Subscribe); !ok || sub.After != 7 {
		t.Fatalf("after the snapshot the client sent %#v, want sub{after: 7}", got[1].Load().(seen).after)
	}
	for _, n := range []int{2, 3} {
		if sub, ok := got[n].Load().(seen).early.(wire.Subscribe); !ok || sub.After != 7 {
			t.Fatalf("session %d: after the hello the client sent %#v, want sub{after: 7} before the welcome", n, got[n].Load().(seen).early)
		}
	}
	if req, ok := got[4].Load().(seen).after.(wire.SnapshotRequest); !ok || req.At != -1 {
		t.Fatalf("after the server changed the client sent %#v, want a snapshot from the start", got[4].Load().(seen).after)
	}
	if n := retriesBefore4.Load(); n != 2 {
		t.Fatalf("%d sessions backed off before the fourth, want 2 (after the two errors, none after the changed server)", n)
	}
}

// A session merges every chunk with the same prepared statements, and
// closes them when it ends: when its connection drops (the client goes
// on), and when the client is stopped mid-snapshot.
func TestASessionKeepsItsStatementsAndClosesThemAtItsEnd(t *testing.T) {
	for _, stop := range []bool{false, true} {
		t.Run(fmt.Sprintf("client stopped=%v", stop), func(t *testing.T) {
			local, j := replica(t)
			stmts := func() (n int) {
				local.Do(context.Background(), func(conn *sqlite3.Conn) error {
					for range conn.Stmts() {
						n++
					}
					return nil
				})
				return n
			}
			base := stmts()
			// Statements on the connection once chunks 0 and 1 were merged:
			// the client asks for chunk i+1 as soon as chunk i comes, then
			// merges i, so request i+2 comes after chunk i's merge.
			var applied [2]atomic.Int32
			var held atomic.Bool
			url := fakeServer(t, acceptThen(t, func(ctx context.Context, ws *websocket.Conn) {
				sendMsg(ctx, ws, wire.Welcome{Server: "s1", Head: 7, Min: 1, Max: 1, MaxMessage: 1 << 20})
				for i := 0; ; i++ {
					req, ok := readMsg(t, ctx, ws).(wire.SnapshotRequest)
					if !ok {
						return
					}
					if i >= 2 {
						applied[i-2].Store(int32(stmts()))
					}
					if i == 3 {
						held.Store(true)
						if stop {
							drain(ctx, ws) // until the client leaves
						}
						return // the connection drops
					}
					var chs []change.Change
					for k := range 2 {
						key, _ := change.EncodeKey(fmt.Sprintf("n%d-%d", i, k))
						chs = append(chs, change.Change{Table: "notes", Key: key, Op: change.Insert, Schema: 1,
							Stamp: hlc.Stamp{TS: hlc.Make(1_700_000_000_000, 0), Node: "server"}, Values: map[string]any{"body": "b"}})
					}
					sendMsg(ctx, ws, wire.Chunk{Re: req.ID, At: 7, Changes: chs, Rows: 2, Next: wire.SnapshotCursor{Table: "notes", Key: chs[1].Key}})
				}
			}))
			c, err := New(Config{URL: url, Local: local, Journal: j, MinBackoff: time.Hour, MaxBackoff: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx) }()
			waitFor(t, "three chunks merged", func() bool { return held.Load() && c.Status().InitialSync.Rows == 6 })
			if a, b := applied[0].Load(), applied[1].Load(); a <= int32(base) || a != b {
				t.Fatalf("statements on the connection after the first and second chunk: %d, %d (before: %d): want more than before, and the same after each", a, b, base)
			}
			if stop {
				cancel()
				<-done
			}
			waitFor(t, "the session's statements closed", func() bool { return stmts() == base })
			if !stop {
				cancel()
				<-done
			}
		})
	}
}
