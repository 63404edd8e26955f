package engine

import (
	"strings"

	"github.com/hearthdb/hearth/internal/sqlshape"
	"github.com/ncruces/go-sqlite3"
)

// A live query is refreshed after a commit only if the commit may have
// changed its result. At table level that is any write to a table it
// reads; a query whose result is decided by the columns it names (and by
// which rows exist) is also spared the writes that only updated other
// columns of those tables: the board's project list, counting each
// project's tasks, is not re-run when a card moves (status and position).
// What the query names and what a statement updates both come from
// SQLite's authorizer at prepare time (conn.go), triggers and foreign-key
// actions included; sqlshape.NamedColumnsOnly refuses the statements whose
// result can depend on more (LIMIT, window functions, the time, …), and a
// read through a view is not looked into.

// tableShape is what decides whether updating a table's columns may do
// more than change those columns' values.
type tableShape struct {
	// wide: an update may change other columns or other rows — a virtual
	// table (its module decides what a write does), or one with generated
	// columns (computed from the columns set).
	wide bool
	// identity lists the columns whose update may move or remove rows:
	// the rowid's names and aliases, the primary key's columns and those
	// of every unique index (a conflict resolved by REPLACE deletes the
	// other row); allIdentity when a unique index is on an expression.
	identity    map[string]struct{}
	allIdentity bool
}

// shape returns what c knows of table, finding it on first use (and again
// after any schema change). An error leaves the table wide: refreshing is
// always correct.
func (c *Conn) shape(table string) tableShape {
	var version int64
	if s, _, cached, err := c.prepareOne("PRAGMA schema_version"); err == nil {
		if s.Step() {
			version = s.ColumnInt64(0)
		}
		c.release(s, cached)
	}
	if c.shapes == nil || version != c.shapesVersion {
		c.shapes, c.shapesVersion = map[string]tableShape{}, version
	}
	if sh, ok := c.shapes[table]; ok {
		return sh
	}
	sh, err := c.findShape(table)
	if err != nil {
		sh = tableShape{wide: true}
	}
	c.shapes[table] = sh
	return sh
}

func (c *Conn) findShape(table string) (tableShape, error) {
	sh := tableShape{identity: map[string]struct{}{"rowid": {}, "oid": {}, "_rowid_": {}}}
	kind := ""
	err := c.eachRow("SELECT type FROM pragma_table_list WHERE name = ? COLLATE NOCASE", table, func(s *sqlite3.Stmt) {
		kind = s.ColumnText(0)
	})
	if err != nil {
		return sh, err
	}
	if kind != "table" {
		sh.wide = true // virtual, or not found: the write went through something else
		return sh, nil
	}
	err = c.eachRow("SELECT name, pk, hidden FROM pragma_table_xinfo(?)", table, func(s *sqlite3.Stmt) {
		if s.ColumnInt64(1) > 0 {
			sh.identity[strings.ToLower(s.ColumnText(0))] = struct{}{}
		}
		if hidden := s.ColumnInt64(2); hidden == 2 || hidden == 3 {
			sh.wide = true
		}
	})
	if err != nil {
		return sh, err
	}
	var unique []string
	err = c.eachRow(`SELECT name FROM pragma_index_list(?) WHERE "unique"`, table, func(s *sqlite3.Stmt) {
		unique = append(unique, s.ColumnText(0))
	})
	if err != nil {
		return sh, err
	}
	for _, index := range unique {
		err = c.eachRow("SELECT name FROM pragma_index_info(?)", index, func(s *sqlite3.Stmt) {
			if s.ColumnType(0) == sqlite3.NULL {
				sh.allIdentity = true // an expression
			} else {
				sh.identity[strings.ToLower(s.ColumnText(0))] = struct{}{}
			}
		})
		if err != nil {
			return sh, err
		}
	}
	return sh, nil
}

// eachRow runs a read of one text parameter on c's connection and calls
// row at each row.
func (c *Conn) eachRow(sql, arg string, row func(s *sqlite3.Stmt)) error {
	s, _, err := c.db.Prepare(sql)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.BindText(1, arg); err != nil {
		return err
	}
	for s.Step() {
		row(s)
	}
	return s.Err()
}

// namedColumns is what the statement sql (prepared with t) names of each
// table it reads, when its result is decided by those columns (see
// above); nil otherwise. Found once per prepared statement.
func (t *stmtTables) namedColumns(sql string) map[string]map[string]struct{} {
	if !t.columnsChecked {
		t.columnsChecked = true
		t.columnsDecide = !t.viaView && sqlshape.NamedColumnsOnly(sql) == nil
	}
	if !t.columnsDecide {
		return nil
	}
	return t.readColumns
}

// mayChange reports whether the writes in changed may have changed q's
// result; spared, when they did not though they wrote a table it reads.
func mayChange(c *Conn, q *liveQuery, changed changes) (may, spared bool) {
	if changed.schema {
		return true, false
	}
	for table := range q.tables {
		if _, written := changed.tables[table]; !written {
			continue
		}
		if q.columns == nil {
			return true, false
		}
		if _, rows := changed.rowWrites[table]; rows {
			return true, false
		}
		updated := changed.columns[table]
		if len(updated) == 0 {
			return true, false // written, but not as the authorizer said: assume anything
		}
		named := q.columns[table]
		for col := range updated {
			if _, read := named[col]; read {
				return true, false
			}
		}
		// None named: the table's shape says whether the update could
		// still have moved or removed rows, or changed other columns.
		sh := c.shape(table)
		if sh.wide || sh.allIdentity {
			return true, false
		}
		for col := range updated {
			if _, moves := sh.identity[col]; moves {
				return true, false
			}
		}
		spared = true
	}
	return false, spared
}
