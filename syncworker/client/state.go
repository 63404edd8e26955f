package client

import (
	"fmt"

	"github.com/hearthdb/hearth/syncworker/merge"
	"github.com/hearthdb/hearth/syncworker/wire"
	"github.com/ncruces/go-sqlite3"
)

// syncState is what the client remembers between runs, in _hearth_sync,
// written in the same transactions as the changes it describes: a crash
// never leaves a cursor ahead of the data.
type syncState struct {
	// Cursor is the server log position applied, -1 before the first
	// sync.
	Cursor int64
	// Server is the id of the server store the cursor belongs to.
	Server string
	// Schema is the local schema version the last full sync ran under.
	Schema int64
	Snap   snapshotState
}

// snapshotState is an initial sync in progress.
type snapshotState struct {
	Active bool
	// At is the log position the snapshot started at (-1 before its
	// first chunk).
	At    int64
	After wire.SnapshotCursor
	Rows  int64
	Total int64
}

// fromStart says that no chunk of the snapshot has been applied: its
// next request is for the first chunk.
func (s snapshotState) fromStart() bool {
	return s.At < 0 && s.After.Table == "" && len(s.After.Key) == 0
}

const stateDDL = `CREATE TABLE IF NOT EXISTS _hearth_sync(k TEXT PRIMARY KEY, v) WITHOUT ROWID`

func loadState(conn *sqlite3.Conn) (syncState, error) {
	st := syncState{Cursor: -1}
	if err := conn.Exec(stateDDL); err != nil {
		return st, fmt.Errorf("create sync state table: %w", err)
	}
	s, _, err := conn.Prepare(`SELECT k, v FROM _hearth_sync`)
	if err != nil {
		return st, fmt.Errorf("read sync state: %w", err)
	}
	defer s.Close()
	for s.Step() {
		switch s.ColumnText(0) {
		case "cursor":
			st.Cursor = s.ColumnInt64(1)
		case "server":
			st.Server = s.ColumnText(1)
		case "schema":
			st.Schema = s.ColumnInt64(1)
		case "snap":
			st.Snap.Active = s.ColumnInt64(1) != 0
		case "snap_at":
			st.Snap.At = s.ColumnInt64(1)
		case "snap_table":
			st.Snap.After.Table = s.ColumnText(1)
		case "snap_key":
			st.Snap.After.Key = s.ColumnBlob(1, nil)
		case "snap_rows":
			st.Snap.Rows = s.ColumnInt64(1)
		case "snap_total":
			st.Snap.Total = s.ColumnInt64(1)
		}
	}
	if err := s.Err(); err != nil {
		return st, fmt.Errorf("read sync state: %w", err)
	}
	return st, nil
}

// saveState writes the fields of st that differ from prev (what is
// stored now): applying a batch of log entries usually moves only the
// cursor.
func saveState(conn *sqlite3.Conn, prev, st syncState) error {
	type kv struct {
		k    string
		v    any
		same bool
	}
	flag := func(b bool) int64 {
		if b {
			return 1
		}
		return 0
	}
	key := st.Snap.After.Key
	if key == nil {
		key = []byte{}
	}
	fields := []kv{
		{"cursor", st.Cursor, st.Cursor == prev.Cursor},
		{"server", st.Server, st.Server == prev.Server},
		{"schema", st.Schema, st.Schema == prev.Schema},
		{"snap", flag(st.Snap.Active), st.Snap.Active == prev.Snap.Active},
		{"snap_at", st.Snap.At, st.Snap.At == prev.Snap.At},
		{"snap_table", st.Snap.After.Table, st.Snap.After.Table == prev.Snap.After.Table},
		{"snap_key", key, string(st.Snap.After.Key) == string(prev.Snap.After.Key)},
		{"snap_rows", st.Snap.Rows, st.Snap.Rows == prev.Snap.Rows},
		{"snap_total", st.Snap.Total, st.Snap.Total == prev.Snap.Total},
	}
	var s *sqlite3.Stmt
	for _, f := range fields {
		if f.same {
			continue
		}
		if s == nil {
			var err error
			if s, _, err = conn.Prepare(`INSERT INTO _hearth_sync(k, v) VALUES (?1, ?2) ON CONFLICT(k) DO UPDATE SET v = excluded.v`); err != nil {
				return fmt.Errorf("save sync state: %w", err)
			}
			defer s.Close()
		}
		s.BindText(1, f.k)
		if err := merge.BindValue(s, 2, f.v); err != nil {
			return fmt.Errorf("save sync state %s: %w", f.k, err)
		}
		if err := s.Exec(); err != nil {
			return fmt.Errorf("save sync state %s: %w", f.k, err)
		}
	}
	return nil
}
