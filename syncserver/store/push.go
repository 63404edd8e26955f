package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/collabtext"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/merge"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/hearthdb/hearth/syncworker/wire"
)

// Writer is what a store does for ApplyPushed inside its push
// transaction: its own SQL and transaction mechanics. Every rule about
// what a push may do, and in which order its effects are recorded, is
// ApplyPushed's, so that the stores cannot drift apart.
type Writer interface {
	// Check validates a change against the synced tables as the server
	// does (strictly), plus whatever the store cannot store. A
	// *merge.Refusal refuses the change; any other error fails the push.
	Check(c *change.Change) error
	// RowScope is a row's recorded scope (not Known when none).
	RowScope(ctx context.Context, table string, key []byte) (Scope, error)
	// Merge applies a change under the merge rule. A *merge.Refusal, or an
	// error wrapping merge.ErrRowRejected (the database's constraints
	// refused the row), refuses the change with nothing of it applied.
	Merge(ctx context.Context, c *change.Change) error
	// RecordScope records a row's scope.
	RecordScope(ctx context.Context, table string, key []byte, sc Scope) error
	// AppendLog appends a change to the log, with the client and the
	// principal that pushed it, and returns its position. A change the
	// server wrote has client "" and principal "" (and no seq).
	AppendLog(ctx context.Context, client, principal string, seq int64, c *change.Change, scope, prev Scope) (int64, error)
	// Flag records the invariant violations of the log entry at pos.
	Flag(ctx context.Context, pos int64, detail string) error
	// Refuse records that the client's change seq, stamped stamp, was
	// refused, so that a repeat of it is answered the same (and another
	// change under that seq is not: see Recorded).
	Refuse(ctx context.Context, client string, seq int64, stamp hlc.Stamp, r *merge.Refusal) error
	// RowState is a row's stored state as changes (none if the store
	// never saw it, or the table or key is not one it could hold), for a
	// client to roll back to.
	RowState(ctx context.Context, table string, key []byte) ([]change.Change, error)
	// RowData is a synced row as the store holds it (the change's table
	// and key passed Check), including what earlier changes of the push
	// did to it.
	RowData(ctx context.Context, table string, key []byte) (RowData, error)
	// RowUsage is the principal a row counts toward and its weight as
	// recorded by Account (owner "" and bytes 0 when none is).
	RowUsage(ctx context.Context, table string, key []byte) (owner string, bytes int64, err error)
	// Usage is what the rows a principal last wrote weigh in all: the
	// sum of their recorded weights.
	Usage(ctx context.Context, principal string) (int64, error)
	// Account records that a row now counts bytes toward owner (none
	// when bytes is 0) instead of prevBytes toward prevOwner, and moves
	// both principals' usage accordingly.
	Account(ctx context.Context, table string, key []byte, prevOwner string, prevBytes int64, owner string, bytes int64) error
	// SaveTextEpoch keeps the state a collaborative text field had when
	// it was compacted out of epoch, so that ops of that epoch pushed
	// later can be translated (collabtext.Translate). It keeps the
	// field's newest TextEpochsKept and forgets older ones.
	SaveTextEpoch(ctx context.Context, table string, key []byte, col string, epoch uint64, state []byte) error
	// TextEpoch is that state (nil when not kept).
	TextEpoch(ctx context.Context, table string, key []byte, col string, epoch uint64) ([]byte, error)
}

