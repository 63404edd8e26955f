package syncserver_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/wire"
)

// The scoped app: tasks belong to a workspace, a workspace row's scope
// is its own id, notes have no scope rule.
var (
	scopedMigration = appschema.Migration{Version: 1, SQL: `
CREATE TABLE workspaces(id TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '');
CREATE TABLE tasks(id TEXT PRIMARY KEY, workspace_id TEXT NOT NULL DEFAULT '', title TEXT NOT NULL DEFAULT '');
CREATE TABLE notes(id TEXT PRIMARY KEY, body TEXT NOT NULL DEFAULT '')`}
	scopedTables = []appschema.Table{{Name: "workspaces"}, {Name: "tasks"}, {Name: "notes"}}
	scopeRules   = map[string]string{"workspaces": "id", "tasks": "workspace_id"}
)

// scopedServer runs the scoped app; a connection's identity comes from
// its URL: ?user=…&ws=a,b (the JWT verifier's sub and ws, for tests).
func scopedServer(t *testing.T, db *backend, invariants ...syncserver.Invariant) *harness {
	return db.server(t, scopedConfig(invariants...))
}

// scopedConfig is scopedServer's configuration.
func scopedConfig(invariants ...syncserver.Invariant) syncserver.Config {
	return syncserver.Config{
		Invariants: invariants,
		Migrations: []appschema.Migration{scopedMigration}, Tables: scopedTables, Scopes: scopeRules,
		// The test identities' scopes are trusted: "*" is the admin.
		Grants: func(id syncserver.Identity) (read, write []string) { return id.Scopes, id.Scopes },
		Identify: func(r *http.Request) (syncserver.Identity, error) {
			q := r.URL.Query()
			id := syncserver.Identity{Principal: q.Get("user")}
			if ws := q.Get("ws"); ws != "" {
				id.Scopes = strings.Split(ws, ",")
			}
			return id, nil
		},
	}
}

func asUser(h *harness, user string, ws ...string) string {
	return h.url + "?" + url.Values{"user": {user}, "ws": {strings.Join(ws, ",")}}.Encode()
}

// pusher stamps and pushes changes over a raw connection.
type pusher struct {
	r    *raw
	node string
	seq  int64
	id   int64
	ts   hlc.Timestamp
}

func rawSession(t *testing.T, url, node string, scopes []string) *pusher {
	t.Helper()
	r := dialRaw(t, url)
	r.send(wire.Hello{Client: node, Cursor: -1, Scopes: scopes}, 1)
	if m, ok := r.recv().(wire.Welcome); !ok {
		t.Fatalf("%s: want welcome, got %#v", node, m)
	}
	return &pusher{r: r, node: node, ts: hlc.Make(time.Now().UnixMilli(), 0)}
}

func (p *pusher) change(table, id string, op change.Op, values map[string]any) wire.Pushed {
	p.seq++
	p.ts++
	key, err := change.EncodeKey(id)
	if err != nil {
		p.r.t.Fatal(err)
	}
	return wire.Pushed{Seq: p.seq, Change: change.Change{Table: table, Key: key, Op: op, Values: values, Stamp: hlc.Stamp{TS: p.ts, Node: p.node}, Schema: 1}}
}

// push sends a batch and returns its ack, skipping log traffic.
func (p *pusher) push(chs ...wire.Pushed) wire.Ack {
	p.r.t.Helper()
	p.id++
	p.r.send(wire.Push{ID: p.id, Changes: chs}, 1)
	for {
		switch m := p.r.recv().(type) {
		case wire.Ack:
			return m
		case wire.Changes:
		default:
			p.r.t.Fatalf("want ack, got %#v", m)
		}
	}
}

func keyID(t testing.TB, key []byte) string {
	v, err := change.DecodeKey(key)
	if err != nil || len(v) != 1 {
		t.Fatalf("bad key %x", key)
	}
	return v[0].(string)
}

