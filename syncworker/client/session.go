package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/checksum"
	"github.com/hearthdb/hearth/syncworker/journal"
	"github.com/hearthdb/hearth/syncworker/merge"
	"github.com/hearthdb/hearth/syncworker/syncstatus"
	"github.com/hearthdb/hearth/syncworker/wire"
	"github.com/ncruces/go-sqlite3"
)

// session is one connection to the server.
type session struct {
	c      *Client
	ctx    context.Context
	t      Transport
	frames chan frameResult
	// applier merges every chunk and log batch of the session with the
	// same prepared statements (inTxKeeping); closed when it ends.
	applier *merge.Applier
	// progressed records that the server did useful work in this
	// session (an ack, a chunk, log entries): the backoff starts over.
	progressed bool

	flight    *pushFlight
	pingID    int64
	pingDue   time.Time
	lastHeard time.Time
	// checkpointDue fires when the WAL an initial sync left is to be
	// checkpointed (nil: none is due; see deferCheckpoints).
	checkpointDue <-chan time.Time
	nextSum       time.Time
	// sumID is the checksum request in flight (0: none).
	sumID int64
	// readLimited counts RATE_LIMITED answers to snapshot and checksum
	// requests since one went through: the pause grows with the backoff.
	readLimited int
	pending     int64
	limits      pushLimits
	// clock is the correction taken at welcome, to notice the device's
	// clock being set while connected.
	clock clockAnchor
	// phases times this session's initial sync; heard is the size and
	// decode time of the last frame await accepted.
	phases syncstatus.Phases
	heard  frameCost
	// firstChunk is the id of the snapshot request sent with the hello
	// (0: none was).
	firstChunk int64
	// cursorAhead is a log position past c.st.Cursor that this session
	// has reached but not yet saved (0 with aheadSince zero: none): a log
	// message with no entries, which only moves the cursor past changes
	// the server leaves out (this device's own, and those its scopes or
	// read rules do not let it read), is not worth a write transaction of
	// its own. It is saved with the next message
	// that has entries, or once it has waited cursorSaveDelay. Lost (the
	// page closed first), the device asks from the saved cursor and the
	// server again sends nothing for that stretch.
	cursorAhead int64
	aheadSince  time.Time
}

// cursorSaveDelay is how long a cursor moved by messages with no entries
// waits to be saved: a burst of the app's writes, each acknowledged and
// then passed over in the log, saves it once, after the burst.
const cursorSaveDelay = 500 * time.Millisecond

// cursor is the log position this session has reached, saved or not.
func (s *session) cursor() int64 {
	if !s.aheadSince.IsZero() {
		return max(s.c.st.Cursor, s.cursorAhead)
	}
	return s.c.st.Cursor
}

// saveCursor saves a cursor kept ahead of the saved one (cursorAhead).
func (s *session) saveCursor() error {
	if s.aheadSince.IsZero() {
		return nil
	}
	next := s.c.st
	next.Cursor = s.cursor()
	if err := s.apply(nil, nil, next); err != nil {
		return err
	}
	s.cursorAhead, s.aheadSince = 0, time.Time{}
	return nil
}

// frameCost is what one received frame cost before it was handled.
type frameCost struct {
	size   int
	decode time.Duration
}

// clockAnchor is the corrected clock's reading when the offset was
// measured, and the process's monotonic clock then.
type clockAnchor struct {
	at, mono time.Time
}

// clockJumpTolerance is how far the wall clock may drift from the
// monotonic one during a session before the client reconnects to measure
// its offset again: more than clocks drift apart in a long session, far
// less than any bound worth setting. A false alarm costs a reconnect.
const clockJumpTolerance = time.Second

type frameResult struct {
	frame wire.Frame
	err   error
	cost  frameCost
}

// pushFlight is the push awaiting its ack.
type pushFlight struct {
	id       int64
	entries  map[int64]journal.Entry
	deadline time.Time
}

// session connects, syncs until the connection fails or ctx is done, and
// reports whether the server made progress.
func (c *Client) session(ctx context.Context) (bool, error) {
	if err := c.load(ctx); err != nil {
		return false, err
	}
	// sctx ends the session when ctx does or when the device goes
	// offline (Online(false) calls stop).
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	c.mu.Lock()
	c.dropSession = stop
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.dropSession = nil
		c.mu.Unlock()
	}()
	if c.offline.Load() {
		return false, errOffline
	}
	c.update(func(s *syncstatus.Status) { s.State = syncstatus.StateConnecting })
	dialCtx, cancel := context.WithTimeout(sctx, c.cfg.RequestTimeout)
	t, err := c.dial(dialCtx)
	cancel()
	if err != nil {
		switch {
		case c.offline.Load():
			return false, errOffline
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
			return false, &Error{Class: syncstatus.ClassTimeout, Err: fmt.Errorf("connect to %s: %w", c.cfg.URL, err)}
		}
		return false, fmt.Errorf("connect to %s: %w", c.cfg.URL, err)
	}
	s := &session{c: c, ctx: sctx, t: t, frames: make(chan frameResult, 64), lastHeard: c.cfg.Now()}
	go s.read()
	// On the client's context, not the session's: a session that ended
	// with its connection still closes its statements on the connection's
	// goroutine. A stopped client's context refuses Do: a LockedLocal's
	// mutex may still be taken (nothing waits for this client under it);
	// the worker's owner goroutine may be waiting for the client to stop,
	// and its close of the connection finalizes what is left.
	defer func() {
		if a := s.applier; a != nil {
			closeCtx := ctx
			if _, ok := c.cfg.Local.(*LockedLocal); ok {
				closeCtx = context.WithoutCancel(ctx)
			}
			_ = c.cfg.Local.Do(closeCtx, func(*sqlite3.Conn) error { return a.Close() })
		}
	}()
	defer func() {
		if ctx.Err() != nil {
			t.Close(true)
		}
		stop()
		t.Close(false)
		c.update(func(st *syncstatus.Status) { st.Connected = false })
	}()
	err = s.explain(s.run())
	if c.offline.Load() && ctx.Err() == nil {
		err = errOffline
	}
	return s.progressed, err
}