// ApplyPushed applies one pushed change the client has not pushed before,
// inside the push's transaction, and returns its verdict. In order:
// changes to Hearth's own tables, changes stamped by another node, and
// changes the schema refuses are refused; the row's scope is worked out;
// the app's Checker may refuse it; it is merged (the database's
// constraints may still refuse it) and logged; then the Checker's
// invariants may flag it, which writes a violation row that syncs like
// any other.
func ApplyPushed(ctx context.Context, w Writer, rules *ScopeRules, version int64, q Querier, p *Push, c *Pushed, check Checker) (wire.Result, error) {
	refuse := func(r *merge.Refusal) (wire.Result, error) {
		if err := w.Refuse(ctx, p.Client, c.Seq, c.Stamp, r); err != nil {
			return wire.Result{}, err
		}
		row, err := w.RowState(ctx, c.Table, c.Key)
		return wire.Result{Seq: c.Seq, State: wire.Refused, Code: r.Code, Detail: r.Message, Row: row}, err
	}
	if strings.HasPrefix(strings.ToLower(c.Table), schema.ReservedPrefix) {
		return refuse(&merge.Refusal{Code: CodeForbidden, Message: fmt.Sprintf("table %q is written by the server only", c.Table)})
	}
	if c.Stamp.Node != p.Client {
		return refuse(&merge.Refusal{Code: merge.CodeBadChange, Message: fmt.Sprintf("the change is stamped by node %q, not by the pushing client %q", c.Stamp.Node, p.Client)})
	}
	var r *merge.Refusal
	if err := w.Check(&c.Change); errors.As(err, &r) {
		return refuse(r)
	} else if err != nil {
		return wire.Result{}, err
	}
	translated, r, err := translateText(ctx, w, c)
	if err != nil {
		return wire.Result{}, err
	}
	if r != nil {
		return refuse(r)
	}
	if translated != nil {
		// A copy: a store may run the push again (PostgreSQL does after
		// a conflict), and the change must then be translated again.
		c = translated
	}
	if rules.Scoped(c.Table) {
		prev, err := w.RowScope(ctx, c.Table, c.Key)
		if err != nil {
			return wire.Result{}, err
		}
		c.Prev, c.Scope = prev, rules.Next(prev, &c.Change)
	}
	if check != nil {
		if r := check.Admit(ctx, q, p, c); r != nil {
			return refuse(r)
		}
	}
	usage, r, err := weigh(ctx, w, p, c)
	if err != nil {
		return wire.Result{}, err
	}
	if r != nil {
		return refuse(r)
	}
	if err := w.Merge(ctx, &c.Change); err != nil {
		switch {
		case errors.As(err, &r):
			return refuse(r)
		case errors.Is(err, merge.ErrRowRejected):
			return refuse(&merge.Refusal{Code: CodeConstraint, Message: err.Error()})
		}
		return wire.Result{}, err
	}
	if usage.moves() {
		if err := w.Account(ctx, c.Table, c.Key, usage.prevOwner, usage.prevBytes, p.Principal, usage.bytes); err != nil {
			return wire.Result{}, fmt.Errorf("account row usage: %w", err)
		}
	}
	out, err := record(ctx, w, version, q, p, c, check)
	if err != nil {
		return out, err
	}
	if translated != nil {
		// Logged again as the server's own: the session leaves a
		// client's own changes out of what it sends that client, and
		// the client that made these ops may not hold their
		// translation (a snapshot replaced its copy of the field).
		if _, err := w.AppendLog(ctx, "", "", 0, &c.Change, c.Scope, c.Scope); err != nil {
			return wire.Result{}, fmt.Errorf("append a translated change to the log: %w", err)
		}
	}
	return out, compactText(ctx, w, version, p, c)
}

// rowUsage is how a change moves its row's weight between principals'
// usage: from prevBytes counted toward prevOwner to bytes counted toward
// the pusher.
type rowUsage struct {
	changed          bool
	prevOwner        string
	prevBytes, bytes int64
	pusher           string
}

func (u rowUsage) moves() bool {
	return u.changed && (u.prevOwner != u.pusher || u.prevBytes != u.bytes)
}

