package syncserver_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/syncstatus"
	"github.com/hearthdb/hearth/syncworker/wire"
	"github.com/ncruces/go-sqlite3"
)

// principalFromToken authenticates by the token query parameter, which
// names the principal: enough to play two users.
func principalFromToken(r *http.Request) (string, error) { return r.URL.Query().Get("token"), nil }

// userDevice is a device whose token names user, which the test may
// change (a device whose user signs out and another signs in).
func userDevice(t *testing.T, name string, h *harness, user *atomic.Value) *device {
	cfg := fastConfig(h.url)
	cfg.Token = func(context.Context) (string, error) { return user.Load().(string), nil }
	return newDevice(t, name, h, nil, cfg)
}

// expectClosed reads until the server closes the connection and returns
// the close status (the read must fail; nothing else may arrive).
func (r *raw) expectClosed() websocket.StatusCode {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := r.ws.Read(ctx)
	if err == nil {
		f, _ := wire.Decode(b)
		r.t.Fatalf("want the connection closed, got %#v", f.Msg)
	}
	return websocket.CloseStatus(err)
}

// serverText reads one server value as text: SQLite gives strings,
// PostgreSQL bytea.
func serverText(v any) string {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	s, _ := v.(string)
	return s
}

// textRows prints rows of text columns one a line, as "[a b]".
func textRows(rows [][]any) string {
	out := ""
	for _, r := range rows {
		cols := make([]string, len(r))
		for i, v := range r {
			cols[i] = serverText(v)
		}
		out += fmt.Sprint(cols) + "\n"
	}
	return out
}

// TestClientIDBelongsToItsFirstPrincipal is the attack a security review
// reproduced: eve, another authenticated user, connects with ann's
// device's client id (every reader sees it in log entries) and pushes
// under its next seqs. Then ann's next edit was acknowledged from eve's
// record yet never stored, another was refused, and ann never received
// eve's entries. Now the id is ann's from her first hello: eve's hello
// is refused with CLIENT_TAKEN, the store is unchanged, ann's edits are
// stored, and the log records who pushed each entry.
func TestClientIDBelongsToItsFirstPrincipal(t *testing.T) {
	forEachStore(t, testClientIDBelongsToItsFirstPrincipal)
}

