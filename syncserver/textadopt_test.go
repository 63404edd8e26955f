package syncserver_test

import (
	"testing"
	"time"

	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/client"
	"github.com/ncruces/go-sqlite3"
)

// Rows written before their table was synced (the app's own data on a
// device that turns sync on) are journaled as inserts when the journal is
// installed. These tests edit the collaborative text of such rows with
// plain UPDATEs and check that every replica and the server converge,
// nothing refused and every typed character kept.

// insertBeforeSync writes task t1 with description text before the
// journal is installed.
func insertBeforeSync(text string) func(conn *sqlite3.Conn) error {
	return func(conn *sqlite3.Conn) error {
		s, _, err := conn.Prepare(`INSERT INTO tasks(id, title, description) VALUES ('t1', 'Plan', ?)`)
		if err != nil {
			return err
		}
		defer s.Close()
		if err := s.BindText(1, text); err != nil {
			return err
		}
		return s.Exec()
	}
}

// convergeOn waits until every device and the server read want as t1's
// description, and checks that nothing was refused or diverged.
func convergeOn(t *testing.T, h *harness, want string, devs ...*device) {
	t.Helper()
	read := func() []any {
		var got []any
		for _, d := range devs {
			got = append(got, descOf(d))
		}
		if rows := h.serverQuery(`SELECT description FROM tasks WHERE id = 't1'`); len(rows) == 1 {
			got = append(got, rows[0][0])
		}
		return got
	}
	converged := func() bool {
		got := read()
		if len(got) != len(devs)+1 {
			return false
		}
		for _, v := range got {
			if v != want {
				return false
			}
		}
		return true
	}
	// Bounded like waitFor; on a timeout, say what each one reads.
	deadline := time.Now().Add(45 * time.Second)
	for !converged() {
		if time.Now().After(deadline) {
			for _, d := range devs {
				st := d.status()
				t.Logf("%s: %d refused, %d divergences", d.name, st.Refused, st.Divergences)
			}
			t.Fatalf("want every device and then the server to read %q; they read %q", want, read())
		}
		time.Sleep(2 * time.Millisecond)
	}
	for _, d := range devs {
		if st := d.status(); st.Refused != 0 || st.Divergences != 0 {
			t.Fatalf("%s: %d refused, %d divergences", d.name, st.Refused, st.Divergences)
		}
	}
}

// adoptedOnA starts a server and device a, which had task t1 (hello
// world) before it synced, then device b, which receives it.
func adoptedOnA(t *testing.T, db *backend) (h *harness, a, b *device) {
	t.Helper()
	h = db.server(t, syncserver.Config{Migrations: []appschema.Migration{notesMigration}, Tables: notesTables})
	ms := []appschema.Migration{notesMigration}
	a = newDeviceWith(t, "a", h, ms, client.Config{}, insertBeforeSync("hello world")).start()
	a.synced(h)
	b = newDevice(t, "b", h, ms, client.Config{}).start()
	b.synced(h)
	return h, a, b
}

// editThenConverge runs sql on by, syncs it, then other, and waits for
// all three to read want.
func editThenConverge(t *testing.T, h *harness, by, other *device, sql, want string) {
	t.Helper()
	by.mustExec(sql)
	by.synced(h)
	other.synced(h)
	convergeOn(t, h, want, by, other)
}

// editApart takes a and b offline, has a edit the very start of t1's
// description (hello world), where a diff against an empty field would
// reuse the IDs of the adopted insert's characters, and b its end; both
// edits must reach everyone.
func editApart(t *testing.T, h *harness, a, b *device) {
	t.Helper()
	offline(a, b)
	a.mustExec(`UPDATE tasks SET description = 'Oh, hello world' WHERE id = 't1'`)
	b.mustExec(`UPDATE tasks SET description = 'hello world!' WHERE id = 't1'`)
	online(a, b)
	a.synced(h)
	b.synced(h)
	a.synced(h)
	convergeOn(t, h, "Oh, hello world!", a, b)
}

func offline(devs ...*device) {
	for _, d := range devs {
		d.net.setDown(true)
		d.client.Online(false)
	}
}

func online(devs ...*device) {
	for _, d := range devs {
		d.net.setDown(false)
		d.client.Online(true)
	}
}

// TestTextOfARowFromBeforeSyncTakesConcurrentEdits: device a had the
// task before it synced; b receives it; both edit the description
// offline.
func TestTextOfARowFromBeforeSyncTakesConcurrentEdits(t *testing.T) {
	forEachStore(t, func(t *testing.T, db *backend) {
		h, a, b := adoptedOnA(t, db)
		convergeOn(t, h, "hello world", a, b)

		editApart(t, h, a, b)

		// And again, now that every replica holds a state for the field.
		editThenConverge(t, h, a, b, `UPDATE tasks SET description = replace(description, 'world', 'there') WHERE id = 't1'`, "Oh, hello there!")
	})
}

// TestTextOfARowFromBeforeSyncAfterAPull: the first edit of a's adopted
// row arrives from b (a pull) before a edits it with a plain UPDATE.
func TestTextOfARowFromBeforeSyncAfterAPull(t *testing.T) {
	forEachStore(t, func(t *testing.T, db *backend) {
		h, a, b := adoptedOnA(t, db)
		editThenConverge(t, h, b, a, `UPDATE tasks SET description = 'hello brave world' WHERE id = 't1'`, "hello brave world")
		editThenConverge(t, h, a, b, `UPDATE tasks SET description = 'Oh, ' || description || '.' WHERE id = 't1'`, "Oh, hello brave world.")
	})
}

// TestTextOfARowBothHadBeforeSync: a and b both had the same task (the
// same key and text, say from the same import) before they synced. The
// text must read once, not twice, and take both devices' edits.
func TestTextOfARowBothHadBeforeSync(t *testing.T) {
	forEachStore(t, func(t *testing.T, db *backend) {
		h := db.server(t, syncserver.Config{Migrations: []appschema.Migration{notesMigration}, Tables: notesTables})
		ms := []appschema.Migration{notesMigration}
		a := newDeviceWith(t, "a", h, ms, client.Config{}, insertBeforeSync("hello world")).start()
		b := newDeviceWith(t, "b", h, ms, client.Config{}, insertBeforeSync("hello world")).start()
		a.synced(h)
		b.synced(h)
		a.synced(h)
		convergeOn(t, h, "hello world", a, b)

		editApart(t, h, a, b)
	})
}
