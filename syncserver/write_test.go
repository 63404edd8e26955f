package syncserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hearthdb/hearth/internal/pgtest"
	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/client"
)

// Service tokens of the write tests (at least 32 characters).
const (
	tokenA = "test-service-token-a-0123456789abcdef"
	tokenB = "test-service-token-b-0123456789abcdef"
)

// writeAPI is the write endpoint of a harness's current server, on its
// own loopback HTTP server.
type writeAPI struct {
	t   testing.TB
	url string
}

func newWriteAPI(t testing.TB, h *harness, tokens ...string) *writeAPI {
	t.Helper()
	if tokens == nil {
		tokens = []string{tokenA, tokenB}
	}
	handler := h.srv.Load().WriteHandler(tokens)
	hs := httptest.NewServer(handler)
	t.Cleanup(hs.Close)
	return &writeAPI{t: t, url: hs.URL + "/v1/write"}
}

// writeReply is a response of the write endpoint.
type writeReply struct {
	status  int
	header  http.Header
	Results []struct {
		Status  string `json:"status"`
		Pos     int64  `json:"pos"`
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"results"`
	Head    int64  `json:"head"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Retry   int64  `json:"retry_after_ms"`
}

func (a *writeAPI) do(method, token, key, body string) writeReply {
	a.t.Helper()
	req, err := http.NewRequest(method, a.url, strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	r := writeReply{status: resp.StatusCode, header: resp.Header}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		a.t.Fatalf("%s: Content-Type %q, body %s", method, ct, b)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		a.t.Fatalf("response %s: %v", b, err)
	}
	return r
}

// post writes with token A and wants 200.
func (a *writeAPI) post(key, body string) writeReply {
	a.t.Helper()
	r := a.do(http.MethodPost, tokenA, key, body)
	if r.status != http.StatusOK {
		a.t.Fatalf("write %s: status %d, %s: %s", body, r.status, r.Code, r.Message)
	}
	return r
}

func (r writeReply) statuses() string {
	var out []string
	for _, x := range r.Results {
		s := x.Status
		if x.Code != "" {
			s += ":" + x.Code
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

// TestBackendWriteReachesDevices: a backend upsert reaches an online
// device live and an offline one on reconnect, field by field against
// the devices' own edits, and a delete removes the row everywhere.
func TestBackendWriteReachesDevices(t *testing.T) { forEachStore(t, testBackendWriteReachesDevices) }

func testBackendWriteReachesDevices(t *testing.T, db *backend) {
	h := db.server(t, syncserver.Config{})
	api := newWriteAPI(t, h)
	online := newDevice(t, "online", h, nil, client.Config{}).start()
	offline := newDevice(t, "offline", h, nil, client.Config{})
	online.mustExec(`INSERT INTO tasks(id, title, assignee) VALUES ('t2', 'from device', 'ann')`)
	online.synced(h)
	// The offline device created t3 before the backend did: the
	// backend's newer insert is of the whole row, so the device's
	// assignee does not survive on it alone.
	offline.mustExec(`INSERT INTO tasks(id, title, assignee, done) VALUES ('t3', 'device t3', 'ann', 1)`)

	r := api.post("k1", `{"changes":[
		{"table":"tasks","op":"upsert","values":{"id":"t1","title":"Hi","done":true,"rank":2,"note":{"$base64":"AQL/"}}},
		{"table":"tasks","op":"upsert","values":{"id":"t2","done":1}},
		{"table":"tasks","op":"upsert","values":{"id":"t3","title":"backend t3"}}]}`)
	if r.statuses() != "applied applied applied" || r.Results[0].Pos <= 0 || r.Results[1].Pos <= r.Results[0].Pos || r.Head < r.Results[2].Pos {
		t.Fatalf("write: %+v", r)
	}
	// t1 is new: an insert, the columns it does not name at their
	// defaults; t2 exists: an update of done only, the device's title
	// and assignee stay.
	want := `SELECT id, title, done, assignee, typeof(rank), rank, hex(note) FROM tasks ORDER BY id`
	wantRows := "[[t1 Hi 1 <nil> real 2 0102FF] [t2 from device 1 ann null <nil> ] [t3 backend t3 0 <nil> null <nil> ]]"
	waitFor(t, "the online device to receive the write", func() bool {
		return fmt.Sprint(online.query(want)) == wantRows
	})
	offline.start()
	offline.synced(h)
	if got := fmt.Sprint(offline.query(want)); got != wantRows {
		t.Fatalf("offline device after reconnect: %s", got)
	}

	// A device's edit made before a backend write loses the field both
	// wrote and keeps the other.
	offline.stop()
	offline.mustExec(`UPDATE tasks SET title = 'offline title', assignee = 'bob' WHERE id = 't1'`)
	api.post("k2", `{"changes":[{"table":"tasks","op":"upsert","values":{"id":"t1","title":"backend title"}}]}`)
	offline.start()
	offline.synced(h)
	online.synced(h)
	if got, want := fmt.Sprint(offline.query(`SELECT title, assignee FROM tasks WHERE id = 't1'`)), "[[backend title bob]]"; got != want {
		t.Fatalf("offline device: %s, want %s", got, want)
	}
	converge(t, h, []*device{online, offline}, "after the backend update")

	r = api.post("k3", `{"changes":[{"table":"tasks","op":"delete","key":{"id":"t1"}}]}`)
	if r.statuses() != "applied" {
		t.Fatalf("delete: %+v", r)
	}
	waitFor(t, "the delete to reach the online device", func() bool {
		return fmt.Sprint(online.query(`SELECT id FROM tasks ORDER BY id`)) == "[[t2] [t3]]"
	})
	// The tombstone holds: an edit of the deleted row made before the
	// delete does not bring it back.
	offline.stop()
	offline.mustExec(`UPDATE tasks SET done = 0 WHERE id = 't1'`)
	offline.start()
	converge(t, h, []*device{online, offline}, "after the backend delete")
	if got := fmt.Sprint(offline.query(`SELECT id FROM tasks ORDER BY id`)); got != "[[t2] [t3]]" {
		t.Fatalf("after the delete: %s", got)
	}
}

// TestBackendWriteRefusesRowsAlone: each refused row comes back with the
// code a device gets, and the others apply.
func TestBackendWriteRefusesRowsAlone(t *testing.T) {
	var principals []string
	h := newHarness(t, syncserver.Config{Path: t.TempDir() + "/sync.db",
		Authorize: func(ctx context.Context, principal string, ch syncserver.Change) error {
			principals = append(principals, principal)
			if ch.Values["title"] == "forbidden" {
				return errors.New("no forbidden titles")
			}
			return nil
		}})
	api := newWriteAPI(t, h)
	r := api.post("mixed", `{"changes":[
		{"table":"tasks","op":"upsert","values":{"id":"ok1","title":"fine"}},
		{"table":"tasks","op":"upsert","values":{"id":"x1","nope":1}},
		{"table":"tasks","op":"upsert","values":{"id":"x2","done":1.5}},
		{"table":"tasks","op":"upsert","values":{"id":"x3","title":7}},
		{"table":"ghosts","op":"upsert","values":{"id":"x4"}},
		{"table":"tasks","op":"delete","key":{"nope":"x5"}},
		{"table":"tasks","op":"upsert","values":{"title":"no key"}},
		{"table":"tasks","op":"upsert","values":{"id":"x6","title":"forbidden"}},
		{"table":"_hearth_violations","op":"upsert","values":{"id":"x7"}},
		{"table":"tasks","op":"upsert","values":{"id":"ok2","done":2e0,"rank":1.25}}]}`)
	want := "applied refused:UNKNOWN_COLUMN refused:TYPE_MISMATCH refused:TYPE_MISMATCH refused:UNKNOWN_TABLE refused:BAD_KEY refused:BAD_KEY refused:FORBIDDEN refused:FORBIDDEN applied"
	if got := r.statuses(); got != want {
		t.Fatalf("outcomes:\n got %s\nwant %s\n%+v", got, want, r)
	}
	for _, x := range r.Results {
		if x.Status == "refused" && (x.Message == "" || x.Pos != 0) {
			t.Errorf("refusal without a message or with a position: %+v", x)
		}
	}
	if got := fmt.Sprint(h.serverQuery(`SELECT id, title, done, rank FROM tasks ORDER BY id`)); got != "[[ok1 fine 0 <nil>] [ok2  2 1.25]]" {
		t.Fatalf("server rows: %s", got)
	}
	if want := syncserver.ServicePrincipal(tokenA); len(principals) == 0 || principals[0] != want || !strings.HasPrefix(want, "service:") || len(want) != len("service:")+8 {
		t.Fatalf("Authorize saw principals %v, want %s", principals, want)
	}
}

// TestBackendWriteIdempotency: a retry applies nothing twice; the same
// key for other content is refused, whatever its length; keys are per
// token.
func TestBackendWriteIdempotency(t *testing.T) { forEachStore(t, testBackendWriteIdempotency) }

func testBackendWriteIdempotency(t *testing.T, db *backend) {
	h := db.server(t, syncserver.Config{})
	api := newWriteAPI(t, h)
	body := `{"changes":[{"table":"tasks","op":"upsert","values":{"id":"a","done":1}},{"table":"tasks","op":"upsert","values":{"id":"b","done":"x"}}]}`
	first := api.post("once", body)
	logLen := func() any { return h.serverQuery(`SELECT count(*) FROM _hearth_log`)[0][0] }
	before := logLen()
	// A device changes the row in between: the retry must not undo it.
	api.post("between", `{"changes":[{"table":"tasks","op":"upsert","values":{"id":"a","done":5}}]}`)
	again := api.post("once", body)
	if fmt.Sprint(again.Results) != fmt.Sprint(first.Results) || again.statuses() != "applied refused:TYPE_MISMATCH" {
		t.Fatalf("retry answered %+v, first %+v", again.Results, first.Results)
	}
	if got := fmt.Sprint(h.serverQuery(`SELECT done FROM tasks WHERE id = 'a'`)); got != "[[5]]" {
		t.Fatalf("the retry applied again: done %s", got)
	}
	if after := logLen(); fmt.Sprint(after) == fmt.Sprint(before) {
		t.Fatalf("log did not move for the write in between")
	}
	headBefore := again.Head

	// Whitespace and key order do not make another request.
	same := `{"changes":[{"op":"upsert","table":"tasks","values":{"done":1,"id":"a"}},  {"table":"tasks","op":"upsert","values":{"done":"x","id":"b"}}]}`
	if r := api.post("once", same); r.statuses() != "applied refused:TYPE_MISMATCH" {
		t.Fatalf("equal content: %+v", r)
	}
	for _, other := range []string{
		`{"changes":[{"table":"tasks","op":"upsert","values":{"id":"a","done":2}},{"table":"tasks","op":"upsert","values":{"id":"b","done":"x"}}]}`,
		`{"changes":[{"table":"tasks","op":"upsert","values":{"id":"a","done":1}}]}`,
		`{"changes":[{"table":"tasks","op":"upsert","values":{"id":"a","done":1}},{"table":"tasks","op":"upsert","values":{"id":"b","done":"x"}},{"table":"tasks","op":"upsert","values":{"id":"c"}}]}`,
	} {
		r := api.do(http.MethodPost, tokenA, "once", other)
		if r.status != http.StatusUnprocessableEntity || r.Code != syncserver.CodeIdempotencyMismatch {
			t.Fatalf("reused key, other content %s: %d %s %s", other, r.status, r.Code, r.Message)
		}
	}
	if got := fmt.Sprint(h.serverQuery(`SELECT id, done FROM tasks ORDER BY id`)); got != "[[a 5]]" {
		t.Fatalf("a mismatched retry applied something: %s", got)
	}
	// Concurrent retries of a new write: one applies, all get its outcome.
	concurrent := `{"changes":[{"table":"tasks","op":"upsert","values":{"id":"e","title":"once"}}]}`
	replies := make(chan writeReply, 6)
	for range cap(replies) {
		go func() { replies <- api.do(http.MethodPost, tokenA, "concurrent", concurrent) }()
	}
	var firstPos int64
	for range cap(replies) {
		r := <-replies
		if r.status != http.StatusOK || r.statuses() != "applied" || (firstPos != 0 && r.Results[0].Pos != firstPos) {
			t.Fatalf("concurrent retry: %+v", r)
		}
		firstPos = r.Results[0].Pos
	}
	keyE, err := change.EncodeKey("e")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(h.serverQuery(`SELECT count(*) FROM _hearth_log WHERE tbl = 'tasks' AND pk = $1`, keyE)); got != "[[1]]" {
		t.Fatalf("concurrent retries logged %s entries", got)
	}
	// The same key from another token is another write.
	rb := api.do(http.MethodPost, tokenB, "once", `{"changes":[{"table":"tasks","op":"upsert","values":{"id":"c"}}]}`)
	if rb.status != http.StatusOK || rb.statuses() != "applied" || rb.Head <= headBefore {
		t.Fatalf("token B: %+v", rb)
	}
	// The Go API: the same key under another principal, json.Number and
	// Go numbers alike.
	res, err := h.srv.Load().Write(context.Background(), syncserver.WriteRequest{Principal: "service:billing", IdempotencyKey: "once",
		Changes: []syncserver.RowWrite{{Table: "tasks", Op: syncserver.OpUpsert, Values: map[string]any{"id": "d", "done": json.Number("3"), "rank": 4}}}})
	if err != nil || len(res.Results) != 1 || res.Results[0].Status != syncserver.WriteApplied {
		t.Fatalf("Write: %+v %v", res, err)
	}
	if rows := h.serverQuery(`SELECT done, rank FROM tasks WHERE id = 'd'`); fmt.Sprintf("%T %T", rows[0]...) != "int64 float64" || fmt.Sprint(rows) != "[[3 4]]" {
		t.Fatalf("Write's row: %v (%T %T)", rows, rows[0][0], rows[0][1])
	}
}

// TestBackendWriteScopes: a backend write's rows go to the scopes their
// scope column names, and only there; invariants flag them too.
func TestBackendWriteScopes(t *testing.T) {
	flagBad := func(ctx context.Context, q store.Querier, ch syncserver.Change) (string, error) {
		if ch.Values["title"] == "bad" {
			return "titles must not be bad", nil
		}
		return "", nil
	}
	h := scopedServer(t, &backend{name: "sqlite", path: t.TempDir() + "/sync.db"}, flagBad)
	api := newWriteAPI(t, h)
	scoped := []appschema.Migration{scopedMigration}
	d1 := newDevice(t, "w1-user", h, scoped, fastConfig(asUser(h, "u1", "w1"))).start()
	d2 := newDevice(t, "w2-user", h, scoped, fastConfig(asUser(h, "u2", "w2"))).start()
	d1.synced(h)
	d2.synced(h)
	r := api.post("scoped", `{"changes":[
		{"table":"tasks","op":"upsert","values":{"id":"t1","workspace_id":"w1","title":"one"}},
		{"table":"tasks","op":"upsert","values":{"id":"t2","workspace_id":"w2","title":"bad"}}]}`)
	if r.statuses() != "applied flagged" || r.Results[1].Message != "titles must not be bad" || r.Results[1].Pos <= 0 {
		t.Fatalf("write: %+v", r)
	}
	d1.synced(h)
	d2.synced(h)
	waitFor(t, "both devices to receive their rows", func() bool {
		return fmt.Sprint(d1.query(`SELECT id, title FROM tasks`)) == "[[t1 one]]" &&
			fmt.Sprint(d2.query(`SELECT id, title FROM tasks`)) == "[[t2 bad]]"
	})
	waitFor(t, "the violation row to reach the w2 device", func() bool {
		return fmt.Sprint(d2.query(`SELECT tbl, message FROM _hearth_violations`)) == "[[tasks titles must not be bad]]"
	})
	if got := fmt.Sprint(d1.query(`SELECT count(*) FROM _hearth_violations`)); got != "[[0]]" {
		t.Fatalf("the w1 device received another scope's violation: %s", got)
	}
}

// TestBackendWriteBadRequests: each malformed, unauthenticated, oversized
// or excessive request gets its status and code, and applies nothing.
func TestBackendWriteBadRequests(t *testing.T) {
	h := newHarness(t, syncserver.Config{Path: t.TempDir() + "/sync.db", MaxMessageBytes: 4096, MaxPushBatch: 3, PushRate: 1, PushBurst: 3})
	api := newWriteAPI(t, h, tokenA, "short-token")
	one := `{"changes":[{"table":"tasks","op":"upsert","values":{"id":"t1"}}]}`
	huge := `{"changes":[{"table":"tasks","op":"upsert","values":{"id":"t1","title":"` + strings.Repeat("x", 5000) + `"}}]}`
	four := `{"changes":[` + strings.Repeat(`{"table":"tasks","op":"upsert","values":{"id":"t1"}},`, 3) + `{"table":"tasks","op":"upsert","values":{"id":"t1"}}]}`
	cases := []struct {
		name, method, token, key, body string
		status                         int
		code                           string
	}{
		{"GET", http.MethodGet, tokenA, "k", "", http.StatusMethodNotAllowed, syncserver.CodeMethodNotAllowed},
		{"no token", http.MethodPost, "", "k", one, http.StatusUnauthorized, "UNAUTHORIZED"},
		{"wrong token", http.MethodPost, tokenB, "k", one, http.StatusUnauthorized, "UNAUTHORIZED"},
		{"short token configured", http.MethodPost, "short-token", "k", one, http.StatusUnauthorized, "UNAUTHORIZED"},
		{"a JWT", http.MethodPost, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ", "k", one, http.StatusUnauthorized, "UNAUTHORIZED"},
		{"no idempotency key", http.MethodPost, tokenA, "", one, http.StatusBadRequest, "BAD_REQUEST"},
		{"idempotency key with a space", http.MethodPost, tokenA, "a b", one, http.StatusBadRequest, "BAD_REQUEST"},
		{"bad JSON", http.MethodPost, tokenA, "k", `{"changes":[`, http.StatusBadRequest, "BAD_REQUEST"},
		{"trailing data", http.MethodPost, tokenA, "k", one + `{}`, http.StatusBadRequest, "BAD_REQUEST"},
		{"unknown field", http.MethodPost, tokenA, "k", `{"changes":[],"extra":1}`, http.StatusBadRequest, "BAD_REQUEST"},
		{"no changes", http.MethodPost, tokenA, "k", `{"changes":[]}`, http.StatusBadRequest, "BAD_REQUEST"},
		{"unknown op", http.MethodPost, tokenA, "k", `{"changes":[{"table":"tasks","op":"insert","values":{"id":"t1"}}]}`, http.StatusBadRequest, "BAD_REQUEST"},
		{"delete without key", http.MethodPost, tokenA, "k", `{"changes":[{"table":"tasks","op":"delete"}]}`, http.StatusBadRequest, "BAD_REQUEST"},
		{"upsert with an array", http.MethodPost, tokenA, "k", `{"changes":[{"table":"tasks","op":"upsert","values":{"id":"t1","title":[1]}}]}`, http.StatusBadRequest, "BAD_REQUEST"},
		{"bad base64", http.MethodPost, tokenA, "k", `{"changes":[{"table":"tasks","op":"upsert","values":{"id":"t1","note":{"$base64":"!!"}}}]}`, http.StatusBadRequest, "BAD_REQUEST"},
		{"huge exponent", http.MethodPost, tokenA, "k", `{"changes":[{"table":"tasks","op":"upsert","values":{"id":"t1","done":1e999999999}}]}`, http.StatusBadRequest, "BAD_REQUEST"},
		{"too large", http.MethodPost, tokenA, "k", huge, http.StatusRequestEntityTooLarge, "TOO_LARGE"},
		{"batch too large", http.MethodPost, tokenA, "k", four, http.StatusUnprocessableEntity, "BATCH_TOO_LARGE"},
	}
	for _, c := range cases {
		r := api.do(c.method, c.token, c.key, c.body)
		if r.status != c.status || r.Code != c.code || r.Message == "" {
			t.Errorf("%s: %d %s %q, want %d %s", c.name, r.status, r.Code, r.Message, c.status, c.code)
		}
		if c.status == http.StatusMethodNotAllowed && r.header.Get("Allow") != http.MethodPost {
			t.Errorf("%s: Allow %q", c.name, r.header.Get("Allow"))
		}
		if c.status == http.StatusUnauthorized && r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: no WWW-Authenticate", c.name)
		}
	}
	if got := fmt.Sprint(h.serverQuery(`SELECT count(*) FROM _hearth_log`)); got != "[[0]]" {
		t.Fatalf("a refused request wrote %s log entries", got)
	}

	// The bucket holds 3 changes at 1 per second: a write of 3 takes it
	// all, the next is refused with the wait, and applies nothing.
	three := `{"changes":[{"table":"tasks","op":"upsert","values":{"id":"r1"}},{"table":"tasks","op":"upsert","values":{"id":"r2"}},{"table":"tasks","op":"upsert","values":{"id":"r3"}}]}`
	api.post("rate-1", three)
	r := api.do(http.MethodPost, tokenA, "rate-2", `{"changes":[{"table":"tasks","op":"upsert","values":{"id":"r4"}},{"table":"tasks","op":"upsert","values":{"id":"r5"}}]}`)
	if r.status != http.StatusTooManyRequests || r.Code != "RATE_LIMITED" || r.Retry <= 0 || r.header.Get("Retry-After") == "" || r.header.Get("Retry-After") == "0" {
		t.Fatalf("over the rate: %d %s retry %d ms, Retry-After %q", r.status, r.Code, r.Retry, r.header.Get("Retry-After"))
	}
	if got := fmt.Sprint(h.serverQuery(`SELECT count(*) FROM tasks`)); got != "[[3]]" {
		t.Fatalf("rows after the limited write: %s", got)
	}

	if err := h.srv.Load().Close(); err != nil {
		t.Fatal(err)
	}
	if r := api.do(http.MethodPost, tokenA, "late", one); r.status != http.StatusServiceUnavailable || r.Code != "SHUTTING_DOWN" {
		t.Fatalf("after shutdown: %d %s", r.status, r.Code)
	}
	_, err := h.srv.Load().Write(context.Background(), syncserver.WriteRequest{Principal: "p", IdempotencyKey: "k", Changes: []syncserver.RowWrite{{Table: "tasks", Op: "upsert", Values: map[string]any{"id": "z"}}}})
	var we *syncserver.WriteError
	if !errors.As(err, &we) || we.Code != "SHUTTING_DOWN" {
		t.Fatalf("Write after shutdown: %v", err)
	}
}

// TestWriteRequestGoAPIErrors: the Go API refuses a request as a whole
// with a stable code.
func TestWriteRequestGoAPIErrors(t *testing.T) {
	h := newHarness(t, syncserver.Config{Path: t.TempDir() + "/sync.db", MaxPushBatch: 2})
	srv := h.srv.Load()
	row := syncserver.RowWrite{Table: "tasks", Op: syncserver.OpUpsert, Values: map[string]any{"id": "a"}}
	for _, c := range []struct {
		name string
		req  syncserver.WriteRequest
		code string
	}{
		{"no principal", syncserver.WriteRequest{IdempotencyKey: "k", Changes: []syncserver.RowWrite{row}}, "BAD_REQUEST"},
		{"no key", syncserver.WriteRequest{Principal: "p", Changes: []syncserver.RowWrite{row}}, "BAD_REQUEST"},
		{"no changes", syncserver.WriteRequest{Principal: "p", IdempotencyKey: "k"}, "BAD_REQUEST"},
		{"too many", syncserver.WriteRequest{Principal: "p", IdempotencyKey: "k", Changes: []syncserver.RowWrite{row, row, row}}, "BATCH_TOO_LARGE"},
		{"bad op", syncserver.WriteRequest{Principal: "p", IdempotencyKey: "k", Changes: []syncserver.RowWrite{{Table: "tasks", Op: "merge", Values: map[string]any{"id": "a"}}}}, "BAD_REQUEST"},
		{"bad value", syncserver.WriteRequest{Principal: "p", IdempotencyKey: "k", Changes: []syncserver.RowWrite{{Table: "tasks", Op: "upsert", Values: map[string]any{"id": "a", "title": struct{}{}}}}}, "BAD_REQUEST"},
	} {
		_, err := srv.Write(context.Background(), c.req)
		var we *syncserver.WriteError
		if !errors.As(err, &we) || we.Code != c.code {
			t.Errorf("%s: %v, want %s", c.name, err, c.code)
		}
	}
	if got := fmt.Sprint(h.serverQuery(`SELECT count(*) FROM _hearth_log`)); got != "[[0]]" {
		t.Fatalf("a refused write logged %s entries", got)
	}
}

// TestBackendWriteAcrossInstances: a backend write to one instance on a
// shared PostgreSQL reaches a device connected to another, and a retry
// sent to the other instance applies nothing twice.
func TestBackendWriteAcrossInstances(t *testing.T) {
	db := &backend{name: "postgres", url: pgtest.URL(t)}
	h1 := db.server(t, syncserver.Config{})
	h2 := db.server(t, syncserver.Config{})
	api1, api2 := newWriteAPI(t, h1), newWriteAPI(t, h2)
	d := newDevice(t, "on-2", h2, nil, client.Config{}).start()
	d.synced(h2)
	body := `{"changes":[{"table":"tasks","op":"upsert","values":{"id":"x","title":"via instance 1"}}]}`
	first := api1.post("across", body)
	waitFor(t, "the device on instance 2 to receive the write", func() bool {
		return fmt.Sprint(d.query(`SELECT id, title FROM tasks`)) == "[[x via instance 1]]"
	})
	again := api2.post("across", body)
	if fmt.Sprint(again.Results) != fmt.Sprint(first.Results) {
		t.Fatalf("retry on instance 2: %+v, first %+v", again.Results, first.Results)
	}
	if r := api2.do(http.MethodPost, tokenA, "across", `{"changes":[{"table":"tasks","op":"upsert","values":{"id":"x","title":"other"}}]}`); r.status != http.StatusUnprocessableEntity || r.Code != syncserver.CodeIdempotencyMismatch {
		t.Fatalf("mismatch on instance 2: %d %s", r.status, r.Code)
	}
	if got := fmt.Sprint(h1.serverQuery(`SELECT count(*) FROM _hearth_log WHERE tbl = 'tasks'`)); got != "[[1]]" {
		t.Fatalf("log entries: %s", got)
	}
}
