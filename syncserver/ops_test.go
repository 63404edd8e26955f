package syncserver_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/hearthdb/hearth/internal/logbuf"
	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncserver/sqlitestore"
	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/client"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/journal"
	"github.com/hearthdb/hearth/syncworker/syncstatus"
	"github.com/hearthdb/hearth/syncworker/wire"
	"github.com/ncruces/go-sqlite3"
)

// scrape fetches a metrics handler over a real loopback HTTP server, as
// Prometheus would, and returns each series' value by its text (name
// with labels, e.g. `hearth_sync_errors_total{code="X",kind="upgrade"}`).
func scrape(t *testing.T, h http.Handler) map[string]float64 {
	t.Helper()
	ts := httptest.NewServer(h)
	defer ts.Close()
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("metrics: HTTP %d", resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

func TestMetricsMoveWithTraffic(t *testing.T) {
	h := fileServer(t, syncserver.Config{})
	a := newDevice(t, "a", h, nil, client.Config{PushBatch: 5}).start()
	b := newDevice(t, "b", h, nil, client.Config{SnapshotChunk: 3}).start()
	a.synced(h)
	b.synced(h)
	before := scrape(t, h.srv.Load().MetricsHandler())
	if before["hearth_sync_connected_clients"] != 2 {
		t.Fatalf("connected clients %v, want 2", before["hearth_sync_connected_clients"])
	}
	for i := range 20 {
		a.mustExec(`INSERT INTO tasks(id, title) VALUES (?, 'x')`, fmt.Sprintf("m%02d", i))
	}
	a.synced(h)
	waitFor(t, "b to receive a's rows", func() bool { return len(b.query(`SELECT 1 FROM tasks`)) == 20 })
	// A late device takes a snapshot in chunks of 3 rows.
	c := newDevice(t, "c", h, nil, client.Config{SnapshotChunk: 3}).start()
	c.synced(h)
	// A refused change counts as an error by code. Made offline, so that
	// the entry is still pending when it is spoiled.
	a.net.setDown(true)
	a.client.Online(false)
	a.mustExec(`INSERT INTO tasks(id, title) VALUES ('bad', 'x')`)
	a.with(func(conn *sqlite3.Conn) error {
		return conn.Exec(`UPDATE _hearth_journal SET tbl = 'nope' WHERE state = 'pending'`)
	})
	a.net.setDown(false)
	a.client.Online(true)
	waitFor(t, "the refusal", func() bool { return a.status().Refused == 1 })

	m := scrape(t, h.srv.Load().MetricsHandler())
	checks := []struct {
		name string
		min  float64
	}{
		{"hearth_sync_pushes_total", 4},
		{"hearth_sync_pushed_changes_total", 21},
		{"hearth_sync_push_batch_size_count", 4},
		{"hearth_sync_push_batch_size_sum", 21},
		{"hearth_sync_push_apply_seconds_count", 4},
		{"hearth_sync_pulls_total", 1},
		{"hearth_sync_pulled_changes_total", 20},
		{"hearth_sync_fanout_seconds_count", 1},
		{"hearth_sync_log_head", 20},
		{"hearth_sync_snapshot_chunks_total", 7},
		{"hearth_sync_snapshot_rows_total", 20},
		{"hearth_sync_connections_total", 3},
		{`hearth_sync_errors_total{code="UNKNOWN_TABLE",kind="change"}`, 1},
		{"go_goroutines", 1},
	}
	for _, c := range checks {
		if m[c.name] < c.min || m[c.name] <= before[c.name] && c.name != "hearth_sync_connections_total" && c.name != "go_goroutines" {
			t.Errorf("%s = %v (before %v), want >= %v and moved", c.name, m[c.name], before[c.name], c.min)
		}
	}
	if m["hearth_sync_connected_clients"] != 3 {
		t.Errorf("connected clients %v, want 3", m["hearth_sync_connected_clients"])
	}
	// Each server has its own registry: a second server starts at zero.
	other := fileServer(t, syncserver.Config{})
	if o := scrape(t, other.srv.Load().MetricsHandler()); o["hearth_sync_pushes_total"] != 0 {
		t.Fatalf("a fresh server reports %v pushes", o["hearth_sync_pushes_total"])
	}
	c.stop()
	waitFor(t, "the connected gauge to drop", func() bool {
		return scrape(t, h.srv.Load().MetricsHandler())["hearth_sync_connected_clients"] == 2
	})
}

// failingStore fails reads on demand, as a lost database would.
type failingStore struct {
	store.Store
	fail atomic.Bool
}

func (s *failingStore) Log(ctx context.Context, after int64, limit int) ([]store.Entry, int64, error) {
	if s.fail.Load() {
		return nil, 0, errors.New("disk I/O error")
	}
	return s.Store.Log(ctx, after, limit)
}

func TestHealth(t *testing.T) {
	inner, err := sqlitestore.Open("")
	if err != nil {
		t.Fatal(err)
	}
	st := &failingStore{Store: inner}
	srv, err := syncserver.New(syncserver.Config{Store: st, Migrations: []appschema.Migration{migrationV1}, Tables: appTables})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.HealthHandler())
	defer ts.Close()
	get := func() (int, syncserver.Health) {
		t.Helper()
		resp, err := http.Get(ts.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var h syncserver.Health
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, &h); err != nil {
			t.Fatalf("body %q: %v", b, err)
		}
		return resp.StatusCode, h
	}
	if code, h := get(); code != 200 || h.Status != "ok" || h.Server != srv.Info().ID || h.Schema != 1 {
		t.Fatalf("healthy: %d %+v", code, h)
	}
	st.fail.Store(true)
	if code, h := get(); code != 503 || h.Status != "store-failed" || !strings.Contains(h.Error, "disk I/O") {
		t.Fatalf("store failing: %d %+v", code, h)
	}
	st.fail.Store(false)
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if code, h := get(); code != 503 || h.Status != "shutting-down" {
		t.Fatalf("shut down: %d %+v", code, h)
	}
}

func rawChange(seq int64, id string) wire.Pushed { return rawChangeBy("raw-client", seq, id) }

// rawChangeBy is rawChange of the client node.
func rawChangeBy(node string, seq int64, id string) wire.Pushed {
	k, _ := change.EncodeKey(id)
	return wire.Pushed{Seq: seq, Change: change.Change{Table: "tasks", Key: k, Op: change.Insert,
		Values: map[string]any{"title": id}, Stamp: hlc.Stamp{TS: hlc.Make(time.Now().UnixMilli(), uint16(seq)), Node: node}, Schema: 1}}
}

// TestPushLimits: a push over MaxPushBatch gets BATCH_TOO_LARGE and a
// push over the rate RATE_LIMITED with a retry-after; neither ends the
// connection, and neither stores anything.
func TestPushLimits(t *testing.T) {
	h := fileServer(t, syncserver.Config{MaxPushBatch: 10, PushRate: 20, PushBurst: 10})
	r := dialRaw(t, h.url)
	r.send(wire.Hello{Client: "raw-client", Cursor: -1}, 1)
	w, ok := r.recv().(wire.Welcome)
	if !ok || w.MaxBatch != 10 {
		t.Fatalf("welcome %#v, want maxBatch 10", w)
	}
	batch := func(first, n int) []wire.Pushed {
		var out []wire.Pushed
		for i := first; i < first+n; i++ {
			out = append(out, rawChange(int64(i), fmt.Sprintf("r%02d", i)))
		}
		return out
	}
	r.send(wire.Push{ID: 1, Changes: batch(1, 11)}, 1)
	if e := r.expectError(wire.CodeBatchTooLarge); e.Re != 1 || !strings.Contains(e.Message, "up to 10") {
		t.Fatalf("%+v", e)
	}
	// The burst of 10 takes one full push, then the bucket is empty.
	r.send(wire.Push{ID: 2, Changes: batch(1, 10)}, 1)
	if ack, ok := r.recv().(wire.Ack); !ok || len(ack.Results) != 10 {
		t.Fatalf("want an ack of 10, got %#v", ack)
	}
	r.send(wire.Push{ID: 3, Changes: batch(11, 10)}, 1)
	e := r.expectError(wire.CodeRateLimited)
	// 10 changes at 20/s: about half a second.
	if e.Re != 3 || e.RetryAfter < 300 || e.RetryAfter > 600 {
		t.Fatalf("rate limited: %+v", e)
	}
	time.Sleep(time.Duration(e.RetryAfter)*time.Millisecond + 10*time.Millisecond)
	r.send(wire.Push{ID: 4, Changes: batch(11, 10)}, 1)
	if ack, ok := r.recv().(wire.Ack); !ok || len(ack.Results) != 10 {
		t.Fatalf("after the wait, want an ack of 10, got %#v", ack)
	}
	if n := h.serverQuery(`SELECT count(*) FROM _hearth_log`)[0][0]; n != int64(20) {
		t.Fatalf("log holds %v entries, want 20", n)
	}
	m := scrape(t, h.srv.Load().MetricsHandler())
	if m[`hearth_sync_errors_total{code="BATCH_TOO_LARGE",kind="session"}`] != 1 || m[`hearth_sync_errors_total{code="RATE_LIMITED",kind="session"}`] != 1 {
		t.Fatalf("limit errors not counted: %v", m)
	}
}

// TestMessageSizeLimit: the existing size limit answers TOO_LARGE and
// keeps the connection.
func TestMessageSizeLimit(t *testing.T) {
	h := fileServer(t, syncserver.Config{MaxMessageBytes: 4 << 10})
	r := dialRaw(t, h.url)
	r.send(wire.Hello{Client: "raw-client", Cursor: -1}, 1)
	if _, ok := r.recv().(wire.Welcome); !ok {
		t.Fatal("want welcome")
	}
	big := rawChange(1, "big")
	big.Values["note"] = make([]byte, 5<<10)
	r.send(wire.Push{ID: 1, Changes: []wire.Pushed{big}}, 1)
	r.expectError(wire.CodeTooLarge)
	r.send(wire.Ping{ID: 2}, 1)
	if p, ok := r.recv().(wire.Pong); !ok || p.Re != 2 {
		t.Fatalf("the connection should go on after TOO_LARGE, got %#v", p)
	}
}

// gatedStore holds its nth push until released, so a test can start a
// shutdown while that push is in flight.
type gatedStore struct {
	store.Store
	n       int64
	pushes  atomic.Int64
	entered chan struct{}
	release chan struct{}
}

func (s *gatedStore) Push(ctx context.Context, p store.Push, check store.Checker) (store.PushResult, error) {
	if s.pushes.Add(1) == s.n {
		close(s.entered)
		<-s.release
	}
	return s.Store.Push(ctx, p, check)
}

// TestShutdownDrains: Shutdown while a push is in the store. The push
// commits and is acknowledged before the connection closes with
// SHUTTING_DOWN; nothing the server stored is left unacknowledged on the
// device, and after a restart every change is in the log exactly once.
func TestShutdownDrains(t *testing.T) {
	path := t.TempDir() + "/sync.db"
	inner, err := sqlitestore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	gate := &gatedStore{Store: inner, n: 3, entered: make(chan struct{}), release: make(chan struct{})}
	h := newHarness(t, syncserver.Config{Store: gate, Path: path})
	var mu sync.Mutex
	codes := map[string]bool{}
	d := newDevice(t, "d", h, nil, client.Config{PushBatch: 10, OnStatus: func(st syncstatus.Status) {
		if st.LastError != nil {
			mu.Lock()
			if !codes[st.LastError.Code] {
				t.Logf("last error: %+v", st.LastError)
			}
			codes[st.LastError.Code] = true
			mu.Unlock()
		}
	}})
	for i := range 100 {
		d.mustExec(`INSERT INTO tasks(id, title) VALUES (?, 'x')`, fmt.Sprintf("s%03d", i))
	}
	d.start()
	<-gate.entered
	srv := h.srv.Load()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- srv.Shutdown(ctx)
	}()
	// Shutdown has begun (new connections get 503) with the push held.
	waitFor(t, "the shutdown to start", func() bool {
		rec := httptest.NewRecorder()
		srv.HealthHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		return rec.Code == 503
	})
	close(gate.release)
	if err := <-done; err != nil {
		t.Fatalf("shutdown did not drain: %v", err)
	}
	waitFor(t, "the device to see SHUTTING_DOWN", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return codes[wire.CodeShuttingDown]
	})
	// The held push committed and its ack arrived: what the server
	// stored is exactly what the device has settled.
	var depth int64
	d.with(func(conn *sqlite3.Conn) (err error) { depth, err = journal.Depth(conn); return err })
	stored := h.serverQuery(`SELECT count(*) FROM _hearth_log WHERE client = ?`, d.j.Node())[0][0].(int64)
	if stored != 100-depth || stored < 30 {
		t.Fatalf("server stored %d changes, the device has %d of 100 acknowledged", stored, 100-depth)
	}
	h.restart(syncserver.Config{})
	d.synced(h)
	rows := h.serverQuery(`SELECT count(*), count(DISTINCT seq) FROM _hearth_log WHERE client = ?`, d.j.Node())
	if rows[0][0] != int64(100) || rows[0][1] != int64(100) {
		t.Fatalf("after the restart the log holds %v entries (%v distinct), want 100", rows[0][0], rows[0][1])
	}
}