// weigh works out what a change does to its row's weight, by the merge
// rule, before it is merged, and refuses it when the row would outgrow
// p.MaxRowBytes or the pusher's usage p.MaxPrincipalBytes. A change that
// makes neither heavier is never refused: an over-weight row or a
// principal over quota (after the limits were lowered) can always shrink.
func weigh(ctx context.Context, w Writer, p *Push, c *Pushed) (rowUsage, *merge.Refusal, error) {
	u := rowUsage{pusher: p.Principal}
	before, err := w.RowData(ctx, c.Table, c.Key)
	if err != nil {
		return u, nil, fmt.Errorf("read row: %w", err)
	}
	after, changed := before.After(&c.Change)
	if !changed {
		return u, nil, nil
	}
	u.changed = true
	if p.MaxRowBytes > 0 {
		if n := after.Weight(c.Table, c.Key); n > p.MaxRowBytes && n > before.Weight(c.Table, c.Key) {
			return u, &merge.Refusal{Code: CodeRowTooLarge, Message: fmt.Sprintf("the row would weigh %d bytes; a row may weigh at most %d", n, p.MaxRowBytes)}, nil
		}
	}
	// Anonymous writes count toward nobody: there is no one to bound.
	if p.Principal != "" {
		u.bytes = int64(after.LiveWeight(c.Table, c.Key))
	}
	if u.prevOwner, u.prevBytes, err = w.RowUsage(ctx, c.Table, c.Key); err != nil {
		return u, nil, fmt.Errorf("read row usage: %w", err)
	}
	if p.MaxPrincipalBytes <= 0 || p.Principal == "" {
		return u, nil, nil
	}
	added := u.bytes
	if u.prevOwner == p.Principal {
		added -= u.prevBytes
	}
	if added <= 0 {
		return u, nil, nil
	}
	used, err := w.Usage(ctx, p.Principal)
	if err != nil {
		return u, nil, fmt.Errorf("read usage: %w", err)
	}
	if used+added > p.MaxPrincipalBytes {
		return u, &merge.Refusal{Code: CodeQuotaExceeded, Message: fmt.Sprintf("the rows you last wrote weigh %d bytes; this change would add %d, over your quota of %d (deleting rows frees it)", used, added, p.MaxPrincipalBytes)}, nil
	}
	return u, nil, nil
}

// record logs a merged change, records its scope and runs the
// invariants, which may flag it (see ApplyPushed).
func record(ctx context.Context, w Writer, version int64, q Querier, p *Push, c *Pushed, check Checker) (wire.Result, error) {
	if c.Scope.Known && c.Scope != c.Prev {
		if err := w.RecordScope(ctx, c.Table, c.Key, c.Scope); err != nil {
			return wire.Result{}, fmt.Errorf("record scope: %w", err)
		}
	}
	pos, err := w.AppendLog(ctx, p.Client, p.Principal, c.Seq, &c.Change, c.Scope, c.Prev)
	if err != nil {
		return wire.Result{}, fmt.Errorf("append to log: %w", err)
	}
	out := wire.Result{Seq: c.Seq, State: wire.Acknowledged, Pos: pos}
	detail, err := Violations(ctx, check, q, p, c)
	if err != nil || detail == "" {
		return out, err
	}
	out.State, out.Detail = wire.Flagged, detail
	if err := w.Flag(ctx, pos, detail); err != nil {
		return wire.Result{}, err
	}
	return out, recordViolation(ctx, w, version, p, c, detail)
}

// recordViolation writes the violation row of a flagged change.
func recordViolation(ctx context.Context, w Writer, version int64, p *Push, c *Pushed, detail string) error {
	if p.Stamp == nil {
		return errors.New("push has no server stamp for its violation rows")
	}
	v, err := violation(p, c, detail, version)
	if err != nil {
		return err
	}
	if err := w.Merge(ctx, &v); err != nil {
		return fmt.Errorf("record violation: %w", err)
	}
	// The violation belongs to the flagged row's scope, so exactly the
	// clients that see the row see it.
	if c.Scope.Known {
		sc := Scope{Value: c.Scope.Value, Stamp: v.Stamp, Known: true}
		if err := w.RecordScope(ctx, v.Table, v.Key, sc); err != nil {
			return fmt.Errorf("record violation scope: %w", err)
		}
	}
	if _, err := w.AppendLog(ctx, "", "", 0, &v, c.Scope, c.Scope); err != nil {
		return fmt.Errorf("append violation to log: %w", err)
	}
	return nil
}

