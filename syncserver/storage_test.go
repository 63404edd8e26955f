package syncserver_test

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/client"
)

// refusedCodes lists a device's refused journal entries as "pk code".
func refusedCodes(d *device) []string {
	var out []string
	for _, r := range d.query(`SELECT pk, code FROM _hearth_journal WHERE state = 'refused' ORDER BY seq`) {
		out = append(out, serverText(r[0])+" "+serverText(r[1]))
	}
	return out
}

// TestRowCannotOutgrowTheRowCap is the attack: every change stays under
// the value and change caps, yet updates column by column grow one row
// without bound, until no frame can carry it and every new device of its
// scope fails to sync. The change that would take the row over
// MaxRowBytes is refused with ROW_TOO_LARGE, nothing of it stored; the
// row keeps what came before, and a new device still syncs it.
func TestRowCannotOutgrowTheRowCap(t *testing.T) { forEachStore(t, testRowCannotOutgrowTheRowCap) }

func testRowCannotOutgrowTheRowCap(t *testing.T, db *backend) {
	const value = 10 << 10
	// An updated column weighs twice in a row's state (the insert's
	// current values, and the update newer than it): two updated columns
	// weigh some 40 KiB, a third takes the row to 60 KiB.
	h := db.server(t, syncserver.Config{MaxValueBytes: 16 << 10, MaxRowBytes: 50 << 10})
	writer := newDevice(t, "writer", h, nil, client.Config{}).start()
	writer.mustExec(`INSERT INTO tasks(id, title) VALUES ('grow', 'small')`)
	writer.synced(h)
	for _, col := range []string{"title", "assignee", "legacy"} {
		writer.mustExec(`UPDATE tasks SET `+col+` = ? WHERE id = 'grow'`, strings.Repeat(col[:1], value))
		writer.synced(h)
	}
	if got := refusedCodes(writer); len(got) != 1 || got[0] == "" || !strings.HasSuffix(got[0], store.CodeRowTooLarge) {
		t.Fatalf("refused entries %q, want the third update, with %s", got, store.CodeRowTooLarge)
	}
	row := h.serverQuery(`SELECT length(title), length(assignee), legacy IS NULL FROM tasks WHERE id = 'grow'`)
	if len(row) != 1 || row[0][0] != int64(value) || row[0][1] != int64(value) || row[0][2] != true && row[0][2] != int64(1) {
		t.Fatalf("server row %v, want the first two updates and no legacy", row)
	}
	// The refused update is rolled back on the device too.
	if got := writer.query(`SELECT legacy IS NULL FROM tasks WHERE id = 'grow'`); got[0][0] != int64(1) {
		t.Fatalf("the writer kept its refused update: %v", got)
	}
	// A change that makes the row lighter always goes through.
	writer.mustExec(`UPDATE tasks SET title = 't' WHERE id = 'grow'`)
	writer.synced(h)
	if got := refusedCodes(writer); len(got) != 1 {
		t.Fatalf("a shrinking update was refused: %q", got)
	}
	fresh := newDevice(t, "fresh", h, nil, client.Config{}).start()
	fresh.synced(h)
	if got := fresh.query(`SELECT title, length(assignee) FROM tasks WHERE id = 'grow'`); len(got) != 1 || got[0][0] != "t" || got[0][1] != int64(value) {
		t.Fatalf("a new device holds %v", got)
	}
}

// TestPrincipalQuota is the attack: one authenticated user fills the
// server's disk. The rows a principal last wrote count toward its quota
// (MaxPrincipalBytes); the change that would take it over is refused
// with QUOTA_EXCEEDED, nothing of it stored. Deleting frees the quota
// and the user writes again; another user is unaffected throughout.
func TestPrincipalQuota(t *testing.T) { forEachStore(t, testPrincipalQuota) }

