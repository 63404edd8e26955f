package journal

import (
	"fmt"
	"strings"

	"github.com/hearthdb/hearth/codec"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/merge"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/ncruces/go-sqlite3"
)

// Rejournal journals the replica's whole synced state again, as pending
// entries: for every row the merge metadata knows, the changes that
// describe it (merge.ChangesOf: its insert with current values, each
// update newer than that insert, its tombstone), each under the stamp's
// timestamp the metadata holds for it. It is for a server that lost what
// it acknowledged (a store reset, another store behind the address): pushed
// again, they bring every row back without beating anything newer there.
//
// An entry is always stamped by this replica's node (the server refuses
// changes stamped by another): the replica's own writes keep their stamp
// exactly, another replica's keep its timestamp under this node, which
// orders them the same against everything but a write of that very
// timestamp. Hearth's own tables (_hearth_*) are left out: the server
// writes them. It returns the entries journaled.
func (j *Journal) Rejournal(conn *sqlite3.Conn, a *merge.Applier, tables []*schema.Info, version int64) (int, error) {
	n := 0
	for _, t := range tables {
		if strings.HasPrefix(strings.ToLower(t.Name), schema.ReservedPrefix) {
			continue
		}
		keys, err := metaKeys(conn, t.Name)
		if err != nil {
			return n, fmt.Errorf("journal: rows of %s: %w", t.Name, err)
		}
		for _, key := range keys {
			row, err := a.RowChanges(t.Name, key, version)
			if err != nil {
				return n, fmt.Errorf("journal: row of %s: %w", t.Name, err)
			}
			for i := range row {
				if err := appendEntry(conn, &row[i], version); err != nil {
					return n, err
				}
				n++
			}
		}
	}
	return n, nil
}

// metaKeys lists the keys of a table's rows the merge metadata knows, in
// key order.
func metaKeys(conn *sqlite3.Conn, table string) ([][]byte, error) {
	s, _, err := conn.Prepare(`SELECT pk FROM _hearth_rows WHERE tbl = ?1 UNION SELECT pk FROM _hearth_fields WHERE tbl = ?1 ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if err := s.BindText(1, table); err != nil {
		return nil, err
	}
	var keys [][]byte
	for s.Step() {
		keys = append(keys, s.ColumnBlob(0, nil))
	}
	return keys, s.Err()
}

// appendEntry journals one change as a pending entry under its stamp's
// timestamp.
func appendEntry(conn *sqlite3.Conn, c *change.Change, version int64) error {
	var cols any
	if c.Op != change.Delete {
		var enc codec.Encoder
		if err := change.EncodeValues(&enc, c.Values); err != nil {
			return fmt.Errorf("journal: values of %s: %w", c.Table, err)
		}
		cols = enc.Bytes()
	}
	err := execArgs(conn, `INSERT INTO _hearth_journal(tbl, pk, op, cols, hlc, sv) VALUES (?1, ?2, ?3, ?4, ?5, ?6)`,
		c.Table, c.Key, string(rune(c.Op)), cols, int64(c.Stamp.TS), version)
	if err != nil {
		return fmt.Errorf("journal: append: %w", err)
	}
	return nil
}