func testClientIDBelongsToItsFirstPrincipal(t *testing.T, db *backend) {
	h := db.server(t, syncserver.Config{Authenticate: principalFromToken})
	var ann atomic.Value
	ann.Store("ann")
	victim := userDevice(t, "victim", h, &ann).start()
	victim.mustExec(`INSERT INTO tasks(id, title) VALUES ('a1', 'ann 1')`)
	victim.synced(h)
	id := victim.j.Node()

	state := func() string {
		return dumpRows(h.serverQuery(`SELECT pos, client, seq, tbl, hlc FROM _hearth_log ORDER BY pos`)) +
			dumpRows(h.serverQuery(`SELECT client, seq, code FROM _hearth_refused ORDER BY client, seq`)) + h.serverTasks()
	}
	before := state()

	// eve's attack: ann's id, ann's next seqs, stamped as ann's node.
	eve := dialRaw(t, h.url+"?token=eve")
	eve.send(wire.Hello{Client: id, Cursor: -1}, 1)
	if e := eve.expectError(wire.CodeClientTaken); e.Message == "" {
		t.Fatal("CLIENT_TAKEN without a message")
	}
	if st := eve.expectClosed(); st != websocket.StatusPolicyViolation {
		t.Fatalf("closed with %v, want policy violation", st)
	}
	// Anonymous use of a bound id is refused as well.
	anon := dialRaw(t, h.url)
	anon.send(wire.Hello{Client: id, Cursor: -1}, 1)
	anon.expectError(wire.CodeClientTaken)
	if after := state(); after != before {
		t.Fatalf("a refused connection changed the store:\n%s\nwant\n%s", after, before)
	}
	if rows := h.serverQuery(`SELECT client, principal FROM _hearth_clients`); len(rows) != 1 ||
		serverText(rows[0][0]) != id || serverText(rows[0][1]) != "ann" {
		t.Fatalf("bindings %v, want %s bound to ann", rows, id)
	}

	// eve syncs under an id of her own; ann's next edits are stored and
	// ann receives eve's.
	var eveUser atomic.Value
	eveUser.Store("eve")
	eveDev := userDevice(t, "eve", h, &eveUser).start()
	eveDev.mustExec(`INSERT INTO tasks(id, title) VALUES ('e1', 'eve 1')`)
	eveDev.synced(h)
	victim.mustExec(`INSERT INTO tasks(id, title) VALUES ('a2', 'ann 2')`)
	victim.mustExec(`UPDATE tasks SET title = 'ann 1 edited' WHERE id = 'a1'`)
	victim.synced(h)
	eveDev.synced(h)
	if got, want := textRows(h.serverQuery(`SELECT id, title FROM tasks ORDER BY id`)), "[a1 ann 1 edited]\n[a2 ann 2]\n[e1 eve 1]\n"; got != want {
		t.Fatalf("server rows\n%s\nwant\n%s", got, want)
	}
	waitFor(t, "ann to receive eve's row", func() bool { return len(victim.query(`SELECT 1 FROM tasks WHERE id = 'e1'`)) == 1 })
	if st := victim.status(); st.Refused != 0 || st.LastError != nil && st.LastError.Code == wire.CodeClientTaken {
		t.Fatalf("ann's device: %+v", st)
	}

	// Every entry records who pushed it.
	for _, r := range h.serverQuery(`SELECT client, principal FROM _hearth_log`) {
		want := map[string]string{id: "ann", eveDev.j.Node(): "eve"}[serverText(r[0])]
		if want == "" || serverText(r[1]) != want {
			t.Fatalf("log entry of %s records principal %q", serverText(r[0]), serverText(r[1]))
		}
	}

	// The binding survives a restart.
	victim.stop()
	eveDev.stop()
	h.restart(syncserver.Config{Authenticate: principalFromToken})
	again := dialRaw(t, h.url+"?token=eve")
	again.send(wire.Hello{Client: id, Cursor: -1}, 1)
	again.expectError(wire.CodeClientTaken)
}

// TestReplayMustMatchTheAcknowledgedChange: a (client, seq) answered
// before is answered the same only for the same change; another change
// under it is refused with REPLAY_MISMATCH, stored nowhere, and the seq
// keeps its first outcome — before and after compaction, for
// acknowledged and refused seqs, and for ann's own device id replayed by
// a raw connection of ann.
func TestReplayMustMatchTheAcknowledgedChange(t *testing.T) {
	forEachStore(t, testReplayMustMatchTheAcknowledgedChange)
}

