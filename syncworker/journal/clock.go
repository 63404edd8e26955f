package journal

import (
	"fmt"
	"time"

	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/ncruces/go-sqlite3"
)

// Keys of the clock's state in _hearth_meta, next to the node id: the
// correction learned from the server survives a reload, so a device that
// starts offline keeps stamping in the server's time.
const (
	metaClockOffset = "clock_offset" // ms added to the wall clock
	metaClockBound  = "clock_bound"  // ms: the server's MaxClockSkew
	metaRemoteHLC   = "hlc_remote"   // greatest remote stamp observed
)

// loadClockCorrection restores the offset, the bound and the remote
// high-water mark saved by Correct and SaveClock.
func (j *Journal) loadClockCorrection(conn *sqlite3.Conn) error {
	s, _, err := conn.Prepare(`SELECT k, v FROM _hearth_meta WHERE k IN ('` + metaClockOffset + `', '` + metaClockBound + `', '` + metaRemoteHLC + `')`)
	if err != nil {
		return fmt.Errorf("journal: read clock correction: %w", err)
	}
	defer s.Close()
	for s.Step() {
		v := s.ColumnInt64(1)
		switch s.ColumnText(0) {
		case metaClockOffset:
			j.clock.SetOffset(time.Duration(v) * time.Millisecond)
		case metaClockBound:
			j.bound.Store(int64(time.Duration(v) * time.Millisecond))
		case metaRemoteHLC:
			j.remoteHLC.Store(v)
		}
	}
	if err := s.Err(); err != nil {
		return fmt.Errorf("journal: read clock correction: %w", err)
	}
	return nil
}

// Observe folds the stamp of a remote change into the clock, so that
// later local writes sort after it, but never past the corrected wall
// time plus the server's bound (once known, see Correct): a stamp from
// far in the future, stored before the bound was tightened, must not
// push every later local write into the future, where the server would
// refuse it.
func (j *Journal) Observe(ts hlc.Timestamp) {
	j.clock.ObserveWithin(ts, time.Duration(j.bound.Load()))
	for {
		old := j.remoteHLC.Load()
		if int64(ts) <= old || j.remoteHLC.CompareAndSwap(old, int64(ts)) {
			return
		}
	}
}

// Correct takes the clock correction measured against the server: offset
// is added to the wall clock from now on, bound is how far ahead of the
// server's time the server accepts stamps (0: no bound), and margin is
// the error of the measurement (the round trip). It runs inside the
// caller's transaction, and saves the correction with the replica.
//
// Unacknowledged entries stamped beyond the server's time plus the bound
// less the margin (written with a clock running ahead, before the offset
// was known) are restamped, so that the server does not refuse them: in
// seq order, with stamps from the corrected clock that sort after every
// stamp this replica holds or observed within the bound, so each still
// wins over what it overwrote. The field and row metadata they wrote is
// restamped with them, and the clock goes back to the new stamps. The
// margin is at most half the bound. It returns how many entries it
// restamped.
func (j *Journal) Correct(conn *sqlite3.Conn, offset, bound, margin time.Duration) (int, error) {
	j.clock.SetOffset(offset)
	bound = max(bound, 0)
	j.bound.Store(int64(bound))
	err := execArgs(conn, `INSERT INTO _hearth_meta(k, v) VALUES (?1, ?2), (?3, ?4) ON CONFLICT(k) DO UPDATE SET v = excluded.v`,
		metaClockOffset, offset.Milliseconds(), metaClockBound, bound.Milliseconds())
	if err != nil {
		return 0, fmt.Errorf("journal: save clock correction: %w", err)
	}
	if bound == 0 {
		return 0, nil
	}
	margin = min(max(margin, 0), bound/2)
	now := j.clock.Wall()
	limit := hlc.Make(now.Add(bound-margin).UnixMilli(), 0)
	ahead, err := j.query(conn, `SELECT `+entryColumns+` FROM _hearth_journal WHERE state IN ('pending', 'sent') AND hlc > ?1 ORDER BY seq`, int64(limit))
	if err != nil || len(ahead) == 0 {
		return 0, err
	}
	floor, err := j.floorWithin(conn, limit)
	if err != nil {
		return 0, err
	}
	// The new stamps stay at or below the limit, so never meet a stamp
	// still to be replaced (all are beyond it).
	floor = max(floor, hlc.Make(now.UnixMilli(), 0))
	floor = min(floor, limit-hlc.Timestamp(len(ahead)))
	j.clock.Rewind(floor)
	for _, e := range ahead {
		if err := j.restamp(conn, e, j.clock.Now()); err != nil {
			return 0, err
		}
	}
	// The saved high-water mark held the old stamps: replace it, or a
	// reload would move the clock ahead again.
	if err := execArgs(conn, `INSERT INTO _hearth_meta(k, v) VALUES ('hlc', ?1) ON CONFLICT(k) DO UPDATE SET v = excluded.v`, int64(j.clock.Last())); err != nil {
		return 0, fmt.Errorf("journal: save clock: %w", err)
	}
	return len(ahead), nil
}

