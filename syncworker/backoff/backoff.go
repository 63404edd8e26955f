// Package backoff computes retry delays: exponential growth with full
// jitter, so that many clients that lost the same server do not come back
// in lockstep.
package backoff

import "time"

// Policy is an exponential backoff with full jitter.
type Policy struct {
	// Base is the ceiling of the first delay.
	Base time.Duration
	// Max caps every delay.
	Max time.Duration
}

// Ceiling is the upper bound of the delay before retry number attempt
// (0-based): Base·2^attempt, capped at Max.
func (p Policy) Ceiling(attempt int) time.Duration {
	if p.Base <= 0 {
		return 0
	}
	c := p.Base
	for i := 0; i < attempt && c < p.Max; i++ {
		c *= 2
	}
	if p.Max > 0 && c > p.Max {
		c = p.Max
	}
	return c
}

// Delay draws the delay before retry number attempt uniformly from
// [0, Ceiling(attempt)); rnd returns a float in [0, 1).
func (p Policy) Delay(attempt int, rnd func() float64) time.Duration {
	return time.Duration(rnd() * float64(p.Ceiling(attempt)))
}
