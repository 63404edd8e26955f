package pgstore

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/jackc/pgx/v5"
)

// pollInterval is how often the watcher reads the head even without a
// notification: NOTIFY is lost while the listening connection is down,
// and a poll bounds how late a client hears of a change then.
const pollInterval = time.Second

// watcherName is the listening connection's application_name.
const watcherName = "hearth-head-watcher"

// WatchHead implements store.HeadWatcher: it LISTENs for the head other
// instances' pushes announce (see Push) and calls fn with it, and polls
// the head as a fallback. It returns once listening has started (or
// failed to); watching goes on, reconnecting as needed, until ctx is done
// or the store is closed. fn must not block.
func (s *Store) WatchHead(ctx context.Context, fn func(head int64)) error {
	return s.follow(ctx, s.headChannel(), watcherName,
		func(payload string) {
			if head, err := strconv.ParseInt(payload, 10, 64); err == nil {
				fn(head)
			}
		},
		func(ctx context.Context, conn *pgx.Conn) error {
			head, err := readHead(ctx, conn)
			if err == nil {
				fn(head)
			}
			return err
		})
}

// WatchExternal implements store.ExternalWriter: it LISTENs for the
// notification the capture trigger sends with every external write (see
// external.go) and calls fn, and calls it once more whenever listening
// (re)starts, since notifications sent meanwhile are lost. The caller
// polls as well (see store.ExternalWriter). fn must not block.
func (s *Store) WatchExternal(ctx context.Context, fn func()) error {
	return s.follow(ctx, s.inboxChannel(), inboxWatcherName,
		func(string) { fn() },
		func(context.Context, *pgx.Conn) error { fn(); return nil })
}

// inboxWatcherName is the application_name of WatchExternal's connection.
const inboxWatcherName = "hearth-inbox-watcher"

// follow LISTENs on a channel on a connection of its own, named name, and
// calls notified with each notification's payload; catchUp runs when
// listening (re)starts and after every pollInterval without a
// notification (an error there means the connection is broken). It
// returns once listening has started (or failed to); it goes on,
// reconnecting as needed, until ctx is done or the store is closed.
func (s *Store) follow(ctx context.Context, channel, name string, notified func(payload string), catchUp func(context.Context, *pgx.Conn) error) error {
	select {
	case <-s.done:
		return errClosed
	default:
	}
	ctx, cancel := context.WithCancel(ctx)
	conn, err := s.listen(ctx, channel, name)
	s.watchers.Add(1)
	go func() {
		defer s.watchers.Done()
		select {
		case <-s.done:
		case <-ctx.Done():
		}
		cancel()
	}()
	s.watchers.Add(1)
	go func() {
		defer s.watchers.Done()
		s.watch(ctx, conn, channel, name, notified, catchUp)
	}()
	return err
}

func (s *Store) listen(ctx context.Context, channel, name string) (*pgx.Conn, error) {
	cfg := s.pool.Config().ConnConfig.Copy()
	// Named, so an operator (or a test) can tell the listener apart.
	cfg.RuntimeParams["application_name"] = name
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+schema.Quote(channel)); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

func (s *Store) watch(ctx context.Context, conn *pgx.Conn, channel, name string, notified func(string), catchUp func(context.Context, *pgx.Conn) error) {
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		if conn == nil {
			var err error
			if conn, err = s.listen(ctx, channel, name); err != nil {
				conn = nil
				sleep(ctx, backoff)
				backoff = min(2*backoff, 2*time.Second)
				continue
			}
			backoff = 50 * time.Millisecond
			// Notifications sent while we were not listening are gone:
			// catch up from the tables.
			_ = catchUp(ctx, conn)
		}
		wait, cancel := context.WithTimeout(ctx, pollInterval)
		n, err := conn.WaitForNotification(wait)
		cancel()
		switch {
		case err == nil:
			notified(n.Payload)
		case ctx.Err() != nil:
			return
		case errors.Is(err, context.DeadlineExceeded):
			if err := catchUp(ctx, conn); err != nil {
				conn.Close(context.Background())
				conn = nil
			}
		default:
			conn.Close(context.Background())
			conn = nil
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

var _ store.HeadWatcher = (*Store)(nil)