func testReplayMustMatchTheAcknowledgedChange(t *testing.T, db *backend) {
	h := db.server(t, syncserver.Config{Authenticate: principalFromToken})
	r := dialRaw(t, h.url+"?token=ann")
	const node = "ann-raw"
	r.send(wire.Hello{Client: node, Cursor: -1}, 1)
	if _, ok := r.recv().(wire.Welcome); !ok {
		t.Fatal("want welcome")
	}
	base := hlc.Make(1_764_000_000_000, 0)
	insert := func(seq int64, id, title string, ts hlc.Timestamp) wire.Pushed {
		k, _ := change.EncodeKey(id)
		return wire.Pushed{Seq: seq, Change: change.Change{Table: "tasks", Key: k, Op: change.Insert,
			Values: map[string]any{"title": title}, Stamp: hlc.Stamp{TS: ts, Node: node}, Schema: 1}}
	}
	var pushID int64
	push := func(ch ...wire.Pushed) []wire.Result {
		t.Helper()
		pushID++
		r.send(wire.Push{ID: pushID, Changes: ch}, 1)
		for {
			switch m := r.recv().(type) {
			case wire.Ack:
				return m.Results
			case wire.Changes:
				continue
			default:
				t.Fatalf("want an ack, got %#v", m)
			}
		}
	}
	expect := func(res wire.Result, state, code string) wire.Result {
		t.Helper()
		if res.State != state || res.Code != code {
			t.Fatalf("seq %d: %s %s (%s), want %s %s", res.Seq, res.State, res.Code, res.Detail, state, code)
		}
		return res
	}

	first := insert(1, "x", "first", base+1)
	acked := expect(push(first)[0], wire.Acknowledged, "")
	// A different change under seq 1: refused, not answered as stored.
	expect(push(insert(1, "x", "other", base+2))[0], wire.Refused, "REPLAY_MISMATCH")
	expect(push(insert(1, "y", "other row", base+1))[0], wire.Refused, "REPLAY_MISMATCH")
	// The true replay keeps its first outcome.
	if again := expect(push(first)[0], wire.Acknowledged, ""); again.Pos != acked.Pos {
		t.Fatalf("replay answered at %d, first at %d", again.Pos, acked.Pos)
	}
	// Within one push: the second change under seq 2 is not the first.
	res := push(insert(2, "z", "z", base+3), insert(2, "z", "z2", base+4))
	expect(res[0], wire.Acknowledged, "")
	mismatch := expect(res[1], wire.Refused, "REPLAY_MISMATCH")
	if len(mismatch.Row) == 0 {
		t.Fatal("a mismatched replay carries the row to roll back to")
	}
	// A refused seq: its replay is refused the same, another change under
	// it with REPLAY_MISMATCH.
	forbidden := insert(3, "w", "w", base+5)
	forbidden.Table = "_hearth_log"
	expect(push(forbidden)[0], wire.Refused, "FORBIDDEN")
	expect(push(forbidden)[0], wire.Refused, "FORBIDDEN")
	expect(push(insert(3, "w", "w", base+6))[0], wire.Refused, "REPLAY_MISMATCH")

	// After compaction the verdicts keep their stamps.
	if _, err := h.srv.Load().Compact(context.Background(), 1<<40); err != nil {
		t.Fatal(err)
	}
	expect(push(insert(1, "x", "after compaction", base+7))[0], wire.Refused, "REPLAY_MISMATCH")
	expect(push(first)[0], wire.Acknowledged, "")

	if got, want := textRows(h.serverQuery(`SELECT id, title FROM tasks ORDER BY id`)), "[x first]\n[z z]\n"; got != want {
		t.Fatalf("server rows\n%s\nwant\n%s", got, want)
	}
	if n := h.serverQuery(`SELECT count(*) FROM _hearth_refused`)[0][0]; n != int64(1) {
		t.Fatalf("%v refusal records, want 1: a mismatch records nothing", n)
	}
}

// TestReleasedBindingEndsTheOldOwnersSession: an operator releases a
// binding with the statement OPERATIONS.md documents; another principal
// may then take the id, and a session the old owner still holds is ended
// with CLIENT_TAKEN at its next push, nothing of it stored.
func TestReleasedBindingEndsTheOldOwnersSession(t *testing.T) {
	forEachStore(t, testReleasedBindingEndsTheOldOwnersSession)
}

func testReleasedBindingEndsTheOldOwnersSession(t *testing.T, db *backend) {
	h := db.server(t, syncserver.Config{Authenticate: principalFromToken})
	const node = "raw-client"
	ann := dialRaw(t, h.url+"?token=ann")
	ann.send(wire.Hello{Client: node, Cursor: -1}, 1)
	if _, ok := ann.recv().(wire.Welcome); !ok {
		t.Fatal("want welcome")
	}
	if db.postgres() {
		pgQuery(t, db.url, `DELETE FROM _hearth_clients WHERE client = convert_to(?, 'UTF8')`, node)
	} else {
		sqliteExec(t, db.path, `DELETE FROM _hearth_clients WHERE client = ?`, node)
	}
	eve := dialRaw(t, h.url+"?token=eve")
	eve.send(wire.Hello{Client: node, Cursor: -1}, 1)
	if _, ok := eve.recv().(wire.Welcome); !ok {
		t.Fatal("a released id is free to bind")
	}
	ann.send(wire.Push{ID: 1, Changes: []wire.Pushed{rawChange(1, "a1")}}, 1)
	ann.expectError(wire.CodeClientTaken)
	if n := h.serverQuery(`SELECT count(*) FROM _hearth_log`)[0][0]; n != int64(0) {
		t.Fatalf("the old owner's push stored %v entries", n)
	}
}

