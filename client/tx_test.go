package client

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/wasm/protocol"
)

func openTxDB(t *testing.T, name string) (context.Context, *DB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	_, db := openDB(t, ctx, OpenOptions{Name: name, Storage: "memory", Migrations: []appschema.Migration{
		{Version: 1, SQL: "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"},
	}})
	return ctx, db
}

func rows(t *testing.T, ctx context.Context, db *DB) string {
	t.Helper()
	r, err := db.Query(ctx, "SELECT id, v FROM t ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(r.Rows)
}

func TestTransactionCommitsRollsBackAndNests(t *testing.T) {
	ctx, db := openTxDB(t, "client-tx")
	var leaked *Tx
	err := db.Transaction(ctx, func(tx *Tx) error {
		leaked = tx
		if _, err := tx.Exec(ctx, "INSERT INTO t VALUES (?, ?)", 1, "kept"); err != nil {
			return err
		}
		inner := tx.Transaction(ctx, func(tx *Tx) error {
			if _, err := tx.Exec(ctx, "INSERT INTO t VALUES (2, 'inner')"); err != nil {
				return err
			}
			return errors.New("inner fails")
		})
		if inner == nil || inner.Error() != "inner fails" {
			return fmt.Errorf("inner transaction: %v", inner)
		}
		if err := tx.Transaction(ctx, func(tx *Tx) error {
			_, err := tx.Batch(ctx, Statement{SQL: "INSERT INTO t VALUES (3, 'nested')"})
			return err
		}); err != nil {
			return err
		}
		r, err := tx.Query(ctx, "SELECT count(*) FROM t")
		if err != nil || fmt.Sprint(r.Rows) != "[[2]]" {
			return fmt.Errorf("inside: %v %v", r.Rows, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := rows(t, ctx, db); got != "[[1 kept] [3 nested]]" {
		t.Fatalf("after commit: %s", got)
	}
	var herr *Error
	if _, err := leaked.Exec(ctx, "INSERT INTO t VALUES (9, 'late')"); !errors.As(err, &herr) || herr.Code != "TX_FINISHED" {
		t.Fatalf("a statement after the end: %v", err)
	}

	boom := errors.New("boom")
	if err := db.Transaction(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, "DELETE FROM t"); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("rollback returned %v", err)
	}
	if got := rows(t, ctx, db); got != "[[1 kept] [3 nested]]" {
		t.Fatalf("after rollback: %s", got)
	}
}

// TestTransactionIsExclusive: a write from elsewhere waits for the
// transaction and lands after its commit.
func TestTransactionIsExclusive(t *testing.T) {
	ctx, db := openTxDB(t, "client-tx-exclusive")
	other := make(chan error, 1)
	err := db.Transaction(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO t VALUES (1, 'tx')"); err != nil {
			return err
		}
		go func() {
			_, err := db.Exec(ctx, "UPDATE t SET v = 'other' WHERE id = 1")
			other <- err
		}()
		// Wait (bounded) until the worker holds the other write.
		for i := 0; ; i++ {
			v, err := db.c.request(ctx, protocol.OpInfo, map[string]any{"db": db.handle})
			if err != nil {
				return err
			}
			if v.(map[string]any)["heldByTransaction"] == int64(1) {
				break
			}
			if i == 2000 {
				return errors.New("the other write never reached the worker")
			}
			time.Sleep(5 * time.Millisecond)
		}
		r, err := tx.Query(ctx, "SELECT v FROM t")
		if err != nil || fmt.Sprint(r.Rows) != "[[tx]]" {
			return fmt.Errorf("the other write ran inside the transaction: %v %v", r.Rows, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-other; err != nil {
		t.Fatal(err)
	}
	if got := rows(t, ctx, db); got != "[[1 other]]" {
		t.Fatalf("rows %s", got)
	}
}