// ApplyExternal records a change another program already wrote to the
// store's table (see ExternalWriter), inside the transaction that ingests
// it: the change, stamped by the server (p.Client is "", p.Stamp set,
// c.Seq unique among ingested changes: it keys the violation row), is
// merged (the Writer must accept a row that is already in the state the
// change describes), its scope recorded, logged, and checked by the
// invariants. It is never refused: a change the merge cannot take (the
// row is committed all the same) is recorded as a violation instead of
// a log entry, so that it shows.
func ApplyExternal(ctx context.Context, w Writer, rules *ScopeRules, version int64, q Querier, p *Push, c *Pushed, check Checker) (wire.Result, error) {
	if rules.Scoped(c.Table) {
		prev, err := w.RowScope(ctx, c.Table, c.Key)
		if err != nil {
			return wire.Result{}, err
		}
		c.Prev, c.Scope = prev, rules.Next(prev, &c.Change)
	}
	if err := w.Merge(ctx, &c.Change); err != nil {
		var r *merge.Refusal
		if !errors.As(err, &r) && !errors.Is(err, merge.ErrRowRejected) {
			return wire.Result{}, err
		}
		detail := "an external write could not be synced: " + err.Error()
		return wire.Result{Seq: c.Seq, State: wire.Flagged, Detail: detail}, recordViolation(ctx, w, version, p, c, detail)
	}
	if check != nil {
		check = flagFailures{check}
	}
	return record(ctx, w, version, q, p, c, check)
}

// flagFailures turns an invariant's failure on an external write into a
// violation: failing would leave the write, which is committed already,
// waiting for ever, and every push with it.
type flagFailures struct{ Checker }

func (f flagFailures) Inspect(ctx context.Context, q Querier, p *Push, c *Pushed) ([]string, error) {
	v, err := f.Checker.Inspect(ctx, q, p, c)
	if err != nil {
		v = append(v, "invariant check failed: "+err.Error())
	}
	return v, nil
}

// violation is the row the server writes for a flagged change, which
// syncs like any other so every client can show it. Its text is made
// valid UTF-8 without NUL: the client id and table name are the
// client's choice, and a text column everywhere (PostgreSQL's, and every
// client's decoder) must hold the row as the server wrote it.
func violation(p *Push, c *Pushed, detail string, version int64) (change.Change, error) {
	key, err := change.EncodeKey(validText(fmt.Sprintf("%s:%d", p.Client, c.Seq)))
	if err != nil {
		return change.Change{}, err
	}
	stamp := p.Stamp()
	return change.Change{Table: appschema.Violations.Name, Key: key, Op: change.Insert, Stamp: stamp, Schema: version,
		Values: map[string]any{"tbl": validText(c.Table), "row_key": c.Key, "client": validText(p.Client), "seq": c.Seq,
			"message": validText(detail), "at": int64(stamp.TS)}}, nil
}

