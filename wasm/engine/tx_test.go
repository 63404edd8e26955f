package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hearthdb/hearth/codec"
	"github.com/ncruces/go-sqlite3"
)

// post sends a request without waiting for its reply.
func (p *page) post(op string, fields map[string]any) int64 {
	p.t.Helper()
	p.mu.Lock()
	p.nextID++
	id := p.nextID
	p.mu.Unlock()
	m := map[string]any{"v": int64(1), "id": id, "op": op}
	for k, v := range fields {
		m[k] = v
	}
	msg, err := codec.Encode(m)
	if err != nil {
		p.t.Fatal(err)
	}
	p.eng.Receive(msg)
	return id
}

// replied reports whether request id has its reply (without waiting).
func (p *page) replied(id int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reply[id] != nil
}

// await waits (bounded) for request id's reply and returns its ok value.
func (p *page) await(id int64) map[string]any {
	p.t.Helper()
	var r map[string]any
	p.waitUntil(fmt.Sprintf("the reply to request %d", id), func() bool { r = p.reply[id]; return r != nil })
	if e, bad := r["error"]; bad {
		p.t.Fatalf("request %d: %v", id, e)
	}
	return r["ok"].(map[string]any)
}

func openTxTest(t *testing.T) (*page, int64) {
	p := newPage(t)
	db := p.call("open", map[string]any{"name": fmt.Sprintf("tx-%d", hopRuns.Add(1)), "storage": "memory"})["db"].(int64)
	p.call("exec", map[string]any{"db": db, "sql": "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"})
	return p, db
}

func rowsText(p *page, db int64) string {
	return fmt.Sprint(p.call("query", map[string]any{"db": db, "sql": "SELECT id, v FROM t ORDER BY id"})["rows"])
}

// TestTransactionIsExclusiveAndCommits: while a transaction is open, other
// requests (a write and a read) wait; the transaction sees its own writes;
// the waiting read, run after the commit, sees the committed state.
func TestTransactionIsExclusiveAndCommits(t *testing.T) {
	p, db := openTxTest(t)
	tx := p.call("begin", map[string]any{"db": db})["tx"].(int64)
	p.call("exec", map[string]any{"db": db, "tx": tx, "sql": "INSERT INTO t VALUES (1, 'in tx')"})
	otherWrite := p.post("exec", map[string]any{"db": db, "sql": "INSERT INTO t VALUES (2, 'other')"})
	otherRead := p.post("query", map[string]any{"db": db, "sql": "SELECT count(*) FROM t"})
	otherBegin := p.post("begin", map[string]any{"db": db})
	if held := p.call("info", map[string]any{"db": db})["heldByTransaction"]; held != int64(3) {
		t.Fatalf("info: %v requests held by the transaction, want 3", held)
	}
	inside := p.call("query", map[string]any{"db": db, "tx": tx, "sql": "SELECT id, v FROM t ORDER BY id"})
	if got := fmt.Sprint(inside["rows"]); got != "[[1 in tx]]" {
		t.Fatalf("the transaction read %s", got)
	}
	// The transaction's own requests were answered; the others are held
	// (the owner answers in order, so they would have come first).
	if p.replied(otherWrite) || p.replied(otherRead) || p.replied(otherBegin) {
		t.Fatal("a request outside the transaction ran while it was open")
	}
	p.call("commit", map[string]any{"db": db, "tx": tx})
	p.await(otherWrite)
	if got := fmt.Sprint(p.await(otherRead)["rows"]); got != "[[2]]" {
		t.Fatalf("the read held during the transaction saw %s, want both rows", got)
	}
	second := p.await(otherBegin)["tx"].(int64)
	if second == tx {
		t.Fatal("a second transaction reused the first one's id")
	}
	p.call("rollback", map[string]any{"db": db, "tx": second})
	p.fail("exec", map[string]any{"db": db, "tx": tx, "sql": "INSERT INTO t VALUES (3, 'late')"}, "TX_FINISHED")
	p.fail("commit", map[string]any{"db": db, "tx": tx}, "TX_FINISHED")
	if got := rowsText(p, db); got != "[[1 in tx] [2 other]]" {
		t.Fatalf("rows %s", got)
	}
}