// TestUserChangeOnADevicePausesSync: the honest case of CLIENT_TAKEN, a
// device whose user changed keeps its replica. The client pauses in
// paused-replica (class replica) and does not redial; local writes stay
// journaled; when the owner's credential is back (TokenChanged) it syncs.
func TestUserChangeOnADevicePausesSync(t *testing.T) {
	h := fileServer(t, syncserver.Config{Authenticate: principalFromToken})
	var user atomic.Value
	user.Store("ann")
	d := userDevice(t, "d", h, &user).start()
	d.mustExec(`INSERT INTO tasks(id, title) VALUES ('a1', 'ann')`)
	d.synced(h)
	d.stop()
	user.Store("bob")
	d.start()
	waitFor(t, "paused-replica", func() bool {
		st := d.status()
		return st.State == syncstatus.StatePausedReplica && st.LastError != nil && st.LastError.Code == wire.CodeClientTaken &&
			st.LastError.Class == syncstatus.ClassReplica && st.NextAttemptAt.IsZero()
	})
	d.mustExec(`INSERT INTO tasks(id, title) VALUES ('b1', 'while paused')`)
	waitFor(t, "the pending count", func() bool { return d.status().Pending == 1 })
	dials := d.net.dials.Load()
	time.Sleep(300 * time.Millisecond) // beyond MaxBackoff: a retrying client would have redialed
	if n := d.net.dials.Load(); n != dials {
		t.Fatalf("%d redials while paused on CLIENT_TAKEN", n-dials)
	}
	if st := d.status(); st.State != syncstatus.StatePausedReplica || st.Retries[syncstatus.ClassReplica] != 1 {
		t.Fatalf("want one refusal, paused: %+v", st)
	}
	user.Store("ann")
	d.client.TokenChanged()
	d.synced(h)
	if rows := h.serverQuery(`SELECT title FROM tasks WHERE id = 'b1'`); len(rows) != 1 {
		t.Fatal("the write made while paused did not sync")
	}
}

// sqliteExec runs a statement on a SQLite store file beside the server,
// as an operator's sqlite3 shell would.
func sqliteExec(t *testing.T, path, sql string, args ...any) {
	t.Helper()
	conn, err := sqlite3.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Exec("PRAGMA busy_timeout = 5000"); err != nil {
		t.Fatal(err)
	}
	st, _, err := conn.Prepare(sql)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i, a := range args {
		st.BindText(i+1, fmt.Sprint(a))
	}
	if err := st.Exec(); err != nil {
		t.Fatal(err)
	}
	if conn.Changes() == 0 {
		t.Fatal("the statement changed nothing")
	}
}

// TestStoreFromBeforeBindingsMigrates: a store written before client
// bindings, principals and verdict stamps existed gains them on Open.
// Its old entries read with principal "", its old refusals (no stamp) are
// answered as before, a mismatch against an old log entry (which always
// had its stamp) is still caught, and the first principal to say hello
// after the upgrade owns the id.
func TestStoreFromBeforeBindingsMigrates(t *testing.T) {
	forEachStore(t, testStoreFromBeforeBindingsMigrates)
}