// TestShutdownClosesIdleClientsGoingAway: an idle client gets
// SHUTTING_DOWN and the close status 1001.
func TestShutdownClosesIdleClientsGoingAway(t *testing.T) {
	h := fileServer(t, syncserver.Config{})
	r := dialRaw(t, h.url)
	r.send(wire.Hello{Client: "raw-client", Cursor: -1}, 1)
	if _, ok := r.recv().(wire.Welcome); !ok {
		t.Fatal("want welcome")
	}
	go h.srv.Load().Close()
	r.expectError(wire.CodeShuttingDown)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _, err := r.ws.Read(ctx)
	if websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("want close 1001, got %v", err)
	}
}

// logBuffer collects JSON log lines from the server's goroutines.
type logBuffer struct{ logbuf.Buffer }

// records returns the log records with the given message.
func (b *logBuffer) records(msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(b.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// TestConnectionLogs: opening and closing a connection log the
// principal, the client, and at close the duration and push counts;
// errors sent log their code.
func TestConnectionLogs(t *testing.T) {
	logs := &logBuffer{}
	h := fileServer(t, syncserver.Config{
		Logger:       slog.New(slog.NewJSONHandler(logs, nil)),
		Authenticate: func(*http.Request) (string, error) { return "ann", nil },
	})
	d := newDevice(t, "d", h, nil, client.Config{})
	for i := range 3 {
		d.mustExec(`INSERT INTO tasks(id, title) VALUES (?, 'x')`, fmt.Sprintf("l%d", i))
	}
	d.start()
	d.synced(h)
	d.stop()
	waitFor(t, "the close record", func() bool { return len(logs.records("sync: connection closed")) == 1 })
	open := logs.records("sync: connection opened")
	if len(open) != 1 || open[0]["principal"] != "ann" || open[0]["client"] != d.j.Node() {
		t.Fatalf("open records %v", open)
	}
	closed := logs.records("sync: connection closed")[0]
	if closed["principal"] != "ann" || closed["client"] != d.j.Node() || closed["pushes"] != float64(1) || closed["changes"] != float64(3) || closed["duration"] == nil {
		t.Fatalf("close record %v", closed)
	}
	r := dialRaw(t, h.url)
	r.send(wire.Ping{ID: 1}, 1)
	r.expectError(wire.CodeBadRequest)
	waitFor(t, "the error record", func() bool {
		recs := logs.records("sync: error sent")
		return len(recs) == 1 && recs[0]["code"] == wire.CodeBadRequest
	})
}
