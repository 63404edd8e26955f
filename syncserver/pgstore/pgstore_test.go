package pgstore

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearthdb/hearth/codec"
	"github.com/hearthdb/hearth/internal/pgtest"
	"github.com/hearthdb/hearth/syncserver/sqlitestore"
	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/merge"
	"github.com/hearthdb/hearth/syncworker/wire"
	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.StopShared()
	os.Exit(code)
}

// The test app covers every affinity, a composite key, a NOT NULL column
// with a default, a unique index and a resurrectable table.
var (
	testV1 = appschema.Migration{Version: 1, SQL: `
		CREATE TABLE items(id TEXT PRIMARY KEY, n INTEGER, r REAL, t TEXT NOT NULL DEFAULT 'none', num NUMERIC, b BLOB, code TEXT UNIQUE, legacy TEXT);
		CREATE TABLE pairs(a INTEGER, b TEXT, v TEXT, PRIMARY KEY (a, b));`}
	testV2     = appschema.Migration{Version: 2, SQL: `ALTER TABLE items DROP COLUMN legacy; ALTER TABLE items ADD COLUMN extra INTEGER NOT NULL DEFAULT 7`}
	testTables = []appschema.Table{{Name: "items", Resurrect: true}, {Name: "pairs"}}
)

func openPG(t testing.TB, url string, migrations ...appschema.Migration) (*Store, store.Info) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	info, err := s.Open(ctx, store.Schema{Migrations: migrations, Tables: testTables})
	if err != nil {
		t.Fatal(err)
	}
	return s, info
}

func TestMigrationsAndIdentity(t *testing.T) {
	url := pgtest.URL(t)
	s, info := openPG(t, url, testV1)
	if info.Version != 1 || info.ID == "" || info.Head != 0 || len(info.Tables) != 3 {
		t.Fatalf("%+v", info)
	}
	s.Close()
	s2, info2 := openPG(t, url, testV1, testV2)
	if info2.ID != info.ID || info2.Version != 2 {
		t.Fatalf("reopen keeps the id and migrates: %+v", info2)
	}
	if _, ok := info2.Tables[0].Column("extra"); !ok {
		t.Fatal("v2 adds extra")
	}
	if _, ok := info2.Tables[0].Column("legacy"); ok {
		t.Fatal("v2 drops legacy")
	}
	s2.Close()
	// An older server on a newer database refuses to start.
	old, err := Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if _, err := old.Open(context.Background(), store.Schema{Migrations: []appschema.Migration{testV1}, Tables: testTables}); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("downgrade: %v", err)
	}
	// A failing migration fails on the scratch database, before
	// PostgreSQL is touched.
	v3 := appschema.Migration{Version: 3, SQL: `ALTER TABLE items ADD COLUMN m; SELECT no_such_function()`}
	if _, err := old.Open(context.Background(), store.Schema{Migrations: []appschema.Migration{testV1, testV2, v3}, Tables: testTables}); err == nil {
		t.Fatal("a failing migration must fail")
	}
	_, info3 := openPG(t, url, testV1, testV2)
	if _, added := info3.Tables[0].Column("m"); added || info3.Version != 2 {
		t.Fatalf("the failed migration left traces: %+v", info3)
	}
}

// checker admits and inspects like an app would, with a query that uses
// SQLite's ? placeholders on both stores.
type checker struct{}

func (checker) Admit(ctx context.Context, q store.Querier, p *store.Push, c *store.Pushed) *merge.Refusal {
	if c.Values["t"] == "forbidden" {
		return &merge.Refusal{Code: store.CodeForbidden, Message: "t may not be forbidden"}
	}
	return nil
}

func (checker) Inspect(ctx context.Context, q store.Querier, p *store.Push, c *store.Pushed) ([]string, error) {
	if c.Table != "items" {
		return nil, nil
	}
	rows, err := q.Query(ctx, `SELECT count(*), max(n), max(r), ?2 FROM items WHERE n > ?1 AND t <> 'it''s ?'`, int64(50), "second")
	if err != nil {
		return nil, err
	}
	if len(rows) != 1 || rows[0][3] != "second" {
		return nil, fmt.Errorf("unexpected invariant result %#v", rows)
	}
	if n, _ := rows[0][0].(int64); n > 1 {
		return []string{fmt.Sprintf("%d items over 50 (max n %v, max r %v)", n, rows[0][1], rows[0][2])}, nil
	}
	return nil, nil
}