// reader collects what one connection receives and checks each change
// against the scope history of the rows: a change to a row that was
// never in the reader's scopes, or carrying another scope's
// workspace_id, is a leak.
type reader struct {
	t      *testing.T
	scopes []string
	// history holds every scope each row was ever in.
	history map[string]map[string]bool
}

func (rd *reader) check(what string, ch change.Change) {
	rd.t.Helper()
	if ch.Table == "notes" {
		return
	}
	id := keyID(rd.t, ch.Key)
	if ws, ok := ch.Values["workspace_id"]; ok && !slices.Contains(rd.scopes, ws.(string)) {
		rd.t.Fatalf("%s: %s %s carries workspace %v, outside %v", what, ch.Table, id, ws, rd.scopes)
	}
	if ch.Table == "workspaces" && !slices.Contains(rd.scopes, id) {
		rd.t.Fatalf("%s: workspace %s outside %v", what, id, rd.scopes)
	}
	if ch.Table == "tasks" {
		for _, sc := range rd.scopes {
			if rd.history[id][sc] {
				return
			}
		}
		rd.t.Fatalf("%s: task %s was only ever in %v, outside %v", what, id, rd.history[id], rd.scopes)
	}
}

// TestScopedPullNeverLeaks writes random tasks across four workspaces,
// with updates, moves between workspaces and deletes, and checks every
// change a two-workspace user receives, live and by snapshot, and that
// its replica ends with exactly the rows of its workspaces.
func TestScopedPullNeverLeaks(t *testing.T) { forEachStore(t, testScopedPullNeverLeaks) }

