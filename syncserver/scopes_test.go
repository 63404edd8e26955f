package syncserver_test

import (
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
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/hearthdb/hearth/syncworker/wire"
)

// The scoped app: tasks belong to a workspace, a workspace row's scope
// is its own id, notes have no scope rule.
var (
	scopedMigration = store.Migration{Version: 1, SQL: `
CREATE TABLE workspaces(id TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '');
CREATE TABLE tasks(id TEXT PRIMARY KEY, workspace_id TEXT NOT NULL DEFAULT '', title TEXT NOT NULL DEFAULT '');
CREATE TABLE notes(id TEXT PRIMARY KEY, body TEXT NOT NULL DEFAULT '')`}
	scopedTables = []schema.Table{{Name: "workspaces"}, {Name: "tasks"}, {Name: "notes"}}
	scopeRules   = map[string]string{"workspaces": "id", "tasks": "workspace_id"}
)

// scopedServer runs the scoped app; a connection's identity comes from
// its URL: ?user=…&ws=a,b (the JWT verifier's sub and ws, for tests).
func scopedServer(t *testing.T, db *backend) *harness {
	return db.server(t, syncserver.Config{
		Migrations: []store.Migration{scopedMigration}, Tables: scopedTables, Scopes: scopeRules,
		Identify: func(r *http.Request) (syncserver.Identity, error) {
			q := r.URL.Query()
			id := syncserver.Identity{Principal: q.Get("user")}
			if ws := q.Get("ws"); ws != "" {
				id.Scopes = strings.Split(ws, ",")
			}
			return id, nil
		},
	})
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
	live := newDevice(t, "live", h, []store.Migration{scopedMigration}, fastConfig(asUser(h, "ann", mine...))).start()
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
			if res.State != store.Acknowledged {
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
	late := newDevice(t, "late", h, []store.Migration{scopedMigration}, fastConfig(asUser(h, "ann", mine...))).start()
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
