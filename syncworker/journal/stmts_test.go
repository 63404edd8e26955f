package journal

import (
	"fmt"
	"slices"
	"testing"
)

// TestKeptStatementsAreReusedAndReleased: with KeepStatements, the
// journal's work on every push and acknowledgement reuses its prepared
// statements, gives the same answers, and release finalizes them so the
// connection closes; without it, nothing stays prepared.
func TestKeptStatementsAreReusedAndReleased(t *testing.T) {
	conn, j := setup(t)
	exec(t, conn, `INSERT INTO tasks(id, title) VALUES ('a', 'one'), ('b', 'two')`)
	round := func() (depth int64, sent int) {
		t.Helper()
		n, err := Depth(conn)
		if err != nil {
			t.Fatal(err)
		}
		es, err := j.Unsent(conn, 10, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		return n, len(es)
	}
	if d, n := round(); d != 2 || n != 2 {
		t.Fatalf("depth %d, unsent %d: want 2 and 2", d, n)
	}
	if got := len(slices.Collect(conn.Stmts())); got != 0 {
		t.Fatalf("%d statements left prepared by a connection that keeps none", got)
	}

	release := KeepStatements(conn)
	round()
	first := slices.Collect(conn.Stmts())
	if len(first) != 2 {
		t.Fatalf("%d statements kept after Depth and Unsent: want 2", len(first))
	}
	if err := MarkSent(conn, 1, 1); err != nil {
		t.Fatal(err)
	}
	if d, n := round(); d != 2 || n != 2 {
		t.Fatalf("after MarkSent: depth %d, unsent %d: want 2 and 2", d, n)
	}
	again := slices.Collect(conn.Stmts())
	for _, s := range first {
		if !slices.Contains(again, s) {
			t.Fatal("a kept statement was prepared again")
		}
	}
	if err := j.Settle(conn, []Settlement{{Seq: 1, State: Acknowledged, Pos: 1}, {Seq: 2, State: Acknowledged, Pos: 2}}); err != nil {
		t.Fatal(err)
	}
	if d, n := round(); d != 0 || n != 0 {
		t.Fatalf("after Settle: depth %d, unsent %d: want 0 and 0", d, n)
	}

	release()
	release() // twice is harmless
	if got := len(slices.Collect(conn.Stmts())); got != 0 {
		t.Fatalf("%d statements left after release", got)
	}
	if err := conn.Close(); err != nil {
		t.Fatalf("close after release: %v", err)
	}
}

// TestAKeptStatementInUseIsNotSharedAndTheCacheIsBounded: a nested use
// of the same SQL gets its own statement (only one is kept after), a
// statement given back after release is finalized, and no more than
// maxKeptStatements stay.
func TestAKeptStatementInUseIsNotSharedAndTheCacheIsBounded(t *testing.T) {
	conn := openDB(t)
	release := KeepStatements(conn)
	defer release()
	const sql = `SELECT 1`
	outer, doneOuter, err := statement(conn, sql)
	if err != nil {
		t.Fatal(err)
	}
	inner, doneInner, err := statement(conn, sql)
	if err != nil {
		t.Fatal(err)
	}
	if outer == inner {
		t.Fatal("a statement in use was handed out again")
	}
	if !outer.Step() || outer.ColumnInt(0) != 1 {
		t.Fatal("the outer statement did not run")
	}
	doneInner()
	doneOuter()
	if got := len(slices.Collect(conn.Stmts())); got != 1 {
		t.Fatalf("%d statements of one SQL kept: want 1", got)
	}
	for i := range 2 * maxKeptStatements {
		if _, err := queryInt(conn, fmt.Sprintf("SELECT %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(slices.Collect(conn.Stmts())); got != maxKeptStatements {
		t.Fatalf("%d statements kept: want at most %d", got, maxKeptStatements)
	}
	// Given back after release: finalized, not kept.
	s, done, err := statement(conn, `SELECT 2`)
	if err != nil || s == nil {
		t.Fatal(err)
	}
	release()
	done()
	if got := len(slices.Collect(conn.Stmts())); got != 0 {
		t.Fatalf("%d statements left after release", got)
	}
}
