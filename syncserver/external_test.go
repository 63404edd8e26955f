package syncserver_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearthdb/hearth/internal/pgtest"
	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/checksum"
	"github.com/hearthdb/hearth/syncworker/client"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/jackc/pgx/v5"
	"github.com/ncruces/go-sqlite3"
)

// Rows another program writes straight into the synced PostgreSQL tables
// (psql, the app's ORM) reach devices as if a device had pushed them.

// external is another program's connection to the store's database.
type external struct {
	t    testing.TB
	conn *pgx.Conn
}

func connectExternal(t testing.TB, url string) *external {
	t.Helper()
	conn := pgConnect(t, context.Background(), url)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return &external{t: t, conn: conn}
}

func (x *external) exec(sql string, args ...any) {
	x.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := x.conn.Exec(ctx, sql, args...); err != nil {
		x.t.Fatalf("%s: %v", sql, err)
	}
}

func (x *external) count(sql string, args ...any) int64 {
	x.t.Helper()
	var n int64
	if err := x.conn.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		x.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// matches waits until the device holds exactly the server's tasks, and
// then checks that the store's checksums and the device's agree.
func matches(t *testing.T, h *harness, d *device) {
	t.Helper()
	waitFor(t, d.name+" to match the server's tasks", func() bool { return d.tasks() == h.serverTasks() })
	d.synced(h)
	var tasks *schema.Info
	for _, ti := range h.srv.Load().Info().Tables {
		if ti.Name == "tasks" {
			tasks = ti
		}
	}
	_, sums, err := h.cfg.Store.Checksums(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var mine checksum.Sum
	d.with(func(conn *sqlite3.Conn) (err error) { mine, err = checksum.Table(conn, tasks); return err })
	if sums["tasks"] != mine {
		t.Fatalf("%s: checksum %+v, the store's %+v", d.name, mine, sums["tasks"])
	}
}

func TestExternalWritesReachDevicesLive(t *testing.T) {
	db := &backend{name: "postgres", url: pgtest.URL(t)}
	h := db.server(t, syncserver.Config{})
	d := newDevice(t, "d", h, nil, client.Config{}).start()
	d.synced(h)
	x := connectExternal(t, db.url)

	x.exec(`INSERT INTO tasks(id, title, done, rank, note) VALUES ('t1', 'from psql', 1, 0.1, '\x0001ff'::bytea)`)
	waitFor(t, "the inserted row", func() bool {
		return dumpRows(d.query(`SELECT title, done, rank, hex(note) FROM tasks WHERE id = 't1'`)) == dumpRows([][]any{{"from psql", int64(1), 0.1, "0001FF"}})
	})
	matches(t, h, d)

	x.exec(`UPDATE tasks SET title = 'edited', assignee = 'ann' WHERE id = 't1'`)
	waitFor(t, "the update", func() bool {
		return dumpRows(d.query(`SELECT title, assignee FROM tasks WHERE id = 't1'`)) == dumpRows([][]any{{"edited", "ann"}})
	})
	x.exec(`UPDATE tasks SET id = 't2' WHERE id = 't1'`)
	waitFor(t, "the key change", func() bool {
		return dumpRows(d.query(`SELECT id, title, assignee FROM tasks`)) == dumpRows([][]any{{"t2", "edited", "ann"}})
	})
	// One statement, many rows, in one transaction with a delete.
	tx, err := x.conn.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(context.Background(), `INSERT INTO tasks(id, title) SELECT 'g' || i, 'gen ' || i FROM generate_series(1, 20) i`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(context.Background(), `DELETE FROM tasks WHERE id = 't2'`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	matches(t, h, d)
	if n := len(d.query(`SELECT 1 FROM tasks`)); n != 20 {
		t.Fatalf("device holds %d rows, want 20", n)
	}
	// An update that changes nothing logs nothing.
	before := x.count(`SELECT count(*) FROM _hearth_log`)
	x.exec(`UPDATE tasks SET title = title WHERE id = 'g1'`)
	waitFor(t, "the inbox to drain", func() bool { return x.count(`SELECT count(*) FROM _hearth_inbox`) == 0 })
	if after := x.count(`SELECT count(*) FROM _hearth_log`); after != before {
		t.Fatalf("a no-op update logged %d entries", after-before)
	}
	// A device's own writes are not captured again.
	d.mustExec(`UPDATE tasks SET title = 'by device' WHERE id = 'g2'`)
	matches(t, h, d)
	if n := x.count(`SELECT count(*) FROM _hearth_log WHERE client = ''::bytea`); n != 25 {
		t.Fatalf("%d server-written log entries, want 25 (1 insert, 1 update, delete+insert, 20 inserts, 1 delete)", n)
	}
	if n := x.count(`SELECT count(*) FROM _hearth_inbox`); n != 0 {
		t.Fatalf("the device's push left %d inbox entries", n)
	}
	// TRUNCATE would bypass the row triggers: refused.
	if _, err := x.conn.Exec(context.Background(), `TRUNCATE tasks`); err == nil || !strings.Contains(err.Error(), "HEARTH_TRUNCATE") {
		t.Fatalf("TRUNCATE: %v, want refused", err)
	}
}

func TestExternalWritesReachAnOfflineDevice(t *testing.T) {
	db := &backend{name: "postgres", url: pgtest.URL(t)}
	h := db.server(t, syncserver.Config{})
	d := newDevice(t, "d", h, nil, client.Config{}).start()
	d.mustExec(`INSERT INTO tasks(id, title) VALUES ('a', 'one'), ('b', 'two')`)
	d.synced(h)
	d.net.setDown(true)
	x := connectExternal(t, db.url)
	x.exec(`INSERT INTO tasks(id, title) VALUES ('c', 'three')`)
	x.exec(`UPDATE tasks SET done = 1 WHERE id = 'a'`)
	x.exec(`DELETE FROM tasks WHERE id = 'b'`)
	waitFor(t, "the server to ingest", func() bool { return x.count(`SELECT count(*) FROM _hearth_inbox`) == 0 })
	d.net.setDown(false)
	d.client.Online(true)
	matches(t, h, d)
	want := [][]any{{"a", "one", int64(1)}, {"c", "three", int64(0)}}
	if got := d.query(`SELECT id, title, done FROM tasks ORDER BY id`); dumpRows(got) != dumpRows(want) {
		t.Fatalf("device after reconnecting: %v, want %v", got, want)
	}
}

// TestDeviceEditsRacingExternalUpdatesConverge: devices and another
// program update the same rows at the same time; the database, the log
// and every replica end the same.
func TestDeviceEditsRacingExternalUpdatesConverge(t *testing.T) {
	db := &backend{name: "postgres", url: pgtest.URL(t)}
	h := db.server(t, syncserver.Config{})
	a := newDevice(t, "a", h, nil, client.Config{}).start()
	b := newDevice(t, "b", h, nil, client.Config{}).start()
	for i := range 5 {
		a.mustExec(`INSERT INTO tasks(id, title) VALUES (?, 'start')`, fmt.Sprint("r", i))
	}
	a.synced(h)
	b.synced(h)
	x := connectExternal(t, db.url)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range 60 {
			if err := a.exec(`UPDATE tasks SET title = ?, done = ? WHERE id = ?`, fmt.Sprint("dev ", i), int64(i%2), fmt.Sprint("r", i%5)); err != nil {
				t.Error(err)
				return
			}
			if i%20 == 10 {
				a.net.setDown(true)
			}
			if i%20 == 15 {
				a.net.setDown(false)
				a.client.Online(true)
			}
		}
	}()
	go func() {
		defer wg.Done()
		ctx := context.Background()
		for i := range 60 {
			id := fmt.Sprint("r", (i+2)%5)
			var err error
			switch i % 6 {
			case 5:
				_, err = x.conn.Exec(ctx, `DELETE FROM tasks WHERE id = $1`, id)
			case 4:
				_, err = x.conn.Exec(ctx, `INSERT INTO tasks(id, title) VALUES ($1, 'ext new') ON CONFLICT (id) DO UPDATE SET assignee = 'ext'`, id)
			default:
				_, err = x.conn.Exec(ctx, `UPDATE tasks SET title = $1, assignee = 'x' WHERE id = $2`, fmt.Sprint("ext ", i), id)
			}
			if err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()
	a.net.setDown(false)
	a.client.Online(true)
	waitFor(t, "the inbox to drain", func() bool { return x.count(`SELECT count(*) FROM _hearth_inbox`) == 0 })
	matches(t, h, a)
	matches(t, h, b)
}

// TestTwoInstancesIngestEachExternalWriteOnce: two server instances on
// one database both hear every external write; each is logged once and
// reaches the devices of both.
func TestTwoInstancesIngestEachExternalWriteOnce(t *testing.T) {
	db := &backend{name: "postgres", url: pgtest.URL(t)}
	h1 := db.server(t, syncserver.Config{})
	h2 := db.server(t, syncserver.Config{})
	d1 := newDevice(t, "d1", h1, nil, client.Config{}).start()
	d2 := newDevice(t, "d2", h2, nil, client.Config{}).start()
	x := connectExternal(t, db.url)
	for i := range 40 {
		x.exec(`INSERT INTO tasks(id, title) VALUES ($1, 'x')`, fmt.Sprint("k", i))
		if i%2 == 0 {
			x.exec(`UPDATE tasks SET done = 1 WHERE id = $1`, fmt.Sprint("k", i))
		}
		if i%10 == 0 {
			d1.mustExec(`UPDATE tasks SET title = 'device' WHERE id = ?`, fmt.Sprint("k", i))
		}
	}
	matches(t, h1, d1)
	matches(t, h2, d2)
	if n := x.count(`SELECT count(*) FROM _hearth_log WHERE client = ''::bytea AND tbl = 'tasks'`); n != 60 {
		t.Fatalf("%d server-written log entries, want 60 (40 inserts, 20 updates)", n)
	}
	if n := x.count(`SELECT count(*) FROM (SELECT pk, op FROM _hearth_log WHERE client = ''::bytea GROUP BY pk, op HAVING count(*) > 1) d`); n != 0 {
		t.Fatalf("%d external writes logged twice", n)
	}
}

// TestExternalWritesAreScopedAndChecked: an external write is recorded in
// its row's scope (a user of another scope never receives it) and the
// invariants flag it, as they would a pushed change.
func TestExternalWritesAreScopedAndChecked(t *testing.T) {
	db := &backend{name: "postgres", url: pgtest.URL(t)}
	noBad := func(ctx context.Context, q store.Querier, ch syncserver.Change) (string, error) {
		if v, ok := ch.Values["title"].(string); ok && strings.HasPrefix(v, "bad") {
			return fmt.Sprintf("%s %v is %q (by %q)", ch.Table, ch.Key[0], v, ch.Client), nil
		}
		return "", nil
	}
	h := scopedServer(t, db, noBad)
	ann := newDevice(t, "ann", h, []appschema.Migration{scopedMigration}, fastConfig(asUser(h, "ann", "w1"))).start()
	bob := newDevice(t, "bob", h, []appschema.Migration{scopedMigration}, fastConfig(asUser(h, "bob", "w2"))).start()
	x := connectExternal(t, db.url)
	x.exec(`INSERT INTO workspaces(id, name) VALUES ('w1', 'one'), ('w2', 'two')`)
	x.exec(`INSERT INTO tasks(id, workspace_id, title) VALUES ('t1', 'w1', 'fine'), ('t2', 'w2', 'bad of w2')`)
	x.exec(`UPDATE tasks SET title = 'bad too' WHERE id = 't1'`)
	waitFor(t, "ann's rows", func() bool {
		return dumpRows(ann.query(`SELECT id, title FROM tasks`)) == dumpRows([][]any{{"t1", "bad too"}}) &&
			dumpRows(ann.query(`SELECT message FROM _hearth_violations`)) == dumpRows([][]any{{`tasks t1 is "bad too" (by "")`}})
	})
	waitFor(t, "bob's rows", func() bool {
		return dumpRows(bob.query(`SELECT id, title FROM tasks`)) == dumpRows([][]any{{"t2", "bad of w2"}}) &&
			dumpRows(bob.query(`SELECT message FROM _hearth_violations`)) == dumpRows([][]any{{`tasks t2 is "bad of w2" (by "")`}})
	})
	ann.synced(h)
	bob.synced(h)
	if got := ann.query(`SELECT id FROM workspaces`); dumpRows(got) != dumpRows([][]any{{"w1"}}) {
		t.Fatalf("ann's workspaces: %v", got)
	}
	if n := x.count(`SELECT count(*) FROM _hearth_log WHERE flag IS NOT NULL`); n != 2 {
		t.Fatalf("%d flagged log entries, want 2", n)
	}
}
