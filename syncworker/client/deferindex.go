package client

import (
	"fmt"

	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/ncruces/go-sqlite3"
)

// An initial sync inserts rows in primary-key order, but a secondary
// index of the same rows (tasks by project, status and position) takes
// them in no order: every chunk's commit rewrites most of that index's
// pages. Natively, a 100,000-task board synced in 100-odd chunks wrote
// 192 MB of 8 KiB blocks for a 47 MB database with its index, 56 MB
// without (a throwaway probe over the IndexedDB VFS's block store,
// 2026-12-06); in the browser every one of those blocks is an IndexedDB
// put or a WAL frame. So while a large snapshot is applied, the synced
// tables' plain indexes (made by CREATE INDEX, not UNIQUE: those enforce
// a constraint) are dropped, their SQL kept in deferredIndexTable in the
// same transaction, and the snapshot's last transaction creates them
// again: each index is then built once, by one sort. Until then the
// app's queries that would use them scan instead.

// deferredIndexTable holds the indexes an unfinished snapshot dropped.
const deferredIndexTable = "_hearth_deferred_indexes"

const deferredIndexDDL = `CREATE TABLE IF NOT EXISTS ` + deferredIndexTable + `(name TEXT PRIMARY KEY, sql TEXT NOT NULL) WITHOUT ROWID`

// DefaultDeferIndexesFrom is the snapshot size, in rows, from which the
// synced tables' indexes are built after it rather than during it
// (Config.DeferIndexesFrom).
const DefaultDeferIndexesFrom = 2000

// deferIndexes drops the plain indexes of tables, recording them, and
// reports whether it dropped any. It drops none when a view or a
// trigger names an index (INDEXED BY): those would fail without it.
func deferIndexes(conn *sqlite3.Conn, tables []appschema.Table) (bool, error) {
	pinned, err := exists(conn, `SELECT 1 FROM sqlite_schema WHERE type IN ('view', 'trigger') AND sql LIKE '%INDEXED BY%'`)
	if err != nil || pinned {
		return false, err
	}
	s, _, err := conn.Prepare(`SELECT s.name, s.sql FROM sqlite_schema s JOIN pragma_index_list(?1) l ON l.name = s.name
		WHERE s.type = 'index' AND s.sql IS NOT NULL AND l.origin = 'c' AND NOT l."unique" ORDER BY s.name`)
	if err != nil {
		return false, fmt.Errorf("list indexes: %w", err)
	}
	type index struct{ name, sql string }
	var found []index
	for _, table := range tables {
		if err := s.BindText(1, table.Name); err != nil {
			s.Close()
			return false, err
		}
		for s.Step() {
			found = append(found, index{s.ColumnText(0), s.ColumnText(1)})
		}
		if err := s.Reset(); err != nil {
			s.Close()
			return false, fmt.Errorf("list indexes of %s: %w", table.Name, err)
		}
	}
	if err := s.Close(); err != nil {
		return false, err
	}
	if len(found) == 0 {
		return false, nil
	}
	if err := conn.Exec(deferredIndexDDL); err != nil {
		return false, fmt.Errorf("create %s: %w", deferredIndexTable, err)
	}
	ins, _, err := conn.Prepare(`INSERT INTO ` + deferredIndexTable + `(name, sql) VALUES (?1, ?2)`)
	if err != nil {
		return false, err
	}
	defer ins.Close()
	for _, ix := range found {
		if err := ins.BindText(1, ix.name); err != nil {
			return false, err
		}
		if err := ins.BindText(2, ix.sql); err != nil {
			return false, err
		}
		if err := ins.Exec(); err != nil {
			return false, fmt.Errorf("record index %s: %w", ix.name, err)
		}
		if err := conn.Exec(`DROP INDEX ` + schema.Quote(ix.name)); err != nil {
			return false, fmt.Errorf("drop index %s for the snapshot: %w", ix.name, err)
		}
	}
	return true, nil
}

// RestoreIndexes creates again the indexes an unfinished initial sync
// dropped, if any, in one transaction, and reports how many. The sync
// client does it itself when the snapshot ends; call it before anything
// else changes the schema (the app's migrations), and when a database
// that was syncing is opened without sync, so that the app's schema is
// whole.
func RestoreIndexes(conn *sqlite3.Conn) (int, error) {
	deferred, err := hasDeferredIndexes(conn)
	if err != nil || !deferred {
		return 0, err
	}
	if err := conn.Exec("BEGIN IMMEDIATE"); err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	n, err := restoreIndexes(conn)
	if err == nil {
		err = conn.Exec("COMMIT")
	}
	if err != nil {
		conn.Exec("ROLLBACK")
		return 0, fmt.Errorf("restore the indexes an initial sync deferred: %w", err)
	}
	return n, nil
}

// hasDeferredIndexes reports whether indexes wait to be created again.
func hasDeferredIndexes(conn *sqlite3.Conn) (bool, error) {
	table, err := exists(conn, `SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = '`+deferredIndexTable+`'`)
	if err != nil || !table {
		return false, err
	}
	return exists(conn, `SELECT 1 FROM `+deferredIndexTable)
}

// restoreIndexes creates the deferred indexes within the caller's
// transaction. An index that exists again (an app's migration made it)
// is left as it is.
func restoreIndexes(conn *sqlite3.Conn) (int, error) {
	s, _, err := conn.Prepare(`SELECT d.name, d.sql FROM ` + deferredIndexTable + ` d
		WHERE NOT EXISTS (SELECT 1 FROM sqlite_schema s WHERE s.type = 'index' AND s.name = d.name) ORDER BY d.name`)
	if err != nil {
		return 0, err
	}
	var stmts []string
	for s.Step() {
		stmts = append(stmts, s.ColumnText(1))
	}
	if err := s.Err(); err != nil {
		s.Close()
		return 0, err
	}
	if err := s.Close(); err != nil {
		return 0, err
	}
	for _, sql := range stmts {
		if err := conn.Exec(sql); err != nil {
			return 0, fmt.Errorf("%s: %w", sql, err)
		}
	}
	if err := conn.Exec(`DELETE FROM ` + deferredIndexTable); err != nil {
		return 0, err
	}
	return len(stmts), nil
}

func exists(conn *sqlite3.Conn, query string) (bool, error) {
	s, _, err := conn.Prepare(query)
	if err != nil {
		return false, err
	}
	found := s.Step()
	if err := s.Err(); err != nil {
		s.Close()
		return false, err
	}
	if err := s.Close(); err != nil {
		return false, err
	}
	return found, nil
}
