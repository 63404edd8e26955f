package pgstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hearthdb/hearth/internal/pgtest"
	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/merge"
	"github.com/hearthdb/hearth/syncworker/wire"
)

// TestPushIngestsABacklogFirst: a bulk load committed by another program
// (more than a push ingests in its own transaction) is logged before the
// next push's change, which merges against it.
func TestPushIngestsABacklogFirst(t *testing.T) {
	url := pgtest.URL(t)
	s, _ := openPG(t, url, testV1, testV2)
	app := admin(t, url)
	const bulk = 3*inboxBatch + 3
	mustExec(t, app, `INSERT INTO hearth.pairs(a, b, v) SELECT i, 'x', 'bulk' FROM generate_series(1, $1::int) i`, bulk)
	key, _ := change.EncodeKey(int64(7), "x")
	// The device's clock is behind the server's: its update loses to the
	// external insert it did not see, as it would to a pushed one.
	res, err := s.Push(context.Background(), store.Push{Client: "dev", Schema: 2, Stamp: serverStamp(), Changes: []store.Pushed{{Seq: 1,
		Change: change.Change{Table: "pairs", Key: key, Op: change.Update, Values: map[string]any{"v": "device"},
			Stamp: hlc.Stamp{TS: hlc.Make(1_000, 0), Node: "dev"}, Schema: 2}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out := res.Outcomes[0]; out.State != wire.Acknowledged || out.Pos != bulk+1 || res.Head != bulk+1 {
		t.Fatalf("push after the bulk load: %+v head %d, want acknowledged at %d", out, res.Head, bulk+1)
	}
	entries, _, err := s.Log(context.Background(), 0, bulk+10)
	if err != nil || len(entries) != bulk+1 {
		t.Fatalf("%d entries, %v", len(entries), err)
	}
	for _, e := range entries[:bulk] {
		if e.Client != "" || e.Op != change.Insert {
			t.Fatalf("entry %d: %+v", e.Pos, e)
		}
	}
	row, _, err := s.Row(context.Background(), "pairs", key)
	if err != nil || len(row) == 0 || row[0].Values["v"] != "bulk" {
		t.Fatalf("row 7 after the older device update: %+v %v", row, err)
	}

	// A few external writes, then a push: the push's own transaction
	// ingests them before its change, which merges against them. The
	// device's clock is ahead of the server's here, so its update wins
	// only if the external write was stamped first.
	mustExec(t, app, `UPDATE hearth.pairs SET v = 'external' WHERE a = 8`)
	key8, _ := change.EncodeKey(int64(8), "x")
	res, err = s.Push(context.Background(), store.Push{Client: "dev", Schema: 2, Stamp: serverStamp(), Changes: []store.Pushed{{Seq: 2,
		Change: change.Change{Table: "pairs", Key: key8, Op: change.Update, Values: map[string]any{"v": "device"},
			Stamp: hlc.Stamp{TS: hlc.Make(3_000_000, 0), Node: "dev"}, Schema: 2}}}}, nil)
	if err != nil || res.Outcomes[0].State != wire.Acknowledged || res.Outcomes[0].Pos != bulk+3 {
		t.Fatalf("push after an external update: %+v %v, want acknowledged at %d", res, err, bulk+3)
	}
	entries, _, err = s.Log(context.Background(), bulk+1, 10)
	if err != nil || len(entries) != 2 || entries[0].Client != "" || entries[0].Values["v"] != "external" || entries[1].Client != "dev" {
		t.Fatalf("log after the push: %+v %v", entries, err)
	}
	if row, _, err := s.Row(context.Background(), "pairs", key8); err != nil || row[0].Values["v"] != "device" {
		t.Fatalf("row 8: %+v %v", row, err)
	}
	var waiting int64
	if err := app.QueryRow(context.Background(), `SELECT count(*) FROM hearth._hearth_inbox`).Scan(&waiting); err != nil || waiting != 0 {
		t.Fatalf("inbox: %d %v", waiting, err)
	}
}

// failingChecker's invariant always fails.
type failingChecker struct{}

func (failingChecker) Admit(context.Context, store.Querier, *store.Push, *store.Pushed) *merge.Refusal {
	return nil
}

func (failingChecker) Inspect(context.Context, store.Querier, *store.Push, *store.Pushed) ([]string, error) {
	return nil, errors.New("the invariant's database is down")
}

// TestFailingInvariantFlagsAnExternalWrite: an invariant that fails on an
// external write flags it; it does not hold the write (already committed)
// and every push after it back for ever.
func TestFailingInvariantFlagsAnExternalWrite(t *testing.T) {
	url := pgtest.URL(t)
	s, _ := openPG(t, url, testV1, testV2)
	app := admin(t, url)
	mustExec(t, app, `INSERT INTO hearth.pairs(a, b, v) VALUES (1, 'x', 'ext')`)
	head, err := s.Ingest(context.Background(), serverStamp(), failingChecker{})
	if err != nil || head != 2 {
		t.Fatalf("ingest: head %d, %v; want the write and its violation", head, err)
	}
	entries, _, err := s.Log(context.Background(), 0, 10)
	if err != nil || len(entries) != 2 || entries[1].Table != "_hearth_violations" ||
		!strings.Contains(entries[1].Values["message"].(string), "invariant check failed: the invariant's database is down") {
		t.Fatalf("log: %+v %v", entries, err)
	}
}

// TestExternalResurrectionIsUndoneAndFlagged: in a table without
// resurrection, a key once deleted stays deleted; another program
// inserting it again is undone and flagged, as a device's insert would be
// refused.
func TestExternalResurrectionIsUndoneAndFlagged(t *testing.T) {
	url := pgtest.URL(t)
	s, _ := openPG(t, url, testV1, testV2)
	app := admin(t, url)
	stamp := serverStamp()
	for _, sql := range []string{
		`INSERT INTO hearth.pairs(a, b, v) VALUES (1, 'x', 'first')`,
		`DELETE FROM hearth.pairs WHERE a = 1`,
		`INSERT INTO hearth.pairs(a, b, v) VALUES (1, 'x', 'again')`,
	} {
		mustExec(t, app, sql)
		if _, err := s.Ingest(context.Background(), stamp, nil); err != nil {
			t.Fatal(err)
		}
	}
	var n int64
	if err := app.QueryRow(context.Background(), `SELECT count(*) FROM hearth.pairs`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("pairs holds %d rows (%v), want the resurrection undone", n, err)
	}
	entries, _, err := s.Log(context.Background(), 0, 10)
	if err != nil || len(entries) != 3 || entries[2].Table != "_hearth_violations" ||
		!strings.Contains(entries[2].Values["message"].(string), "does not allow resurrection") {
		t.Fatalf("log: %+v %v", entries, err)
	}
	_, sums, err := s.Checksums(context.Background())
	if err != nil || sums["pairs"].Rows != 0 {
		t.Fatalf("checksums: %+v %v", sums, err)
	}
}

// TestIngestDoesNotReplayIntermediateStates: writes ingested together are
// recorded against the table's final state, not replayed: a row since
// deleted, whose unique value another row now holds, is not written again
// (which the unique index would refuse).
func TestIngestDoesNotReplayIntermediateStates(t *testing.T) {
	url := pgtest.URL(t)
	s, _ := openPG(t, url, testV1, testV2)
	app := admin(t, url)
	mustExec(t, app, `INSERT INTO hearth.items(id, code) VALUES ('k', 'c')`)
	mustExec(t, app, `DELETE FROM hearth.items WHERE id = 'k'`)
	mustExec(t, app, `INSERT INTO hearth.items(id, code) VALUES ('j', 'c')`)
	head, err := s.Ingest(context.Background(), serverStamp(), nil)
	if err != nil || head != 3 {
		t.Fatalf("ingest: head %d %v, want 3 entries and no violation", head, err)
	}
	entries, _, err := s.Log(context.Background(), 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, e := range entries {
		ops = append(ops, e.Table+" "+e.Op.String())
	}
	if got := strings.Join(ops, ", "); got != "items insert, items delete, items insert" {
		t.Fatalf("log: %s", got)
	}
}

// TestExternalTransactionIsSerializedWithPushes: a transaction that
// writes a synced table holds the write lock from its first write to its
// commit, so a push waits for it, then logs after it.
func TestExternalTransactionIsSerializedWithPushes(t *testing.T) {
	url := pgtest.URL(t)
	s, _ := openPG(t, url, testV1, testV2)
	app := admin(t, url)
	ctx := context.Background()
	tx, err := app.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `INSERT INTO hearth.pairs(a, b, v) VALUES (5, 'x', 'external')`); err != nil {
		t.Fatal(err)
	}
	key, _ := change.EncodeKey(int64(6), "x")
	done := make(chan error, 1)
	var res store.PushResult
	go func() {
		var err error
		res, err = s.Push(ctx, store.Push{Client: "dev", Schema: 2, Stamp: serverStamp(), Changes: []store.Pushed{{Seq: 1,
			Change: change.Change{Table: "pairs", Key: key, Op: change.Insert, Values: map[string]any{"v": "device"},
				Stamp: hlc.Stamp{TS: hlc.Make(1_000, 0), Node: "dev"}, Schema: 2}}}}, nil)
		done <- err
	}()
	// The push waits on the advisory lock the external transaction took.
	observer := admin(t, url)
	deadline := time.Now().Add(15 * time.Second)
	for waiting := int64(0); waiting == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the push never waited on the lock")
		}
		if err := observer.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			t.Fatalf("the push finished (%v) while an external transaction held the lock", err)
		case <-time.After(2 * time.Millisecond):
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the push did not finish after the external commit")
	}
	entries, _, err := s.Log(ctx, 0, 10)
	if err != nil || len(entries) != 2 || entries[0].Client != "" || entries[0].Values["v"] != "external" || entries[1].Client != "dev" || res.Outcomes[0].Pos != 2 {
		t.Fatalf("log: %+v %v; push %+v", entries, err, res)
	}
}
