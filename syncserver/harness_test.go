package syncserver_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearthdb/hearth/codec"
	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/client"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/journal"
	"github.com/hearthdb/hearth/syncworker/merge"
	"github.com/hearthdb/hearth/syncworker/syncstatus"
	"github.com/ncruces/go-sqlite3"
	_ "github.com/ncruces/go-sqlite3/vfs/memdb"
)

// The app the tests sync: the same migrations on clients and server.
var (
	migrationV1 = appschema.Migration{Version: 1, SQL: `CREATE TABLE tasks(
		id TEXT PRIMARY KEY,
		title TEXT NOT NULL DEFAULT '',
		done INTEGER NOT NULL DEFAULT 0,
		assignee TEXT,
		rank REAL,
		note BLOB,
		legacy TEXT)`}
	// v2 drops legacy and adds priority.
	migrationV2 = appschema.Migration{Version: 2, SQL: `ALTER TABLE tasks DROP COLUMN legacy; ALTER TABLE tasks ADD COLUMN priority INTEGER`}
	appTables   = []appschema.Table{{Name: "tasks"}}
)

// harness is a sync server on a real loopback socket. The HTTP server
// stays up across server restarts: it hands each connection to the
// current syncserver.Server, as a process restart behind a stable address
// would.
type harness struct {
	t    testing.TB
	path string
	cfg  syncserver.Config
	srv  atomic.Pointer[syncserver.Server]
	http *httptest.Server
	url  string
	// backend is the database the server runs on (nil: SQLite at path).
	backend *backend
}

func newHarness(t testing.TB, cfg syncserver.Config) *harness {
	t.Helper()
	if cfg.Migrations == nil {
		cfg.Migrations = []appschema.Migration{migrationV1}
	}
	if cfg.Tables == nil {
		cfg.Tables = appTables
	}
	h := &harness{t: t, cfg: cfg, path: cfg.Path}
	srv, err := syncserver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.srv.Store(srv)
	h.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.srv.Load().ServeHTTP(w, r)
	}))
	h.url = "ws" + strings.TrimPrefix(h.http.URL, "http") + "/sync"
	t.Cleanup(func() {
		h.srv.Load().Close()
		h.http.Close()
	})
	return h
}

// restart closes the server and starts another on the same store file,
// with cfg (nil Store: the default SQLite store at the same path).
func (h *harness) restart(cfg syncserver.Config) {
	h.t.Helper()
	if err := h.srv.Load().Close(); err != nil {
		h.t.Logf("close before restart: %v", err)
	}
	if cfg.Migrations == nil {
		cfg.Migrations = h.cfg.Migrations
	}
	if cfg.Tables == nil {
		cfg.Tables = h.cfg.Tables
	}
	cfg.Path = h.path
	if cfg.Store == nil && h.backend != nil {
		cfg.Store = h.backend.open(h.t)
	}
	srv, err := syncserver.New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.cfg = cfg
	h.srv.Store(srv)
}

// network is a device's link: it can be cut, which fails dials and drops
// open connections, as going offline does.
type network struct {
	mu    sync.Mutex
	down  bool
	open  map[client.Transport]bool
	dials atomic.Int64
}

func (n *network) dial(ctx context.Context, url string) (client.Transport, error) {
	n.dials.Add(1)
	n.mu.Lock()
	down := n.down
	n.mu.Unlock()
	if down {
		return nil, errors.New("network is down")
	}
	t, err := client.DialWebSocket(ctx, url)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.open == nil {
		n.open = map[client.Transport]bool{}
	}
	n.open[t] = true
	return &trackedTransport{Transport: t, n: n}, nil
}

func (n *network) setDown(down bool) {
	n.mu.Lock()
	n.down = down
	var cut []client.Transport
	if down {
		for t := range n.open {
			cut = append(cut, t)
		}
	}
	n.mu.Unlock()
	for _, t := range cut {
		t.Close(false)
	}
}

type trackedTransport struct {
	client.Transport
	n *network
}

func (t *trackedTransport) Close(graceful bool) error {
	t.n.mu.Lock()
	delete(t.n.open, t.Transport)
	t.n.mu.Unlock()
	return t.Transport.Close(graceful)
}