func testScopedPullNeverLeaks(t *testing.T, db *backend) {
	h := scopedServer(t, db)
	all := []string{"w1", "w2", "w3", "w4"}
	mine := []string{"w1", "w2"}
	admin := rawSession(t, asUser(h, "admin", "*"), "admin", nil)
	live := newDevice(t, "live", h, []appschema.Migration{scopedMigration}, fastConfig(asUser(h, "ann", mine...))).start()
	liveRaw := rawSession(t, asUser(h, "ann", mine...), "ann-raw", nil)
	liveRaw.r.send(wire.Subscribe{After: 0}, 1)

	rd := &reader{t: t, scopes: mine, history: map[string]map[string]bool{}}
	where := map[string]string{} // task → workspace now
	rng := rand.New(rand.NewPCG(1, 2))
	var batch []wire.Pushed
	for _, ws := range all {
		batch = append(batch, admin.change("workspaces", ws, change.Insert, map[string]any{"name": "space " + ws}))
	}
	batch = append(batch, admin.change("notes", "n1", change.Insert, map[string]any{"body": "for everyone"}))
	admin.push(batch...)
	n := 0
	for round := 0; round < 20; round++ {
		batch = nil
		for range 10 {
			var ids []string
			for id := range where {
				ids = append(ids, id)
			}
			slices.Sort(ids)
			switch k := rng.IntN(10); {
			case k < 4 || len(ids) == 0:
				n++
				id := fmt.Sprintf("t%03d", n)
				ws := all[rng.IntN(len(all))]
				where[id] = ws
				rd.history[id] = map[string]bool{ws: true}
				batch = append(batch, admin.change("tasks", id, change.Insert, map[string]any{"workspace_id": ws, "title": "task " + id}))
			case k < 7:
				id := ids[rng.IntN(len(ids))]
				batch = append(batch, admin.change("tasks", id, change.Update, map[string]any{"title": fmt.Sprintf("edit %d", round)}))
			case k < 9:
				id := ids[rng.IntN(len(ids))]
				ws := all[rng.IntN(len(all))]
				where[id] = ws
				rd.history[id][ws] = true
				batch = append(batch, admin.change("tasks", id, change.Update, map[string]any{"workspace_id": ws}))
			default:
				id := ids[rng.IntN(len(ids))]
				delete(where, id)
				batch = append(batch, admin.change("tasks", id, change.Delete, nil))
			}
		}
		ack := admin.push(batch...)
		for _, res := range ack.Results {
			if res.State != wire.Acknowledged {
				t.Fatalf("admin push refused: %+v", res)
			}
		}
	}
	head := admin.seq + 1 // every change acknowledged; positions start at 1

	// Live: every streamed change, up to the head.
	var upto int64
	for upto < head-1 {
		m, ok := liveRaw.r.recv().(wire.Changes)
		if !ok {
			continue
		}
		for _, e := range m.Entries {
			rd.check("live", e.Change)
		}
		upto = m.Upto
	}

	// Catch-up from the store: after a restart the in-memory tail is
	// empty, and a client at position 0 reads the log from the store.
	admin.r.ws.CloseNow() // raw peers do not answer the shutdown's close
	liveRaw.r.ws.CloseNow()
	cfg := h.cfg
	cfg.Store = nil
	h.restart(cfg)
	catchUp := rawSession(t, asUser(h, "ann", mine...), "ann-catch-up", nil)
	catchUp.r.send(wire.Subscribe{After: 0}, 1)
	for upto = 0; upto < head-1; {
		m, ok := catchUp.r.recv().(wire.Changes)
		if !ok {
			continue
		}
		for _, e := range m.Entries {
			rd.check("catch-up", e.Change)
		}
		upto = m.Upto
	}

	// Snapshot: a new connection's initial sync, chunk by chunk.
	snap := rawSession(t, asUser(h, "ann", mine...), "ann-snap", nil)
	req := wire.SnapshotRequest{ID: 1, At: -1, Limit: 7}
	rows := 0
	for {
		snap.r.send(req, 1)
		m := snap.r.recv()
		c, ok := m.(wire.Chunk)
		if !ok {
			t.Fatalf("want chunk, got %#v", m)
		}
		for _, ch := range c.Changes {
			rd.check("snapshot", ch)
		}
		rows += int(c.Rows)
		if c.Done {
			break
		}
		req.At, req.After = c.At, c.Next
		req.ID++
	}

	// Replicas: the live device and one that starts now hold exactly the
	// rows of w1 and w2 (moved-out rows evicted, moved-in rows whole).
	late := newDevice(t, "late", h, []appschema.Migration{scopedMigration}, fastConfig(asUser(h, "ann", mine...))).start()
	var want []string
	for id, ws := range where {
		if slices.Contains(mine, ws) {
			want = append(want, id+"@"+ws)
		}
	}
	slices.Sort(want)
	wantServer := h.serverQuery(`SELECT id, workspace_id, title FROM tasks WHERE workspace_id IN ('w1', 'w2') ORDER BY id`)
	for _, d := range []*device{live, late} {
		waitFor(t, d.name+" to hold exactly w1 and w2", func() bool {
			got := d.query(`SELECT id, workspace_id, title FROM tasks ORDER BY id`)
			return dumpRows(got) == dumpRows(wantServer)
		})
		if got := d.query(`SELECT id FROM workspaces ORDER BY id`); dumpRows(got) != dumpRows([][]any{{"w1"}, {"w2"}}) {
			t.Fatalf("%s workspaces: %s", d.name, dumpRows(got))
		}
		if got := d.query(`SELECT body FROM notes`); len(got) != 1 {
			t.Fatalf("%s: the unscoped note did not sync: %v", d.name, got)
		}
	}
	if len(want) != len(wantServer) {
		t.Fatalf("model %v, server %s", want, dumpRows(wantServer))
	}
	t.Logf("%d tasks written, %d in w1/w2; snapshot sent %d rows", n, len(want), rows)
}

// TestScopedPushRefusesForgedChanges: a w1 user's batch mixing its own
// changes with changes to w2 rows, a move into w2 and a row without a
// scope: the forged ones are refused with FORBIDDEN (rolled back to the
// server's row if the user may see it, else to no row), the rest apply.
func TestScopedPushRefusesForgedChanges(t *testing.T) {
	forEachStore(t, testScopedPushRefusesForgedChanges)
}