func testPrincipalQuota(t *testing.T, db *backend) {
	const value = 10 << 10
	h := db.server(t, syncserver.Config{Authenticate: principalFromToken, MaxValueBytes: 16 << 10, MaxPrincipalBytes: 35 << 10})
	var ann, bob atomic.Value
	ann.Store("ann")
	bob.Store("bob")
	a := userDevice(t, "ann", h, &ann).start()
	b := userDevice(t, "bob", h, &bob).start()
	// Each row weighs a little over 10 KiB: three fit, the fourth not.
	for _, id := range []string{"a1", "a2", "a3", "a4"} {
		a.mustExec(`INSERT INTO tasks(id, title) VALUES (?, ?)`, id, strings.Repeat("a", value))
		a.synced(h)
	}
	if got := refusedCodes(a); len(got) != 1 || !strings.HasSuffix(got[0], store.CodeQuotaExceeded) {
		t.Fatalf("ann's refused entries %q, want a4 with %s", got, store.CodeQuotaExceeded)
	}
	// The app sees it in the sync status, as any refusal.
	waitFor(t, "ann's status to count the refusal", func() bool { return a.status().Refused == 1 })
	if got := h.serverQuery(`SELECT id FROM tasks ORDER BY id`); textRows(got) != "[a1]\n[a2]\n[a3]\n" {
		t.Fatalf("server rows:\n%s", textRows(got))
	}
	// Growing a row she wrote is refused too; shrinking one is not.
	a.mustExec(`UPDATE tasks SET assignee = ? WHERE id = 'a1'`, strings.Repeat("g", value))
	a.mustExec(`UPDATE tasks SET title = 'short' WHERE id = 'a2'`)
	a.synced(h)
	if got := refusedCodes(a); len(got) != 2 || !strings.HasSuffix(got[1], store.CodeQuotaExceeded) {
		t.Fatalf("ann's refused entries %q, want the growing update refused", got)
	}
	// Bob writes as much as ann did, unaffected by her quota.
	for _, id := range []string{"b1", "b2", "b3"} {
		b.mustExec(`INSERT INTO tasks(id, title) VALUES (?, ?)`, id, strings.Repeat("b", value))
	}
	b.synced(h)
	if got := refusedCodes(b); len(got) != 0 {
		t.Fatalf("bob's changes were refused: %q", got)
	}
	// Deleting frees ann's quota (the delete itself is never refused).
	a.mustExec(`DELETE FROM tasks WHERE id IN ('a1', 'a3')`)
	a.synced(h)
	a.mustExec(`INSERT INTO tasks(id, title) VALUES ('a5', ?)`, strings.Repeat("a", value))
	a.mustExec(`INSERT INTO tasks(id, title) VALUES ('a6', ?)`, strings.Repeat("a", value))
	a.synced(h)
	if got := refusedCodes(a); len(got) != 2 {
		t.Fatalf("ann's writes after deleting were refused: %q", got)
	}
	want := "[a2]\n[a5]\n[a6]\n[b1]\n[b2]\n[b3]\n"
	if got := textRows(h.serverQuery(`SELECT id FROM tasks ORDER BY id`)); got != want {
		t.Fatalf("server rows:\n%swant:\n%s", got, want)
	}
	// Bob overwriting ann's row takes it over: it counts toward him now,
	// and no longer toward her.
	b.mustExec(`DELETE FROM tasks WHERE id = 'b3'`)
	b.mustExec(`UPDATE tasks SET done = 1 WHERE id = 'a5'`)
	b.synced(h)
	if got := refusedCodes(b); len(got) != 0 {
		t.Fatalf("bob's changes were refused: %q", got)
	}
	for _, id := range []string{"a7", "a8"} {
		a.mustExec(`INSERT INTO tasks(id, title) VALUES (?, ?)`, id, strings.Repeat("a", value))
	}
	a.synced(h)
	if got := refusedCodes(a); len(got) != 2 {
		t.Fatalf("ann's row taken over by bob still counts toward her: %q", got)
	}
	// Now bob is at his quota: a row of his own more is refused.
	b.mustExec(`INSERT INTO tasks(id, title) VALUES ('b4', ?)`, strings.Repeat("b", value))
	b.synced(h)
	if got := refusedCodes(b); len(got) != 1 || !strings.HasSuffix(got[0], store.CodeQuotaExceeded) {
		t.Fatalf("bob's refused entries %q, want b4 over quota", got)
	}
}