// read delivers frames to the session loop until the connection fails.
func (s *session) read() {
	for {
		b, err := s.t.Read(s.ctx)
		var fr frameResult
		if err != nil {
			fr.err = err
		} else {
			start := time.Now()
			fr.frame, fr.err = wire.Decode(b)
			fr.cost = frameCost{size: len(b), decode: time.Since(start)}
			if fr.err != nil {
				fr.err = &Error{Class: syncstatus.ClassProtocol, Err: fmt.Errorf("server sent an unreadable message: %w", fr.err)}
			}
		}
		select {
		case s.frames <- fr:
		case <-s.ctx.Done():
			return
		}
		if fr.err != nil {
			return
		}
	}
}

func (s *session) send(m wire.Message) error {
	b, err := wire.Encode(m, s.c.version)
	if err != nil {
		return &Error{Class: syncstatus.ClassLocal, Err: fmt.Errorf("encode %s: %w", wire.Type(m), err)}
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.c.cfg.RequestTimeout)
	defer cancel()
	if err := s.t.Write(ctx, b); err != nil {
		return fmt.Errorf("send %s: %w", wire.Type(m), err)
	}
	return nil
}

func (s *session) nextID() int64 {
	s.c.nextID++
	return s.c.nextID
}

// await waits for the reply want accepts, treating an error message as
// the failure it reports and anything else as a protocol error.
func (s *session) await(what string, want func(wire.Message) bool) (wire.Message, error) {
	timer := time.NewTimer(s.c.cfg.RequestTimeout)
	defer timer.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return nil, s.ctx.Err()
		case <-timer.C:
			return nil, classified(syncstatus.ClassTimeout, "no %s from the server within %v", what, s.c.cfg.RequestTimeout)
		case fr := <-s.frames:
			if fr.err != nil {
				return nil, fr.err
			}
			s.lastHeard = s.c.cfg.Now()
			if e, ok := fr.frame.Msg.(*wire.Error); ok {
				return nil, s.serverError(e)
			}
			if want(fr.frame.Msg) {
				s.heard = fr.cost
				return fr.frame.Msg, nil
			}
			if _, ok := fr.frame.Msg.(wire.Pong); ok {
				continue
			}
			return nil, classified(syncstatus.ClassProtocol, "expected %s, the server sent %s", what, wire.Type(fr.frame.Msg))
		}
	}
}

func (s *session) serverError(e *wire.Error) error {
	if e.Code == wire.CodeSchemaMismatch {
		s.c.update(func(st *syncstatus.Status) { st.ServerMin, st.ServerMax = e.Min, e.Max })
	}
	return &Error{Class: classOfCode(e.Code), Code: e.Code, Err: fmt.Errorf("server: %w", e)}
}

func (s *session) run() error {
	c := s.c
	scopes, pending := c.subscription()
	asked := c.j.Clock().Wall()
	if err := s.send(wire.Hello{Client: c.j.Node(), Cursor: c.st.Cursor, Scopes: scopes}); err != nil {
		return err
	}
	// What the welcome will not change is asked for with the hello, a
	// round trip before the welcome is read (the server answers in
	// order, the welcome first).
	subscribed := false
	switch {
	case c.st.Cursor < 0 && (!c.st.Snap.Active || c.st.Snap.fromStart()):
		// Never synced: the snapshot starts from the beginning whatever
		// the welcome says (checkServer).
		s.firstChunk = s.nextID()
		if err := s.send(wire.SnapshotRequest{ID: s.firstChunk, At: -1, Limit: int64(c.cfg.SnapshotChunk)}); err != nil {
			return err
		}
	case c.st.Cursor >= 0 && !c.st.Snap.Active && c.st.Schema == c.version && len(pending) == 0:
		// Synced, with no snapshot under way, no schema change and no
		// scopes to pull: the welcome nearly always names the server it
		// synced with. When it does not (a store restored or replaced:
		// checkServer starts a snapshot), the session starts over below,
		// having applied nothing of the log.
		if err := s.send(wire.Subscribe{After: c.st.Cursor}); err != nil {
			return err
		}
		subscribed = true
	}
	m, err := s.await("welcome", func(m wire.Message) bool { _, ok := m.(wire.Welcome); return ok })
	if err != nil {
		return err
	}
	w := m.(wire.Welcome)
	if err := s.correctClock(w, asked, c.j.Clock().Wall()); err != nil {
		return err
	}
	c.maxMessage = w.MaxMessage
	s.welcomeLimits(w)
	c.update(func(st *syncstatus.Status) {
		st.ServerMin, st.ServerMax, st.Head = w.Min, w.Max, w.Head
		st.Connected = true
	})
	if err := s.checkServer(w.Server, w.Head); err != nil {
		return err
	}
	if subscribed && c.st.Snap.Active {
		return errReconnect
	}
	if c.st.Snap.Active {
		if err := s.initialSync(); err != nil {
			return err
		}
	}
	if !subscribed {
		if err := s.scopeSync(pending); err != nil {
			return err
		}
		if err := s.send(wire.Subscribe{After: c.st.Cursor}); err != nil {
			return err
		}
	}
	now := c.cfg.Now()
	c.update(func(st *syncstatus.Status) {
		st.State = syncstatus.StateSyncing
		// Caught up with nothing to push: the server sends no log
		// message for an empty tail, so this is the moment to say so.
		if st.Pending == 0 && c.st.Cursor >= st.Head {
			st.LastSyncedAt = now
		}
	})
	return s.loop()
}

