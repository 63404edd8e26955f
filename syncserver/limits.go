package syncserver

import (
	"fmt"
	"time"

	"github.com/hearthdb/hearth/codec"
	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/wire"
	"golang.org/x/time/rate"
)

// admitPush applies the batch and rate limits before a push touches the
// store. It reports whether the push may go on and, when it may not,
// whether the session does (the refusal was sent).
func (c *session) admitPush(m wire.Push) (admitted, goOn bool) {
	s := c.srv
	n := len(m.Changes)
	if n > s.cfg.MaxPushBatch {
		// The connection stays up: the client resends the same entries
		// in smaller pushes.
		return false, c.fail(m.ID, wire.CodeBatchTooLarge, "a push of %d changes; this server takes up to %d per push", n, s.cfg.MaxPushBatch)
	}
	if c.limiter == nil || n == 0 {
		return true, true
	}
	retry, ok := takeTokens(c.limiter, n, s.cfg.Now())
	if ok {
		return true, true
	}
	err := c.send(&wire.Error{Re: m.ID, Code: wire.CodeRateLimited, RetryAfter: retry,
		Message: fmt.Sprintf("over %g changes per second; push again in %d ms", s.cfg.PushRate, retry)})
	return false, err == nil
}

// admitCost takes a read request's cost (snapshot rows, one checksum
// request) from the principal's bucket l (nil: unlimited). Over it, the
// request is answered RATE_LIMITED with the wait after which it fits,
// and reads nothing: it reports whether the request may go on and, when
// it may not, whether the session does.
func (c *session) admitCost(re int64, l *rate.Limiter, cost int, over string) (admitted, goOn bool) {
	if l == nil {
		return true, true
	}
	retry, ok := takeTokens(l, cost, c.srv.cfg.Now())
	if ok {
		return true, true
	}
	err := c.send(&wire.Error{Re: re, Code: wire.CodeRateLimited, RetryAfter: retry,
		Message: fmt.Sprintf("%s; ask again in %d ms", over, retry)})
	return false, err == nil
}

// takeTokens takes n changes' tokens from a push rate bucket; when they
// are not there yet it takes none and returns the wait in milliseconds
// after which they are. n must not exceed the bucket (MaxPushBatch <=
// PushBurst, so every admissible push fits it eventually).
func takeTokens(l *rate.Limiter, n int, now time.Time) (retryMillis int64, ok bool) {
	r := l.ReserveN(now, n)
	wait := r.DelayFrom(now)
	if !r.OK() || wait <= 0 {
		return 0, r.OK()
	}
	// Give the tokens back: the push is refused, not queued, so the
	// client's retry after wait finds them.
	r.CancelAt(now)
	// Rounded up: a client that waits exactly this long must find the
	// tokens there.
	return int64((wait + time.Millisecond - 1) / time.Millisecond), false
}

// pushed records a stored push in the metrics.
func (c *session) pushed(n int, headBefore int64, res store.PushResult, started time.Time) {
	c.srv.recordPush(n, headBefore, res, started)
	c.pushes++
	c.changes += int64(n)
}

// recordPush records a stored push of n changes, a device's or a
// backend write's, in the metrics; the commit's time measures the
// fan-out latency of its entries.
func (s *Server) recordPush(n int, headBefore int64, res store.PushResult, started time.Time) {
	m := s.metrics
	now := time.Now()
	m.pushes.Inc()
	m.pushedChanges.Add(float64(n))
	m.batchSize.Observe(float64(n))
	m.applySeconds.Observe(now.Sub(started).Seconds())
	first := res.Head + 1
	for _, o := range res.Outcomes {
		if o.State == wire.Refused {
			m.countError(errChange, o.Code)
		}
		if o.Pos > headBefore && o.Pos < first {
			first = o.Pos
		}
	}
	m.commits.add(first, res.Head, now)
}

// pulled records a log batch written to the client: entries that other
// clients pushed moments ago measure the fan-out latency.
func (c *session) pulled(msg wire.Changes) {
	m := c.srv.metrics
	m.pulls.Inc()
	if len(msg.Entries) == 0 {
		return
	}
	m.pulledChanges.Add(float64(len(msg.Entries)))
	now := time.Now()
	var last commitSpan
	for _, e := range msg.Entries {
		if e.Pos >= last.first && e.Pos <= last.last && !last.at.IsZero() {
			continue // one sample per push
		}
		sp, ok := m.commits.lookup(e.Pos)
		if !ok {
			continue
		}
		last = sp
		m.fanoutSeconds.Observe(now.Sub(sp.at).Seconds())
	}
}

// logClosed writes the connection's summary line.
func (c *session) logClosed() {
	c.srv.log.Info("sync: connection closed", "principal", c.principal, "client", c.client, "remote", c.remote,
		"duration", time.Since(c.opened).Round(time.Millisecond), "pushes", c.pushes, "changes", c.changes, "reason", c.ended)
}

// maxKeptBuffer is the largest encoding buffer a session keeps between
// messages: a big snapshot chunk's buffer is let go rather than held by an
// idle connection.
const maxKeptBuffer = 64 << 10

// encode encodes a message into the session's reused buffer: fan-out
// sends a message per commit to every session, and growing a fresh buffer
// each time was a quarter of the server's CPU under load. The bytes are
// valid until the next encode; send writes them before that.
func (c *session) encode(m wire.Message) ([]byte, error) {
	if cap(c.enc.Bytes()) > maxKeptBuffer {
		c.enc = codec.Encoder{}
	}
	c.enc.Reset()
	if err := wire.AppendMessage(&c.enc, m, c.srv.info.Version); err != nil {
		return nil, err
	}
	return c.enc.Bytes(), nil
}
