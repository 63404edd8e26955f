package journal

import (
	"errors"
	"fmt"
	"sort"

	"github.com/hearthdb/hearth/codec"
	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/ncruces/go-sqlite3"
)

// Quarantine codes.
const (
	CodeTableDropped  = "TABLE_DROPPED"
	CodeColumnDropped = "COLUMN_DROPPED"
	CodeTooLarge      = "TOO_LARGE"
	CodeApplyFailed   = "APPLY_FAILED"
)

// Directions of quarantined changes.
const (
	// Outgoing is a local change that could not be pushed.
	Outgoing = "out"
	// Incoming is a remote change that could not be applied here.
	Incoming = "in"
)

// Quarantined is a change set aside in _hearth_quarantine: kept, never
// silently dropped, for the app to inspect, retry or discard.
type Quarantined struct {
	ID        int64
	Direction string
	// Seq is the journal seq the change had (outgoing only).
	Seq int64
	change.Change
	Packed []byte
	Code   string
	Reason string
}

// ErrNotFound is returned for a quarantine id that does not exist.
var ErrNotFound = errors.New("not found")

// Quarantine moves an entry from the journal to the quarantine.
func (j *Journal) Quarantine(conn *sqlite3.Conn, e Entry, code, reason string) error {
	err := execArgs(conn, `INSERT INTO _hearth_quarantine(direction, seq, tbl, pk, op, cols, hlc, node, sv, code, reason, at)
		VALUES ('out', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)`,
		e.Seq, e.Table, e.Key, e.Op.Code(), packedOrNil(e.Packed), int64(e.Stamp.TS), e.Stamp.Node, e.Schema, code, reason, j.now().UnixMilli())
	if err != nil {
		return fmt.Errorf("journal: quarantine entry %d: %w", e.Seq, err)
	}
	if err := execArgs(conn, `DELETE FROM _hearth_journal WHERE seq = ?1`, e.Seq); err != nil {
		return fmt.Errorf("journal: quarantine entry %d: %w", e.Seq, err)
	}
	return nil
}

// QuarantineIncoming sets aside a remote change this replica could not
// apply (for example one that breaks a local UNIQUE index), so that sync
// goes on and the app can see what happened.
func (j *Journal) QuarantineIncoming(conn *sqlite3.Conn, ch *change.Change, code, reason string) error {
	var enc codec.Encoder
	if err := change.EncodeValues(&enc, ch.Values); err != nil {
		return fmt.Errorf("journal: quarantine incoming change: %w", err)
	}
	err := execArgs(conn, `INSERT INTO _hearth_quarantine(direction, seq, tbl, pk, op, cols, hlc, node, sv, code, reason, at)
		VALUES ('in', NULL, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)`,
		ch.Table, ch.Key, ch.Op.Code(), enc.Bytes(), int64(ch.Stamp.TS), ch.Stamp.Node, ch.Schema, code, reason, j.now().UnixMilli())
	if err != nil {
		return fmt.Errorf("journal: quarantine incoming change: %w", err)
	}
	return nil
}