// correctClock measures the device clock's offset from the server's time
// told in welcome (asked and answered are the corrected clock's readings
// around the hello/welcome round trip; the server read its clock about
// half-way), and hands it to the journal, which stamps in the server's
// time from now on and restamps unacknowledged entries written ahead of
// the server's bound (journal.Correct). A server that predates the field
// sends no time: nothing changes.
func (s *session) correctClock(w wire.Welcome, asked, answered time.Time) error {
	c := s.c
	if w.Now <= 0 {
		return nil
	}
	rtt := max(answered.Sub(asked), 0)
	mid := asked.Add(rtt / 2)
	offset := c.j.Clock().Offset()
	// A difference within the estimate's own error (half the round trip,
	// plus the millisecond the server rounds to) is noise, not drift:
	// moving by it would only make two well-set clocks disagree by that
	// noise, and reorder writes made that close together.
	if drift := time.UnixMilli(w.Now).Sub(mid); drift.Abs() > rtt/2+time.Millisecond {
		offset += drift
	}
	// The server read its clock somewhere in the round trip: the estimate
	// is off by at most half of it, plus the milliseconds it rounds to.
	margin := rtt + time.Second
	err := c.inTx(s.ctx, func(t *txn) error {
		_, err := c.j.Correct(t.conn, offset, time.Duration(max(w.MaxSkew, 0))*time.Millisecond, margin)
		return err
	})
	if err != nil {
		return err
	}
	s.clock = clockAnchor{at: c.j.Clock().Wall(), mono: time.Now()}
	return nil
}

// clockMoved notices the device's wall clock being set during the
// session (a user fixing or breaking it): the wall clock then moved
// further than the process's monotonic clock, which such a change leaves
// alone. The session ends and the next one, at once, measures the offset
// again at welcome and restamps what was written with the moved clock,
// before it is pushed. Reconnecting rather than correcting by the
// difference: a monotonic clock may also stop while the device sleeps.
func (s *session) clockMoved() error {
	if s.clock.at.IsZero() {
		return nil
	}
	walled := s.c.j.Clock().Wall().Round(0).Sub(s.clock.at.Round(0))
	if jump := walled - time.Since(s.clock.mono); jump > -clockJumpTolerance && jump < clockJumpTolerance {
		return nil
	}
	return errReconnect
}

// checkServer starts a snapshot when the replica has never synced, the
// server store is another one or was restored from an older backup (its
// log positions mean nothing here), or the local schema changed since the
// last full sync (columns this replica skipped before it knew them come
// with the snapshot). Merging a snapshot into existing data is safe: the
// merge is idempotent, and local unsent changes keep their newer stamps.
func (s *session) checkServer(server string, head int64) error {
	c := s.c
	st := c.st
	switch {
	case st.Snap.Active && st.Server == server:
		return nil
	case st.Cursor < 0, st.Server != server, st.Cursor > head, st.Schema != c.version:
	default:
		return nil
	}
	// A server whose store is another one may have lost what it
	// acknowledged: it gets the replica's whole state pushed again, under
	// its stamps (journal.Rejournal), in the same transaction that starts
	// the snapshot. (A cursor beyond the head of the same store is an
	// instance that lags behind another, not a loss.)
	lost := st.Cursor >= 0 && st.Server != server
	st.Server = server
	st.Snap = snapshotState{Active: true, At: -1}
	err := c.inTx(s.ctx, func(t *txn) error {
		if lost {
			if _, err := c.j.Rejournal(t.conn, t.merger(), t.tables, c.version); err != nil {
				return err
			}
		}
		return saveState(t.conn, c.st, st)
	})
	if err != nil {
		return err
	}
	c.st = st
	return nil
}

