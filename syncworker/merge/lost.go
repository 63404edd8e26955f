package merge

import (
	"fmt"
	"time"

	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/ncruces/go-sqlite3"
)

// LostTable keeps the values that lost a merge on this replica, so that
// an app (db.history) and the inspector can show what happened when a
// merge surprised someone. Two kinds are kept, both known without an
// extra read:
//   - an incoming write older than what the field (or the row's delete)
//     already holds: its value never shows here;
//   - a value written on this replica that an incoming newer write (or
//     delete) replaced: the local user's edit that lost.
//
// Collaborative text columns never lose: they merge.
const LostTable = "_hearth_lost"

// LostDDL creates LostTable; replicas that record losses run it with the
// other metadata tables.
const LostDDL = `
CREATE TABLE IF NOT EXISTS _hearth_lost(
	id INTEGER PRIMARY KEY,
	tbl TEXT NOT NULL,
	pk BLOB NOT NULL,
	col TEXT NOT NULL,
	val,
	hlc INTEGER NOT NULL,
	node TEXT NOT NULL,
	won_hlc INTEGER NOT NULL,
	won_node TEXT NOT NULL,
	won_op TEXT NOT NULL,
	at INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS _hearth_lost_row ON _hearth_lost(tbl, pk, col, hlc, node);
CREATE INDEX IF NOT EXISTS _hearth_lost_at ON _hearth_lost(at);
`

// RecordLosses makes the applier keep lost values in LostTable (see
// LostDDL): local is this replica's node id, now the clock that dates
// each record for PruneLost.
func (a *Applier) RecordLosses(local string, now func() time.Time) {
	a.local, a.now = local, now
}

// PruneLost forgets lost values recorded before cutoff.
func PruneLost(conn *sqlite3.Conn, cutoff time.Time) error {
	s, _, err := conn.Prepare(`DELETE FROM _hearth_lost WHERE at < ?`)
	if err != nil {
		return fmt.Errorf("prune %s: %w", LostTable, err)
	}
	defer s.Close()
	s.BindInt64(1, cutoff.UnixMilli())
	if err := s.Exec(); err != nil {
		return fmt.Errorf("prune %s: %w", LostTable, err)
	}
	return nil
}

// loss is one value that lost, and what it lost to.
type loss struct {
	col   string
	value any
	stamp hlc.Stamp
	won   hlc.Stamp
	wonOp change.Op
}

// losses lists what an applied change made lose, from the row's metadata
// before it (cur) and the outcome.
func (a *Applier) losses(cur Row, ch *change.Change, out Outcome) []loss {
	t := a.tables[ch.Table]
	var ls []loss
	switch ch.Op {
	case change.Update, change.Insert:
		for col, v := range ch.Values {
			if t.IsText(col) {
				continue
			}
			f, had := cur.Fields[col]
			switch {
			case ch.Op == change.Insert && !cur.Inserted.IsZero() && !ch.Stamp.After(cur.Inserted) && ch.Stamp != cur.Inserted:
				// A full-row write older than the row's newest.
				ls = append(ls, loss{col, v, ch.Stamp, cur.Inserted, change.Insert})
			case had && !ch.Stamp.After(f.Stamp) && ch.Stamp != f.Stamp:
				// Incoming, older than the field's newest update.
				ls = append(ls, loss{col, v, ch.Stamp, f.Stamp, change.Update})
			case had && ch.Op == change.Update && ch.Stamp.After(f.Stamp) && f.Stamp.Node == a.local && ch.Stamp.Node != a.local:
				// This replica's own value, replaced by a newer one.
				ls = append(ls, loss{col, f.Value, f.Stamp, ch.Stamp, ch.Op})
			case !cur.Deleted.IsZero() && !out.Row.Alive(t.Resurrect) && ch.Stamp.Node != a.local:
				// Written to a row a delete removed for good.
				ls = append(ls, loss{col, v, ch.Stamp, cur.Deleted, change.Delete})
			}
		}
	case change.Delete:
		if out.Effect.Kind != Remove {
			return nil
		}
		for col, f := range cur.Fields {
			if f.Stamp.Node == a.local && ch.Stamp.Node != a.local && !t.IsText(col) {
				ls = append(ls, loss{col, f.Value, f.Stamp, ch.Stamp, change.Delete})
			}
		}
	}
	return ls
}

func (a *Applier) recordLosses(ch *change.Change, ls []loss) error {
	if len(ls) == 0 {
		return nil
	}
	// The same loss seen again (a change delivered twice) is kept once.
	s, err := a.stmt(`INSERT OR IGNORE INTO _hearth_lost(tbl, pk, col, val, hlc, node, won_hlc, won_node, won_op, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)`)
	if err != nil {
		return err
	}
	at := a.now().UnixMilli()
	for _, l := range ls {
		s.BindText(1, ch.Table)
		s.BindBlob(2, ch.Key)
		s.BindText(3, l.col)
		if err := BindValue(s, 4, l.value); err != nil {
			s.Reset()
			return err
		}
		s.BindInt64(5, int64(l.stamp.TS))
		s.BindText(6, l.stamp.Node)
		s.BindInt64(7, int64(l.won.TS))
		s.BindText(8, l.won.Node)
		s.BindText(9, l.wonOp.Code())
		s.BindInt64(10, at)
		if err := s.Exec(); err != nil {
			return fmt.Errorf("record a lost value of %s.%s: %w", ch.Table, l.col, err)
		}
	}
	return nil
}
