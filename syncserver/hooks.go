package syncserver

import (
	"context"
	"fmt"
	"time"

	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/merge"
)

// DefaultMaxClockSkew is Config.MaxClockSkew's default: a few minutes
// covers the error of a clock corrected with the server's time (half a
// round trip) with a wide margin, and is short enough that a device
// stamping ahead wins nothing for long.
const DefaultMaxClockSkew = 5 * time.Minute

// Change is a pushed change as the server's hooks see it.
type Change struct {
	Table string
	// Key holds the primary key values, in key order.
	Key []any
	// Op is "insert", "update" or "delete".
	Op string
	// Values holds the columns written (none for a delete).
	Values map[string]any
	// Client pushed the change, as Principal (from Authenticate).
	Client, Principal string
	Seq               int64
	Stamp             hlc.Stamp
	// Schema is the schema version the change was written under.
	Schema int64
	// Scope is the row's scope after the change (not Known for a table
	// without a scope rule).
	Scope store.Scope
}

// Invariant checks one applied change, with q reading the store inside
// the push's transaction (the change is visible). It returns a violation
// message, or "" when the invariant holds. An error fails the whole push,
// which the client retries: return errors for failures, not violations.
type Invariant func(ctx context.Context, q store.Querier, ch Change) (violation string, err error)

// checker adapts the server's hooks to store.Checker.
type checker struct{ s *Server }

func (k checker) view(p *store.Push, c *store.Pushed) Change {
	key, _ := change.DecodeKey(c.Key) // the store checked it
	return Change{Table: c.Table, Key: key, Op: c.Op.String(), Values: c.Values,
		Client: p.Client, Principal: p.Principal, Seq: c.Seq, Stamp: c.Stamp, Schema: c.Schema, Scope: c.Scope}
}

// Admit refuses changes stamped too far in the future and changes the
// app's Authorize hook refuses.
func (k checker) Admit(ctx context.Context, q store.Querier, p *store.Push, c *store.Pushed) *merge.Refusal {
	s := k.s
	if r := s.oversized(&c.Change); r != nil {
		return r
	}
	if s.cfg.MaxClockSkew > 0 {
		limit := s.cfg.Now().Add(s.cfg.MaxClockSkew)
		if c.Stamp.TS.Time().After(limit) {
			return &merge.Refusal{Code: store.CodeClockSkew, Message: fmt.Sprintf("the change is stamped %s, more than %v ahead of the server's clock; the device's clock is wrong and it did not correct it with the server's time", c.Stamp.TS.Time().UTC().Format(time.RFC3339), s.cfg.MaxClockSkew)}
		}
	}
	if a := accessFrom(ctx); a != nil {
		if r := a.admit(ctx, q, c); r != nil {
			return r
		}
	}
	if s.cfg.Authorize != nil {
		if err := s.cfg.Authorize(ctx, p.Principal, k.view(p, c)); err != nil {
			return &merge.Refusal{Code: store.CodeForbidden, Message: err.Error()}
		}
	}
	// Admit refused stamps beyond the bound, but the wall clock can step
	// back between the check and here: the clock never moves past wall
	// time + bound, whatever it observes.
	s.clock.ObserveWithin(c.Stamp.TS, s.cfg.MaxClockSkew)
	return nil
}

// Inspect runs the invariants.
func (k checker) Inspect(ctx context.Context, q store.Querier, p *store.Push, c *store.Pushed) ([]string, error) {
	var violations []string
	if len(k.s.invariants) == 0 {
		return nil, nil
	}
	view := k.view(p, c)
	for _, inv := range k.s.invariants {
		v, err := inv(ctx, q, view)
		if err != nil {
			return nil, err
		}
		if v != "" {
			violations = append(violations, v)
		}
	}
	return violations, nil
}

var _ store.Checker = checker{}