// scopeSync pulls the rows of scopes added to the subscription, before
// the log is subscribed: the server adds them to the session at the first
// request, so the log it then streams from the cursor carries them too.
// The cursor does not move (chunks are applied like log entries already
// covered); an interrupted pull starts over on the next connection.
func (s *session) scopeSync(scopes []string) error {
	c := s.c
	if len(scopes) == 0 {
		return nil
	}
	req := wire.SnapshotRequest{At: -1, Limit: int64(c.cfg.SnapshotChunk), Scopes: scopes}
	for {
		req.ID = s.nextID()
		if err := s.send(req); err != nil {
			return err
		}
		want := req.ID
		m, err := s.await("scope snapshot chunk", func(m wire.Message) bool { ch, ok := m.(wire.Chunk); return ok && ch.Re == want })
		if e, ok := rateLimitedAnswer(err, want); ok {
			if err := s.waitRead(e); err != nil {
				return err
			}
			continue // the same request again
		}
		if err != nil {
			return err
		}
		s.readLimited = 0
		chunk := m.(wire.Chunk)
		if err := s.apply(nil, chunk.Changes, c.st); err != nil {
			return err
		}
		if chunk.Done {
			break
		}
		req.At, req.After = chunk.At, chunk.Next
	}
	c.scopesPulled(scopes)
	return nil
}

// idleCheckpointDelay is how long after an initial sync the session
// checkpoints the WAL, if nothing has done it by then.
const idleCheckpointDelay = 500 * time.Millisecond

