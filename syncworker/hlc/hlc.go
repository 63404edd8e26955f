// Package hlc is Hearth's hybrid logical clock.
//
// A Timestamp packs wall-clock milliseconds and a logical counter into one
// int64 (ms<<16 | counter), so timestamps sort as plain integers and are
// stored as SQLite INTEGERs. A Stamp adds the node (client id) that made the
// write; (Timestamp, Node) is the total order the merge rule uses.
//
// The clock never goes backwards: when the wall clock stalls or steps back,
// the counter advances instead; when a remote timestamp from a device whose
// clock runs ahead is observed, later local timestamps sort after it. That
// is what makes "the last writer wins" mean "the write made with knowledge
// of the other one wins" even across skewed device clocks.
package hlc

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// Timestamp is a hybrid logical clock reading: milliseconds since the Unix
// epoch in the high 48 bits, a logical counter in the low 16 bits.
type Timestamp int64

const (
	logicalBits = 16
	logicalMask = 1<<logicalBits - 1
	// maxMillis keeps ms<<16 inside a positive int64 (year ~10889).
	maxMillis = 1<<(63-logicalBits) - 1
)

// Make builds a Timestamp from milliseconds and a logical counter.
func Make(ms int64, logical uint16) Timestamp {
	if ms < 0 {
		ms = 0
	}
	if ms > maxMillis {
		ms = maxMillis
	}
	return Timestamp(ms<<logicalBits | int64(logical))
}

// Millis is the physical part: milliseconds since the Unix epoch.
func (t Timestamp) Millis() int64 { return int64(t) >> logicalBits }

// Logical is the counter that orders events within one millisecond.
func (t Timestamp) Logical() uint16 { return uint16(int64(t) & logicalMask) }

// Time is the physical part as a time.Time.
func (t Timestamp) Time() time.Time { return time.UnixMilli(t.Millis()) }

// String formats the timestamp as millis.counter, e.g. 1700000000000.0003.
func (t Timestamp) String() string { return fmt.Sprintf("%d.%04d", t.Millis(), t.Logical()) }

// Stamp is a timestamp together with the node that issued it. Two writes
// never share a Stamp: one node never issues the same timestamp twice.
type Stamp struct {
	TS   Timestamp
	Node string
}

// IsZero reports whether s is the zero Stamp, which sorts before every
// real one and stands for "never written".
func (s Stamp) IsZero() bool { return s.TS == 0 && s.Node == "" }

// Compare orders stamps by timestamp, then by node id.
func (s Stamp) Compare(o Stamp) int {
	switch {
	case s.TS < o.TS:
		return -1
	case s.TS > o.TS:
		return 1
	}
	return strings.Compare(s.Node, o.Node)
}

// After reports whether s sorts strictly after o.
func (s Stamp) After(o Stamp) bool { return s.Compare(o) > 0 }

func (s Stamp) String() string { return s.TS.String() + "@" + s.Node }

// Clock issues monotonic timestamps. It is safe for concurrent use: the
// worker's write triggers call Now on the connection's goroutine while the
// sync loop calls Observe on its own.
//
// The physical part is the wall clock corrected by an offset (SetOffset):
// a device whose clock is wrong learns the server's time and stamps in it,
// so its writes neither win nor lose conflicts because of its clock.
type Clock struct {
	wall func() time.Time

	mu     sync.Mutex
	last   Timestamp
	offset time.Duration
}

// NewClock returns a clock reading wall for physical time; nil means
// time.Now. Tests pass a fake wall clock to simulate skew.
func NewClock(wall func() time.Time) *Clock {
	if wall == nil {
		wall = time.Now
	}
	return &Clock{wall: wall}
}

// Wall is the corrected physical time: the wall clock plus the offset.
func (c *Clock) Wall() time.Time {
	c.mu.Lock()
	off := c.offset
	c.mu.Unlock()
	return c.wall().Add(off)
}

// Offset is the correction added to the wall clock.
func (c *Clock) Offset() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offset
}

// SetOffset sets the correction added to the wall clock. It never makes
// the clock go back: a corrected time behind the last timestamp advances
// the counter, as a wall clock that stepped back does.
func (c *Clock) SetOffset(d time.Duration) {
	c.mu.Lock()
	c.offset = d
	c.mu.Unlock()
}

// Now returns a timestamp greater than every timestamp this clock issued or
// observed before.
func (c *Clock) Now() Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	pt := Make(c.wall().Add(c.offset).UnixMilli(), 0)
	if pt > c.last {
		c.last = pt
	} else {
		// The wall clock stalled or went back: advance the counter. At
		// 65536 events in one millisecond the counter carries into the
		// millisecond, which keeps the order at the cost of running 1ms
		// ahead of the wall clock.
		c.last++
	}
	return c.last
}

// Observe folds in a timestamp seen on a remote change, so that every
// later Now sorts after it.
func (c *Clock) Observe(remote Timestamp) {
	c.mu.Lock()
	if remote > c.last {
		c.last = remote
	}
	c.mu.Unlock()
}

// ObserveWithin folds in a remote timestamp, but never moves the clock
// past the corrected wall time plus maxAhead: a peer whose clock runs far
// ahead (or lies) cannot drag this clock, and every stamp it issues
// later, into the future. It reports whether remote was beyond the bound
// (and so folded in only up to it). maxAhead <= 0 means no bound.
func (c *Clock) ObserveWithin(remote Timestamp, maxAhead time.Duration) (clamped bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if maxAhead > 0 {
		if limit := Make(c.wall().Add(c.offset+maxAhead).UnixMilli(), logicalMask); remote > limit {
			remote, clamped = limit, true
		}
	}
	if remote > c.last {
		c.last = remote
	}
	return clamped
}

// Rewind sets the last timestamp to ts, even when that moves it back. Only
// a caller that has just replaced every timestamp after ts (the journal
// restamping writes made with a clock that was far ahead) may use it:
// otherwise Now could issue a timestamp twice.
func (c *Clock) Rewind(ts Timestamp) {
	c.mu.Lock()
	c.last = ts
	c.mu.Unlock()
}

// Last returns the greatest timestamp issued or observed so far.
func (c *Clock) Last() Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}
