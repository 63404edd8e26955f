package syncserver

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/hearthdb/hearth/codec"
	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/wire"
)

// TestDecodingBudgetIsGivenBack: connections that flood the server with
// frames and vanish mid-stream hold the shared decoding budget only while
// their frames are decoded or queued; once they are gone it is whole
// again, and a frame the size limit admits always fits it.
func TestDecodingBudgetIsGivenBack(t *testing.T) {
	const maxMessage = 64 << 10
	s, err := New(Config{
		Migrations:      []appschema.Migration{{Version: 1, SQL: "CREATE TABLE t(id TEXT PRIMARY KEY, v TEXT)"}},
		Tables:          []appschema.Table{{Name: "t"}},
		MaxMessageBytes: maxMessage,
		MaxDecodeBytes:  4 * maxMessage, // less than 16 times one frame
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if w := s.decodeWeight(maxMessage); w != s.cfg.MaxDecodeBytes {
		t.Fatalf("a frame at the size limit weighs %d, want it capped at the budget %d", w, s.cfg.MaxDecodeBytes)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	// An array of nulls just under the size limit: the worst case.
	var e codec.Encoder
	e.Array(maxMessage - 16)
	for range maxMessage - 16 {
		e.Null()
	}
	nulls := e.Bytes()
	hello, _ := wire.Encode(wire.Hello{Client: "flood", Cursor: -1}, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for range 6 {
		ws, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := ws.Write(ctx, websocket.MessageBinary, hello); err != nil {
			t.Fatal(err)
		}
		for range 20 {
			if err := ws.Write(ctx, websocket.MessageBinary, nulls); err != nil {
				break // the server gave up on the connection: fine
			}
		}
		ws.CloseNow()
	}
	// Every session ends (bounded): the budget is whole again.
	for !s.decoding.TryAcquire(s.cfg.MaxDecodeBytes) {
		if ctx.Err() != nil {
			t.Fatal("the decoding budget was never given back in full")
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.decoding.Release(s.cfg.MaxDecodeBytes)
}