// generator makes random pushes: ties in stamps, updates before inserts,
// deletes, re-pushes of old batches, and invalid changes of every kind
// that both stores must refuse alike.
type generator struct {
	rng     *rand.Rand
	seqs    map[string]int64
	batches []store.Push
	base    hlc.Timestamp
}

func (g *generator) value(col string) any {
	pick := func(vs ...any) any { return vs[g.rng.IntN(len(vs))] }
	switch col {
	case "n":
		if g.rng.IntN(8) == 0 {
			return pick("wrong", 2.5)
		}
		return pick(int64(g.rng.IntN(200)), int64(math.MaxInt64), nil, int64(-5))
	case "r":
		return pick(0.1, int64(3), -1e300, nil, math.Inf(1), float64(g.rng.IntN(9))/4)
	case "t":
		if g.rng.IntN(8) == 0 {
			return pick(nil, int64(1))
		}
		return pick("a", "é", "", "x y", "forbidden", "it's ?")
	case "num":
		if g.rng.IntN(8) == 0 {
			return "12"
		}
		return pick(int64(12), 2.5, 3.0, 1e20, int64(math.MinInt64), nil, -0.125)
	case "b":
		return pick([]byte{0, 1, 255}, []byte{}, nil)
	case "code":
		return pick(nil, "c1", "c2", fmt.Sprint("u", g.rng.IntN(1000)))
	case "v":
		return pick("p", "q", nil)
	case "extra":
		return pick(int64(1), int64(2))
	}
	return nil
}

func (g *generator) push(client string) store.Push {
	if len(g.batches) > 0 && g.rng.IntN(6) == 0 {
		return g.batches[g.rng.IntN(len(g.batches))] // a retry
	}
	p := store.Push{Client: client, Schema: 2}
	n := 1 + g.rng.IntN(6)
	for range n {
		g.seqs[client]++
		c := change.Change{Schema: 2, Stamp: hlc.Stamp{TS: g.base + hlc.Timestamp(g.rng.IntN(40)), Node: client}}
		var cols []string
		if g.rng.IntN(3) == 0 {
			c.Table = "pairs"
			c.Key, _ = change.EncodeKey(int64(g.rng.IntN(3)), fmt.Sprint("k", g.rng.IntN(2)))
			cols = []string{"v"}
		} else {
			c.Table = "items"
			c.Key, _ = change.EncodeKey(fmt.Sprint("i", g.rng.IntN(8)))
			cols = []string{"n", "r", "t", "num", "b", "code", "extra"}
		}
		switch g.rng.IntN(10) {
		case 0, 1, 2:
			c.Op = change.Insert
			c.Values = map[string]any{}
			for _, col := range cols {
				if g.rng.IntN(5) > 0 {
					c.Values[col] = g.value(col)
				}
			}
		case 3, 4, 5, 6:
			c.Op = change.Update
			c.Values = map[string]any{}
			for _, col := range cols {
				if g.rng.IntN(3) == 0 {
					c.Values[col] = g.value(col)
				}
			}
		case 7:
			c.Op = change.Delete
		case 8:
			// Invalid in assorted ways.
			switch g.rng.IntN(6) {
			case 0:
				c.Table, c.Op = "nope", change.Insert
			case 1:
				c.Op, c.Values = change.Update, map[string]any{"missing": int64(1)}
			case 2:
				c.Key, c.Op = []byte{1, 2, 3}, change.Delete
			case 3:
				c.Stamp.Node, c.Op = "someone-else", change.Delete
			case 4:
				c.Table, c.Op = "_hearth_violations", change.Delete
			case 5:
				c.Key, _ = change.EncodeKey(int64(7))
				c.Op = change.Delete
			}
		case 9:
			c.Op, c.Values = change.Update, map[string]any{cols[0]: g.value(cols[0])}
		}
		p.Changes = append(p.Changes, store.Pushed{Seq: g.seqs[client], Change: c})
	}
	g.batches = append(g.batches, p)
	return p
}