// validText replaces invalid UTF-8 and NUL characters with U+FFFD.
func validText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// translateText brings a pushed change's character ops to their field's
// epoch: ops made before the field was compacted are translated through
// the old states the store keeps (collabtext.Translate). It reports
// a copy of c with its ops translated (nil when none needed it), and
// refuses (merge.CodeTextEpoch) ops made before more compactions than
// TextEpochsKept, of an epoch the field has not reached, and resets:
// only the server compacts.
func translateText(ctx context.Context, w Writer, c *Pushed) (*Pushed, *merge.Refusal, error) {
	if c.Op == change.Delete {
		return nil, nil, nil
	}
	var before *RowData
	var translated *Pushed
	for col, v := range c.Values {
		ops, ok := v.([]byte)
		if !ok {
			continue
		}
		if before == nil {
			d, err := w.RowData(ctx, c.Table, c.Key)
			if err != nil {
				return nil, nil, fmt.Errorf("read row: %w", err)
			}
			before = &d
		}
		if before.Table == nil || !before.Table.IsText(col) {
			continue
		}
		batch, err := collabtext.DecodeBatch(ops)
		if err != nil {
			return nil, nil, err // Check has refused what does not decode
		}
		current, err := collabtext.StateEpoch(merge.TextState(before.Meta.Fields[col]))
		if err != nil {
			return nil, nil, fmt.Errorf("%s.%s: the stored text state: %w", c.Table, col, err)
		}
		refusal := func(format string, args ...any) *merge.Refusal {
			return &merge.Refusal{Code: merge.CodeTextEpoch, Message: fmt.Sprintf("%s.%s: ", c.Table, col) + fmt.Sprintf(format, args...)}
		}
		switch {
		case batch.Reset:
			return nil, refusal("a reset: only the server compacts a field"), nil
		case batch.Epoch > current:
			return nil, refusal("ops of epoch %d; the field is at epoch %d", batch.Epoch, current), nil
		case batch.Epoch == current:
			continue
		}
		for batch.Epoch < current {
			old, err := w.TextEpoch(ctx, c.Table, c.Key, col, batch.Epoch)
			if err != nil {
				return nil, nil, err
			}
			if old == nil {
				return nil, refusal("ops of epoch %d, made before the field was compacted %d times; the server keeps the last %d", batch.Epoch, current-batch.Epoch, TextEpochsKept), nil
			}
			doc, err := collabtext.Load("", old)
			if err == nil {
				batch, err = collabtext.Translate(doc, batch)
			}
			if err != nil {
				return nil, nil, fmt.Errorf("%s.%s: translate ops of epoch %d: %w", c.Table, col, batch.Epoch, err)
			}
		}
		if translated == nil {
			cp := *c
			cp.Values = maps.Clone(c.Values)
			translated = &cp
		}
		translated.Values[col] = collabtext.EncodeBatch(batch)
	}
	return translated, nil, nil
}

// compactText compacts the collaborative text fields a merged change
// edited that hold p.TextCompactTombstones deleted characters or more:
// it keeps the old state (SaveTextEpoch), then merges and logs the reset
// as a change of the server's, which every client rebases onto.
func compactText(ctx context.Context, w Writer, version int64, p *Push, c *Pushed) error {
	if p.TextCompactTombstones <= 0 || p.Stamp == nil || c.Op == change.Delete {
		return nil
	}
	var after *RowData
	for col, v := range c.Values {
		if _, ok := v.([]byte); !ok {
			continue
		}
		if after == nil {
			d, err := w.RowData(ctx, c.Table, c.Key)
			if err != nil {
				return fmt.Errorf("read row: %w", err)
			}
			after = &d
		}
		if after.Table == nil || !after.Table.IsText(col) {
			continue
		}
		state := merge.TextState(after.Meta.Fields[col])
		reset, epoch, err := collabtext.ResetOf(state, p.TextCompactTombstones)
		if err != nil {
			return fmt.Errorf("%s.%s: the stored text state: %w", c.Table, col, err)
		}
		if reset == nil {
			continue
		}
		if err := w.SaveTextEpoch(ctx, c.Table, c.Key, col, epoch, state); err != nil {
			return fmt.Errorf("keep a compacted text state: %w", err)
		}
		ch := change.Change{Table: c.Table, Key: c.Key, Op: change.Update, Stamp: p.Stamp(), Schema: version, Values: map[string]any{col: reset}}
		if err := w.Merge(ctx, &ch); err != nil {
			return fmt.Errorf("compact %s.%s: %w", c.Table, col, err)
		}
		if _, err := w.AppendLog(ctx, "", "", 0, &ch, c.Scope, c.Scope); err != nil {
			return fmt.Errorf("append a compaction to the log: %w", err)
		}
	}
	return nil
}
