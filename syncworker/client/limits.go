package client

import (
	"errors"
	"fmt"
	"time"

	"github.com/hearthdb/hearth/syncworker/syncstatus"
	"github.com/hearthdb/hearth/syncworker/wire"
)

// pushLimits is how a session adapts its pushes to the server's limits:
// the batch size it takes (welcome's maxBatch, halved on each
// BATCH_TOO_LARGE) and a pause after RATE_LIMITED. Both keep the
// connection: the log keeps streaming while pushes wait.
type pushLimits struct {
	// maxBatch caps the entries of one push (0: only Config.PushBatch).
	maxBatch int
	// holdUntil is when pushes may resume after RATE_LIMITED (for the
	// status); hold fires then, and pushes resume at once.
	holdUntil time.Time
	hold      *time.Timer
	// limited counts RATE_LIMITED answers since the last ack: the pause
	// grows with the backoff policy when the retry-after alone does not
	// help (several clients of one principal, a server clock jump).
	limited int
}

func (s *session) welcomeLimits(w wire.Welcome) {
	if w.MaxBatch > 0 {
		s.limits.maxBatch = int(w.MaxBatch)
	}
}

// batchLimit is the most entries the next push may take.
func (s *session) batchLimit() int {
	limit := s.c.cfg.PushBatch
	if s.limits.maxBatch > 0 {
		limit = min(limit, s.limits.maxBatch)
	}
	return limit
}

// holding reports whether pushes wait out a RATE_LIMITED pause. The
// pause's timer, not Config.Now, ends it: a test clock that stands still
// must not hold pushes forever.
func (s *session) holding() bool { return s.limits.hold != nil }

// holdDone fires when a pause ends (nil when not paused).
func (s *session) holdDone() <-chan time.Time {
	if s.limits.hold == nil {
		return nil
	}
	return s.limits.hold.C
}

func (s *session) stopHold() {
	if s.limits.hold != nil {
		s.limits.hold.Stop()
		s.limits.hold = nil
	}
}

// pushRefused handles an error answering the push in flight. It reports
// whether it did: BATCH_TOO_LARGE and RATE_LIMITED end only that push,
// whose entries go again (smaller, or later). The entries stay in the
// journal throughout; nothing is dropped.
func (s *session) pushRefused(e *wire.Error) (bool, error) {
	c := s.c
	if s.flight == nil || e.Re != s.flight.id {
		return false, nil
	}
	switch e.Code {
	case wire.CodeBatchTooLarge:
		n := len(s.flight.entries)
		if n <= 1 {
			// A server refusing one change as a batch is broken: end the
			// session (backing off) rather than retry forever.
			return true, &Error{Class: syncstatus.ClassProtocol, Code: e.Code, Err: fmt.Errorf("server refused a push of %d change as too large a batch: %w", n, e)}
		}
		s.flight = nil
		s.limits.maxBatch = max(1, n/2)
		return true, s.push()
	case wire.CodeRateLimited:
		s.flight = nil
		wait := time.Duration(e.RetryAfter) * time.Millisecond
		wait = max(wait, c.backoff.Delay(s.limits.limited, c.cfg.Rand))
		s.limits.limited++
		now := c.cfg.Now()
		s.limits.holdUntil = now.Add(wait)
		s.stopHold()
		s.limits.hold = time.NewTimer(wait)
		c.update(func(st *syncstatus.Status) {
			st.Retries[syncstatus.ClassServer]++
			st.LastError = &syncstatus.ErrorInfo{Class: syncstatus.ClassServer, Code: e.Code, Message: e.Error(), At: now}
			st.NextAttemptAt = s.limits.holdUntil
		})
		return true, nil
	}
	return false, nil
}

// acknowledged resets the rate-limit backoff after a push went through.
func (s *session) acknowledged() { s.limits.limited = 0 }

// rateLimitedAnswer returns the RATE_LIMITED answer to request id that
// err carries, if it is one.
func rateLimitedAnswer(err error, id int64) (*wire.Error, bool) {
	var e *wire.Error
	if errors.As(err, &e) && e.Code == wire.CodeRateLimited && e.Re == id {
		return e, true
	}
	return nil, false
}

// readPause is how long to wait before asking again for a snapshot chunk
// or checksums the server refused with RATE_LIMITED: its retryAfter, or
// the backoff if longer (the principal's other devices draw on the same
// budget). It records the pause in the status.
func (s *session) readPause(e *wire.Error) time.Duration {
	c := s.c
	wait := time.Duration(e.RetryAfter) * time.Millisecond
	wait = max(wait, c.backoff.Delay(s.readLimited, c.cfg.Rand))
	s.readLimited++
	now := c.cfg.Now()
	c.update(func(st *syncstatus.Status) {
		st.Retries[syncstatus.ClassServer]++
		st.LastError = &syncstatus.ErrorInfo{Class: syncstatus.ClassServer, Code: e.Code, Message: e.Error(), At: now}
		st.NextAttemptAt = now.Add(wait)
	})
	return wait
}

// waitRead waits out a readPause before a snapshot request goes again.
// Nothing else is under way then (the log is not subscribed yet), so
// the connection just waits; it stays open.
func (s *session) waitRead(e *wire.Error) error {
	timer := time.NewTimer(s.readPause(e))
	defer timer.Stop()
	select {
	case <-s.ctx.Done():
		return s.ctx.Err()
	case <-timer.C:
		return nil
	}
}