var dbSeq atomic.Int64

// device is one replica: an in-memory database with the app's schema,
// its journal, and a running sync client.
type device struct {
	t      testing.TB
	name   string
	conn   *sqlite3.Conn
	local  *client.LockedLocal
	j      *journal.Journal
	client *client.Client
	net    *network
	cancel context.CancelFunc
	done   chan error
	cfg    client.Config
}

func fastConfig(url string) client.Config {
	return client.Config{
		URL:              url,
		MinBackoff:       10 * time.Millisecond,
		MaxBackoff:       200 * time.Millisecond,
		RequestTimeout:   3 * time.Second,
		PingInterval:     time.Second,
		RetryInterval:    50 * time.Millisecond,
		ChecksumInterval: -1,
	}
}

// newDevice opens a replica at the given schema versions and starts its
// client with cfg (URL and timings from fastConfig when zero).
func newDevice(t testing.TB, name string, h *harness, migrations []appschema.Migration, cfg client.Config) *device {
	t.Helper()
	return newDeviceWith(t, name, h, migrations, cfg, nil)
}

// newDeviceWith is newDevice with beforeSync run on the database after
// the migrations and before the journal is installed: what it writes
// existed before the tables were synced.
func newDeviceWith(t testing.TB, name string, h *harness, migrations []appschema.Migration, cfg client.Config, beforeSync func(conn *sqlite3.Conn) error) *device {
	t.Helper()
	conn, err := sqlite3.Open(fmt.Sprintf("file:/device-%s-%d?vfs=memdb", name, dbSeq.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	return newDeviceOn(t, name, conn, h, migrations, cfg, beforeSync)
}

// newFileDevice is a device whose database is a file at path in WAL
// mode, as in the browser (OPFS) and a native app.
func newFileDevice(t testing.TB, name, path string, h *harness, cfg client.Config) *device {
	t.Helper()
	conn, err := sqlite3.Open(path)
	if err == nil {
		err = conn.Exec(`PRAGMA journal_mode = WAL`)
	}
	if err != nil {
		t.Fatal(err)
	}
	return newDeviceOn(t, name, conn, h, nil, cfg, nil)
}

func newDeviceOn(t testing.TB, name string, conn *sqlite3.Conn, h *harness, migrations []appschema.Migration, cfg client.Config, beforeSync func(conn *sqlite3.Conn) error) *device {
	t.Helper()
	if migrations == nil {
		migrations = []appschema.Migration{migrationV1}
	}
	for _, m := range migrations {
		if err := conn.Exec(m.SQL + fmt.Sprintf("; PRAGMA user_version = %d", m.Version)); err != nil {
			t.Fatal(err)
		}
	}
	if beforeSync != nil {
		if err := beforeSync(conn); err != nil {
			t.Fatal(err)
		}
	}
	// cfg.Now is the device's wall clock: the journal stamps with it too.
	j, err := journal.Prepare(conn, journal.Config{Clock: hlc.NewClock(cfg.Now), Tables: h.cfg.Tables})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Install(conn); err != nil {
		t.Fatal(err)
	}
	d := &device{t: t, name: name, conn: conn, local: client.NewLockedLocal(conn), j: j, net: &network{}}
	if cfg.URL == "" {
		fast := fastConfig(h.url)
		fast.OnStatus, fast.Applied, fast.Dial = cfg.OnStatus, cfg.Applied, cfg.Dial
		fast.Now, fast.Rand, fast.After = cfg.Now, cfg.Rand, cfg.After
		if cfg.SnapshotChunk != 0 {
			fast.SnapshotChunk = cfg.SnapshotChunk
		}
		if cfg.PushBatch != 0 {
			fast.PushBatch = cfg.PushBatch
		}
		if cfg.ChecksumInterval != 0 {
			fast.ChecksumInterval = cfg.ChecksumInterval
		}
		if cfg.MaxBackoff != 0 {
			fast.MaxBackoff = cfg.MaxBackoff
		}
		if cfg.RequestTimeout != 0 {
			fast.RequestTimeout = cfg.RequestTimeout
		}
		cfg = fast
	}
	if cfg.Dial == nil {
		cfg.Dial = d.net.dial
	}
	cfg.Local, cfg.Journal = d.local, j
	d.cfg = cfg
	t.Cleanup(func() {
		d.stop()
		// The client keeps no statements open between its turns, so the
		// worker can close the database once the client stopped.
		if err := conn.Close(); err != nil {
			t.Errorf("%s: close the database after the client stopped: %v", name, err)
		}
	})
	return d
}

// start runs the sync client.
func (d *device) start() *device {
	d.t.Helper()
	if d.cancel != nil {
		d.t.Fatal("client already running")
	}
	c, err := client.New(d.cfg)
	if err != nil {
		d.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.client, d.cancel, d.done = c, cancel, make(chan error, 1)
	go func() { d.done <- c.Run(ctx) }()
	return d
}

// stop ends the sync client.
func (d *device) stop() {
	if d.cancel == nil {
		return
	}
	d.cancel()
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		d.t.Errorf("%s: client did not stop", d.name)
	}
	d.cancel = nil
}

// exec runs app SQL on the device, as the page would, and notifies the
// client.
func (d *device) exec(sql string, args ...any) error {
	err := d.local.Do(context.Background(), func(conn *sqlite3.Conn) error {
		s, _, err := conn.Prepare(sql)
		if err != nil {
			return err
		}
		defer s.Close()
		for i, a := range args {
			if err := merge.BindValue(s, i+1, a); err != nil {
				return err
			}
		}
		return s.Exec()
	})
	if d.client != nil && d.cancel != nil {
		d.client.Notify()
	}
	return err
}

func (d *device) mustExec(sql string, args ...any) {
	d.t.Helper()
	if err := d.exec(sql, args...); err != nil {
		d.t.Fatalf("%s: %s: %v", d.name, sql, err)
	}
}

// with runs fn on the device's connection, between the client's turns.
func (d *device) with(fn func(conn *sqlite3.Conn) error) {
	d.t.Helper()
	if err := d.local.Do(context.Background(), fn); err != nil {
		d.t.Fatal(err)
	}
}

// query returns rows as exact values.
func (d *device) query(sql string, args ...any) [][]any {
	d.t.Helper()
	var rows [][]any
	err := d.local.Do(context.Background(), func(conn *sqlite3.Conn) error {
		rows = queryConn(conn, sql, args...)
		return nil
	})
	if err != nil {
		d.t.Fatal(err)
	}
	return rows
}

func queryConn(conn *sqlite3.Conn, sql string, args ...any) [][]any {
	s, _, err := conn.Prepare(sql)
	if err != nil {
		panic(fmt.Sprintf("%s: %v", sql, err))
	}
	defer s.Close()
	for i, a := range args {
		merge.BindValue(s, i+1, a)
	}
	var rows [][]any
	for s.Step() {
		row := make([]any, s.ColumnCount())
		for i := range row {
			row[i] = merge.ColumnValue(s, i)
		}
		rows = append(rows, row)
	}
	if err := s.Err(); err != nil {
		panic(fmt.Sprintf("%s: %v", sql, err))
	}
	return rows
}

// dumpTasks renders the tasks table exactly (types included).
func dumpRows(rows [][]any) string {
	var b strings.Builder
	for _, r := range rows {
		enc, err := codec.Encode(r)
		if err != nil {
			panic(err)
		}
		fmt.Fprintf(&b, "%v %x\n", r[0], enc)
	}
	return b.String()
}

func (d *device) tasks() string {
	return dumpRows(d.query(`SELECT * FROM tasks ORDER BY id`))
}

// serverTasks reads the server's tasks table from its database file.
func (h *harness) serverTasks() string {
	h.t.Helper()
	if h.backend != nil && h.backend.postgres() {
		return dumpRows(pgQuery(h.t, h.backend.url, `SELECT * FROM tasks ORDER BY id`))
	}
	conn, err := sqlite3.Open("file:" + h.path + "?mode=ro")
	if err != nil {
		h.t.Fatal(err)
	}
	defer conn.Close()
	return dumpRows(queryConn(conn, `SELECT * FROM tasks ORDER BY id`))
}

func (h *harness) serverQuery(sql string, args ...any) [][]any {
	h.t.Helper()
	if h.backend != nil && h.backend.postgres() {
		return pgQuery(h.t, h.backend.url, sql, args...)
	}
	conn, err := sqlite3.Open("file:" + h.path + "?mode=ro")
	if err != nil {
		h.t.Fatal(err)
	}
	defer conn.Close()
	return queryConn(conn, sql, args...)
}

// waitFor polls until cond holds. Tests bound every wait; none asserts
// how long anything took.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	// Generous: make test runs these beside the browser suites on two
	// cores, where a fan-out that takes milliseconds alone once took
	// longer than 15 s. A bound, not a measure: nothing here is timed.
	deadline := time.Now().Add(45 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// synced waits until the device has pushed everything and applied the
// log up to the server's head.
func (d *device) synced(h *harness) {
	d.t.Helper()
	waitFor(d.t, d.name+" to sync", func() bool {
		// The journal itself, not only the status: a write the client
		// has not been told about yet is still pending.
		var depth int64
		d.with(func(conn *sqlite3.Conn) (err error) { depth, err = journal.Depth(conn); return err })
		st := d.client.Status()
		// The head the client knows can lag the store's: another
		// device's push that the server has not yet announced to this
		// one. The store's own head, where the harness can read it.
		return depth == 0 && st.Connected && st.Pending == 0 && st.Cursor >= 0 && st.Cursor >= st.Head && st.State == syncstatus.StateSyncing &&
			st.Cursor >= h.logHead()
	})
}

// logHead is the position of the store's last log entry (0 when the log
// is empty), or -1 when the harness cannot read the store.
func (h *harness) logHead() int64 {
	h.t.Helper()
	if h.path == "" && (h.backend == nil || !h.backend.postgres()) {
		return -1
	}
	rows := h.serverQuery(`SELECT coalesce(max(pos), 0) FROM _hearth_log`)
	head, ok := rows[0][0].(int64)
	if !ok {
		h.t.Fatalf("the store's log head: %#v", rows)
	}
	return head
}

func (d *device) status() syncstatus.Status { return d.client.Status() }

// randomEdits makes steps random inserts, updates, deletes and network
// drops on random devices: the convergence tests' workload.
func randomEdits(t *testing.T, rng *rand.Rand, devs []*device, steps int) {
	t.Helper()
	for step := range steps {
		d := devs[rng.IntN(len(devs))]
		id := fmt.Sprint("k", rng.IntN(12))
		var err error
		switch rng.IntN(8) {
		case 0, 1:
			err = d.exec(`INSERT INTO tasks(id, title, rank) VALUES (?, ?, ?)`, id, fmt.Sprint("t", step), float64(step)/7)
		case 2, 3, 4:
			err = d.exec(`UPDATE tasks SET title = ?, done = ? WHERE id = ?`, fmt.Sprint("u", step), int64(step%2), id)
		case 5:
			err = d.exec(`UPDATE tasks SET assignee = ? WHERE id = ?`, fmt.Sprint("p", rng.IntN(3)), id)
		case 6:
			err = d.exec(`DELETE FROM tasks WHERE id = ?`, id)
		case 7:
			down := rng.IntN(2) == 0
			d.net.setDown(down)
			if !down {
				d.client.Online(true)
			}
		}
		if err != nil && !strings.Contains(err.Error(), "UNIQUE") && !strings.Contains(err.Error(), "resurrection") {
			t.Fatal(err)
		}
	}
}

// converge brings every device back online, lets each sync with h, and
// waits until every device holds exactly h's rows.
func converge(t *testing.T, h *harness, devs []*device, what string) {
	t.Helper()
	for _, d := range devs {
		d.net.setDown(false)
		d.client.Online(true)
	}
	for _, d := range devs {
		d.synced(h)
	}
	waitFor(t, "every device to match "+what, func() bool {
		want := h.serverTasks()
		for _, d := range devs {
			if d.tasks() != want {
				return false
			}
		}
		return true
	})
}