// checkpoint copies the WAL into the database when no push is in
// flight, else tries again later.
func (s *session) checkpoint() {
	if s.flight != nil {
		s.checkpointDue = s.c.cfg.After(idleCheckpointDelay)
		return
	}
	s.checkpointDue = nil
	// TRUNCATE: the WAL file ends empty. A checkpointed WAL left at its
	// size is read whole by the next open (a WAL without shared memory,
	// as in the browser, is recovered by reading every valid frame): the
	// demo workspace's, megabytes, on every reload of the board. A
	// reader holding the WAL makes it wait (at most the busy timeout);
	// a failure leaves the WAL to the next automatic checkpoint.
	_ = s.c.do(s.ctx, func(conn *sqlite3.Conn) error { return conn.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`) })
}

// deferCheckpoints turns SQLite's automatic WAL checkpoints off for an
// initial sync and returns what turns them back on. In the browser a
// checkpoint after a chunk's commit copied the pages the chunk wrote to
// the WAL into the database file, and the next chunk's commit rewrote
// many of them (b-tree interior and index pages): most of the commit
// phase (e2e/bench/sync.mjs, medians of 9 fresh devices: commit 522–622
// → 179–184 ms, to queryable 1.6–1.9 → 1.2–1.4 s). Turned back on, the
// first commit after the sync (the app's or the sync's next) checkpoints
// the whole WAL once, unless the session does it first,
// idleCheckpointDelay after the sync when no push is in flight: that
// commit would otherwise be the app's first write after the sync, and it
// would wait for the checkpoint (a third of a second for the demo
// workspace in Chromium). Without WAL (IndexedDB's rollback journal)
// neither does anything.
func (s *session) deferCheckpoints() (restore func()) {
	c := s.c
	var pages int64
	err := c.do(s.ctx, func(conn *sqlite3.Conn) error {
		st, _, err := conn.Prepare(`PRAGMA wal_autocheckpoint`)
		if err != nil {
			return err
		}
		defer st.Close()
		if st.Step() {
			pages = st.ColumnInt64(0)
		}
		if err := st.Reset(); err != nil {
			return err
		}
		return conn.Exec(`PRAGMA wal_autocheckpoint = 0`)
	})
	if err != nil {
		return func() {}
	}
	if pages <= 0 {
		// Off already: a restore that failed (Hearth never turns them
		// off otherwise). SQLite's default.
		pages = 1000
	}
	return func() {
		// Not the session's context: the sync may end because it was
		// cancelled, and the setting outlives the session. Bounded: an
		// app transaction left open holds the connection.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.do(ctx, func(conn *sqlite3.Conn) error {
			return conn.Exec(fmt.Sprintf(`PRAGMA wal_autocheckpoint = %d`, pages))
		})
	}
}

// initialSync pulls the server's state in chunks, each applied in its own
// transaction together with the position to resume from.
func (s *session) initialSync() error {
	c := s.c
	defer s.deferCheckpoints()()
	c.update(func(st *syncstatus.Status) {
		st.State = syncstatus.StateInitialSync
		st.InitialSync = syncstatus.Progress{Active: true, Rows: c.st.Snap.Rows, Total: c.st.Snap.Total}
	})
	// The next chunk is asked for as soon as a chunk arrives (its Next is
	// the cursor), so the server reads and the network carries chunk n+1
	// while chunk n is applied here. Only applied chunks move the saved
	// position: a chunk in flight when something fails is asked for again.
	id := s.firstChunk
	if id == 0 || !c.st.Snap.fromStart() {
		id = s.nextID()
		if err := s.send(wire.SnapshotRequest{ID: id, At: c.st.Snap.At, After: c.st.Snap.After, Limit: int64(c.cfg.SnapshotChunk)}); err != nil {
			return err
		}
	}
	limit := c.cfg.SnapshotChunk
	for c.st.Snap.Active {
		want := id
		asked := time.Now()
		m, err := s.await("snapshot chunk", func(m wire.Message) bool { ch, ok := m.(wire.Chunk); return ok && ch.Re == want })
		// On one thread (wasm) the frame is decoded while this waits.
		waited := max(time.Since(asked)-s.heard.decode, 0)
		s.phases.Wait += waited
		if e, ok := rateLimitedAnswer(err, want); ok {
			// Ask again, after the pause, from the last applied chunk.
			if err := s.waitRead(e); err != nil {
				return err
			}
			id = s.nextID()
			if err := s.send(wire.SnapshotRequest{ID: id, At: c.st.Snap.At, After: c.st.Snap.After, Limit: int64(c.cfg.SnapshotChunk)}); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		s.readLimited = 0
		chunk := m.(wire.Chunk)
		s.phases.Chunks++
		s.phases.Bytes += int64(s.heard.size)
		s.phases.Decode += s.heard.decode
		if !chunk.Done && chunk.At >= 0 {
			// The first chunk's wait is the connection's set-up; the
			// later ones', what the pipeline did not hide.
			if s.phases.Chunks > 1 {
				limit = nextChunkLimit(limit, waited, c.cfg.SnapshotChunk)
			}
			id = s.nextID()
			if err := s.send(wire.SnapshotRequest{ID: id, At: chunk.At, After: chunk.Next, Limit: int64(limit)}); err != nil {
				return err
			}
		}
		if chunk.At < 0 || (c.st.Snap.At >= 0 && chunk.At != c.st.Snap.At) {
			return classified(syncstatus.ClassProtocol, "snapshot chunk at log position %d, expected %d", chunk.At, c.st.Snap.At)
		}
		next := c.st
		if next.Snap.At < 0 {
			next.Snap.At, next.Snap.Total = chunk.At, chunk.Total
		}
		next.Snap.After = chunk.Next
		next.Snap.Rows += chunk.Rows
		next.Snap.Total = max(next.Snap.Total, next.Snap.Rows)
		progress := syncstatus.Progress{Active: !chunk.Done, Rows: next.Snap.Rows, Total: next.Snap.Total}
		if chunk.Done {
			next.Cursor, next.Schema = next.Snap.At, c.version
			next.Snap = snapshotState{}
		}
		if err := s.apply(nil, chunk.Changes, next); err != nil {
			return err
		}
		s.progressed = true
		progress.Phases = s.phases
		c.update(func(st *syncstatus.Status) { st.Cursor, st.InitialSync = c.st.Cursor, progress })
	}
	s.checkpointDue = c.cfg.After(idleCheckpointDelay)
	return nil
}

// chunkWaitTolerance is how long the client may wait for the next chunk,
// once it has merged the one before, before that chunk counts as late:
// the round trip, not the merge, then sets the pace.
const chunkWaitTolerance = 20 * time.Millisecond

// maxChunkGrowth bounds the rows asked per chunk, as a multiple of
// Config.SnapshotChunk (the server caps them too: MaxSnapshotChunk).
const maxChunkGrowth = 8

// nextChunkLimit is the rows to ask for in the next chunk: twice as many
// when the last one came late, up to maxChunkGrowth times base. Each
// chunk is asked for when the one before arrives, so a merge longer than
// the round trip hides it; over a slow link (a phone, another continent)
// fewer, larger chunks pay it fewer times, while on a fast one chunks
// stay small, and so do the transactions the app's requests wait behind.
func nextChunkLimit(limit int, waited time.Duration, base int) int {
	if waited <= chunkWaitTolerance {
		return limit
	}
	return min(2*limit, maxChunkGrowth*base)
}

// apply forgets evicted rows (moved out of this client's scopes), then
// merges remote changes and records the new sync state, in one
// transaction.
func (s *session) apply(evict []wire.SnapshotCursor, chs []change.Change, next syncState) error {
	c := s.c
	quarantined := 0
	start := time.Now()
	var queued, merging, indexing time.Duration
	defer func() {
		s.phases.Queue += queued
		s.phases.Merge += merging
		s.phases.Index += indexing
		s.phases.Commit += time.Since(start) - queued - merging - indexing
	}()
	deferred := c.indexesDeferred
	err := c.inTxKeeping(s.ctx, &s.applier, func(t *txn) error {
		queued = time.Since(start) // begin included: it writes nothing
		conn := t.conn
		if !deferred && next.Snap.Active && c.cfg.DeferIndexesFrom > 0 && max(next.Snap.Total, next.Snap.Rows) >= int64(c.cfg.DeferIndexesFrom) {
			var err error
			indexStart := time.Now()
			deferred, err = deferIndexes(conn, c.j.Tables())
			indexing += time.Since(indexStart)
			if err != nil {
				return err
			}
		}
		a := t.merger()
		mergeStart := time.Now()
		err := c.j.Applying(func() error {
			for _, ev := range evict {
				if a.Table(ev.Table) == nil {
					continue
				}
				if err := a.ResetRow(ev.Table, ev.Key); err != nil {
					return fmt.Errorf("evict a row of %s: %w", ev.Table, err)
				}
				t.touched[ev.Table] = true
			}
			// Rows this replica has no metadata for (all of them, on a
			// fresh device) then merge without reading any.
			if err := a.Preload(chs); err != nil {
				return err
			}
			results, errs, err := a.ApplyAll(chs)
			if err != nil {
				return err
			}
			for i := range chs {
				ch, res, err := &chs[i], results[i], errs[i]
				var refusal *merge.Refusal
				switch {
				case err == nil:
				case errors.As(err, &refusal) && refusal.Code == merge.CodeUnknownTable:
					// A table this app version does not sync: nothing to
					// do here.
					continue
				case errors.As(err, &refusal), errors.Is(err, merge.ErrRowRejected):
					code := journal.CodeApplyFailed
					if refusal != nil {
						code = refusal.Code
					}
					if err := c.j.QuarantineIncoming(conn, ch, code, err.Error()); err != nil {
						return err
					}
					quarantined++
					continue
				default:
					return err
				}
				c.j.Observe(ch.Stamp.TS)
				if res.Effect.Kind != merge.Keep {
					t.touched[ch.Table] = true
				}
			}
			return nil
		})
		merging = time.Since(mergeStart)
		if err != nil {
			return err
		}
		if deferred && !next.Snap.Active {
			// The snapshot's last rows are in: build its indexes, once.
			indexStart := time.Now()
			_, err := restoreIndexes(conn)
			indexing += time.Since(indexStart)
			if err != nil {
				return fmt.Errorf("restore the indexes the initial sync deferred: %w", err)
			}
			deferred = false
		}
		if err := c.j.SaveClock(conn); err != nil {
			return err
		}
		return saveState(conn, c.st, next)
	})
	if err != nil {
		return err
	}
	c.st, c.indexesDeferred = next, deferred
	if quarantined > 0 {
		c.update(func(st *syncstatus.Status) { st.Quarantined += int64(quarantined) })
	}
	return nil
}

// loop is the connected state: push the journal, apply the log as it
// streams in, check the connection and the tables.
func (s *session) loop() error {
	c := s.c
	tick := c.cfg.RetryInterval
	for _, d := range []time.Duration{c.cfg.RequestTimeout / 4, c.cfg.PingInterval / 4} {
		if d > 0 && d < tick {
			tick = d
		}
	}
	tick = max(tick, 5*time.Millisecond)
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	defer s.stopHold()
	if c.cfg.ChecksumInterval > 0 {
		s.nextSum = c.cfg.Now().Add(c.cfg.ChecksumInterval)
	}
	if err := s.push(); err != nil {
		return err
	}
	for {
		select {
		case <-s.ctx.Done():
			return s.ctx.Err()
		case <-c.schemaCh:
			return errReconnect
		case <-c.scopesCh:
			return errReconnect // the next session pulls the added scopes
		case <-c.notifyCh:
			if s.flight == nil {
				if err := s.push(); err != nil {
					return err
				}
			}
		case fr := <-s.frames:
			if fr.err != nil {
				return fr.err
			}
			s.lastHeard = c.cfg.Now()
			if err := s.handle(fr.frame); err != nil {
				return err
			}
		case <-ticker.C:
			if err := s.periodic(); err != nil {
				return err
			}
		case <-s.holdDone():
			s.stopHold()
			if err := s.push(); err != nil {
				return err
			}
		case <-s.checkpointDue:
			s.checkpoint()
		}
	}
}

func (s *session) periodic() error {
	c := s.c
	now := c.cfg.Now()
	if !s.aheadSince.IsZero() && now.Sub(s.aheadSince) >= cursorSaveDelay {
		if err := s.saveCursor(); err != nil {
			return err
		}
	}
	if s.flight != nil && now.After(s.flight.deadline) {
		return classified(syncstatus.ClassTimeout, "no ack for push %d within %v", s.flight.id, c.cfg.RequestTimeout)
	}
	if s.pingID != 0 && now.After(s.pingDue) {
		return classified(syncstatus.ClassTimeout, "no pong within %v: the server stopped answering", c.cfg.RequestTimeout)
	}
	if s.pingID == 0 && now.Sub(s.lastHeard) >= c.cfg.PingInterval {
		s.pingID, s.pingDue = s.nextID(), now.Add(c.cfg.RequestTimeout)
		if err := s.send(wire.Ping{ID: s.pingID}); err != nil {
			return err
		}
	}
	if s.flight == nil {
		if err := s.push(); err != nil {
			return err
		}
	}
	if !s.nextSum.IsZero() && now.After(s.nextSum) && s.flight == nil && s.pending == 0 {
		s.nextSum = now.Add(c.cfg.ChecksumInterval)
		s.sumID = s.nextID()
		if err := s.send(wire.ChecksumRequest{ID: s.sumID}); err != nil {
			return err
		}
	}
	return nil
}

func (s *session) handle(f wire.Frame) error {
	c := s.c
	switch m := f.Msg.(type) {
	case wire.Changes:
		if m.Upto < s.cursor() {
			return classified(syncstatus.ClassProtocol, "log entries up to %d arrived after position %d", m.Upto, s.cursor())
		}
		now := c.cfg.Now()
		switch {
		case len(m.Entries) == 0 && len(m.Evict) == 0 && !c.st.Snap.Active && !c.indexesDeferred:
			// Only the cursor moves, if at all: kept ahead, saved later
			// (cursorAhead).
			if m.Upto > s.cursor() {
				if s.aheadSince.IsZero() {
					s.aheadSince = now
				}
				s.cursorAhead = m.Upto
			}
		default:
			chs := make([]change.Change, len(m.Entries))
			for i := range m.Entries {
				chs[i] = m.Entries[i].Change
			}
			next := c.st
			next.Cursor = m.Upto
			if err := s.apply(m.Evict, chs, next); err != nil {
				return err
			}
			s.cursorAhead, s.aheadSince = 0, time.Time{}
		}
		s.progressed = true
		c.update(func(st *syncstatus.Status) {
			st.Cursor, st.Head = m.Upto, max(m.Head, st.Head)
			if m.Upto >= m.Head && s.pending == 0 && s.flight == nil {
				st.LastSyncedAt = now
			}
		})
	case wire.Ack:
		if s.flight == nil || m.Re != s.flight.id {
			return classified(syncstatus.ClassProtocol, "ack %d matches no push in flight", m.Re)
		}
		if err := s.settle(m); err != nil {
			return err
		}
		s.progressed = true
		s.acknowledged()
		return s.push()
	case wire.Checksums:
		if m.Re == s.sumID {
			s.sumID, s.readLimited = 0, 0
		}
		return s.compare(m)
	case wire.Pong:
		if m.Re == s.pingID {
			s.pingID = 0
		}
	case *wire.Error:
		if handled, err := s.pushRefused(m); handled {
			return err
		}
		if s.sumID != 0 && m.Code == wire.CodeRateLimited && m.Re == s.sumID {
			// Compare later; the connection and the log go on.
			s.sumID = 0
			s.nextSum = c.cfg.Now().Add(s.readPause(m))
			return nil
		}
		return s.serverError(m)
	default:
		return classified(syncstatus.ClassProtocol, "unexpected %s message", wire.Type(m))
	}
	return nil
}

// push sends the oldest unacknowledged journal entries, if any and if no
// push is in flight. Entries are marked sent before they leave: an entry
// in flight when the connection drops is sent again, and the server
// answers the repeat with its first verdict.
func (s *session) push() error {
	c := s.c
	if s.flight != nil || s.holding() {
		return nil
	}
	if err := s.clockMoved(); err != nil {
		return err
	}
	var entries []journal.Entry
	var depth int64
	limit := s.batchLimit()
	for {
		entries = entries[:0]
		var quarantined int
		err := c.do(s.ctx, func(conn *sqlite3.Conn) error {
			var err error
			if depth, err = journal.Depth(conn); err != nil || depth == 0 {
				return err
			}
			if entries, err = c.j.Unsent(conn, limit, c.cfg.PushBytes); err != nil {
				return err
			}
			// One entry bigger than the server reads can never be sent:
			// set it aside for the app rather than block the journal.
			if len(entries) == 1 && c.maxMessage > 0 && int64(entrySize(entries[0])) > c.maxMessage-1024 {
				reason := fmt.Sprintf("the change is %d bytes; the server accepts messages up to %d", entrySize(entries[0]), c.maxMessage)
				if err := c.j.Quarantine(conn, entries[0], journal.CodeTooLarge, reason); err != nil {
					return err
				}
				quarantined++
				entries = nil
				return nil
			}
			return journal.MarkSent(conn, entries[0].Seq, entries[len(entries)-1].Seq)
		})
		if err != nil {
			return err
		}
		if quarantined > 0 {
			c.update(func(st *syncstatus.Status) { st.Quarantined++ })
			continue
		}
		s.pending = depth
		c.update(func(st *syncstatus.Status) { st.Pending = depth })
		if len(entries) == 0 {
			return nil
		}
		msg := wire.Push{ID: s.nextID(), Changes: make([]wire.Pushed, len(entries))}
		for i, e := range entries {
			msg.Changes[i] = wire.Pushed{Seq: e.Seq, Change: e.Change, Packed: e.Packed}
		}
		b, err := wire.Encode(msg, c.version)
		if err != nil {
			return &Error{Class: syncstatus.ClassLocal, Err: fmt.Errorf("encode push: %w", err)}
		}
		if c.maxMessage > 0 && int64(len(b)) > c.maxMessage && len(entries) > 1 {
			limit = max(1, len(entries)/2)
			continue
		}
		flight := &pushFlight{id: msg.ID, entries: make(map[int64]journal.Entry, len(entries)), deadline: c.cfg.Now().Add(c.cfg.RequestTimeout)}
		for _, e := range entries {
			flight.entries[e.Seq] = e
		}
		ctx, cancel := context.WithTimeout(s.ctx, c.cfg.RequestTimeout)
		err = s.t.Write(ctx, b)
		cancel()
		if err != nil {
			return fmt.Errorf("send push: %w", err)
		}
		s.flight = flight
		return nil
	}
}

func entrySize(e journal.Entry) int { return len(e.Packed) + len(e.Key) + len(e.Table) + 64 }

// settle records the server's verdicts. A refused change's row is rolled
// back to the server's state, with this replica's later unacknowledged
// changes to it re-applied on top.
func (s *session) settle(ack wire.Ack) error {
	c := s.c
	flight := s.flight
	now := c.cfg.Now()
	// Stamps are in the server's time: measure the latency on the
	// corrected clock.
	stamped := c.j.Clock().Wall()
	var flagged, refused, samples int64
	var latency time.Duration
	var depth int64
	err := c.inTx(s.ctx, func(t *txn) error {
		conn := t.conn
		verdicts := make([]journal.Settlement, 0, len(ack.Results))
		for _, r := range ack.Results {
			e, ok := flight.entries[r.Seq]
			if !ok {
				return classified(syncstatus.ClassProtocol, "ack %d names seq %d, which push %d did not send", ack.Re, r.Seq, flight.id)
			}
			v := journal.Settlement{Seq: r.Seq, Pos: r.Pos, Code: r.Code, Detail: r.Detail}
			switch r.State {
			case wire.Acknowledged:
				v.State = journal.Acknowledged
			case wire.Flagged:
				v.State = journal.Flagged
				flagged++
			case wire.Refused:
				v.State = journal.Refused
				refused++
				if err := s.rollback(t, e, r.Row); err != nil {
					return err
				}
				t.touched[e.Table] = true
			}
			if v.State != journal.Refused {
				if d := stamped.Sub(e.Stamp.TS.Time()); d > 0 {
					latency += d
				}
				samples++
			}
			verdicts = append(verdicts, v)
		}
		if err := c.j.Settle(conn, verdicts); err != nil {
			return err
		}
		if err := c.j.Prune(conn, c.cfg.KeepAcknowledged); err != nil {
			return err
		}
		if err := merge.PruneLost(conn, c.cfg.Now().Add(-c.cfg.KeepLost)); err != nil {
			return err
		}
		var err error
		depth, err = journal.Depth(conn)
		return err
	})
	if err != nil {
		return err
	}
	s.flight = nil
	s.pending = depth
	c.latencySum += latency
	c.update(func(st *syncstatus.Status) {
		st.Pending = depth
		st.Flagged += flagged
		st.Refused += refused
		st.LatencySamples += samples
		if st.LatencySamples > 0 {
			st.ReconcileLatency = c.latencySum / time.Duration(st.LatencySamples)
		}
		if depth == 0 && st.Cursor >= st.Head {
			st.LastSyncedAt = now
		}
	})
	return nil
}

// rollback replaces a row with the server's state of it, then re-applies
// this replica's later unacknowledged changes to the row.
func (s *session) rollback(t *txn, refused journal.Entry, serverRow []change.Change) error {
	c := s.c
	conn, a := t.conn, t.merger()
	if a.Table(refused.Table) == nil {
		return nil // a table this replica does not sync (any more)
	}
	later, err := c.j.UnsentFor(conn, refused.Table, refused.Key, refused.Seq)
	if err != nil {
		return err
	}
	return c.j.Applying(func() error {
		if err := a.ResetRow(refused.Table, refused.Key); err != nil {
			return fmt.Errorf("roll back refused change %d: %w", refused.Seq, err)
		}
		for i := range serverRow {
			if _, err := a.Apply(&serverRow[i]); err != nil {
				return fmt.Errorf("roll back refused change %d: %w", refused.Seq, err)
			}
			c.j.Observe(serverRow[i].Stamp.TS)
		}
		for i := range later {
			_, err := a.Apply(&later[i].Change)
			var r *merge.Refusal
			if errors.As(err, &r) && r.Code == merge.CodeTextEpoch {
				// Character ops made before the server's state of the
				// field was compacted: the server translates them when
				// they are pushed and sends them back.
				continue
			}
			if err != nil {
				return fmt.Errorf("re-apply change %d after a refusal: %w", later[i].Seq, err)
			}
		}
		return nil
	})
}

// compare checks table checksums against the server's, when this
// replica is at exactly the server's position with nothing unsent.
func (s *session) compare(m wire.Checksums) error {
	c := s.c
	if m.Pos != s.cursor() || s.pending != 0 || s.flight != nil {
		return nil // not comparable; try again next interval
	}
	var diverged []string
	err := c.do(s.ctx, func(conn *sqlite3.Conn) error {
		sums, err := checksum.Tables(conn, c.tables)
		if err != nil {
			return err
		}
		depth, err := journal.Depth(conn)
		if err != nil || depth != 0 {
			return err // a write arrived meanwhile: not comparable
		}
		for name, local := range sums {
			remote, ok := m.Tables[name]
			if ok && (remote.Rows != local.Rows || remote.Hash != local.Hash) {
				diverged = append(diverged, name)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.update(func(st *syncstatus.Status) {
		st.Checksums++
		if len(diverged) > 0 {
			st.Divergences++
			st.DivergedTables = diverged
		}
	})
	return nil
}
