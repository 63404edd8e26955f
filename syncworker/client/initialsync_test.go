package client

import (
	"context"
	"fmt"
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
