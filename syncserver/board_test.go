package syncserver_test

import (
	"strings"
	"testing"
	"time"

	board "github.com/hearthdb/hearth/examples/board/schema"
	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/client"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/ncruces/go-sqlite3"
)

// TestBoardDoubleBookingOnEveryStore runs the demo board's schema and
// its double-booking invariant, whose SQL is written once (in its
// hearth.yaml) and must mean the same on every store: two devices book
// one room slot offline; both bookings stay, the second is flagged, and
// every table ends equal on the devices and the server.
func TestBoardDoubleBookingOnEveryStore(t *testing.T) {
	boardApp, err := board.App()
	if err != nil {
		t.Fatal(err)
	}
	forEachStore(t, func(t *testing.T, db *backend) {
		h := db.server(t, syncserver.Config{Migrations: board.Migrations, Tables: board.Tables,
			SQLInvariants: boardApp.Invariants})
		a := newDevice(t, "a", h, board.Migrations, client.Config{}).start()
		b := newDevice(t, "b", h, board.Migrations, client.Config{}).start()
		a.with(func(conn *sqlite3.Conn) error { return board.Seed(conn, board.SeedOptions{Tasks: 200}) })
		a.client.Notify()
		a.synced(h)
		b.synced(h)
		waitFor(t, "b to hold the seed", func() bool { return len(b.query(`SELECT 1 FROM tasks`)) == 200 })

		a.net.setDown(true)
		b.net.setDown(true)
		a.mustExec(`INSERT INTO bookings(id, workspace_id, room_id, slot, title, booked_by) VALUES ('bk-a', 'ws-main', 'r-1-1', '2026-12-01T10:00', 'Planning', 'u-01')`)
		b.mustExec(`INSERT INTO bookings(id, workspace_id, room_id, slot, title, booked_by) VALUES ('bk-b', 'ws-main', 'r-1-1', '2026-12-01T10:00', 'Interview', 'u-02')`)
		a.net.setDown(false)
		a.client.Online(true)
		a.synced(h)
		b.net.setDown(false)
		b.client.Online(true)
		b.synced(h)
		a.synced(h)

		for _, d := range []*device{a, b} {
			waitFor(t, d.name+" to see the violation", func() bool { return len(d.query(`SELECT 1 FROM _hearth_violations`)) == 1 })
		}
		v := a.query(`SELECT tbl, message FROM _hearth_violations`)[0]
		if v[0] != "bookings" || !strings.Contains(v[1].(string), `double booking: Lovelace at 2026-12-01T10:00 is also booked for "Planning" (booking bk-a)`) {
			t.Fatalf("violation: %v", v)
		}
		for _, table := range append([]string{"_hearth_violations"}, tableNames(board.Tables)...) {
			sql := `SELECT * FROM ` + table + ` ORDER BY id`
			want := dumpRows(h.serverQuery(sql))
			if got := dumpRows(a.query(sql)); got != want {
				t.Fatalf("%s differs between a and the server:\n%s\n%s", table, got, want)
			}
			if got := dumpRows(b.query(sql)); got != want {
				t.Fatalf("%s differs between b and the server", table)
			}
		}
	})
}

func tableNames(ts []appschema.Table) []string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name
	}
	return names
}

// TestBoardUsersRowsBelongToTheirUser: under the board's hearth.yaml with
// authentication, a member may rename its own users row but not another
// member's (before, any authenticated user could rename or delete any);
// the admin role may.
func TestBoardUsersRowsBelongToTheirUser(t *testing.T) {
	boardApp, err := board.App()
	if err != nil {
		t.Fatal(err)
	}
	forEachStore(t, func(t *testing.T, db *backend) {
		cfg := boardApp.ServerConfig(true)
		cfg.Identify = identifyFromURL
		h := db.server(t, cfg)
		admin := rawSession(t, ruledUser(h, "seeder", "admin"), "seeder", nil)
		wantStates(t, "the seeder writes users", admin.push(
			admin.change("users", "u-01", change.Insert, map[string]any{"name": "Ada"}),
			admin.change("users", "u-02", change.Insert, map[string]any{"name": "Grace"}),
		), "acknowledged", "acknowledged")
		u1 := rawSession(t, ruledUser(h, "u-01", "", board.MainWorkspace), "u1", nil)
		u1.ts = hlc.Make(time.Now().UnixMilli()+1000, 0)
		admin.ts = hlc.Make(time.Now().UnixMilli()+2000, 0) // the admin's rename comes last
		wantStates(t, "renaming another member", u1.push(u1.change("users", "u-02", change.Update, map[string]any{"name": "pwned"})), store.CodeForbidden)
		wantStates(t, "deleting another member", u1.push(u1.change("users", "u-02", change.Delete, nil)), store.CodeForbidden)
		wantStates(t, "renaming oneself", u1.push(u1.change("users", "u-01", change.Update, map[string]any{"name": "Ada L."})), "acknowledged")
		wantStates(t, "the admin renames", admin.push(admin.change("users", "u-02", change.Update, map[string]any{"name": "Grace H."})), "acknowledged")
		if got := h.serverQuery(`SELECT id, name FROM users ORDER BY id`); dumpRows(got) != dumpRows([][]any{{"u-01", "Ada L."}, {"u-02", "Grace H."}}) {
			t.Fatalf("users: %v", got)
		}
	})
}