// TestTransactionRollsBackWithSavepoints: a rolled-back transaction leaves
// nothing; a savepoint inside one undoes its part only.
func TestTransactionRollsBackWithSavepoints(t *testing.T) {
	p, db := openTxTest(t)
	tx := p.call("begin", map[string]any{"db": db})["tx"].(int64)
	exec := func(sql string) {
		p.call("exec", map[string]any{"db": db, "tx": tx, "sql": sql})
	}
	exec("INSERT INTO t VALUES (1, 'kept')")
	exec("SAVEPOINT inner1")
	exec("INSERT INTO t VALUES (2, 'undone')")
	exec("ROLLBACK TO inner1")
	exec("RELEASE inner1")
	p.call("commit", map[string]any{"db": db, "tx": tx})
	if got := rowsText(p, db); got != "[[1 kept]]" {
		t.Fatalf("after savepoint rollback: %s", got)
	}

	tx = p.call("begin", map[string]any{"db": db})["tx"].(int64)
	exec("INSERT INTO t VALUES (3, 'rolled back')")
	p.call("batch", map[string]any{"db": db, "tx": tx, "statements": []any{map[string]any{"sql": "UPDATE t SET v = 'changed'"}}})
	p.call("rollback", map[string]any{"db": db, "tx": tx})
	if got := rowsText(p, db); got != "[[1 kept]]" {
		t.Fatalf("after rollback: %s", got)
	}
	// A failing statement inside a transaction fails alone.
	tx = p.call("begin", map[string]any{"db": db})["tx"].(int64)
	p.fail("exec", map[string]any{"db": db, "tx": tx, "sql": "INSERT INTO t VALUES (1, 'duplicate')"}, "SQLITE_CONSTRAINT_PRIMARYKEY")
	exec("INSERT INTO t VALUES (4, 'after the error')")
	p.call("commit", map[string]any{"db": db, "tx": tx})
	if got := rowsText(p, db); got != "[[1 kept] [4 after the error]]" {
		t.Fatalf("after an error inside: %s", got)
	}
}

// TestIdleTransactionIsRolledBack: a transaction whose owner stops sending
// is rolled back after its timeout, and what waited behind it runs.
func TestIdleTransactionIsRolledBack(t *testing.T) {
	p, db := openTxTest(t)
	tx := p.call("begin", map[string]any{"db": db, "timeoutMs": int64(30)})["tx"].(int64)
	p.call("exec", map[string]any{"db": db, "tx": tx, "sql": "INSERT INTO t VALUES (1, 'abandoned')"})
	// This waits behind the transaction until it times out.
	if got := rowsText(p, db); got != "[]" {
		t.Fatalf("an abandoned transaction's write remained: %s", got)
	}
	p.fail("exec", map[string]any{"db": db, "tx": tx, "sql": "INSERT INTO t VALUES (2, 'too late')"}, "TX_FINISHED")
	info := p.call("info", map[string]any{"db": db})
	if info["inTransaction"] != false {
		t.Fatalf("info after the timeout: %v", info)
	}
}

func TestTransactionRequestsAreChecked(t *testing.T) {
	p, db := openTxTest(t)
	p.fail("begin", map[string]any{"db": db, "timeoutMs": int64(0)}, "BAD_REQUEST")
	p.fail("begin", map[string]any{"db": db, "timeoutMs": int64(MaxTxIdleTimeout.Milliseconds() + 1)}, "BAD_REQUEST")
	p.fail("begin", map[string]any{"db": db, "timeoutMs": "soon"}, "BAD_REQUEST")
	p.fail("commit", map[string]any{"db": db}, "BAD_REQUEST")
	p.fail("exec", map[string]any{"db": db, "tx": "one", "sql": "SELECT 1"}, "BAD_REQUEST")
	p.fail("watch", map[string]any{"db": db, "tx": int64(1), "sql": "SELECT 1"}, "BAD_REQUEST")
	p.fail("rollback", map[string]any{"db": db, "tx": int64(12345)}, "TX_FINISHED")
	// A transaction the app opened with SQL blocks begin instead of nesting.
	p.call("exec", map[string]any{"db": db, "sql": "BEGIN"})
	p.fail("begin", map[string]any{"db": db}, "BUSY")
	p.call("exec", map[string]any{"db": db, "sql": "ROLLBACK"})
	// SQL that ends the transaction itself ends it for the engine too.
	tx := p.call("begin", map[string]any{"db": db})["tx"].(int64)
	p.call("exec", map[string]any{"db": db, "tx": tx, "sql": "INSERT INTO t VALUES (1, 'a'); COMMIT"})
	p.fail("exec", map[string]any{"db": db, "tx": tx, "sql": "INSERT INTO t VALUES (2, 'b')"}, "TX_FINISHED")
	if got := rowsText(p, db); got != "[[1 a]]" {
		t.Fatalf("rows %s", got)
	}
}

