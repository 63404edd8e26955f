package pgstore

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/hearthdb/hearth/syncserver/store"
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
	select {
	case <-s.done:
		return errClosed
	default:
	}
	ctx, cancel := context.WithCancel(ctx)
	conn, err := s.listen(ctx)
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
		s.watch(ctx, conn, fn)
	}()
	return err
}

func (s *Store) listen(ctx context.Context) (*pgx.Conn, error) {
	cfg := s.pool.Config().ConnConfig.Copy()
	// Named, so an operator (or a test) can tell the listener apart.
	cfg.RuntimeParams["application_name"] = watcherName
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+headChannel); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

func (s *Store) watch(ctx context.Context, conn *pgx.Conn, fn func(int64)) {
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		if conn == nil {
			var err error
			if conn, err = s.listen(ctx); err != nil {
				conn = nil
				sleep(ctx, backoff)
				backoff = min(2*backoff, 2*time.Second)
				continue
			}
			backoff = 50 * time.Millisecond
			// Notifications sent while we were not listening are gone:
			// catch up from the table.
			if head, err := readHead(ctx, conn); err == nil {
				fn(head)
			}
		}
		wait, cancel := context.WithTimeout(ctx, pollInterval)
		n, err := conn.WaitForNotification(wait)
		cancel()
		switch {
		case err == nil:
			if head, perr := strconv.ParseInt(n.Payload, 10, 64); perr == nil {
				fn(head)
			}
		case ctx.Err() != nil:
			return
		case errors.Is(err, context.DeadlineExceeded):
			head, err := readHead(ctx, conn)
			if err != nil {
				conn.Close(context.Background())
				conn = nil
				continue
			}
			fn(head)
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