func testScopedPushRefusesForgedChanges(t *testing.T, db *backend) {
	h := scopedServer(t, db)
	admin := rawSession(t, asUser(h, "admin", "*"), "admin", nil)
	admin.push(
		admin.change("workspaces", "w1", change.Insert, map[string]any{"name": "one"}),
		admin.change("workspaces", "w2", change.Insert, map[string]any{"name": "two"}),
		admin.change("tasks", "theirs", change.Insert, map[string]any{"workspace_id": "w2", "title": "secret"}),
		admin.change("tasks", "mine", change.Insert, map[string]any{"workspace_id": "w1", "title": "mine"}),
	)
	ann := rawSession(t, asUser(h, "ann", "w1"), "ann", nil)
	ack := ann.push(
		ann.change("tasks", "new-ok", change.Insert, map[string]any{"workspace_id": "w1", "title": "fine"}),   // 1
		ann.change("tasks", "new-w2", change.Insert, map[string]any{"workspace_id": "w2", "title": "forged"}), // 2
		ann.change("tasks", "theirs", change.Update, map[string]any{"title": "overwritten"}),                  // 3
		ann.change("tasks", "theirs", change.Delete, nil),                                                     // 4
		ann.change("tasks", "mine", change.Update, map[string]any{"workspace_id": "w2"}),                      // 5
		ann.change("tasks", "ghost", change.Update, map[string]any{"title": "no scope"}),                      // 6
		ann.change("workspaces", "w2", change.Update, map[string]any{"name": "taken"}),                        // 7
		ann.change("notes", "n", change.Insert, map[string]any{"body": "unscoped"}),                           // 8
		ann.change("tasks", "mine", change.Update, map[string]any{"title": "still mine"}),                     // 9
	)
	wantState := []string{"acknowledged", "refused", "refused", "refused", "refused", "refused", "refused", "acknowledged", "acknowledged"}
	for i, res := range ack.Results {
		if res.State != wantState[i] {
			t.Fatalf("change %d: %s %s %s, want %s", i+1, res.State, res.Code, res.Detail, wantState[i])
		}
		if res.State == wire.Refused && res.Code != store.CodeForbidden {
			t.Fatalf("change %d: code %s, want FORBIDDEN", i+1, res.Code)
		}
		for _, ch := range res.Row {
			if ws, ok := ch.Values["workspace_id"]; ok && ws != "w1" {
				t.Fatalf("change %d: the rollback row leaks workspace %v: %+v", i+1, ws, res.Row)
			}
			if ch.Table == "workspaces" {
				t.Fatalf("change %d: the rollback row leaks workspace w2: %+v", i+1, res.Row)
			}
		}
	}
	// The move's rollback is the row as ann may see it, still in w1.
	if row := ack.Results[4].Row; len(row) == 0 || row[0].Values["workspace_id"] != "w1" {
		t.Fatalf("move rollback: %+v", row)
	}
	got := h.serverQuery(`SELECT id, workspace_id, title FROM tasks ORDER BY id`)
	want := [][]any{{"mine", "w1", "still mine"}, {"new-ok", "w1", "fine"}, {"theirs", "w2", "secret"}}
	if dumpRows(got) != dumpRows(want) {
		t.Fatalf("server tasks: %s, want %s", dumpRows(got), dumpRows(want))
	}
	if got := h.serverQuery(`SELECT name FROM workspaces WHERE id = 'w2'`); dumpRows(got) != dumpRows([][]any{{"two"}}) {
		t.Fatalf("w2: %s", dumpRows(got))
	}

	// A device's forged move syncs back: its row returns to w1.
	d := newDevice(t, "ann-device", h, []appschema.Migration{scopedMigration}, fastConfig(asUser(h, "ann", "w1"))).start()
	d.synced(h)
	d.mustExec(`UPDATE tasks SET workspace_id = 'w2' WHERE id = 'mine'`)
	d.client.Notify()
	waitFor(t, "the forged move to be refused and rolled back", func() bool {
		return d.status().Refused == 1 && dumpRows(d.query(`SELECT workspace_id FROM tasks WHERE id = 'mine'`)) == dumpRows([][]any{{"w1"}})
	})
}