// floorWithin is the greatest stamp at or below limit that this replica
// holds (journal entries, field and row metadata) or observed from
// remote changes (whose values a local write may have overwritten).
func (j *Journal) floorWithin(conn *sqlite3.Conn, limit hlc.Timestamp) (hlc.Timestamp, error) {
	n, err := queryInt(conn, `SELECT max(
		coalesce((SELECT max(hlc) FROM _hearth_journal WHERE hlc <= ?1), 0),
		coalesce((SELECT max(hlc) FROM _hearth_fields WHERE hlc <= ?1), 0),
		coalesce((SELECT max(ins_hlc) FROM _hearth_rows WHERE ins_hlc <= ?1), 0),
		coalesce((SELECT max(del_hlc) FROM _hearth_rows WHERE del_hlc <= ?1), 0))`, int64(limit))
	if err != nil {
		return 0, fmt.Errorf("journal: restamp: %w", err)
	}
	if remote := j.remoteHLC.Load(); remote <= int64(limit) {
		n = max(n, remote)
	}
	return hlc.Timestamp(n), nil
}

// restamp gives one entry, and the metadata it wrote, a new stamp. A
// node never issues a stamp twice, so (row, old stamp, this node) names
// exactly what the entry wrote.
func (j *Journal) restamp(conn *sqlite3.Conn, e Entry, ts hlc.Timestamp) error {
	if err := execArgs(conn, `UPDATE _hearth_journal SET hlc = ?2 WHERE seq = ?1`, e.Seq, int64(ts)); err != nil {
		return fmt.Errorf("journal: restamp entry %d: %w", e.Seq, err)
	}
	for _, sql := range []string{
		`UPDATE _hearth_fields SET hlc = ?4 WHERE tbl = ?1 AND pk = ?2 AND hlc = ?3 AND node = ?5`,
		`UPDATE _hearth_rows SET ins_hlc = ?4 WHERE tbl = ?1 AND pk = ?2 AND ins_hlc = ?3 AND ins_node = ?5`,
		`UPDATE _hearth_rows SET del_hlc = ?4 WHERE tbl = ?1 AND pk = ?2 AND del_hlc = ?3 AND del_node = ?5`,
	} {
		if err := execArgs(conn, sql, e.Table, e.Key, int64(e.Stamp.TS), int64(ts), j.node); err != nil {
			return fmt.Errorf("journal: restamp entry %d: %w", e.Seq, err)
		}
	}
	return nil
}

// ForgetDevice removes what makes a database one replica's: its node id
// (the client id the server knows it by, the tie-breaker of its stamps),
// the last stamp it issued and its clock's offset from the server's time.
// A database built on one machine and copied to a new device (a replica
// file, syncserver/replica) calls it before it is copied: the device's
// Prepare then makes a node id of its own and measures its own clock.
// What the database learned from the server (its MaxClockSkew, the
// greatest remote stamp) stays.
func ForgetDevice(conn *sqlite3.Conn) error {
	if err := conn.Exec(`DELETE FROM _hearth_meta WHERE k IN ('node', 'hlc', '` + metaClockOffset + `')`); err != nil {
		return fmt.Errorf("journal: forget the device: %w", err)
	}
	return nil
}