// TestWatchFiresOnceOnCommit: a live query is not refreshed by a rolled-back
// transaction, and once (not per statement) by a committed one.
func TestWatchFiresOnceOnCommit(t *testing.T) {
	p, db := openTxTest(t)
	sub := p.call("watch", map[string]any{"db": db, "sql": "SELECT id, v FROM t ORDER BY id"})["sub"].(int64)
	pushes := func() int {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.pushes[sub])
	}
	tx := p.call("begin", map[string]any{"db": db})["tx"].(int64)
	p.call("exec", map[string]any{"db": db, "tx": tx, "sql": "INSERT INTO t VALUES (1, 'x')"})
	p.call("rollback", map[string]any{"db": db, "tx": tx})
	// The owner pushes before it answers the next request: a push for the
	// rollback would be here by the time this query's reply is.
	rowsText(p, db)
	if n := pushes(); n != 0 {
		t.Fatalf("%d pushes after a rollback", n)
	}
	tx = p.call("begin", map[string]any{"db": db})["tx"].(int64)
	p.call("exec", map[string]any{"db": db, "tx": tx, "sql": "INSERT INTO t VALUES (1, 'x')"})
	p.call("exec", map[string]any{"db": db, "tx": tx, "sql": "INSERT INTO t VALUES (2, 'y')"})
	if n := pushes(); n != 0 {
		t.Fatalf("%d pushes before the commit", n)
	}
	p.call("commit", map[string]any{"db": db, "tx": tx})
	rowsText(p, db)
	if n := pushes(); n != 1 {
		t.Fatalf("%d pushes after one commit, want 1", n)
	}
	if got := fmt.Sprint(p.latest(sub)); !strings.Contains(got, "x") || !strings.Contains(got, "y") {
		t.Fatalf("push %s", got)
	}
}

// TestTransactionJournalsOnlyOnCommit: with sync on, writes in a
// transaction are journaled by the triggers inside it; a rollback leaves no
// entry, a commit leaves one per change.
func TestTransactionJournalsOnlyOnCommit(t *testing.T) {
	p := newPage(t)
	// Offline: the entries stay pending, so they can be counted.
	p.call("network", map[string]any{"online": false})
	db := p.openSynced(fmt.Sprintf("tx-sync-%d", hopRuns.Add(1)), "ws://127.0.0.1:1/unused")
	journaled := func() string {
		return fmt.Sprint(p.call("query", map[string]any{"db": db, "sql": "SELECT count(*) FROM _hearth_journal"})["rows"])
	}
	tx := p.call("begin", map[string]any{"db": db})["tx"].(int64)
	p.call("exec", map[string]any{"db": db, "tx": tx, "sql": "INSERT INTO tasks(id, title) VALUES ('a', 'rolled back')"})
	inside := p.call("query", map[string]any{"db": db, "tx": tx, "sql": "SELECT count(*) FROM _hearth_journal"})
	if fmt.Sprint(inside["rows"]) != "[[1]]" {
		t.Fatalf("the journal inside the transaction: %v", inside["rows"])
	}
	p.call("rollback", map[string]any{"db": db, "tx": tx})
	if got := journaled(); got != "[[0]]" {
		t.Fatalf("journal after a rollback: %s", got)
	}
	tx = p.call("begin", map[string]any{"db": db})["tx"].(int64)
	p.call("exec", map[string]any{"db": db, "tx": tx, "sql": "INSERT INTO tasks(id, title) VALUES ('b', 'kept')"})
	p.call("exec", map[string]any{"db": db, "tx": tx, "sql": "UPDATE tasks SET done = 1 WHERE id = 'b'"})
	p.call("commit", map[string]any{"db": db, "tx": tx})
	if got := journaled(); got == "[[0]]" {
		t.Fatalf("journal after a commit: %s", got)
	}
}

// TestSyncTurnsWaitForTheTransaction: the sync client's turns on the
// connection (journal reads, applying pulled changes) are held while a
// transaction is open, so they neither run inside it nor see its work.
func TestSyncTurnsWaitForTheTransaction(t *testing.T) {
	p, db := openTxTest(t)
	p.eng.mu.Lock()
	owner := p.eng.dbs[db]
	p.eng.mu.Unlock()
	tx := p.call("begin", map[string]any{"db": db})["tx"].(int64)
	p.call("exec", map[string]any{"db": db, "tx": tx, "sql": "INSERT INTO t VALUES (1, 'in tx')"})
	var seen int64 = -1
	call := &localCall{done: make(chan error, 1), fn: func(c *sqlite3.Conn) error {
		s, _, err := c.Prepare("SELECT count(*) FROM t")
		if err != nil {
			return err
		}
		defer s.Close()
		if s.Step() {
			seen = s.ColumnInt64(0)
		}
		return s.Err()
	}}
	if !owner.queue.pushCall(call) {
		t.Fatal("the owner refused the call")
	}
	// The turn was queued before these: unheld, it would have run before
	// the second one was taken from the queue.
	p.call("query", map[string]any{"db": db, "tx": tx, "sql": "SELECT 1"})
	p.call("query", map[string]any{"db": db, "tx": tx, "sql": "SELECT 1"})
	select {
	case err := <-call.done:
		t.Fatalf("a sync turn ran inside the transaction (err %v, saw %d rows)", err, seen)
	default:
	}
	p.call("commit", map[string]any{"db": db, "tx": tx})
	select {
	case err := <-call.done:
		if err != nil || seen != 1 {
			t.Fatalf("the held turn: err %v, saw %d rows, want the committed 1", err, seen)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the held sync turn never ran after the commit")
	}
}