func packedOrNil(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

// ListQuarantine returns the quarantined changes, oldest first.
func ListQuarantine(conn *sqlite3.Conn) ([]Quarantined, error) {
	s, _, err := conn.Prepare(`SELECT id, direction, coalesce(seq, 0), tbl, pk, op, cols, hlc, node, sv, code, reason FROM _hearth_quarantine ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("journal: list quarantine: %w", err)
	}
	defer s.Close()
	var out []Quarantined
	for s.Step() {
		q := Quarantined{
			ID:        s.ColumnInt64(0),
			Direction: s.ColumnText(1),
			Seq:       s.ColumnInt64(2),
			Packed:    s.ColumnBlob(6, nil),
			Code:      s.ColumnText(10),
			Reason:    s.ColumnText(11),
		}
		op, err := change.ParseOp(s.ColumnText(5))
		if err != nil {
			return nil, fmt.Errorf("journal: quarantine %d: %w", q.ID, err)
		}
		values, err := change.DecodeValues(q.Packed)
		if err != nil {
			return nil, fmt.Errorf("journal: quarantine %d: %w", q.ID, err)
		}
		q.Change = change.Change{
			Table: s.ColumnText(3), Key: s.ColumnBlob(4, nil), Op: op, Values: values,
			Stamp:  hlc.Stamp{TS: hlc.Timestamp(s.ColumnInt64(7)), Node: s.ColumnText(8)},
			Schema: s.ColumnInt64(9),
		}
		out = append(out, q)
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("journal: list quarantine: %w", err)
	}
	return out, nil
}

// Discard deletes a quarantined change for good.
func Discard(conn *sqlite3.Conn, id int64) error {
	if err := execArgs(conn, `DELETE FROM _hearth_quarantine WHERE id = ?1`, id); err != nil {
		return fmt.Errorf("journal: discard quarantined %d: %w", id, err)
	}
	if conn.Changes() == 0 {
		return fmt.Errorf("journal: discard quarantined %d: %w", id, ErrNotFound)
	}
	return nil
}

// Retry puts an outgoing quarantined change back in the journal as a new
// pending entry under the current schema version, with its columns
// renamed by rename (a column mapped to "" is dropped). It keeps its
// original timestamp: it still competes as the write the user made then.
func (j *Journal) Retry(conn *sqlite3.Conn, id int64, rename map[string]string) (seq int64, err error) {
	all, err := ListQuarantine(conn)
	if err != nil {
		return 0, err
	}
	var q *Quarantined
	for i := range all {
		if all[i].ID == id {
			q = &all[i]
		}
	}
	if q == nil {
		return 0, fmt.Errorf("journal: retry quarantined %d: %w", id, ErrNotFound)
	}
	if q.Direction != Outgoing {
		return 0, fmt.Errorf("journal: retry quarantined %d: only outgoing changes can be re-journaled", id)
	}
	values := map[string]any{}
	for col, v := range q.Values {
		if to, ok := rename[col]; ok {
			if to == "" {
				continue
			}
			col = to
		}
		values[col] = v
	}
	var enc codec.Encoder
	if err := change.EncodeValues(&enc, values); err != nil {
		return 0, fmt.Errorf("journal: retry quarantined %d: %w", id, err)
	}
	version, err := schema.Version(conn)
	if err != nil {
		return 0, fmt.Errorf("journal: retry quarantined %d: %w", id, err)
	}
	var cols any = enc.Bytes()
	if q.Op == change.Delete {
		cols = nil
	}
	if err := execArgs(conn, `INSERT INTO _hearth_journal(tbl, pk, op, cols, hlc, sv) VALUES (?1, ?2, ?3, ?4, ?5, ?6)`,
		q.Table, q.Key, q.Op.Code(), cols, int64(q.Stamp.TS), version); err != nil {
		return 0, fmt.Errorf("journal: retry quarantined %d: %w", id, err)
	}
	seq = conn.LastInsertRowID()
	if err := execArgs(conn, `DELETE FROM _hearth_quarantine WHERE id = ?1`, id); err != nil {
		return 0, fmt.Errorf("journal: retry quarantined %d: %w", id, err)
	}
	return seq, nil
}

// Replay brings unacknowledged entries written under an older schema
// version up to the current one, after an app upgrade: columns that still
// exist are kept, renamed ones are mapped with Config.MapColumn, and an
// entry naming a column (or table) that is gone and cannot be mapped is
// quarantined whole. Entries keep the schema version they were written
// under. An insert's NULL in a dropped column is dropped with it (nothing
// is lost). It returns how many entries it quarantined.
func (j *Journal) Replay(conn *sqlite3.Conn) (int, error) {
	current, err := schema.Version(conn)
	if err != nil {
		return 0, fmt.Errorf("journal: replay: %w", err)
	}
	stale, err := j.query(conn, `SELECT `+entryColumns+` FROM _hearth_journal WHERE state IN ('pending', 'sent') AND sv <> ?1 ORDER BY seq`, current)
	if err != nil {
		return 0, err
	}
	infos := map[string]*schema.Info{}
	declared := map[string]appschema.Table{}
	for _, t := range j.tables {
		declared[t.Name] = t
	}
	quarantined := 0
	for _, e := range stale {
		info, ok := infos[e.Table]
		if !ok {
			if t, isDeclared := declared[e.Table]; isDeclared {
				info, err = schema.Describe(conn, t)
				if err != nil && !errors.Is(err, schema.ErrNoTable) {
					return quarantined, fmt.Errorf("journal: replay: %w", err)
				}
			}
			infos[e.Table] = info
		}
		if info == nil {
			reason := fmt.Sprintf("table %q is no longer synced or no longer exists (the change was written under schema version %d, the app is at %d)", e.Table, e.Schema, current)
			if err := j.Quarantine(conn, e, CodeTableDropped, reason); err != nil {
				return quarantined, err
			}
			quarantined++
			continue
		}
		mapped, missing := j.mapColumns(info, e)
		if missing != "" {
			reason := fmt.Sprintf("column %q of %s no longer exists and cannot be mapped (the change was written under schema version %d, the app is at %d)", missing, e.Table, e.Schema, current)
			if err := j.Quarantine(conn, e, CodeColumnDropped, reason); err != nil {
				return quarantined, err
			}
			quarantined++
			continue
		}
		if mapped != nil {
			var enc codec.Encoder
			if err := change.EncodeValues(&enc, mapped); err != nil {
				return quarantined, fmt.Errorf("journal: replay entry %d: %w", e.Seq, err)
			}
			if err := execArgs(conn, `UPDATE _hearth_journal SET cols = ?2 WHERE seq = ?1`, e.Seq, enc.Bytes()); err != nil {
				return quarantined, fmt.Errorf("journal: replay entry %d: %w", e.Seq, err)
			}
		}
	}
	return quarantined, nil
}

// mapColumns maps an entry's columns onto the table as it is now. It
// returns the renamed values (nil when nothing was renamed), or the first
// column that cannot be mapped.
func (j *Journal) mapColumns(info *schema.Info, e Entry) (map[string]any, string) {
	names := e.Columns()
	sort.Strings(names)
	var mapped map[string]any
	for _, col := range names {
		if c, ok := info.Column(col); ok && c.KeyPosition == 0 {
			continue
		}
		to, ok := "", false
		if j.mapColumn != nil {
			to, ok = j.mapColumn(e.Table, col, e.Schema)
		}
		if c, exists := info.Column(to); !ok || !exists || c.KeyPosition > 0 {
			// An insert names every column; a NULL in a dropped one
			// carries nothing to lose.
			if e.Op == change.Insert && e.Values[col] == nil {
				to = ""
			} else {
				return nil, col
			}
		}
		if mapped == nil {
			mapped = make(map[string]any, len(e.Values))
			for k, v := range e.Values {
				mapped[k] = v
			}
		}
		delete(mapped, col)
		if to != "" {
			mapped[to] = e.Values[col]
		}
	}
	return mapped, ""
}
