package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/hearthdb/hearth/wasm/protocol"
)

// TxOptions tune a transaction.
type TxOptions struct {
	// IdleTimeoutMs rolls the transaction back when none of its own
	// statements arrives for this long (0: the worker's default, 15 s).
	IdleTimeoutMs int64
}

// Tx is an open interactive transaction. Its statements run inside it;
// every other request on the database waits until it ends. A Tx is used
// from the function given to Transaction only.
type Tx struct {
	db            *DB
	id            int64
	finished      bool
	nextSavepoint int
}

// errTxFinished answers a statement on a transaction whose function has
// returned, with the code the worker uses for one it has ended.
func errTxFinished(id int64) error {
	return &Error{Code: protocol.CodeTxFinished, Message: fmt.Sprintf("transaction %d is finished; use it only inside its function", id), Index: -1}
}

// Transaction runs fn in a transaction: it commits when fn returns nil and
// rolls back when fn returns an error (which Transaction returns) or
// panics (the panic continues). It is exclusive: every other request on the
// database waits until it ends, so nobody sees its uncommitted work. Inside
// fn, use tx, never db: a db call there waits for the transaction.
func (db *DB) Transaction(ctx context.Context, fn func(tx *Tx) error) error {
	return db.TransactionWith(ctx, TxOptions{}, fn)
}

// TransactionWith is Transaction with options.
func (db *DB) TransactionWith(ctx context.Context, opts TxOptions, fn func(tx *Tx) error) (err error) {
	fields := map[string]any{"db": db.handle}
	if opts.IdleTimeoutMs > 0 {
		fields["timeoutMs"] = opts.IdleTimeoutMs
	}
	v, err := db.c.request(ctx, protocol.OpBegin, fields)
	if err != nil {
		return err
	}
	tx := &Tx{db: db}
	tx.id, _ = v.(map[string]any)["tx"].(int64)
	end := func(op string) error {
		// The end must reach the worker even when ctx is done, or the
		// transaction holds the database until its idle timeout.
		_, err := db.c.request(context.WithoutCancel(ctx), op, map[string]any{"db": db.handle, "tx": tx.id})
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			tx.finished = true
			end(protocol.OpRollback)
			panic(r)
		}
	}()
	if ferr := fn(tx); ferr != nil {
		tx.finished = true
		end(protocol.OpRollback)
		return ferr
	}
	tx.finished = true
	return end(protocol.OpCommit)
}

func (tx *Tx) request(ctx context.Context, op string, fields map[string]any) (any, error) {
	if tx.finished {
		return nil, errTxFinished(tx.id)
	}
	fields["db"] = tx.db.handle
	fields["tx"] = tx.id
	return tx.db.c.request(ctx, op, fields)
}

// ID is the transaction's id on the wire.
func (tx *Tx) ID() int64 { return tx.id }

// Exec runs a write inside the transaction.
func (tx *Tx) Exec(ctx context.Context, sql string, args ...any) (ExecResult, error) {
	p, err := params(args)
	if err != nil {
		return ExecResult{}, err
	}
	v, err := tx.request(ctx, protocol.OpExec, map[string]any{"sql": sql, "params": p})
	if err != nil {
		return ExecResult{}, err
	}
	return execResultOf(v), nil
}

// Query runs one statement inside the transaction and returns its rows.
func (tx *Tx) Query(ctx context.Context, sql string, args ...any) (Result, error) {
	p, err := params(args)
	if err != nil {
		return Result{}, err
	}
	v, err := tx.request(ctx, protocol.OpQuery, map[string]any{"sql": sql, "params": p})
	if err != nil {
		return Result{}, err
	}
	return resultOf(v), nil
}

// Batch runs statements inside the transaction, all or none.
func (tx *Tx) Batch(ctx context.Context, stmts ...Statement) ([]Result, error) {
	list, err := statementList(stmts)
	if err != nil {
		return nil, err
	}
	v, err := tx.request(ctx, protocol.OpBatch, map[string]any{"statements": list})
	if err != nil {
		return nil, err
	}
	return batchResultsOf(v), nil
}

// Transaction runs fn in a nested transaction (a SAVEPOINT): when fn
// returns an error only its part is undone, and the error is returned.
func (tx *Tx) Transaction(ctx context.Context, fn func(tx *Tx) error) error {
	tx.nextSavepoint++
	name := fmt.Sprintf("hearth_tx_%d", tx.nextSavepoint)
	if _, err := tx.Exec(ctx, "SAVEPOINT "+name); err != nil {
		return err
	}
	if ferr := fn(tx); ferr != nil {
		if _, err := tx.Exec(ctx, "ROLLBACK TO "+name); err != nil {
			return errors.Join(ferr, err)
		}
		if _, err := tx.Exec(ctx, "RELEASE "+name); err != nil {
			return errors.Join(ferr, err)
		}
		return ferr
	}
	_, err := tx.Exec(ctx, "RELEASE "+name)
	return err
}
