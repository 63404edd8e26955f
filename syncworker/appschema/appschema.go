// Package appschema holds what an app declares about its data — its
// migrations and the tables it syncs — and the definition of Hearth's
// violations table. It imports nothing, so every layer states these once
// here: the worker and the server, the Go client, and browser bundles
// (the demo board) that must not carry SQLite or the server.
package appschema

// Migration is one step of the app's schema: applied once, in order, in
// its own transaction, and recorded as the schema version. Clients and
// the server are given the same list.
type Migration struct {
	Version int64
	SQL     string
}

// Table is what an app declares about a synced table.
type Table struct {
	Name string
	// Resurrect lets a newer re-insert bring back a deleted row. By
	// default a delete wins over every other write to the row, older or
	// newer, so a row once deleted stays deleted on every replica.
	Resurrect bool
	// Text names the columns that merge character by character
	// (collaborative text, syncworker/collabtext) instead of by last
	// writer: two people editing one description offline both keep
	// their edits. Each must be a TEXT NOT NULL column outside the
	// primary key; SQL reads and writes it as plain text.
	Text []string
}

// IsText reports whether column is one of the table's collaborative
// text columns.
func (t Table) IsText(column string) bool {
	for _, c := range t.Text {
		if c == column {
			return true
		}
	}
	return false
}

// Violations is the system table the server fills with invariant
// violations and syncs to every client (read-only for clients).
var Violations = Table{Name: "_hearth_violations"}

// ViolationsDDL creates the violations table. Clients and the server use
// this one definition so its rows merge like any other; an app may run it
// early (before sync has ever connected) so that queries over violations
// work offline, and the sync layer's own CREATE ... IF NOT EXISTS then
// finds the table in place.
const ViolationsDDL = `CREATE TABLE IF NOT EXISTS _hearth_violations(
	id TEXT PRIMARY KEY,
	tbl TEXT NOT NULL,
	row_key BLOB,
	client TEXT NOT NULL,
	seq INTEGER NOT NULL,
	message TEXT NOT NULL,
	at INTEGER NOT NULL
)`
