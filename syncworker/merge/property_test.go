package merge_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearthdb/hearth/codec"
	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/journal"
	"github.com/hearthdb/hearth/syncworker/merge"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/ncruces/go-sqlite3"
	_ "github.com/ncruces/go-sqlite3/vfs/memdb"
)

// The property test runs random schedules of local writes on 3 to 5
// replicas, real SQLite databases with the journal's triggers, and a
// server database, all merging through merge.Applier. Changes travel
// between them in random order, duplicated, while replicas go offline and
// come back. When everything has been delivered, every replica and the
// server must hold identical tables, and a fresh replica built from the
// server's snapshot must hold them too.

const appDDL = `
CREATE TABLE tasks(id TEXT PRIMARY KEY, title TEXT NOT NULL, done INTEGER, score REAL, data BLOB);
CREATE TABLE notes(id TEXT PRIMARY KEY, body, n INTEGER);
CREATE TABLE pairs(a TEXT, b INTEGER, v, PRIMARY KEY (a, b)) WITHOUT ROWID;
`

var appTables = []appschema.Table{{Name: "tasks"}, {Name: "notes", Resurrect: true}, {Name: "pairs"}}

var dbSeq atomic.Int64

func openMem(t testing.TB) *sqlite3.Conn {
	conn, err := sqlite3.Open(fmt.Sprintf("file:/merge-prop-%d?vfs=memdb", dbSeq.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

type wall struct{ t time.Time }

func (w *wall) now() time.Time { return w.t }

type replica struct {
	conn    *sqlite3.Conn
	j       *journal.Journal
	applier *merge.Applier
	wall    *wall
	online  bool
	outbox  []change.Change
	inbox   []change.Change
	stmts   map[string]*sqlite3.Stmt
}

// reset empties a replica for the next schedule. Opening databases and
// creating triggers costs more than a schedule, so each test worker
// keeps its databases. The clock keeps running: the wall jumps by a new
// random skew, which the hybrid clock must absorb.
func (r *replica) reset(t testing.TB, rng *rand.Rand) {
	err := r.j.Applying(func() error {
		return r.conn.Exec(`DELETE FROM tasks; DELETE FROM notes; DELETE FROM pairs;
			DELETE FROM _hearth_rows; DELETE FROM _hearth_fields; DELETE FROM _hearth_journal`)
	})
	if err != nil {
		t.Fatal(err)
	}
	r.wall.t = r.wall.t.Add(time.Duration(rng.IntN(7200)-3000) * time.Second)
	r.outbox, r.inbox, r.online = r.outbox[:0], r.inbox[:0], true
}

func newReplica(t testing.TB, rng *rand.Rand) *replica {
	conn := openMem(t)
	if err := conn.Exec(appDDL); err != nil {
		t.Fatal(err)
	}
	w := &wall{t: time.UnixMilli(1_700_000_000_000).Add(time.Duration(rng.IntN(7200)-3600) * time.Second)}
	j, err := journal.Prepare(conn, journal.Config{Clock: hlc.NewClock(w.now), Tables: appTables})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Install(conn); err != nil {
		t.Fatal(err)
	}
	infos, err := schema.DescribeAll(conn, appTables)
	if err != nil {
		t.Fatal(err)
	}
	return &replica{conn: conn, j: j, applier: merge.NewApplier(conn, infos, false), wall: w, online: true, stmts: map[string]*sqlite3.Stmt{}}
}

func (r *replica) close() {
	for _, s := range r.stmts {
		s.Close()
	}
	r.applier.Close()
	r.conn.Close()
}

// harvest moves new journal entries to the outbox, as a push would.
func (r *replica) harvest(t testing.TB) {
	es, err := r.j.Unsent(r.conn, 1<<20, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		r.outbox = append(r.outbox, e.Change)
	}
	if len(es) > 0 {
		var v []journal.Settlement
		for _, e := range es {
			v = append(v, journal.Settlement{Seq: e.Seq, State: journal.Acknowledged})
		}
		if err := r.j.Settle(r.conn, v); err != nil {
			t.Fatal(err)
		}
		if err := r.j.Prune(r.conn, 0); err != nil {
			t.Fatal(err)
		}
	}
}

// receive applies changes in one transaction, as the sync client does.
func applyAll(t testing.TB, conn *sqlite3.Conn, a *merge.Applier, j *journal.Journal, chs []change.Change) {
	if err := conn.Exec("BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	apply := func() error {
		// Every other batch preloads, as the client does: both ways
		// must converge.
		if len(chs)%2 == 0 {
			if err := a.Preload(chs); err != nil {
				return err
			}
		}
		for i := range chs {
			if _, err := a.Apply(&chs[i]); err != nil {
				return fmt.Errorf("apply %v: %w", &chs[i], err)
			}
			if j != nil {
				j.Clock().Observe(chs[i].Stamp.TS)
			}
		}
		return nil
	}
	var err error
	if j != nil {
		err = j.Applying(apply)
	} else {
		err = apply()
	}
	if err != nil {
		conn.Exec("ROLLBACK")
		t.Fatal(err)
	}
	if err := conn.Exec("COMMIT"); err != nil {
		t.Fatal(err)
	}
}

func randomValue(rng *rand.Rand) any {
	switch rng.IntN(6) {
	case 0:
		return nil
	case 1:
		return int64(rng.IntN(5)) - 2
	case 2:
		return float64(rng.IntN(7)) / 4
	case 3:
		return fmt.Sprint("s", rng.IntN(4))
	case 4:
		return []byte{byte(rng.IntN(3))}
	default:
		return int64(1) << 40 * int64(rng.IntN(3))
	}
}

// localWrite performs one random app write. Writes the app's rules refuse
// (duplicate key, a deleted key without resurrection) fail as they would
// for the app, and leave nothing behind.
func (r *replica) localWrite(t testing.TB, rng *rand.Rand) {
	r.wall.t = r.wall.t.Add(time.Duration(rng.IntN(50)-10) * time.Millisecond) // sometimes backwards
	id := fmt.Sprint("k", rng.IntN(4))
	var sql string
	var args []any
	switch table := rng.IntN(3); {
	case table == 0:
		switch rng.IntN(6) {
		case 0:
			sql, args = `INSERT INTO tasks VALUES (?, ?, ?, ?, ?)`, []any{id, fmt.Sprint("t", rng.IntN(9)), int64(rng.IntN(2)), float64(rng.IntN(9)) / 2, []byte{byte(rng.IntN(9))}}
		case 1:
			sql, args = `INSERT OR REPLACE INTO tasks(id, title) VALUES (?, ?)`, []any{id, fmt.Sprint("r", rng.IntN(9))}
		case 2, 3:
			sql, args = `UPDATE tasks SET title = ?, done = ? WHERE id = ?`, []any{fmt.Sprint("u", rng.IntN(9)), int64(rng.IntN(2)), id}
		case 4:
			sql, args = `UPDATE tasks SET score = ? WHERE id = ?`, []any{float64(rng.IntN(9)), id}
		case 5:
			sql, args = `DELETE FROM tasks WHERE id = ?`, []any{id}
		}
	case table == 1:
		switch rng.IntN(5) {
		case 0, 1:
			sql, args = `INSERT OR REPLACE INTO notes VALUES (?, ?, ?)`, []any{id, randomValue(rng), int64(rng.IntN(9))}
		case 2:
			sql, args = `UPDATE notes SET body = ? WHERE id = ?`, []any{randomValue(rng), id}
		case 3:
			sql, args = `UPDATE notes SET n = n + 1 WHERE id = ?`, []any{id}
		case 4:
			sql, args = `DELETE FROM notes WHERE id = ?`, []any{id}
		}
	default:
		b := int64(rng.IntN(2))
		switch rng.IntN(4) {
		case 0:
			sql, args = `INSERT INTO pairs VALUES (?, ?, ?)`, []any{id, b, randomValue(rng)}
		case 1:
			sql, args = `UPDATE pairs SET v = ? WHERE a = ? AND b = ?`, []any{randomValue(rng), id, b}
		case 2:
			sql, args = `UPDATE pairs SET b = b + 2 WHERE a = ? AND b = ?`, []any{id, b} // re-key
		case 3:
			sql, args = `DELETE FROM pairs WHERE a = ?`, []any{id}
		}
	}
	s := r.stmts[sql]
	if s == nil {
		var err error
		if s, _, err = r.conn.Prepare(sql); err != nil {
			t.Fatal(err)
		}
		r.stmts[sql] = s
	}
	for i, a := range args {
		merge.BindValue(s, i+1, a)
	}
	if err := s.Exec(); err != nil {
		msg := err.Error()
		if !strings.Contains(msg, "UNIQUE") && !strings.Contains(msg, "does not allow resurrection") {
			t.Fatalf("%s %v: %v", sql, args, err)
		}
	}
}

// dump renders every app table, rows in key order, values exactly.
func dump(t testing.TB, conn *sqlite3.Conn) string {
	return dumpQueries(t, conn, func(q string) string { return q[14:19] },
		`SELECT * FROM tasks ORDER BY id`, `SELECT * FROM notes ORDER BY id`, `SELECT * FROM pairs ORDER BY a, b`)
}

// dumpQueries renders each query's rows, values exactly, each line
// labelled by label(query).
func dumpQueries(t testing.TB, conn *sqlite3.Conn, label func(string) string, queries ...string) string {
	var out strings.Builder
	for _, q := range queries {
		s, _, err := conn.Prepare(q)
		if err != nil {
			t.Fatal(err)
		}
		for s.Step() {
			row := make([]any, s.ColumnCount())
			for i := range row {
				row[i] = merge.ColumnValue(s, i)
			}
			b, err := codec.Encode(row)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&out, "%s %x\n", label(q), b)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return out.String()
}

type server struct {
	conn    *sqlite3.Conn
	applier *merge.Applier
	inbox   []change.Change
}

func newServer(t testing.TB) *server {
	conn, a := newApplierDB(t, appDDL, appTables, true)
	return &server{conn: conn, applier: a}
}

// newApplierDB is an in-memory database with ddl run, the merge metadata
// tables, and an applier for tables.
func newApplierDB(t testing.TB, ddl string, tables []appschema.Table, strict bool) (*sqlite3.Conn, *merge.Applier) {
	conn := openMem(t)
	if err := conn.Exec(ddl); err != nil {
		t.Fatal(err)
	}
	if err := merge.EnsureMeta(conn); err != nil {
		t.Fatal(err)
	}
	infos, err := schema.DescribeAll(conn, tables)
	if err != nil {
		t.Fatal(err)
	}
	return conn, merge.NewApplier(conn, infos, strict)
}

func (s *server) reset(t testing.TB) {
	if err := s.conn.Exec(`DELETE FROM tasks; DELETE FROM notes; DELETE FROM pairs; DELETE FROM _hearth_rows; DELETE FROM _hearth_fields`); err != nil {
		t.Fatal(err)
	}
	s.inbox = s.inbox[:0]
}

func (s *server) close() {
	s.applier.Close()
	s.conn.Close()
}

// world is one test worker's databases: up to five replicas, the server,
// and a fresh device to build from the server's snapshot.
type world struct {
	reps  []*replica
	srv   *server
	fresh *replica
}

func newWorld(t testing.TB, rng *rand.Rand) *world {
	w := &world{srv: newServer(t), fresh: newReplica(t, rng)}
	for range 5 {
		w.reps = append(w.reps, newReplica(t, rng))
	}
	return w
}

func (w *world) close() {
	for _, r := range w.reps {
		r.close()
	}
	w.fresh.close()
	w.srv.close()
}

// runSchedule runs one random schedule and reports a divergence.
func runSchedule(t testing.TB, w *world, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, seed*31+7))
	n := 3 + rng.IntN(3)
	reps := w.reps[:n]
	for _, r := range reps {
		r.reset(t, rng)
	}
	srv := w.srv
	srv.reset(t)

	// send moves some of a replica's outbox onto the network: to every
	// other replica and the server, sometimes twice.
	send := func(from int) {
		r := reps[from]
		k := 1 + rng.IntN(len(r.outbox))
		for _, ch := range r.outbox[:k] {
			for copies := 1 + rng.IntN(4)/3; copies > 0; copies-- {
				for i, other := range reps {
					if i != from {
						other.inbox = append(other.inbox, ch)
					}
				}
				srv.inbox = append(srv.inbox, ch)
			}
		}
		r.outbox = r.outbox[k:]
	}
	// take removes up to k random changes from an inbox.
	take := func(inbox *[]change.Change, k int) []change.Change {
		var got []change.Change
		for ; k > 0 && len(*inbox) > 0; k-- {
			i := rng.IntN(len(*inbox))
			got = append(got, (*inbox)[i])
			(*inbox)[i] = (*inbox)[len(*inbox)-1]
			*inbox = (*inbox)[:len(*inbox)-1]
		}
		return got
	}
	steps := 20 + rng.IntN(50)
	for step := 0; step < steps; step++ {
		i := rng.IntN(n)
		r := reps[i]
		switch op := rng.IntN(10); {
		case op < 4:
			r.localWrite(t, rng)
			r.harvest(t)
		case op < 6:
			if r.online && len(r.outbox) > 0 {
				send(i)
			}
		case op < 8:
			if r.online && len(r.inbox) > 0 {
				applyAll(t, r.conn, r.applier, r.j, take(&r.inbox, 1+rng.IntN(4)))
			}
		case op < 9:
			if len(srv.inbox) > 0 {
				applyAll(t, srv.conn, srv.applier, nil, take(&srv.inbox, 1+rng.IntN(6)))
			}
		default:
			r.online = !r.online
		}
	}
	// Everyone comes back and everything is delivered, in random order.
	for i, r := range reps {
		r.online = true
		for len(r.outbox) > 0 {
			send(i)
		}
	}
	for _, r := range reps {
		for len(r.inbox) > 0 {
			applyAll(t, r.conn, r.applier, r.j, take(&r.inbox, 1+rng.IntN(8)))
		}
	}
	for len(srv.inbox) > 0 {
		applyAll(t, srv.conn, srv.applier, nil, take(&srv.inbox, 1+rng.IntN(8)))
	}
	want := dump(t, srv.conn)
	for i, r := range reps {
		if got := dump(t, r.conn); got != want {
			return fmt.Errorf("seed %d: replica %d of %d diverged from the server\nreplica:\n%s\nserver:\n%s", seed, i, n, got, want)
		}
	}
	// A fresh device synced from the server's snapshot agrees too.
	fresh := w.fresh
	fresh.reset(t, rng)
	var cur merge.Cursor
	for {
		page, err := srv.applier.Snapshot(cur, 1+rng.IntN(4), 0)
		if err != nil {
			t.Fatal(err)
		}
		// The page reads its rows' metadata by key range: exactly what
		// RowChanges reads row by row.
		if want := rowByRow(t, srv.conn, srv.applier, cur, page.Next); !reflect.DeepEqual(page.Changes, want) {
			return fmt.Errorf("seed %d: a snapshot page after %q/%x differs from its rows read one by one\npage: %+v\nrows: %+v", seed, cur.Table, cur.Key, page.Changes, want)
		}
		applyAll(t, fresh.conn, fresh.applier, fresh.j, page.Changes)
		cur = page.Next
		if page.Done {
			break
		}
	}
	if got := dump(t, fresh.conn); got != want {
		return fmt.Errorf("seed %d: replica built from the snapshot diverged\nreplica:\n%s\nserver:\n%s", seed, got, want)
	}
	if es, _ := fresh.j.Unsent(fresh.conn, 10, 1<<20); len(es) != 0 {
		return fmt.Errorf("seed %d: applying a snapshot journaled %d entries", seed, len(es))
	}
	return nil
}

// rowByRow is the changes of the rows in (after, upto], read with
// RowChanges one at a time.
func rowByRow(t testing.TB, conn *sqlite3.Conn, a *merge.Applier, after, upto merge.Cursor) []change.Change {
	t.Helper()
	s, _, err := conn.Prepare(`SELECT tbl, pk FROM _hearth_rows WHERE (tbl, pk) > (?1, ?2) AND (tbl, pk) <= (?3, ?4) ORDER BY tbl, pk`)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.BindText(1, after.Table)
	s.BindBlob(2, append([]byte{}, after.Key...))
	s.BindText(3, upto.Table)
	s.BindBlob(4, append([]byte{}, upto.Key...))
	var out []change.Change
	for s.Step() {
		chs, err := a.RowChanges(s.ColumnText(0), s.ColumnBlob(1, nil), 0)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, chs...)
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func schedules(t *testing.T) int {
	if s := os.Getenv("HEARTH_MERGE_SCHEDULES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if testing.Short() {
		return 300
	}
	return 2000
}

func TestPropertyReplicasConverge(t *testing.T) {
	total := schedules(t)
	workers := runtime.GOMAXPROCS(0)
	start := time.Now()
	t.Cleanup(func() {
		if !t.Failed() {
			t.Logf("%d schedules converged in %v", total, time.Since(start).Round(time.Millisecond))
		}
	})
	// Each worker keeps one set of databases and runs every workers-th
	// seed. A failure names its seed; the clocks carry over between a
	// worker's schedules, so reproduce it with the same schedule count
	// and GOMAXPROCS.
	for w := range workers {
		t.Run(fmt.Sprint("worker", w), func(t *testing.T) {
			t.Parallel()
			world := newWorld(t, rand.New(rand.NewPCG(uint64(w), 3)))
			defer world.close()
			for seed := w + 1; seed <= total; seed += workers {
				if err := runSchedule(t, world, uint64(seed)); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
