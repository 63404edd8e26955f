package client

import (
	"context"
	"sync/atomic"
	"time"
)

// Preconnection is a connection to the sync server dialled before the
// Client that uses it exists. The worker starts one as a synced database
// begins to open, so that the connection's handshakes (TCP, TLS and the
// WebSocket upgrade: a round trip each) overlap the open and its
// migrations instead of following them.
type Preconnection struct {
	done chan struct{}
	// t and err are the dial's outcome and at when it ended; all three
	// are set before done is closed.
	t     Transport
	err   error
	at    time.Time
	taken atomic.Bool
}

// preconnectMaxAge is how long an unused preconnection is trusted. The
// server closes a connection that sends no hello within its
// HelloTimeout (10 s by default); taking one it closed would cost a
// failed session and a backoff, where dialling again costs a handshake.
const preconnectMaxAge = 5 * time.Second

// Preconnect dials cfg's server as a Client would (URL, Token, Dial,
// RequestTimeout, Now) on a goroutine of its own and returns at once.
// Pass the result as Config.Preconnected, or Close it when no client
// will take it.
func Preconnect(cfg Config) *Preconnection {
	cfg.setDefaults()
	p := &Preconnection{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		ctx, cancel := context.WithTimeout(context.Background(), cfg.RequestTimeout)
		defer cancel()
		p.t, p.err = dialServer(ctx, &cfg)
		p.at = cfg.Now()
	}()
	return p
}

// take waits for the dial (bounded by ctx) and returns its connection
// if it opened within preconnectMaxAge of now; otherwise nil, and the
// caller dials itself: a failed preconnection's error is not reported,
// the caller's own dial reports its own. Only the first take or Close
// has any effect.
func (p *Preconnection) take(ctx context.Context, now time.Time) Transport {
	if !p.taken.CompareAndSwap(false, true) {
		return nil
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		go p.release()
		return nil
	}
	if p.err != nil {
		return nil
	}
	if now.Sub(p.at) > preconnectMaxAge {
		p.t.Close(false)
		return nil
	}
	return p.t
}

// Close releases the connection unless it was taken; it does not wait
// for the dial to end. Closing a nil Preconnection does nothing.
func (p *Preconnection) Close() {
	if p != nil && p.taken.CompareAndSwap(false, true) {
		go p.release()
	}
}

func (p *Preconnection) release() {
	<-p.done
	if p.err == nil {
		p.t.Close(false)
	}
}
