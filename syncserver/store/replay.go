package store

import (
	"bytes"
	"fmt"

	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/merge"
	"github.com/hearthdb/hearth/syncworker/wire"
)

// Recorded is what a store kept of the change a (client, seq) was first
// answered for, so that a repeat of that seq can be told apart from
// another change pushed under it. A client stamps each change once, so
// for one client a change's stamp (hlc, node) identifies its content; a
// replay carries the same stamp. Answering another change with the first
// one's outcome would tell the client a change was stored that never was
// (or roll back one that was fine).
type Recorded struct {
	// Stamp is the recorded change's stamp; StampKnown is false for
	// records kept before stores recorded stamps.
	Stamp      hlc.Stamp
	StampKnown bool
	// Table, Key and Op are the recorded change's, while the store still
	// has its log entry (ChangeKnown).
	Table       string
	Key         []byte
	Op          change.Op
	ChangeKnown bool
}

// Mismatch is the refusal of c, pushed under a seq that was answered for
// the recorded change, when c is another change; nil when c is a replay
// of it, when the record predates stamps, or when the pusher restamps
// its retries (Push.Restamped).
func (r Recorded) Mismatch(p *Push, c *Pushed) *merge.Refusal {
	if p.Restamped {
		return nil
	}
	differs := r.StampKnown && c.Stamp != r.Stamp
	differs = differs || (r.ChangeKnown && (c.Table != r.Table || !bytes.Equal(c.Key, r.Key) || c.Op != r.Op))
	if !differs {
		return nil
	}
	return &merge.Refusal{Code: CodeReplayMismatch, Message: fmt.Sprintf(
		"seq %d of client %q was answered for another change (stamp %v); a replay must resend the same change, a new change needs a new seq",
		c.Seq, p.Client, r.Stamp)}
}

// Mismatched is the answer to a change Mismatch refused: a refusal the
// store does not record (the seq keeps its first outcome), with the row's
// state for the client to roll back to.
func Mismatched(c *Pushed, r *merge.Refusal, row []change.Change) wire.Result {
	if row == nil {
		row = []change.Change{}
	}
	return wire.Result{Seq: c.Seq, State: wire.Refused, Code: r.Code, Detail: r.Message, Row: row}
}
