package client

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/hearthdb/hearth/codec"
	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/journal"
	"github.com/hearthdb/hearth/syncworker/syncstatus"
	"github.com/hearthdb/hearth/syncworker/wire"
	"github.com/ncruces/go-sqlite3"
	_ "github.com/ncruces/go-sqlite3/vfs/memdb"
)

var dbSeq atomic.Int64

// replica is a database with a synced table, a journal and one pending
// write.
func replica(t *testing.T) (*LockedLocal, *journal.Journal) {
	t.Helper()
	return replicaOf(t, `CREATE TABLE notes(id TEXT PRIMARY KEY, body TEXT)`, `INSERT INTO notes VALUES ('n1', 'pending')`)
}

// replicaOf is a database made by ddl, its notes table synced and
// journaled, then written to by writes (journaled).
func replicaOf(t *testing.T, ddl, writes string) (*LockedLocal, *journal.Journal) {
	t.Helper()
	conn, err := sqlite3.Open(fmt.Sprintf("file:/client-test-%d?vfs=memdb", dbSeq.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.Exec(`PRAGMA user_version = 1; ` + ddl); err != nil {
		t.Fatal(err)
	}
	j, err := journal.Prepare(conn, journal.Config{Clock: hlc.NewClock(nil), Tables: []appschema.Table{{Name: "notes"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Install(conn); err != nil {
		t.Fatal(err)
	}
	if err := conn.Exec(writes); err != nil {
		t.Fatal(err)
	}
	return NewLockedLocal(conn), j
}

// fakeServer serves handler on a loopback socket.
func fakeServer(t *testing.T, handler http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// acceptThen upgrades to WebSocket, reads the hello, and hands over.
func acceptThen(t *testing.T, then func(ctx context.Context, ws *websocket.Conn)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ctx := r.Context()
		if _, _, err := ws.Read(ctx); err != nil {
			return
		}
		then(ctx, ws)
	}
}

// drain reads what the client sends until the connection ends: a fresh
// replica sends its first snapshot request right after the hello.
func drain(ctx context.Context, ws *websocket.Conn) {
	for {
		if _, _, err := ws.Read(ctx); err != nil {
			return
		}
	}
}

// delays records the backoff delays the client asks for.
type delays struct {
	mu   sync.Mutex
	list []time.Duration
	// release decides whether a delay fires at once or waits forever
	// (until something else wakes the client).
	release func(n int) bool
}

func (d *delays) after(dur time.Duration) <-chan time.Time {
	d.mu.Lock()
	d.list = append(d.list, dur)
	n := len(d.list)
	release := d.release
	d.mu.Unlock()
	ch := make(chan time.Time, 1)
	if release == nil || release(n) {
		ch <- time.Now()
	}
	return ch
}

func (d *delays) get() []time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]time.Duration(nil), d.list...)
}

func runClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("client did not stop")
		}
	})
	return c
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestFailuresAreClassifiedAndBackedOff(t *testing.T) {
	closedPort := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return "ws://" + addr
	}
	status := func(code int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", code) }
	}
	cases := []struct {
		name  string
		url   func(t *testing.T) string
		class syncstatus.Class
		code  string
		// hangs: the server never answers, so only the request timeout
		// ends the attempt; every other case must fail for its own reason
		// however slow the machine, under a timeout it never reaches.
		hangs bool
	}{
		{"connection refused", func(t *testing.T) string { return closedPort() }, syncstatus.ClassOffline, "", false},
		{"http 500", func(t *testing.T) string { return fakeServer(t, status(500)) }, syncstatus.ClassServer, "", false},
		{"http 401", func(t *testing.T) string { return fakeServer(t, status(401)) }, syncstatus.ClassAuth, wire.CodeUnauthorized, false},
		{"http 409", func(t *testing.T) string { return fakeServer(t, status(409)) }, syncstatus.ClassSchema, wire.CodeSchemaMismatch, false},
		{"http 404", func(t *testing.T) string { return fakeServer(t, status(404)) }, syncstatus.ClassProtocol, "", false},
		{"garbage frame", func(t *testing.T) string {
			return fakeServer(t, acceptThen(t, func(ctx context.Context, ws *websocket.Conn) {
				ws.Write(ctx, websocket.MessageBinary, []byte{0xde, 0xad, 0xbe, 0xef})
				drain(ctx, ws)
			}))
		}, syncstatus.ClassProtocol, "", false},
		{"text frame", func(t *testing.T) string {
			return fakeServer(t, acceptThen(t, func(ctx context.Context, ws *websocket.Conn) {
				ws.Write(ctx, websocket.MessageText, []byte(`{"hello":1}`))
				drain(ctx, ws)
			}))
		}, syncstatus.ClassProtocol, "", false},
		{"wrong message", func(t *testing.T) string {
			return fakeServer(t, acceptThen(t, func(ctx context.Context, ws *websocket.Conn) {
				b, _ := wire.Encode(wire.Pong{Re: 99}, 1)
				ws.Write(ctx, websocket.MessageBinary, b)
				b, _ = wire.Encode(wire.Ack{Re: 5}, 1)
				ws.Write(ctx, websocket.MessageBinary, b)
				drain(ctx, ws)
			}))
		}, syncstatus.ClassProtocol, "", false},
		{"hang after accept", func(t *testing.T) string {
			return fakeServer(t, acceptThen(t, func(ctx context.Context, ws *websocket.Conn) {
				drain(ctx, ws) // never answers
			}))
		}, syncstatus.ClassTimeout, "", true},
		{"internal error", func(t *testing.T) string {
			return fakeServer(t, acceptThen(t, func(ctx context.Context, ws *websocket.Conn) {
				b, _ := wire.Encode(&wire.Error{Code: wire.CodeInternal, Message: "disk on fire"}, 1)
				ws.Write(ctx, websocket.MessageBinary, b)
				drain(ctx, ws)
			}))
		}, syncstatus.ClassServer, wire.CodeInternal, false},
		{"schema mismatch", func(t *testing.T) string {
			return fakeServer(t, acceptThen(t, func(ctx context.Context, ws *websocket.Conn) {
				b, _ := wire.Encode(&wire.Error{Code: wire.CodeSchemaMismatch, Message: "too new", Min: 2, Max: 3}, 3)
				ws.Write(ctx, websocket.MessageBinary, b)
				drain(ctx, ws)
			}))
		}, syncstatus.ClassSchema, wire.CodeSchemaMismatch, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			local, j := replica(t)
			d := &delays{release: func(n int) bool { return n < 3 }} // the third delay holds
			timeout := time.Minute
			if tc.hangs {
				timeout = 150 * time.Millisecond
			}
			c := runClient(t, Config{
				URL: tc.url(t), Local: local, Journal: j,
				MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second,
				RequestTimeout: timeout,
				Rand:           func() float64 { return 0.5 },
				After:          d.after,
			})
			waitFor(t, "three failed attempts", func() bool { return len(d.get()) == 3 })
			st := c.Status()
			if st.Retries[tc.class] != 3 {
				t.Fatalf("retries %v", st.Retries)
			}
			if st.LastError == nil || st.LastError.Class != tc.class || st.LastError.Code != tc.code {
				t.Fatalf("last error: %+v", st.LastError)
			}
			for class, n := range st.Retries {
				if class != tc.class && n > 0 {
					t.Fatalf("misclassified as %s too: %v (%+v)", class, st.Retries, st.LastError)
				}
			}
			if st.Pending != 1 || st.Connected {
				t.Fatalf("the pending change must wait, unsent: %+v", st)
			}
			got := d.get()
			want := []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}
			wantState := syncstatus.StateBackoff
			if tc.class == syncstatus.ClassSchema {
				want = []time.Duration{time.Second, time.Second, time.Second} // paused: slow polling
				wantState = syncstatus.StatePausedSchema
			}
			if st.State != wantState {
				t.Fatalf("state %s, want %s", st.State, wantState)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("delays %v, want full-jitter halves of 100ms·2^n: %v", got, want)
				}
			}
		})
	}
}

