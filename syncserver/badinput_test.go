package syncserver_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/hearthdb/hearth/codec"
	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/client"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/wire"
)

// raw is a hand-driven connection to the server.
type raw struct {
	t  *testing.T
	ws *websocket.Conn
}

func dialRaw(t *testing.T, url string) *raw {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(1 << 24)
	t.Cleanup(func() { ws.CloseNow() })
	return &raw{t: t, ws: ws}
}

func (r *raw) sendBytes(typ websocket.MessageType, b []byte) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.ws.Write(ctx, typ, b); err != nil {
		r.t.Fatal(err)
	}
}

func (r *raw) send(m wire.Message, schema int64) {
	r.t.Helper()
	b, err := wire.Encode(m, schema)
	if err != nil {
		r.t.Fatal(err)
	}
	r.sendBytes(websocket.MessageBinary, b)
}

func (r *raw) recv() wire.Message {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := r.ws.Read(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	f, err := wire.Decode(b)
	if err != nil {
		r.t.Fatal(err)
	}
	return f.Msg
}

func (r *raw) expectError(code string) *wire.Error {
	r.t.Helper()
	m := r.recv()
	e, ok := m.(*wire.Error)
	if !ok || e.Code != code {
		r.t.Fatalf("want error %s, got %#v", code, m)
	}
	return e
}

// TestBadInputGetsStableErrorsAndNeverKillsTheServer sends the server
// every kind of bad input on one connection; each gets an error with a
// stable code (or a per-change refusal), the connection keeps working,
// and a real device still syncs afterwards.
func TestBadInputGetsStableErrorsAndNeverKillsTheServer(t *testing.T) {
	forEachStore(t, testBadInputGetsStableErrorsAndNeverKillsTheServer)
}

func testBadInputGetsStableErrorsAndNeverKillsTheServer(t *testing.T, db *backend) {
	h := db.server(t, syncserver.Config{MaxMessageBytes: 64 << 10})
	r := dialRaw(t, h.url)

	r.sendBytes(websocket.MessageBinary, []byte{0xff, 0x01, 0x02})
	r.expectError(wire.CodeBadRequest)
	r.sendBytes(websocket.MessageText, []byte(`{"t":"hello"}`))
	r.expectError(wire.CodeBadRequest)
	v2, _ := codec.Encode(map[string]any{"v": int64(2), "t": "hello", "s": int64(1)})
	r.sendBytes(websocket.MessageBinary, v2)
	r.expectError(wire.CodeProtocolVersion)
	r.send(wire.Push{ID: 1}, 1)
	if e := r.expectError(wire.CodeBadRequest); !strings.Contains(e.Message, "hello") {
		t.Fatalf("push before hello: %s", e.Message)
	}
	r.send(wire.Hello{Client: ""}, 1)
	r.expectError(wire.CodeBadRequest)
	r.send(wire.Hello{Client: "raw-client", Cursor: -1}, 1)
	if _, ok := r.recv().(wire.Welcome); !ok {
		t.Fatal("want welcome")
	}

	key := func(v ...any) []byte {
		b, err := change.EncodeKey(v...)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	stamp := hlc.Stamp{TS: hlc.Make(time.Now().UnixMilli(), 0), Node: "raw-client"}
	ch := func(seq int64, table string, k []byte, op change.Op, values map[string]any) wire.Pushed {
		return wire.Pushed{Seq: seq, Change: change.Change{Table: table, Key: k, Op: op, Values: values, Stamp: hlc.Stamp{TS: stamp.TS + hlc.Timestamp(seq), Node: stamp.Node}, Schema: 1}}
	}
	bad := wire.Push{ID: 2, Changes: []wire.Pushed{
		ch(1, "nope", key("x"), change.Insert, map[string]any{}),
		ch(2, "tasks", key("x"), change.Insert, map[string]any{"nope": int64(1)}),
		ch(3, "tasks", key("x"), change.Insert, map[string]any{"done": "yes"}),
		ch(4, "tasks", key("x"), change.Insert, map[string]any{"title": nil}),
		ch(5, "tasks", key("x", "y"), change.Insert, map[string]any{}),
		ch(6, "tasks", []byte{0x06, 0, 0, 0, 0}, change.Insert, map[string]any{}),
		ch(7, "_hearth_violations", key("x"), change.Insert, map[string]any{}),
		ch(8, "tasks", key("x"), change.Delete, nil),
		ch(9, "tasks", key("ok"), change.Insert, map[string]any{"title": "fine", "done": int64(0)}),
	}}
	bad.Changes[7].Stamp.Node = "someone-else"
	future := ch(10, "tasks", key("future"), change.Insert, map[string]any{"title": "from 2999"})
	future.Stamp.TS = hlc.Make(time.Date(2999, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), 0)
	bad.Changes = append(bad.Changes, future)
	r.send(bad, 1)
	ack, ok := r.recv().(wire.Ack)
	if !ok || len(ack.Results) != 10 {
		t.Fatalf("want an ack with 10 verdicts, got %#v", ack)
	}
	wantCodes := []string{"UNKNOWN_TABLE", "UNKNOWN_COLUMN", "TYPE_MISMATCH", "TYPE_MISMATCH", "BAD_KEY", "BAD_KEY", "FORBIDDEN", "BAD_CHANGE", "", "CLOCK_SKEW"}
	for i, res := range ack.Results {
		if wantCodes[i] == "" {
			if res.State != wire.Acknowledged || res.Pos == 0 {
				t.Fatalf("seq %d: %+v", res.Seq, res)
			}
			continue
		}
		if res.State != wire.Refused || res.Code != wantCodes[i] || res.Detail == "" {
			t.Fatalf("seq %d: got %s %s (%s), want refused %s", res.Seq, res.State, res.Code, res.Detail, wantCodes[i])
		}
	}
	// A repeat gets the same verdicts and stores nothing twice.
	r.send(bad, 1)
	again := r.recv().(wire.Ack)
	for i := range again.Results {
		if again.Results[i].State != ack.Results[i].State || again.Results[i].Pos != ack.Results[i].Pos || again.Results[i].Code != ack.Results[i].Code {
			t.Fatalf("repeat of seq %d: %+v vs %+v", again.Results[i].Seq, again.Results[i], ack.Results[i])
		}
	}

	// Over the size limit: TOO_LARGE, and the connection goes on.
	big := make([]byte, 100<<10)
	r.send(wire.Push{ID: 3, Changes: []wire.Pushed{ch(11, "tasks", key("big"), change.Insert, map[string]any{"note": big})}}, 1)
	r.expectError(wire.CodeTooLarge)
	r.send(wire.Ping{ID: 4}, 1)
	if p, ok := r.recv().(wire.Pong); !ok || p.Re != 4 {
		t.Fatal("the connection must survive an oversized message")
	}
	// Messages only the server sends, and a schema version change.
	r.send(wire.Welcome{}, 1)
	r.expectError(wire.CodeBadRequest)
	r.send(wire.Ping{ID: 5}, 7)
	r.expectError(wire.CodeBadRequest)
	r.send(wire.Subscribe{After: 1 << 40}, 1)
	r.expectError(wire.CodeBadRequest)
	r.send(wire.SnapshotRequest{ID: 6, At: 1 << 40, Limit: 10}, 1)
	r.expectError(wire.CodeBadRequest)

	// The server still syncs real devices.
	d := newDevice(t, "d", h, nil, client.Config{}).start()
	d.mustExec(`INSERT INTO tasks(id, title) VALUES ('after', 'still works')`)
	d.synced(h)
	waitFor(t, "the raw client's row at the device", func() bool { return len(d.query(`SELECT 1 FROM tasks WHERE id = 'ok'`)) == 1 })
}

// TestInvariantViolationIsFlaggedNotRejected: a change that breaks a
// server invariant is stored and synced, its journal entry is flagged
// with the violation, and the violation reaches every client as a row.
func TestInvariantViolationIsFlaggedNotRejected(t *testing.T) {
	forEachStore(t, testInvariantViolationIsFlaggedNotRejected)
}

func testInvariantViolationIsFlaggedNotRejected(t *testing.T, db *backend) {
	noShouting := func(ctx context.Context, q store.Querier, ch syncserver.Change) (string, error) {
		if ch.Table != "tasks" || ch.Op == "delete" {
			return "", nil
		}
		rows, err := q.Query(ctx, `SELECT title FROM tasks WHERE id = ?`, ch.Key[0])
		if err != nil {
			return "", err
		}
		if len(rows) == 1 && rows[0][0] == strings.ToUpper(rows[0][0].(string)) && rows[0][0] != "" {
			return "task titles must not be all caps", nil
		}
		return "", nil
	}
	h := db.server(t, syncserver.Config{Invariants: []syncserver.Invariant{noShouting}})
	a := newDevice(t, "a", h, nil, client.Config{}).start()
	b := newDevice(t, "b", h, nil, client.Config{}).start()
	a.mustExec(`INSERT INTO tasks(id, title) VALUES ('calm', 'fine'), ('loud', 'HELLO')`)
	a.synced(h)
	waitFor(t, "the violation at b", func() bool {
		return len(b.query(`SELECT 1 FROM _hearth_violations`)) == 1 && len(b.query(`SELECT 1 FROM tasks`)) == 2
	})
	waitFor(t, "the violation at a", func() bool { return len(a.query(`SELECT 1 FROM _hearth_violations`)) == 1 })
	v := b.query(`SELECT tbl, client, message FROM _hearth_violations`)[0]
	if v[0] != "tasks" || v[1] != a.j.Node() || v[2] != "task titles must not be all caps" {
		t.Fatalf("violation row: %v", v)
	}
	flagged := a.query(`SELECT detail FROM _hearth_journal WHERE state = 'flagged'`)
	if len(flagged) != 1 || flagged[0][0] != "task titles must not be all caps" {
		t.Fatalf("flagged entries: %v", flagged)
	}
	if st := a.status(); st.Flagged != 1 {
		t.Fatalf("status: %+v", st)
	}
	if a.tasks() != b.tasks() || a.tasks() != h.serverTasks() {
		t.Fatal("diverged")
	}
}

// TestRefusedChangeRollsBackToServerValue: the server refuses a change
// (authorization); the device rolls the row back to the server's value,
// keeps its later accepted change to the row, and drops a refused insert.
func TestRefusedChangeRollsBackToServerValue(t *testing.T) {
	forEachStore(t, testRefusedChangeRollsBackToServerValue)
}

func testRefusedChangeRollsBackToServerValue(t *testing.T, db *backend) {
	noMallory := func(ctx context.Context, principal string, ch syncserver.Change) error {
		if ch.Values["assignee"] == "mallory" {
			return errors.New("mallory may not be assigned tasks")
		}
		if id, _ := ch.Key[0].(string); strings.HasPrefix(id, "locked-") {
			return errors.New("locked rows are read-only")
		}
		return nil
	}
	h := db.server(t, syncserver.Config{Authorize: noMallory})
	a := newDevice(t, "a", h, nil, client.Config{}).start()
	a.mustExec(`INSERT INTO tasks(id, title) VALUES ('t1', 'original')`)
	a.synced(h)

	a.net.setDown(true)
	a.mustExec(`UPDATE tasks SET title = 'hijacked', assignee = 'mallory' WHERE id = 't1'`)
	a.mustExec(`UPDATE tasks SET done = 1 WHERE id = 't1'`)
	a.mustExec(`INSERT INTO tasks(id, title) VALUES ('locked-1', 'nope')`)
	a.net.setDown(false)
	a.client.Online(true)
	a.synced(h)

	row := a.query(`SELECT title, assignee, done FROM tasks WHERE id = 't1'`)
	if len(row) != 1 || row[0][0] != "original" || row[0][1] != nil || row[0][2] != int64(1) {
		t.Fatalf("t1 must be the server's value plus the accepted later change: %v", row)
	}
	if got := a.query(`SELECT 1 FROM tasks WHERE id = 'locked-1'`); len(got) != 0 {
		t.Fatal("a refused insert must be rolled back")
	}
	refused := a.query(`SELECT code, detail FROM _hearth_journal WHERE state = 'refused' ORDER BY seq`)
	if len(refused) != 2 || refused[0][0] != "FORBIDDEN" || !strings.Contains(refused[0][1].(string), "mallory") {
		t.Fatalf("refused entries: %v", refused)
	}
	if a.tasks() != h.serverTasks() {
		t.Fatalf("device and server differ:\n%s\n%s", a.tasks(), h.serverTasks())
	}
	if st := a.status(); st.Refused != 2 {
		t.Fatalf("status: %+v", st)
	}
}

// TestPlainHTTPAndShutdown: a plain HTTP request is told to upgrade; a
// shut-down server tells connected clients it is going away and refuses
// new connections with 503.
func TestPlainHTTPAndShutdown(t *testing.T) {
	h := fileServer(t, syncserver.Config{})
	resp, err := http.Get(h.http.URL + "/sync")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("plain GET: %d", resp.StatusCode)
	}
	r := dialRaw(t, h.url)
	r.send(wire.Hello{Client: "c", Cursor: -1}, 1)
	r.recv()
	done := make(chan error, 1)
	go func() { done <- h.srv.Load().Shutdown(context.Background()) }()
	r.expectError(wire.CodeShuttingDown)
	r.ws.CloseNow() // a real client hangs up on SHUTTING_DOWN
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	resp, err = http.Get(h.http.URL + "/sync")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("after shutdown: %d", resp.StatusCode)
	}
	h.restart(syncserver.Config{}) // for the cleanup's Close
}

// TestConnectionWithoutHelloIsClosed: a socket that never introduces
// itself is closed after HelloTimeout (a review held 300 silent ones
// open), with a BAD_REQUEST saying why; one that says hello stays.
func TestConnectionWithoutHelloIsClosed(t *testing.T) {
	h := newHarness(t, syncserver.Config{HelloTimeout: 200 * time.Millisecond})
	silent := dialRaw(t, h.url)
	talker := dialRaw(t, h.url)
	talker.send(wire.Hello{Client: "talker", Cursor: -1}, 1)
	if _, ok := talker.recv().(wire.Welcome); !ok {
		t.Fatal("want welcome")
	}
	if e := silent.expectError(wire.CodeBadRequest); !strings.Contains(e.Message, "no hello") {
		t.Fatalf("silent connection told %q", e.Message)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := silent.ws.Read(ctx); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Fatalf("silent connection: %v, want a policy-violation close", err)
	}
	// The one that said hello outlives the timeout many times over.
	time.Sleep(600 * time.Millisecond)
	talker.send(wire.Ping{ID: 7}, 1)
	if _, ok := talker.recv().(wire.Pong); !ok {
		t.Fatal("the connection that said hello was closed")
	}
}
