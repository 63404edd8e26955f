package syncserver_test

import (
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

// The ruled app: bookings are scoped by workspace; users are unscoped,
// readable by everyone and writable by their owner or an admin; secrets
// have no rule (nobody but a "*" grant); audit is read: none.
var (
	ruledMigration = appschema.Migration{Version: 1, SQL: `
CREATE TABLE workspaces(id TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '');
CREATE TABLE rooms(id TEXT PRIMARY KEY, workspace_id TEXT NOT NULL DEFAULT '', name TEXT NOT NULL DEFAULT '');
CREATE TABLE bookings(id TEXT PRIMARY KEY, workspace_id TEXT NOT NULL DEFAULT '', room_id TEXT NOT NULL DEFAULT '', slot TEXT NOT NULL DEFAULT '', title TEXT NOT NULL DEFAULT '');
CREATE TABLE users(id TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '');
CREATE TABLE secrets(id TEXT PRIMARY KEY, body TEXT NOT NULL DEFAULT '');
CREATE TABLE audit(id TEXT PRIMARY KEY, line TEXT NOT NULL DEFAULT '');
CREATE TABLE profiles(id TEXT PRIMARY KEY, user_id TEXT, bio TEXT NOT NULL DEFAULT '');
CREATE TABLE scores(id TEXT PRIMARY KEY, team INTEGER NOT NULL DEFAULT 0, points INTEGER NOT NULL DEFAULT 0)`}
	ruledTables = []appschema.Table{{Name: "workspaces"}, {Name: "rooms"}, {Name: "bookings"}, {Name: "users"}, {Name: "secrets"}, {Name: "audit"}, {Name: "profiles"}, {Name: "scores"}}
	ruledScopes = map[string]string{"workspaces": "id", "rooms": "workspace_id", "bookings": "workspace_id", "scores": "team"}
	// doubleBooking is the board's invariant in SQL (its hearth.yaml).
	doubleBooking = syncserver.SQLInvariant{Name: "double-booking", Table: "bookings", SQL: `
SELECT 'double booking: ' || COALESCE(r.name, b.room_id) || ' at ' || b.slot || ' is also booked for "' || b.title || '" (booking ' || b.id || ')'
FROM bookings b
JOIN bookings me ON me.id = :id AND me.room_id = b.room_id AND me.slot = b.slot
LEFT JOIN rooms r ON r.id = b.room_id
WHERE b.id <> me.id AND b.slot <> '' AND b.room_id <> ''
ORDER BY b.id`}
)

// ruledServer identifies a connection from its URL: ?user=…&ws=a,b&roles=x,y.
// The admin role grants every scope.
func ruledServer(t *testing.T, db *backend) *harness {
	return db.server(t, syncserver.Config{
		Migrations: []appschema.Migration{ruledMigration}, Tables: ruledTables, Scopes: ruledScopes,
		Grants: func(id syncserver.Identity) (read, write []string) {
			if slices.Contains(id.Roles, "admin") {
				return []string{syncserver.AllScopes}, []string{syncserver.AllScopes}
			}
			return id.Scopes, id.Scopes
		},
		TableRules: map[string]syncserver.TableRule{
			"users":    {Read: syncserver.Allow{Authenticated: true}, Write: syncserver.Allow{Owner: "id", Roles: []string{"editor"}}},
			"audit":    {Write: syncserver.Allow{Authenticated: true}},
			"profiles": {Read: syncserver.Allow{Authenticated: true}, Write: syncserver.Allow{Owner: "user_id"}},
		},
		SQLInvariants: []syncserver.SQLInvariant{doubleBooking, {Name: "team-cap", Table: "scores",
			// An integer scope: the team's total, of its own rows only.
			SQL: `SELECT 'team ' || :scope || ' is over 100 points: ' || SUM(points) FROM scores HAVING SUM(points) > 100`}},
		Identify: identifyFromURL,
	})
}

// identifyFromURL is the test identity: ?user=…&ws=a,b&roles=x,y.
func identifyFromURL(r *http.Request) (syncserver.Identity, error) {
	q := r.URL.Query()
	id := syncserver.Identity{Principal: q.Get("user")}
	if ws := q.Get("ws"); ws != "" {
		id.Scopes = strings.Split(ws, ",")
	}
	if roles := q.Get("roles"); roles != "" {
		id.Roles = strings.Split(roles, ",")
	}
	return id, nil
}

func ruledUser(h *harness, user, roles string, ws ...string) string {
	return h.url + "?" + url.Values{"user": {user}, "ws": {strings.Join(ws, ",")}, "roles": {roles}}.Encode()
}

func wantStates(t *testing.T, what string, ack wire.Ack, want ...string) {
	t.Helper()
	if len(ack.Results) != len(want) {
		t.Fatalf("%s: %d results, want %d: %+v", what, len(ack.Results), len(want), ack.Results)
	}
	for i, r := range ack.Results {
		got := string(r.State)
		if r.State == wire.Refused {
			got = r.Code
		}
		if got != want[i] {
			t.Errorf("%s: result %d is %s (%s), want %s", what, i, got, r.Detail, want[i])
		}
	}
}

// TestOwnerRules: a member may write its own users row only; another
// member's is FORBIDDEN (before or after the change); a role the rule
// names, and an admin granted every scope, may write any.
func TestOwnerRules(t *testing.T) { forEachStore(t, testOwnerRules) }

func testOwnerRules(t *testing.T, db *backend) {
	h := ruledServer(t, db)
	ann := rawSession(t, ruledUser(h, "ann", "", "w1"), "ann", nil)
	bob := rawSession(t, ruledUser(h, "bob", "", "w1"), "bob", nil)
	admin := rawSession(t, ruledUser(h, "root", "admin"), "root", nil)
	editor := rawSession(t, ruledUser(h, "ed", "editor"), "ed", nil)
	// The admin's and editor's writes come later than the members' (the
	// merge keeps the newest write, and these sessions' clocks start in
	// the same millisecond as theirs).
	admin.ts = hlc.Make(time.Now().UnixMilli()+1000, 0)
	editor.ts = hlc.Make(time.Now().UnixMilli()+2000, 0)

	wantStates(t, "own inserts", ann.push(ann.change("users", "ann", change.Insert, map[string]any{"name": "Ann"})), "acknowledged")
	wantStates(t, "own inserts", bob.push(bob.change("users", "bob", change.Insert, map[string]any{"name": "Bob"})), "acknowledged")
	wantStates(t, "insert as another", ann.push(ann.change("users", "eve", change.Insert, map[string]any{"name": "Eve"})), store.CodeForbidden)
	wantStates(t, "rename another", bob.push(bob.change("users", "ann", change.Update, map[string]any{"name": "pwned"})), store.CodeForbidden)
	wantStates(t, "delete another", bob.push(bob.change("users", "ann", change.Delete, nil)), store.CodeForbidden)
	wantStates(t, "rename own", ann.push(ann.change("users", "ann", change.Update, map[string]any{"name": "Ann B."})), "acknowledged")
	wantStates(t, "admin renames", admin.push(admin.change("users", "ann", change.Update, map[string]any{"name": "Ann C."})), "acknowledged")
	wantStates(t, "role renames", editor.push(editor.change("users", "bob", change.Update, map[string]any{"name": "Bobby"})), "acknowledged")
	got := h.serverQuery(`SELECT id, name FROM users ORDER BY id`)
	if dumpRows(got) != dumpRows([][]any{{"ann", "Ann C."}, {"bob", "Bobby"}}) {
		t.Fatalf("users: %v", got)
	}

	// A value column as owner: checked before and after the change.
	wantStates(t, "own profile", ann.push(ann.change("profiles", "p1", change.Insert, map[string]any{"user_id": "ann", "bio": "hi"})), "acknowledged")
	wantStates(t, "profile for another", bob.push(bob.change("profiles", "p2", change.Insert, map[string]any{"user_id": "ann", "bio": "fake"})), store.CodeForbidden)
	wantStates(t, "profile without owner", bob.push(bob.change("profiles", "p3", change.Insert, map[string]any{"bio": "nobody's"})), store.CodeForbidden)
	wantStates(t, "edit another's profile", bob.push(bob.change("profiles", "p1", change.Update, map[string]any{"bio": "pwned"})), store.CodeForbidden)
	wantStates(t, "take over a profile", bob.push(bob.change("profiles", "p1", change.Update, map[string]any{"user_id": "bob"})), store.CodeForbidden)
	wantStates(t, "give a profile away", ann.push(ann.change("profiles", "p1", change.Update, map[string]any{"user_id": "bob"})), store.CodeForbidden)
	wantStates(t, "delete another's profile", bob.push(bob.change("profiles", "p1", change.Delete, nil)), store.CodeForbidden)
	wantStates(t, "edit own profile", ann.push(ann.change("profiles", "p1", change.Update, map[string]any{"bio": "hello"})), "acknowledged")
	wantStates(t, "delete own profile", ann.push(ann.change("profiles", "p1", change.Delete, nil)), "acknowledged")

	// Default deny: no rule, no write, except for a "*" grant.
	wantStates(t, "unruled table", ann.push(ann.change("secrets", "s1", change.Insert, map[string]any{"body": "x"})), store.CodeForbidden)
	wantStates(t, "unruled table, admin", admin.push(admin.change("secrets", "s1", change.Insert, map[string]any{"body": "x"})), "acknowledged")
	wantStates(t, "write-only table", ann.push(ann.change("audit", "a1", change.Insert, map[string]any{"line": "ann was here"})), "acknowledged")

	// Reads: users for everyone; secrets and audit (read: none) for the admin only.
	for _, tc := range []struct {
		url    string
		tables []string
	}{
		{ruledUser(h, "carl", "", "w1"), []string{"users"}},
		{ruledUser(h, "root", "admin"), []string{"audit", "secrets", "users"}},
	} {
		rd := newDevice(t, "reader", h, []appschema.Migration{ruledMigration}, fastConfig(tc.url)).start()
		rd.synced(h)
		var seen []string
		for _, table := range []string{"audit", "secrets", "users"} {
			if len(rd.query(`SELECT 1 FROM `+table)) > 0 {
				seen = append(seen, table)
			}
		}
		if !slices.Equal(seen, tc.tables) {
			t.Errorf("%s reads %v, want %v", tc.url, seen, tc.tables)
		}
	}
}

// TestSQLInvariantIsolation: the double-booking invariant, in SQL, sees
// only the changed booking's workspace. A booking in workspace A titled
// CONFIDENTIAL must not be quoted to a user of B who books the same room
// id and slot in B; a double booking inside B is still flagged with the
// board's message.
func TestSQLInvariantIsolation(t *testing.T) { forEachStore(t, testSQLInvariantIsolation) }

func testSQLInvariantIsolation(t *testing.T, db *backend) {
	h := ruledServer(t, db)
	a := rawSession(t, ruledUser(h, "ann", "", "wa"), "ann", nil)
	b := rawSession(t, ruledUser(h, "bob", "", "wb"), "bob", nil)
	wantStates(t, "a's room", a.push(
		a.change("workspaces", "wa", change.Insert, map[string]any{"name": "A"}),
		a.change("rooms", "r1", change.Insert, map[string]any{"workspace_id": "wa", "name": "Secret lab"}),
		a.change("bookings", "bk-a", change.Insert, map[string]any{"workspace_id": "wa", "room_id": "r1", "slot": "2026-12-01T10:00", "title": "CONFIDENTIAL"}),
	), "acknowledged", "acknowledged", "acknowledged")
	ack := b.push(
		b.change("workspaces", "wb", change.Insert, map[string]any{"name": "B"}),
		b.change("bookings", "bk-b1", change.Insert, map[string]any{"workspace_id": "wb", "room_id": "r1", "slot": "2026-12-01T10:00", "title": "Standup"}),
	)
	wantStates(t, "b books the same room id and slot", ack, "acknowledged", "acknowledged")
	for _, r := range ack.Results {
		if strings.Contains(r.Detail, "CONFIDENTIAL") || strings.Contains(r.Detail, "Secret lab") {
			t.Fatalf("leak: %s", r.Detail)
		}
	}
	ack = b.push(b.change("bookings", "bk-b2", change.Insert, map[string]any{"workspace_id": "wb", "room_id": "r1", "slot": "2026-12-01T10:00", "title": "Interview"}))
	wantStates(t, "b double-books in b", ack, "flagged")
	want := `double booking: r1 at 2026-12-01T10:00 is also booked for "Standup" (booking bk-b1)`
	if ack.Results[0].Detail != want {
		t.Fatalf("violation %q, want %q", ack.Results[0].Detail, want)
	}
	ack = a.push(a.change("bookings", "bk-a2", change.Insert, map[string]any{"workspace_id": "wa", "room_id": "r1", "slot": "2026-12-01T10:00", "title": "Review"}))
	wantStates(t, "a double-books in a", ack, "flagged")
	if want := `double booking: Secret lab at 2026-12-01T10:00 is also booked for "CONFIDENTIAL" (booking bk-a)`; ack.Results[0].Detail != want {
		t.Fatalf("violation %q, want %q", ack.Results[0].Detail, want)
	}
	// An integer scope column shadows its table too.
	t1 := rawSession(t, ruledUser(h, "tess", "", "1"), "tess", nil)
	t2 := rawSession(t, ruledUser(h, "tom", "", "2"), "tom", nil)
	wantStates(t, "team 1 scores", t1.push(t1.change("scores", "s1", change.Insert, map[string]any{"team": int64(1), "points": int64(90)})), "acknowledged")
	wantStates(t, "team 2 scores, under its own cap", t2.push(t2.change("scores", "s2", change.Insert, map[string]any{"team": int64(2), "points": int64(20)})), "acknowledged")
	ack = t1.push(t1.change("scores", "s3", change.Insert, map[string]any{"team": int64(1), "points": int64(20)}))
	wantStates(t, "team 1 goes over", ack, "flagged")
	if want := "team 1 is over 100 points: 110"; ack.Results[0].Detail != want {
		t.Fatalf("violation %q, want %q", ack.Results[0].Detail, want)
	}

	// Moving a booking into the other workspace judges it there.
	ack = a.push(a.change("bookings", "bk-a2", change.Update, map[string]any{"slot": "2026-12-01T11:00"}))
	wantStates(t, "a moves its booking", ack, "acknowledged")
	if v := h.serverQuery(`SELECT count(*) FROM _hearth_violations`); dumpRows(v) != dumpRows([][]any{{int64(3)}}) {
		t.Fatalf("violations: %v", v)
	}
}