// TestOnlineSignalResetsBackoff: after failures have grown the delay, an
// online signal retries at once and starts the backoff over.
func TestOnlineSignalResetsBackoff(t *testing.T) {
	local, j := replica(t)
	url := fakeServer(t, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) })
	d := &delays{release: func(n int) bool { return n < 5 }} // the 5th delay waits
	c := runClient(t, Config{URL: url, Local: local, Journal: j, MinBackoff: 100 * time.Millisecond, MaxBackoff: 10 * time.Second,
		Rand: func() float64 { return 0.5 }, After: d.after})
	waitFor(t, "five delays", func() bool { return len(d.get()) == 5 })
	if got := d.get()[4]; got != 800*time.Millisecond {
		t.Fatalf("5th delay %v", got)
	}
	d.mu.Lock()
	d.release = nil
	d.mu.Unlock()
	c.Online(true)
	waitFor(t, "a retry after the online signal", func() bool { return len(d.get()) >= 6 })
	if got := d.get()[5]; got != 50*time.Millisecond {
		t.Fatalf("after the online signal the backoff must start over, got %v", got)
	}
}

// TestRetriesOnTimerWithoutNewWrites: a failing server is retried on the
// backoff timer even when the app writes nothing.
func TestRetriesOnTimerWithoutNewWrites(t *testing.T) {
	local, j := replica(t)
	var attempts atomic.Int64
	url := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		http.Error(w, "down", http.StatusBadGateway)
	})
	runClient(t, Config{URL: url, Local: local, Journal: j, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	waitFor(t, "repeated attempts", func() bool { return attempts.Load() >= 5 })
}

func TestStatusEncodes(t *testing.T) {
	st := syncstatus.Status{State: syncstatus.StateSyncing, Retries: map[syncstatus.Class]int64{syncstatus.ClassTimeout: 2}, LastError: &syncstatus.ErrorInfo{Class: syncstatus.ClassTimeout, Message: "m", At: time.UnixMilli(5)},
		DivergedTables: []string{"a"}, ReconcileLatency: 1500 * time.Microsecond}
	var enc codec.Encoder
	st.Encode(&enc)
	v, err := codec.Decode(enc.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	m := v.(map[string]any)
	if m["state"] != syncstatus.StateSyncing || m["retries"].(map[string]any)["timeout"] != int64(2) || m["reconcileLatencyMs"] != 1.5 || m["lastError"].(map[string]any)["at"] != int64(5) {
		t.Fatalf("%v", m)
	}
}

// TestOfflineSignalDropsTheConnection: an open WebSocket can outlive the
// network, so going offline must end it at once, make no attempt while
// offline, and reconnect when the device is back online.
func TestOfflineSignalDropsTheConnection(t *testing.T) {
	local, j := replica(t)
	var opened, closed atomic.Int64
	url := fakeServer(t, acceptThen(t, func(ctx context.Context, ws *websocket.Conn) {
		opened.Add(1)
		defer closed.Add(1)
		// Say nothing: the client waits for the welcome until dropped.
		drain(ctx, ws)
	}))
	var states sync.Map
	c := runClient(t, Config{URL: url, Local: local, Journal: j, RequestTimeout: time.Minute, MinBackoff: time.Millisecond,
		OnStatus: func(st syncstatus.Status) { states.Store(st.State, true) }})
	waitFor(t, "the first connection", func() bool { return opened.Load() == 1 })
	c.Online(false)
	waitFor(t, "the connection dropped", func() bool { return closed.Load() == 1 })
	waitFor(t, "the offline state", func() bool { return c.Status().State == syncstatus.StateOffline })
	time.Sleep(50 * time.Millisecond) // fifty backoff periods: none may dial
	if n := opened.Load(); n != 1 {
		t.Fatalf("the client connected %d times while offline", n-1)
	}
	if st := c.Status(); st.Online || st.Connected || st.LastError == nil || st.LastError.Class != syncstatus.ClassOffline {
		t.Fatalf("status while offline: %+v", st)
	}
	c.Online(true)
	waitFor(t, "a connection after coming online", func() bool { return opened.Load() == 2 })
}