func testStoreFromBeforeBindingsMigrates(t *testing.T, db *backend) {
	cfg := syncserver.Config{Authenticate: principalFromToken}
	h := db.server(t, cfg)
	const node = "raw-client"
	forbidden := rawChange(2, "w")
	forbidden.Table = "_hearth_log"
	ann := dialRaw(t, h.url+"?token=ann")
	ann.send(wire.Hello{Client: node, Cursor: -1}, 1)
	ann.recv()
	first := rawChange(1, "x")
	ann.send(wire.Push{ID: 1, Changes: []wire.Pushed{first, forbidden}}, 1)
	if ack, ok := ann.recv().(wire.Ack); !ok || ack.Results[0].State != wire.Acknowledged || ack.Results[1].Code != "FORBIDDEN" {
		t.Fatalf("want acknowledged and FORBIDDEN, got %#v", ack)
	}
	ann.ws.CloseNow()
	if err := h.srv.Load().Close(); err != nil {
		t.Fatal(err)
	}
	// Back to the layout of before.
	old := []string{
		`DROP TABLE _hearth_clients`,
		`ALTER TABLE _hearth_log DROP COLUMN principal`,
		`ALTER TABLE _hearth_refused DROP COLUMN hlc`,
		`ALTER TABLE _hearth_refused DROP COLUMN node`,
		`ALTER TABLE _hearth_acked DROP COLUMN hlc`,
		`ALTER TABLE _hearth_acked DROP COLUMN node`,
	}
	for _, sql := range old {
		if db.postgres() {
			pgQuery(t, db.url, sql)
		} else {
			sqliteScript(t, db.path, sql)
		}
	}
	h.restart(cfg)

	eve := dialRaw(t, h.url+"?token=eve")
	eve.send(wire.Hello{Client: node, Cursor: -1}, 1)
	if _, ok := eve.recv().(wire.Welcome); !ok {
		t.Fatal("an id unbound before the upgrade goes to the first principal after it")
	}
	eve.ws.CloseNow()
	again := dialRaw(t, h.url+"?token=ann")
	again.send(wire.Hello{Client: node, Cursor: -1}, 1)
	again.expectError(wire.CodeClientTaken)

	r := dialRaw(t, h.url+"?token=eve")
	r.send(wire.Hello{Client: node, Cursor: -1}, 1)
	r.recv()
	other := rawChange(1, "x")
	other.Stamp.TS++
	forbiddenAgain := forbidden
	forbiddenAgain.Stamp.TS++
	r.send(wire.Push{ID: 2, Changes: []wire.Pushed{other, forbiddenAgain, rawChange(3, "y")}}, 1)
	ack, ok := r.recv().(wire.Ack)
	if !ok {
		t.Fatalf("want an ack")
	}
	if got := ack.Results[0]; got.Code != "REPLAY_MISMATCH" {
		t.Fatalf("seq 1 against an old log entry: %+v", got)
	}
	if got := ack.Results[1]; got.Code != "FORBIDDEN" {
		t.Fatalf("seq 2, refused before verdicts had stamps, keeps its outcome: %+v", got)
	}
	if got := ack.Results[2]; got.State != wire.Acknowledged {
		t.Fatalf("seq 3: %+v", got)
	}
	rows := h.serverQuery(`SELECT seq, principal FROM _hearth_log ORDER BY pos`)
	if len(rows) != 2 || rows[0][1] != nil || serverText(rows[1][1]) != "eve" {
		t.Fatalf("log principals %v, want NULL for the old entry and eve for the new", rows)
	}
}

// sqliteScript runs SQL on a SQLite store file.
func sqliteScript(t *testing.T, path, sql string) {
	t.Helper()
	conn, err := sqlite3.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Exec(sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// TestFirstHelloRaceBindsOnce: principals racing to bind one id all learn
// the same owner, one of them; an anonymous use binds nothing.
func TestFirstHelloRaceBindsOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, db *backend) {
		st := db.open(t)
		defer st.Close()
		ctx := context.Background()
		if _, err := st.Open(ctx, store.Schema{Migrations: []appschema.Migration{migrationV1}, Tables: appTables}); err != nil {
			t.Fatal(err)
		}
		owners := make([]string, 6)
		var wg sync.WaitGroup
		for i := range owners {
			wg.Add(1)
			go func() {
				defer wg.Done()
				owner, err := st.BindClient(ctx, "dev-1", fmt.Sprintf("user-%d", i))
				if err != nil {
					t.Error(err)
				}
				owners[i] = owner
			}()
		}
		wg.Wait()
		if !strings.HasPrefix(owners[0], "user-") {
			t.Fatalf("owner %q", owners[0])
		}
		for _, o := range owners {
			if o != owners[0] {
				t.Fatalf("owners %v: one id, one owner", owners)
			}
		}
		if owner, err := st.BindClient(ctx, "dev-2", ""); err != nil || owner != "" {
			t.Fatalf("anonymous: %q %v", owner, err)
		}
		if owner, err := st.BindClient(ctx, "dev-2", "ann"); err != nil || owner != "ann" {
			t.Fatalf("after anonymous use, the first principal binds: %q %v", owner, err)
		}
	})
}