// TestScopeSubscriptions: a client granted w1..w3 subscribes to w1 only,
// gets only w1 (and the unscoped tables), then adds w2 with a scope
// snapshot that holds just w2's rows; the live log then carries w1 and
// w2 but not w3. A scope the identity lacks is never added.
func TestScopeSubscriptions(t *testing.T) { forEachStore(t, testScopeSubscriptions) }

func testScopeSubscriptions(t *testing.T, db *backend) {
	h := scopedServer(t, db)
	admin := rawSession(t, asUser(h, "admin", "*"), "admin", nil)
	var batch []wire.Pushed
	for _, ws := range []string{"w1", "w2", "w3", "w4"} {
		batch = append(batch, admin.change("workspaces", ws, change.Insert, map[string]any{"name": ws}))
		for i := range 3 {
			batch = append(batch, admin.change("tasks", fmt.Sprintf("%s-t%d", ws, i), change.Insert, map[string]any{"workspace_id": ws}))
		}
	}
	batch = append(batch, admin.change("notes", "n", change.Insert, map[string]any{"body": "x"}))
	admin.push(batch...)

	ann := rawSession(t, asUser(h, "ann", "w1", "w2", "w3"), "ann", []string{"w1"})
	snapshot := func(id int64, scopes []string) (ids []string, at int64) {
		t.Helper()
		ann.r.send(wire.SnapshotRequest{ID: id, At: -1, Limit: 100, Scopes: scopes}, 1)
		c, ok := ann.r.recv().(wire.Chunk)
		if !ok || !c.Done {
			t.Fatalf("want one chunk, got %#v", c)
		}
		for _, ch := range c.Changes {
			ids = append(ids, ch.Table+":"+keyID(t, ch.Key))
		}
		slices.Sort(ids)
		return ids, c.At
	}
	got, at := snapshot(1, nil)
	want := []string{"notes:n", "tasks:w1-t0", "tasks:w1-t1", "tasks:w1-t2", "workspaces:w1"}
	if !slices.Equal(got, want) {
		t.Fatalf("w1 subscription snapshot: %v, want %v", got, want)
	}
	ann.r.send(wire.Subscribe{After: at}, 1)
	got, _ = snapshot(2, []string{"w2", "w4"})
	want = []string{"tasks:w2-t0", "tasks:w2-t1", "tasks:w2-t2", "workspaces:w2"}
	if !slices.Equal(got, want) {
		t.Fatalf("added w2 (and ungranted w4): %v, want %v", got, want)
	}
	ack := admin.push(
		admin.change("tasks", "w1-new", change.Insert, map[string]any{"workspace_id": "w1"}),
		admin.change("tasks", "w2-new", change.Insert, map[string]any{"workspace_id": "w2"}),
		admin.change("tasks", "w3-new", change.Insert, map[string]any{"workspace_id": "w3"}),
		admin.change("tasks", "w4-new", change.Insert, map[string]any{"workspace_id": "w4"}),
	)
	head := ack.Results[3].Pos
	var live []string
	for upto := at; upto < head; {
		m, ok := ann.r.recv().(wire.Changes)
		if !ok {
			continue
		}
		for _, e := range m.Entries {
			live = append(live, keyID(t, e.Key))
		}
		upto = m.Upto
	}
	if want := []string{"w1-new", "w2-new"}; !slices.Equal(live, want) {
		t.Fatalf("live after adding w2: %v, want %v", live, want)
	}

	// Without scopes in hello a client syncs every granted scope.
	bob := newDevice(t, "bob", h, []appschema.Migration{scopedMigration}, fastConfig(asUser(h, "bob", "w3", "w4"))).start()
	waitFor(t, "bob to hold w3 and w4", func() bool {
		return dumpRows(bob.query(`SELECT DISTINCT workspace_id FROM tasks ORDER BY 1`)) == dumpRows([][]any{{"w3"}, {"w4"}}) &&
			len(bob.query(`SELECT 1 FROM tasks`)) == 8
	})
}

