package client

import (
	"context"
	"errors"
	"sync"

	"github.com/ncruces/go-sqlite3"
)

// Local gives the sync client turns on the replica's database connection.
//
// In the browser worker a connection belongs to exactly one goroutine (the
// engine's owner goroutine), so the client never touches it from its own:
// it hands Do a function, and the worker runs that function on the owner
// goroutine between requests, when no app transaction is open, and
// returns its error. The client opens and commits its own transactions
// inside fn. A client stopped in the middle of a session may leave
// prepared statements on the connection (it could not close them
// without a turn): finalize them (Conn.Stmts) before closing the
// connection, as the worker does. With a LockedLocal the client closes
// them itself.
type Local interface {
	Do(ctx context.Context, fn func(conn *sqlite3.Conn) error) error
}

// LockedLocal is a Local for native use (tests, tools): a mutex gives one
// goroutine at a time the connection. Code that writes to the database
// itself must do so through Do too.
type LockedLocal struct {
	mu   sync.Mutex
	conn *sqlite3.Conn
}

// NewLockedLocal wraps a connection.
func NewLockedLocal(conn *sqlite3.Conn) *LockedLocal { return &LockedLocal{conn: conn} }

// Do implements Local.
func (l *LockedLocal) Do(ctx context.Context, fn func(conn *sqlite3.Conn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	return fn(l.conn)
}

// errAppTransaction is returned when the app holds a transaction open on
// the connection: the client's writes must not join it.
var errAppTransaction = errors.New("the app has a transaction open on the connection")