func canonChange(c change.Change) string {
	var enc codec.Encoder
	if err := change.EncodeValues(&enc, c.Values); err != nil {
		return "bad values: " + err.Error()
	}
	return fmt.Sprintf("%s %x %c %s/%d v%d %x", c.Table, c.Key, byte(c.Op), c.Stamp.Node, c.Stamp.TS, c.Schema, enc.Bytes())
}

func canonChanges(cs []change.Change) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = canonChange(c)
	}
	return "[" + strings.Join(parts, "; ") + "]"
}

func canonResult(r store.PushResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "head %d\n", r.Head)
	for _, o := range r.Outcomes {
		detail := o.Detail
		switch o.Code {
		case store.CodeConstraint:
			detail = "(the database's own words)"
		case merge.CodeTypeMismatch, merge.CodeUnknownColumn:
			detail = "(names the first bad column in map order)"
		}
		fmt.Fprintf(&b, "  seq %d %s pos %d %s %q row %s\n", o.Seq, o.State, o.Pos, o.Code, detail, canonChanges(o.Row))
	}
	return b.String()
}

func dumpStore(t *testing.T, s store.Store) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	entries, head, err := s.Log(ctx, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "log head %d\n", head)
	for _, e := range entries {
		fmt.Fprintf(&b, "  %d %q %s\n", e.Pos, e.Client, canonChange(e.Change))
	}
	cur := merge.Cursor{}
	at := int64(-1)
	for {
		chunk, err := s.Snapshot(ctx, at, cur, 5, nil)
		if err != nil {
			t.Fatal(err)
		}
		at = chunk.At
		fmt.Fprintf(&b, "chunk at %d rows %d/%d next %s/%x done %v %s\n", chunk.At, chunk.Rows, chunk.Total, chunk.Next.Table, chunk.Next.Key, chunk.Done, canonChanges(chunk.Changes))
		cur = chunk.Next
		if chunk.Done {
			break
		}
	}
	head, sums, err := s.Checksums(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "checksums at %d: %v\n", head, sums)
	return b.String()
}

// TestSameAsSQLiteStore pushes the same random batches to the SQLite
// store and to this one; every outcome, the log, every snapshot chunk
// and the checksums must be the same.
func TestSameAsSQLiteStore(t *testing.T) {
	ctx := context.Background()
	lite, err := sqlitestore.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	sc := store.Schema{Migrations: []appschema.Migration{testV1, testV2}, Tables: testTables}
	if _, err := lite.Open(ctx, sc); err != nil {
		t.Fatal(err)
	}
	pg, _ := openPG(t, pgtest.URL(t), testV1, testV2)
	stamper := func() func() hlc.Stamp {
		n := 0
		return func() hlc.Stamp { n++; return hlc.Stamp{TS: hlc.Timestamp(1 << 40), Node: fmt.Sprint("server-", n)} }
	}
	liteStamp, pgStamp := stamper(), stamper()
	g := &generator{rng: rand.New(rand.NewPCG(1, 2)), seqs: map[string]int64{}, base: hlc.Make(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), 0)}
	clients := []string{"c1", "c2", "c3"}
	tally := map[string]int{}
	for i := range 250 {
		p := g.push(clients[g.rng.IntN(len(clients))])
		p.Stamp = liteStamp
		want, err := lite.Push(ctx, p, checker{})
		if err != nil {
			t.Fatalf("sqlite push %d: %v", i, err)
		}
		p.Stamp = pgStamp
		got, err := pg.Push(ctx, p, checker{})
		if err != nil {
			t.Fatalf("postgres push %d: %v", i, err)
		}
		if w, g := canonResult(want), canonResult(got); w != g {
			t.Fatalf("push %d differs:\nsqlite:\n%s\npostgres:\n%s", i, w, g)
		}
		for _, o := range want.Outcomes {
			tally[o.State+" "+o.Code]++
		}
	}
	want, got := dumpStore(t, lite), dumpStore(t, pg)
	if want != got {
		wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
		for i := range min(len(wl), len(gl)) {
			if wl[i] != gl[i] {
				t.Fatalf("stores differ at line %d:\nsqlite:   %s\npostgres: %s", i, wl[i], gl[i])
			}
		}
		t.Fatalf("stores differ in length: %d vs %d lines", len(wl), len(gl))
	}
	t.Logf("outcomes compared: %v", tally)
	for _, must := range []string{"flagged ", "refused CONSTRAINT", "refused FORBIDDEN", "refused TYPE_MISMATCH", "refused BAD_KEY", "refused UNKNOWN_TABLE"} {
		if tally[must] == 0 {
			t.Errorf("the random pushes produced no %q outcome", must)
		}
	}
}