// TestScopesBackfillExistingRows: rows written before the scope rules
// existed get their scope recorded when a server with the rules opens the
// store, so scoped users see (and may write) exactly their own.
func TestScopesBackfillExistingRows(t *testing.T) { forEachStore(t, testScopesBackfillExistingRows) }

func testScopesBackfillExistingRows(t *testing.T, db *backend) {
	h := scopedServer(t, db)
	cfg := h.cfg
	cfg.Store, cfg.Scopes = nil, nil
	h.restart(cfg)
	admin := rawSession(t, asUser(h, "admin"), "admin", nil)
	admin.push(
		admin.change("workspaces", "w1", change.Insert, map[string]any{"name": "one"}),
		admin.change("workspaces", "w2", change.Insert, map[string]any{"name": "two"}),
		admin.change("tasks", "a", change.Insert, map[string]any{"workspace_id": "w2", "title": "a"}),
		admin.change("tasks", "b", change.Insert, map[string]any{"workspace_id": "w2", "title": "b"}),
	)
	// A newer move of a: its recorded scope must be w1 with the move's
	// stamp, so that the older insert's w2 never wins again.
	admin.push(admin.change("tasks", "a", change.Update, map[string]any{"workspace_id": "w1"}))
	admin.r.ws.CloseNow()
	cfg.Scopes = scopeRules
	h.restart(cfg)
	d := newDevice(t, "ann", h, []appschema.Migration{scopedMigration}, fastConfig(asUser(h, "ann", "w1"))).start()
	defer func() {
		t.Logf("ann: %s / %s / %+v", dumpRows(d.query(`SELECT id, workspace_id FROM tasks`)), dumpRows(d.query(`SELECT id FROM workspaces`)), d.status())
	}()
	waitFor(t, "ann to hold w1's rows", func() bool {
		return dumpRows(d.query(`SELECT id, workspace_id FROM tasks`)) == dumpRows([][]any{{"a", "w1"}}) &&
			dumpRows(d.query(`SELECT id FROM workspaces`)) == dumpRows([][]any{{"w1"}})
	})
	ann := rawSession(t, asUser(h, "ann", "w1"), "ann-raw", nil)
	ack := ann.push(
		ann.change("tasks", "a", change.Update, map[string]any{"title": "mine now"}),
		ann.change("tasks", "b", change.Update, map[string]any{"title": "not mine"}),
	)
	if ack.Results[0].State != wire.Acknowledged || ack.Results[1].Code != store.CodeForbidden {
		t.Fatalf("after backfill: %+v", ack.Results)
	}
}

// TestCredentialWildcardIsLiteral: without Config.Grants a credential's
// "*" is a scope name like any, not every scope.
func TestCredentialWildcardIsLiteral(t *testing.T) {
	h := newHarness(t, syncserver.Config{
		Migrations: []appschema.Migration{scopedMigration}, Tables: scopedTables, Scopes: scopeRules,
		Identify: func(r *http.Request) (syncserver.Identity, error) {
			return syncserver.Identity{Principal: "eve", Scopes: []string{"*"}}, nil
		},
	})
	eve := rawSession(t, h.url, "eve", nil)
	ack := eve.push(eve.change("tasks", "x", change.Insert, map[string]any{"workspace_id": "w1"}))
	if ack.Results[0].Code != store.CodeForbidden {
		t.Fatalf("a credential's * wrote w1: %+v", ack.Results[0])
	}
}

// TestClientAddScopes: a device subscribed to w1 of its w1..w3 holds w1
// only; AddScopes("w2") pulls w2's rows and its live changes, never w3.
func TestClientAddScopes(t *testing.T) { forEachStore(t, testClientAddScopes) }

