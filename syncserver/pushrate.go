package syncserver

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// principalRates hands out rate buckets (pushed changes, snapshot rows,
// checksum requests): one per principal, shared by all of its
// connections, so that reconnecting does not refill the bucket (a review
// pushed 20,000 changes in half a second against 1,000/s by
// reconnecting). Anonymous connections (no authentication) have no
// identity to share a bucket by: each gets its own.
//
// Buckets run on the server's clock (Config.Now), so that tests step it.
type principalRates struct {
	limit rate.Limit
	burst int
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
	// sweepAt is the map size that next triggers dropping full buckets.
	sweepAt int
}

// minSweep is the smallest map size worth sweeping.
const minSweep = 1024

func newPrincipalRates(limit float64, burst int, now func() time.Time) *principalRates {
	if limit <= 0 {
		return nil
	}
	return &principalRates{limit: rate.Limit(limit), burst: burst, now: now, buckets: map[string]*rate.Limiter{}, sweepAt: minSweep}
}

// bucket returns principal's bucket (a fresh one for "").
func (p *principalRates) bucket(principal string) *rate.Limiter {
	if p == nil {
		return nil
	}
	if principal == "" {
		return rate.NewLimiter(p.limit, p.burst)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if b, ok := p.buckets[principal]; ok {
		return b
	}
	if len(p.buckets) >= p.sweepAt {
		// A full bucket is the same as a new one: dropping it changes
		// nothing for its principal, and keeps the map from growing
		// with every principal ever seen.
		now := p.now()
		for k, b := range p.buckets {
			if b.TokensAt(now) >= float64(p.burst) {
				delete(p.buckets, k)
			}
		}
		p.sweepAt = max(minSweep, 2*len(p.buckets))
	}
	b := rate.NewLimiter(p.limit, p.burst)
	p.buckets[principal] = b
	return b
}