// TestTextPostgreSQLCannotHoldIsRefused: NUL and invalid UTF-8 text, and
// non-blob values in BLOB columns, are refused rather than altered.
func TestTextPostgreSQLCannotHoldIsRefused(t *testing.T) {
	pg, _ := openPG(t, pgtest.URL(t), testV1)
	key, _ := change.EncodeKey("x")
	badKey, _ := change.EncodeKey("bad\x00key")
	stamp := hlc.Stamp{TS: hlc.Make(time.Now().UnixMilli(), 0), Node: "c"}
	res, err := pg.Push(context.Background(), store.Push{Client: "c", Schema: 1, Changes: []store.Pushed{
		{Seq: 1, Change: change.Change{Table: "items", Key: key, Op: change.Insert, Values: map[string]any{"t": "nul\x00"}, Stamp: stamp, Schema: 1}},
		{Seq: 2, Change: change.Change{Table: "items", Key: key, Op: change.Update, Values: map[string]any{"t": "\xff"}, Stamp: stamp, Schema: 1}},
		{Seq: 3, Change: change.Change{Table: "items", Key: key, Op: change.Update, Values: map[string]any{"b": int64(1)}, Stamp: stamp, Schema: 1}},
		{Seq: 4, Change: change.Change{Table: "items", Key: badKey, Op: change.Delete, Stamp: stamp, Schema: 1}},
		{Seq: 5, Change: change.Change{Table: "items", Key: key, Op: change.Insert, Values: map[string]any{"t": "fine"}, Stamp: stamp, Schema: 1}},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range res.Outcomes[:4] {
		if o.State != wire.Refused || o.Code != merge.CodeTypeMismatch {
			t.Errorf("change %d: %+v", i+1, o)
		}
	}
	if o := res.Outcomes[4]; o.State != wire.Acknowledged || o.Pos != 1 {
		t.Errorf("the valid change: %+v", o)
	}
}

// TestConcurrentPushesBecomeVisibleInOrder: pushes from two stores (two
// server instances) on one database, while a reader follows the log the
// way a session does. The reader must never see a position before an
// earlier one has appeared: every read continues exactly where the last
// one ended, and the log ends gapless.
func TestConcurrentPushesBecomeVisibleInOrder(t *testing.T) {
	url := pgtest.URL(t)
	a, _ := openPG(t, url, testV1)
	b, _ := openPG(t, url, testV1)
	const writers, pushes = 4, 40
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		st := a
		if w%2 == 1 {
			st = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := fmt.Sprint("w", w)
			for i := range pushes {
				key, _ := change.EncodeKey(fmt.Sprint(client, "-", i%5))
				stamp := hlc.Stamp{TS: hlc.Make(time.Now().UnixMilli(), uint16(i)), Node: client}
				_, err := st.Push(context.Background(), store.Push{Client: client, Schema: 1, Changes: []store.Pushed{
					{Seq: int64(2*i + 1), Change: change.Change{Table: "items", Key: key, Op: change.Insert, Values: map[string]any{"n": int64(i)}, Stamp: stamp, Schema: 1}},
					{Seq: int64(2*i + 2), Change: change.Change{Table: "items", Key: key, Op: change.Update, Values: map[string]any{"t": "u"}, Stamp: hlc.Stamp{TS: stamp.TS + 1, Node: client}, Schema: 1}},
				}}, nil)
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var seen int64
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		entries, _, err := b.Log(context.Background(), seen, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Pos != seen+1 {
				t.Fatalf("after position %d the log showed %d: a position became visible before an earlier one", seen, e.Pos)
			}
			seen = e.Pos
		}
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	entries, head, err := a.Log(context.Background(), seen, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Pos != seen+1 {
			t.Fatalf("gap after %d", seen)
		}
		seen = e.Pos
	}
	if want := int64(writers * pushes * 2); seen != want || head != want {
		t.Fatalf("log ends at %d (head %d), want %d", seen, head, want)
	}
}

func TestPlaceholders(t *testing.T) {
	for in, want := range map[string]string{
		`SELECT ? , ?`:                           `SELECT $1 , $2`,
		`SELECT ?2, ?1, ?`:                       `SELECT $2, $1, $3`,
		`SELECT '?', "a?b", ? -- ?` + "\n?":      `SELECT '?', "a?b", $1 -- ?` + "\n$2",
		`SELECT 'it''s ?', /* ? */ ?`:            `SELECT 'it''s ?', /* ? */ $1`,
		`SELECT x FROM t WHERE a = ?1 OR b = ?1`: `SELECT x FROM t WHERE a = $1 OR b = $1`,
	} {
		got, err := placeholders(in)
		if err != nil || got != want {
			t.Errorf("%s: got %s (%v), want %s", in, got, err, want)
		}
	}
	if _, err := placeholders(`SELECT 'open`); err == nil {
		t.Error("an unterminated literal must fail")
	}
}

// TestWatchHeadFollowsOtherInstances: a store hears of pushes made
// through another store on the same database, and catches up after its
// listening connection is killed (notifications sent meanwhile are lost).
func TestWatchHeadFollowsOtherInstances(t *testing.T) {
	url := pgtest.URL(t)
	writer, _ := openPG(t, url, testV1)
	reader, _ := openPG(t, url, testV1)
	var mu sync.Mutex
	var latest int64
	if err := reader.WatchHead(context.Background(), func(head int64) {
		mu.Lock()
		latest = max(latest, head)
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	n := 0
	push := func() {
		n++
		key, _ := change.EncodeKey(fmt.Sprint("w", n))
		stamp := hlc.Stamp{TS: hlc.Make(time.Now().UnixMilli(), 0), Node: "w"}
		if _, err := writer.Push(context.Background(), store.Push{Client: "w", Schema: 1, Changes: []store.Pushed{
			{Seq: int64(n), Change: change.Change{Table: "items", Key: key, Op: change.Delete, Stamp: stamp, Schema: 1}},
		}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	waitHead := func(want int64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			got := latest
			mu.Unlock()
			if got >= want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the watcher is at head %d, want %d", got, want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	push()
	waitHead(1)
	admin, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var killed int
	if err := admin.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()`, watcherName).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("killing the listener: %v (%d killed)", err, killed)
	}
	push()
	push()
	waitHead(3)
}

// BenchmarkPush pushes batches of 100 new rows (each an insert and an
// update) through the store, on PostgreSQL and on the SQLite store, and
// reports changes per second.
func BenchmarkPush(b *testing.B) {
	sc := store.Schema{Migrations: []appschema.Migration{testV1}, Tables: testTables}
	stores := []struct {
		name string
		open func(b *testing.B) store.Store
	}{
		{"sqlite-file", func(b *testing.B) store.Store {
			s, err := sqlitestore.Open(b.TempDir() + "/bench.db")
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
		{"postgres", func(b *testing.B) store.Store {
			s, err := Open(context.Background(), pgtest.URL(b))
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
	}
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			s := st.open(b)
			defer s.Close()
			if _, err := s.Open(context.Background(), sc); err != nil {
				b.Fatal(err)
			}
			seq := int64(0)
			ts := hlc.Make(time.Now().UnixMilli(), 0)
			b.ResetTimer()
			for i := range b.N {
				p := store.Push{Client: "bench", Schema: 1}
				for k := range 100 {
					key, _ := change.EncodeKey(fmt.Sprint(i, "-", k))
					ts++
					seq++
					p.Changes = append(p.Changes, store.Pushed{Seq: seq, Change: change.Change{Table: "items", Key: key, Op: change.Insert,
						Values: map[string]any{"n": int64(k), "t": "title", "r": 0.5}, Stamp: hlc.Stamp{TS: ts, Node: "bench"}, Schema: 1}})
					ts++
					seq++
					p.Changes = append(p.Changes, store.Pushed{Seq: seq, Change: change.Change{Table: "items", Key: key, Op: change.Update,
						Values: map[string]any{"n": int64(k + 1)}, Stamp: hlc.Stamp{TS: ts, Node: "bench"}, Schema: 1}})
				}
				if _, err := s.Push(context.Background(), p, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(200*b.N)/b.Elapsed().Seconds(), "changes/s")
		})
	}
}

// TestConstraintRefusesOnlyTheOffendingChange: a UNIQUE violation in the
// middle of a push aborts the optimistic attempt; the careful one refuses
// that change alone (CONSTRAINT) and keeps the others, in order.
func TestConstraintRefusesOnlyTheOffendingChange(t *testing.T) {
	pg, _ := openPG(t, pgtest.URL(t), testV1)
	k1, _ := change.EncodeKey("one")
	k2, _ := change.EncodeKey("two")
	ts := hlc.Make(time.Now().UnixMilli(), 0)
	st := func(i int) hlc.Stamp { return hlc.Stamp{TS: ts + hlc.Timestamp(i), Node: "c"} }
	res, err := pg.Push(context.Background(), store.Push{Client: "c", Schema: 1, Changes: []store.Pushed{
		{Seq: 1, Change: change.Change{Table: "items", Key: k1, Op: change.Insert, Values: map[string]any{"code": "same"}, Stamp: st(1), Schema: 1}},
		{Seq: 2, Change: change.Change{Table: "items", Key: k2, Op: change.Insert, Values: map[string]any{"code": "same"}, Stamp: st(2), Schema: 1}},
		{Seq: 3, Change: change.Change{Table: "items", Key: k1, Op: change.Update, Values: map[string]any{"n": int64(5)}, Stamp: st(3), Schema: 1}},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := res.Outcomes
	if o[0].State != wire.Acknowledged || o[0].Pos != 1 || o[1].State != wire.Refused || o[1].Code != store.CodeConstraint ||
		o[2].State != wire.Acknowledged || o[2].Pos != 2 || res.Head != 2 {
		t.Fatalf("outcomes: %+v head %d", o, res.Head)
	}
	if len(o[1].Row) != 0 {
		t.Fatalf("the refused row never existed on the server, yet it ships %v", o[1].Row)
	}
	_, sums, err := pg.Checksums(context.Background())
	if err != nil || sums["items"].Rows != 1 {
		t.Fatalf("items: %v %v", sums, err)
	}
}

// TestInstancesStartingTogether: instances that start at once on an empty
// database create its schema once and agree on its identity.
func TestInstancesStartingTogether(t *testing.T) {
	url := pgtest.URL(t)
	const n = 4
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			s, err := Open(ctx, url)
			if err != nil {
				errs[i] = err
				return
			}
			defer s.Close()
			info, err := s.Open(ctx, store.Schema{Migrations: []appschema.Migration{testV1, testV2}, Tables: testTables})
			ids[i], errs[i] = info.ID, err
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("instance %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Fatalf("instances disagree on the store id: %v", ids)
		}
	}
}

// TestUniqueIndexesFollowMigrations: a unique index a migration creates
// is enforced, and one it drops is dropped.
func TestUniqueIndexesFollowMigrations(t *testing.T) {
	url := pgtest.URL(t)
	v2 := appschema.Migration{Version: 2, SQL: `CREATE UNIQUE INDEX pairs_v ON pairs(v)`}
	v3 := appschema.Migration{Version: 3, SQL: `DROP INDEX pairs_v`}
	push := func(s *Store, seq int64, a int64) wire.Result {
		t.Helper()
		key, _ := change.EncodeKey(a, "k")
		res, err := s.Push(context.Background(), store.Push{Client: "c", Schema: 1, Changes: []store.Pushed{
			{Seq: seq, Change: change.Change{Table: "pairs", Key: key, Op: change.Insert, Values: map[string]any{"v": "same"},
				Stamp: hlc.Stamp{TS: hlc.Make(time.Now().UnixMilli(), uint16(seq)), Node: "c"}, Schema: 1}},
		}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res.Outcomes[0]
	}
	s, _ := openPG(t, url, testV1, v2)
	if o := push(s, 1, 1); o.State != wire.Acknowledged {
		t.Fatalf("first: %+v", o)
	}
	if o := push(s, 2, 2); o.State != wire.Refused || o.Code != store.CodeConstraint {
		t.Fatalf("a duplicate under the unique index: %+v", o)
	}
	s.Close()
	s3, _ := openPG(t, url, testV1, v2, v3)
	if o := push(s3, 3, 3); o.State != wire.Acknowledged {
		t.Fatalf("after the index is dropped: %+v", o)
	}
}