func testClientAddScopes(t *testing.T, db *backend) {
	h := scopedServer(t, db)
	admin := rawSession(t, asUser(h, "admin", "*"), "admin", nil)
	var batch []wire.Pushed
	for _, ws := range []string{"w1", "w2", "w3"} {
		batch = append(batch, admin.change("workspaces", ws, change.Insert, map[string]any{"name": ws}))
		for i := range 4 {
			batch = append(batch, admin.change("tasks", fmt.Sprintf("%s-t%d", ws, i), change.Insert, map[string]any{"workspace_id": ws}))
		}
	}
	admin.push(batch...)
	cfg := fastConfig(asUser(h, "ann", "w1", "w2", "w3"))
	cfg.Scopes = []string{"w1"}
	d := newDevice(t, "ann", h, []appschema.Migration{scopedMigration}, cfg).start()
	spaces := func() string {
		return dumpRows(d.query(`SELECT workspace_id, count(*) FROM tasks GROUP BY 1 ORDER BY 1`))
	}
	waitFor(t, "w1 only", func() bool { return spaces() == dumpRows([][]any{{"w1", int64(4)}}) })
	d.synced(h)
	d.client.AddScopes("w2")
	waitFor(t, "w2 added", func() bool { return spaces() == dumpRows([][]any{{"w1", int64(4)}, {"w2", int64(4)}}) })
	admin.push(
		admin.change("tasks", "w2-live", change.Insert, map[string]any{"workspace_id": "w2"}),
		admin.change("tasks", "w3-live", change.Insert, map[string]any{"workspace_id": "w3"}),
	)
	waitFor(t, "w2's live change", func() bool { return spaces() == dumpRows([][]any{{"w1", int64(4)}, {"w2", int64(5)}}) })
	d.synced(h)
	if got := spaces(); got != dumpRows([][]any{{"w1", int64(4)}, {"w2", int64(5)}}) {
		t.Fatalf("after w3's change: %s", got)
	}
}

// TestViolationsFollowTheirRowsScope: an invariant's violation row quotes
// the row it is about, so it reaches only the readers of that row's
// scope; one about an unscoped row reaches everyone.
func TestViolationsFollowTheirRowsScope(t *testing.T) {
	forEachStore(t, testViolationsFollowTheirRowsScope)
}

func testViolationsFollowTheirRowsScope(t *testing.T, db *backend) {
	noBad := func(ctx context.Context, q store.Querier, ch syncserver.Change) (string, error) {
		for _, col := range []string{"title", "body"} {
			if v, ok := ch.Values[col].(string); ok && strings.HasPrefix(v, "bad") {
				return fmt.Sprintf("%s %v is %q", ch.Table, ch.Key[0], v), nil
			}
		}
		return "", nil
	}
	h := scopedServer(t, db, noBad)
	w1 := newDevice(t, "w1", h, []appschema.Migration{scopedMigration}, fastConfig(asUser(h, "ann", "w1"))).start()
	admin := rawSession(t, asUser(h, "admin", "*"), "admin", nil)
	ack := admin.push(
		admin.change("tasks", "secret", change.Insert, map[string]any{"workspace_id": "w2", "title": "bad secret of w2"}),
		admin.change("tasks", "open", change.Insert, map[string]any{"workspace_id": "w1", "title": "bad but mine"}),
		admin.change("notes", "n", change.Insert, map[string]any{"body": "bad note"}),
	)
	for _, r := range ack.Results {
		if r.State != wire.Flagged {
			t.Fatalf("want flagged: %+v", r)
		}
	}
	w2 := newDevice(t, "w2", h, []appschema.Migration{scopedMigration}, fastConfig(asUser(h, "bob", "w2"))).start()
	for _, c := range []struct {
		d    *device
		want string
	}{{w1, "notes n is \"bad note\";tasks open is \"bad but mine\""}, {w2, "notes n is \"bad note\";tasks secret is \"bad secret of w2\""}} {
		waitFor(t, c.d.name+"'s violations", func() bool {
			var got []string
			for _, r := range c.d.query(`SELECT message FROM _hearth_violations ORDER BY message`) {
				got = append(got, r[0].(string))
			}
			return strings.Join(got, ";") == c.want
		})
	}
	w1.synced(h)
	if got := w1.query(`SELECT message FROM _hearth_violations WHERE message LIKE '%secret%'`); len(got) != 0 {
		t.Fatalf("w1 received w2's violation: %v", got)
	}
}
