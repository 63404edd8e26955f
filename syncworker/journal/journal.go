// Package journal records every local write to a synced table in an
// append-only change journal, in the same transaction as the write.
//
// SQLite triggers do the recording, so every write is journaled however
// it was made (exec, batch, a migration's data step, another trigger) and
// a rolled-back write leaves no entry. The triggers call SQL functions the
// journal registers on the connection: hearth_hlc() for the hybrid
// logical clock, hearth_node() for this replica's id, hearth_key() and
// hearth_pack() to encode keys and values with Hearth's binary codec, and
// hearth_applying(), which is 1 while remote changes are being applied so
// they are not journaled again.
//
// Each entry goes through a lifecycle the app can query in
// _hearth_journal.state: pending → sent → acknowledged, flagged (the
// server stored it but recorded an invariant violation, in detail) or
// refused (the server did not store it: code and detail say why, and the
// row was rolled back to the server's value).
package journal

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hearthdb/hearth/codec"
	"github.com/hearthdb/hearth/codec/sqlcodec"
	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/collabtext"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/merge"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/ncruces/go-sqlite3"
)

// Names of the journal's tables.
const (
	JournalTable    = "_hearth_journal"
	QuarantineTable = "_hearth_quarantine"
	MetaTable       = "_hearth_meta"
)

// State is where a journal entry is in its lifecycle.
type State string

const (
	Pending      State = "pending"
	Sent         State = "sent"
	Acknowledged State = "acknowledged"
	Flagged      State = "flagged"
	Refused      State = "refused"
)

const ddl = `
CREATE TABLE IF NOT EXISTS _hearth_meta(k TEXT PRIMARY KEY, v) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS _hearth_journal(
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	tbl TEXT NOT NULL,
	pk BLOB NOT NULL,
	op TEXT NOT NULL,
	cols BLOB,
	hlc INTEGER NOT NULL,
	sv INTEGER NOT NULL,
	state TEXT NOT NULL DEFAULT 'pending',
	code TEXT,
	detail TEXT,
	pos INTEGER,
	settled_at INTEGER
);
CREATE INDEX IF NOT EXISTS _hearth_journal_unsettled ON _hearth_journal(seq) WHERE state IN ('pending', 'sent');
CREATE INDEX IF NOT EXISTS _hearth_journal_row ON _hearth_journal(tbl, pk) WHERE state IN ('pending', 'sent');
CREATE TABLE IF NOT EXISTS _hearth_quarantine(
	id INTEGER PRIMARY KEY,
	direction TEXT NOT NULL,
	seq INTEGER,
	tbl TEXT NOT NULL,
	pk BLOB NOT NULL,
	op TEXT NOT NULL,
	cols BLOB,
	hlc INTEGER NOT NULL,
	node TEXT NOT NULL,
	sv INTEGER NOT NULL,
	code TEXT NOT NULL,
	reason TEXT NOT NULL,
	at INTEGER NOT NULL
);
`

// Config declares what to journal.
type Config struct {
	// Clock stamps local writes; the sync client shares it so that it
	// can fold in the timestamps of remote changes.
	Clock *hlc.Clock
	// Tables are the synced tables. Each needs a PRIMARY KEY.
	Tables []appschema.Table
	// MapColumn maps a column named by a change written under an older
	// schema version to its name now (after a rename). It returns false
	// when the column cannot be mapped; the change is then quarantined.
	// Nil maps nothing.
	MapColumn func(table, column string, writtenUnder int64) (string, bool)
	// Now is the wall clock for settlement times; nil means time.Now.
	Now func() time.Time
	// KeepTriggers leaves Hearth's triggers in place in Prepare, for a
	// caller that runs no migration before Install: then an Install that
	// finds them as it would create them changes nothing (no schema
	// write, no scan of the synced tables), which is every open of a
	// database whose schema and synced tables are unchanged.
	KeepTriggers bool
}

// Journal is the change journal of one database connection.
type Journal struct {
	clock     *hlc.Clock
	tables    []appschema.Table
	mapColumn func(table, column string, writtenUnder int64) (string, bool)
	now       func() time.Time
	node      string

	applying atomic.Int32
	lastHLC  atomic.Int64
	// bound is the server's MaxClockSkew (a time.Duration; 0 unknown),
	// remoteHLC the greatest remote stamp observed (see clock.go).
	bound     atomic.Int64
	remoteHLC atomic.Int64
	// planned is the text edit EditText is writing (edittext.go).
	planned atomic.Pointer[textPlan]
}

// Prepare readies a connection for journaling: it creates Hearth's tables,
// registers the SQL functions the triggers call, loads (or creates) this
// replica's node id and restores the clock's high-water mark.
//
// Prepare removes Hearth's triggers (unless Config.KeepTriggers), so that
// the app's migrations can alter synced tables (SQLite refuses to drop a
// column a trigger names); call Install once migrations are done and
// before the app writes.
func Prepare(conn *sqlite3.Conn, cfg Config) (*Journal, error) {
	if cfg.Clock == nil {
		return nil, errors.New("journal: Config.Clock is required")
	}
	seen := map[string]bool{}
	for _, t := range cfg.Tables {
		if err := schema.ValidateName(t.Name); err != nil {
			return nil, fmt.Errorf("journal: %w", err)
		}
		if seen[strings.ToLower(t.Name)] {
			return nil, fmt.Errorf("journal: table %q declared twice", t.Name)
		}
		seen[strings.ToLower(t.Name)] = true
	}
	j := &Journal{clock: cfg.Clock, tables: cfg.Tables, mapColumn: cfg.MapColumn, now: cfg.Now}
	if j.now == nil {
		j.now = time.Now
	}
	if err := conn.Exec(ddl + merge.MetaDDL + merge.LostDDL + appschema.ViolationsDDL); err != nil {
		return nil, fmt.Errorf("journal: create tables: %w", err)
	}
	node, err := loadNode(conn)
	if err != nil {
		return nil, err
	}
	j.node = node
	if err := j.loadClockCorrection(conn); err != nil {
		return nil, err
	}
	if err := j.register(conn); err != nil {
		return nil, err
	}
	if err := j.restoreClock(conn); err != nil {
		return nil, err
	}
	if !cfg.KeepTriggers {
		if err := DropTriggers(conn); err != nil {
			return nil, err
		}
	}
	return j, nil
}

// Node is this replica's id: the tie-breaker of equal timestamps and the
// client id the server knows it by.
func (j *Journal) Node() string { return j.node }

// Clock is the clock that stamps local writes.
func (j *Journal) Clock() *hlc.Clock { return j.clock }

// Tables are the declared synced tables.
func (j *Journal) Tables() []appschema.Table { return j.tables }

// Applying runs fn with journaling off: fn applies remote changes, which
// must change the tables without being recorded as local writes.
func (j *Journal) Applying(fn func() error) error {
	j.applying.Add(1)
	defer j.applying.Add(-1)
	return fn()
}

func loadNode(conn *sqlite3.Conn) (string, error) {
	s, _, err := conn.Prepare(`SELECT v FROM _hearth_meta WHERE k = 'node'`)
	if err != nil {
		return "", fmt.Errorf("journal: read node id: %w", err)
	}
	var node string
	if s.Step() {
		node = s.ColumnText(0)
	}
	if err := s.Close(); err != nil {
		return "", fmt.Errorf("journal: read node id: %w", err)
	}
	if node != "" {
		return node, nil
	}
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("journal: make node id: %w", err)
	}
	node = hex.EncodeToString(b[:])
	if err := execArgs(conn, `INSERT INTO _hearth_meta(k, v) VALUES ('node', ?)`, node); err != nil {
		return "", fmt.Errorf("journal: save node id: %w", err)
	}
	return node, nil
}

// restoreClock makes the clock sort after every timestamp this replica
// issued or saw before, even if the wall clock went back since.
func (j *Journal) restoreClock(conn *sqlite3.Conn) error {
	s, _, err := conn.Prepare(`SELECT max(coalesce((SELECT max(hlc) FROM _hearth_journal), 0), coalesce((SELECT v FROM _hearth_meta WHERE k = 'hlc'), 0))`)
	if err != nil {
		return fmt.Errorf("journal: restore clock: %w", err)
	}
	defer s.Close()
	if s.Step() {
		j.clock.Observe(hlc.Timestamp(s.ColumnInt64(0)))
	}
	if err := s.Err(); err != nil {
		return fmt.Errorf("journal: restore clock: %w", err)
	}
	return nil
}

// SaveClock records the clock's high-water mark, so that it survives the
// pruning of journal entries and timestamps observed from remote changes.
func (j *Journal) SaveClock(conn *sqlite3.Conn) error {
	err := execArgs(conn, `INSERT INTO _hearth_meta(k, v) VALUES ('hlc', ?1), (?2, ?3) ON CONFLICT(k) DO UPDATE SET v = max(v, excluded.v)`,
		int64(j.clock.Last()), metaRemoteHLC, j.remoteHLC.Load())
	if err != nil {
		return fmt.Errorf("journal: save clock: %w", err)
	}
	return nil
}

// register installs the SQL functions the triggers use.
// Register installs the journal's SQL functions, which its triggers
// call, on conn: a connection opened again on the same database (after
// its storage lost commits) has none of them.
func (j *Journal) Register(conn *sqlite3.Conn) error { return j.register(conn) }

func (j *Journal) register(conn *sqlite3.Conn) error {
	const flags = sqlite3.INNOCUOUS
	fns := []struct {
		name  string
		nArg  int
		flags sqlite3.FunctionFlag
		fn    sqlite3.ScalarFunction
	}{
		{"hearth_applying", 0, flags, func(ctx sqlite3.Context, _ ...sqlite3.Value) {
			if j.applying.Load() > 0 {
				ctx.ResultInt(1)
			} else {
				ctx.ResultInt(0)
			}
		}},
		{"hearth_hlc", 0, flags, func(ctx sqlite3.Context, _ ...sqlite3.Value) {
			ts := j.clock.Now()
			j.lastHLC.Store(int64(ts))
			ctx.ResultInt64(int64(ts))
		}},
		{"hearth_last_hlc", 0, flags, func(ctx sqlite3.Context, _ ...sqlite3.Value) {
			ctx.ResultInt64(j.lastHLC.Load())
		}},
		{"hearth_node", 0, flags | sqlite3.DETERMINISTIC, func(ctx sqlite3.Context, _ ...sqlite3.Value) {
			ctx.ResultText(j.node)
		}},
		{"hearth_key", -1, flags | sqlite3.DETERMINISTIC, func(ctx sqlite3.Context, args ...sqlite3.Value) {
			var enc codec.Encoder
			enc.Array(len(args))
			for _, a := range args {
				sqlcodec.WriteValue(&enc, a)
			}
			ctx.ResultBlob(enc.Bytes())
		}},
		{"hearth_text_ops", 3, flags, func(ctx sqlite3.Context, args ...sqlite3.Value) {
			doc, ops, err := j.textEdit(args[0], args[1], args[2])
			if err != nil {
				ctx.ResultError(err)
				return
			}
			ctx.ResultBlob(doc.Encode(ops))
		}},
		{"hearth_text_state", 3, flags, func(ctx sqlite3.Context, args ...sqlite3.Value) {
			doc, _, err := j.textEdit(args[0], args[1], args[2])
			if err != nil {
				ctx.ResultError(err)
				return
			}
			state, _ := doc.MarshalBinary()
			ctx.ResultBlob(state)
		}},
		{"hearth_pack", -1, flags | sqlite3.DETERMINISTIC, func(ctx sqlite3.Context, args ...sqlite3.Value) {
			if len(args)%2 != 0 {
				ctx.ResultError(errors.New("hearth_pack takes name, value pairs"))
				return
			}
			n := 0
			for i := 0; i < len(args); i += 2 {
				if args[i].Type() != sqlite3.NULL {
					n++
				}
			}
			var enc codec.Encoder
			enc.Map(n)
			for i := 0; i < len(args); i += 2 {
				if args[i].Type() == sqlite3.NULL {
					continue
				}
				enc.Key(args[i].Text())
				sqlcodec.WriteValue(&enc, args[i+1])
			}
			ctx.ResultBlob(enc.Bytes())
		}},
	}
	for _, f := range fns {
		if err := conn.CreateFunction(f.name, f.nArg, f.flags, f.fn); err != nil {
			return fmt.Errorf("journal: register %s: %w", f.name, err)
		}
	}
	return nil
}

// textEdit turns a write of a collaborative text column into character
// ops on its stored state (stateArg: the field's value, NULL or a plain
// text before the first edit), made as this replica: the same inputs
// give the same ops, so the ops journaled and the state kept agree. A
// field with no state starts from baseArg, the text it held before the
// write (NULL: none). The ops are a diff of the texts, or
// the explicit edits EditText planned for exactly this state and result.
func (j *Journal) textEdit(stateArg, baseArg, textArg sqlite3.Value) (*collabtext.Doc, []collabtext.Op, error) {
	if textArg.Type() != sqlite3.TEXT {
		return nil, nil, fmt.Errorf("hearth: a collaborative text column holds text, not %s", strings.ToLower(textArg.Type().String()))
	}
	var state []byte
	if stateArg.Type() == sqlite3.BLOB {
		state = stateArg.RawBlob()
	}
	base := ""
	if baseArg.Type() == sqlite3.TEXT {
		base = baseArg.Text()
	}
	// A field with no state yet starts from the text it held (see
	// collabtext.FromText): diffing against an empty field instead would
	// type the whole text anew under this replica's IDs from 1, IDs its
	// journaled insert of the row may have used for other characters
	// (the server then refuses the edit), and a second copy of the text
	// beside any other replica's.
	doc, ops, err := collabtext.Open(j.node, state, base)
	if err != nil {
		return nil, nil, fmt.Errorf("hearth: collaborative text: %w", err)
	}
	var more []collabtext.Op
	if plan := j.planned.Load(); plan != nil && plan.matches(state, textArg.Text()) {
		more, err = plan.edit(doc)
	} else {
		more, err = doc.SetText(textArg.Text())
	}
	if err != nil {
		return nil, nil, fmt.Errorf("hearth: collaborative text: %w", err)
	}
	return doc, append(ops, more...), nil
}

// DropTriggers removes every Hearth trigger from the database.
func DropTriggers(conn *sqlite3.Conn) error {
	s, _, err := conn.Prepare(`SELECT name FROM sqlite_schema WHERE type = 'trigger' AND name LIKE '\_hearth\_%' ESCAPE '\'`)
	if err != nil {
		return fmt.Errorf("journal: list triggers: %w", err)
	}
	var names []string
	for s.Step() {
		names = append(names, s.ColumnText(0))
	}
	if err := s.Close(); err != nil {
		return fmt.Errorf("journal: list triggers: %w", err)
	}
	for _, name := range names {
		if err := conn.Exec(`DROP TRIGGER IF EXISTS ` + schema.Quote(name)); err != nil {
			return fmt.Errorf("journal: drop trigger %s: %w", name, err)
		}
	}
	return nil
}

// Install (re)creates the triggers of every synced table for the current
// schema, and journals as inserts the rows that existed before the table
// was synced. Run it after every migration: the triggers name each column
// and carry the schema version the entries are written under.
func (j *Journal) Install(conn *sqlite3.Conn) error {
	if !conn.GetAutocommit() {
		return errors.New("journal: Install needs to run outside a transaction")
	}
	if err := conn.Exec(`BEGIN IMMEDIATE`); err != nil {
		return fmt.Errorf("journal: install: %w", err)
	}
	if err := j.install(conn); err != nil {
		conn.Exec(`ROLLBACK`)
		return err
	}
	if err := conn.Exec(`COMMIT`); err != nil {
		conn.Exec(`ROLLBACK`)
		return fmt.Errorf("journal: install: %w", err)
	}
	return nil
}

func (j *Journal) install(conn *sqlite3.Conn) error {
	version, err := schema.Version(conn)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	infos := make([]*schema.Info, len(j.tables))
	triggers := make([][]string, len(j.tables))
	var want []string
	for i, t := range j.tables {
		if infos[i], err = schema.Describe(conn, t); err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		triggers[i] = triggerSQL(infos[i], version)
		want = append(want, triggers[i]...)
	}
	have, err := triggersSQL(conn)
	if err != nil {
		return err
	}
	slices.Sort(want)
	if slices.Equal(have, want) {
		// Installed as they would be now, and in place ever since: every
		// row written meanwhile was journaled, so none needs adopting.
		return nil
	}
	if err := DropTriggers(conn); err != nil {
		return err
	}
	for i, t := range j.tables {
		for _, sql := range triggers[i] {
			if err := conn.Exec(sql); err != nil {
				return fmt.Errorf("journal: create trigger on %s: %w\n%s", t.Name, err, sql)
			}
		}
		if err := j.adopt(conn, infos[i], version); err != nil {
			return err
		}
	}
	return nil
}

// triggersSQL is the SQL of Hearth's triggers in the schema, sorted
// (SQLite keeps a CREATE TRIGGER's text as it was run).
func triggersSQL(conn *sqlite3.Conn) ([]string, error) {
	s, _, err := conn.Prepare(`SELECT sql FROM sqlite_schema WHERE type = 'trigger' AND name LIKE '\_hearth\_%' ESCAPE '\' ORDER BY sql`)
	if err != nil {
		return nil, fmt.Errorf("journal: list triggers: %w", err)
	}
	var out []string
	for s.Step() {
		out = append(out, s.ColumnText(0))
	}
	if err := s.Close(); err != nil {
		return nil, fmt.Errorf("journal: list triggers: %w", err)
	}
	return out, nil
}

// adopt journals rows that have no merge metadata: rows written before
// the table was synced. Rows that arrived by sync always have metadata.
func (j *Journal) adopt(conn *sqlite3.Conn, t *schema.Info, version int64) error {
	before, err := queryInt(conn, `SELECT coalesce(max(seq), 0) FROM _hearth_journal`)
	if err != nil {
		return fmt.Errorf("journal: adopt %s: %w", t.Name, err)
	}
	name := schema.Literal(t.Name)
	key := keyExpr(t, "r.")
	sql := fmt.Sprintf(`INSERT INTO _hearth_journal(tbl, pk, op, cols, hlc, sv)
		SELECT %s, %s, 'I', %s, hearth_hlc(), %d FROM %s AS r
		WHERE NOT EXISTS (SELECT 1 FROM _hearth_rows m WHERE m.tbl = %s AND m.pk = %s)`,
		name, key, packAll(t, "r.", true), version, schema.Quote(t.Name), name, key)
	if err := conn.Exec(sql); err != nil {
		return fmt.Errorf("journal: adopt %s: %w", t.Name, err)
	}
	// Each adopted text field keeps the state its journaled ops build, as
	// the insert trigger does for a new row: later edits then hang from
	// those very characters (rather than starting the field again), and
	// the ops of remote edits made on top of them find them here. The
	// state is computed from what the ops were: the field's state before
	// this statement and the row's text. The journal's row index finds
	// each row's entry.
	for _, c := range t.Values {
		if !t.IsText(c) {
			continue
		}
		v := "r." + schema.Quote(c)
		err := execArgs(conn, fmt.Sprintf(`INSERT INTO _hearth_fields(tbl, pk, col, hlc, node, val)
			SELECT %s, j.pk, %s, j.hlc, hearth_node(), %s FROM %s AS r
			JOIN _hearth_journal AS j ON j.tbl = %s AND j.pk = %s AND j.state IN ('pending', 'sent') AND j.seq > ?1
			WHERE true
			ON CONFLICT(tbl, pk, col) DO UPDATE SET hlc = excluded.hlc, node = excluded.node, val = excluded.val`,
			name, schema.Literal(c), textStateAfter(t, c, key, v, v), schema.Quote(t.Name), name, key), before)
		if err != nil {
			return fmt.Errorf("journal: adopt %s.%s: %w", t.Name, c, err)
		}
	}
	err = execArgs(conn, `INSERT INTO _hearth_rows(tbl, pk, ins_hlc, ins_node)
		SELECT tbl, pk, hlc, hearth_node() FROM _hearth_journal WHERE seq > ?1 AND tbl = ?2
		ON CONFLICT(tbl, pk) DO UPDATE SET ins_hlc = excluded.ins_hlc, ins_node = excluded.ins_node`, before, t.Name)
	if err != nil {
		return fmt.Errorf("journal: adopt %s: %w", t.Name, err)
	}
	return nil
}

func keyExpr(t *schema.Info, prefix string) string {
	parts := make([]string, len(t.Key))
	for i, k := range t.Key {
		parts[i] = prefix + schema.Quote(k)
	}
	return "hearth_key(" + strings.Join(parts, ", ") + ")"
}

// packAll is the SQL for all of a row's values, as an insert journals
// them. adopted: the row existed before it was synced, so its text fields
// start from the text they hold (see collabtext.Open).
func packAll(t *schema.Info, prefix string, adopted bool) string {
	parts := make([]string, 0, 2*len(t.Values))
	for _, c := range t.Values {
		v := prefix + schema.Quote(c)
		if t.IsText(c) {
			base := "NULL"
			if adopted {
				base = v
			}
			v = textOps(t, c, keyExpr(t, prefix), base, v)
		}
		parts = append(parts, schema.Literal(c), v)
	}
	return "hearth_pack(" + strings.Join(parts, ", ") + ")"
}

// textState is the SQL for the stored collabtext state of a collaborative
// text column (NULL before its first edit).
func textState(t *schema.Info, c, key string) string {
	return fmt.Sprintf("(SELECT val FROM _hearth_fields WHERE tbl = %s AND pk = %s AND col = %s)", schema.Literal(t.Name), key, schema.Literal(c))
}

// textOps is the SQL for the character ops that turn a collaborative
// text column's stored state (or, without one, the text base) into value:
// what a write journals for it.
func textOps(t *schema.Info, c, key, base, value string) string {
	return fmt.Sprintf("hearth_text_ops(%s, %s, %s)", textState(t, c, key), base, value)
}

// textStateAfter is the SQL for the state textOps' ops leave the field in.
func textStateAfter(t *schema.Info, c, key, base, value string) string {
	return fmt.Sprintf("hearth_text_state(%s, %s, %s)", textState(t, c, key), base, value)
}

// changed is the SQL condition "column c changed in this UPDATE". IS NOT
// alone is not enough: it compares 0 and 0.0 as equal, and uses the
// column's collation ('a' IS 'A' under NOCASE), while replicas must see
// the exact value, type included.
func changed(c string) string {
	q := schema.Quote(c)
	return fmt.Sprintf("(old.%s IS NOT new.%s COLLATE BINARY OR typeof(old.%s) <> typeof(new.%s))", q, q, q, q)
}

// triggerSQL builds the triggers of one table. Every trigger is guarded by
// hearth_applying() = 0, so applying remote changes journals nothing.
func triggerSQL(t *schema.Info, version int64) []string {
	name := schema.Literal(t.Name)
	table := schema.Quote(t.Name)
	trig := func(kind string) string { return schema.Quote("_hearth_" + kind + "_" + t.Name) }
	keyNew, keyOld := keyExpr(t, "new."), keyExpr(t, "old.")
	journal := func(key, op, cols, stamp string) string {
		return fmt.Sprintf("INSERT INTO _hearth_journal(tbl, pk, op, cols, hlc, sv) VALUES (%s, %s, '%s', %s, %s, %d);\n", name, key, op, cols, stamp, version)
	}
	inserted := func(key string) string {
		return fmt.Sprintf("INSERT INTO _hearth_rows(tbl, pk, ins_hlc, ins_node) VALUES (%s, %s, hearth_last_hlc(), hearth_node()) ON CONFLICT(tbl, pk) DO UPDATE SET ins_hlc = excluded.ins_hlc, ins_node = excluded.ins_node;\n", name, key)
	}
	deleted := func(key string) string {
		return fmt.Sprintf("INSERT INTO _hearth_rows(tbl, pk, del_hlc, del_node) VALUES (%s, %s, hearth_last_hlc(), hearth_node()) ON CONFLICT(tbl, pk) DO UPDATE SET del_hlc = excluded.del_hlc, del_node = excluded.del_node;\n", name, key)
	}
	var keySame []string
	for _, k := range t.Key {
		keySame = append(keySame, "NOT "+changed(k))
	}
	var anyChanged, changedPack []string
	var fieldWrites strings.Builder
	// A collaborative text column journals the ops of its edit and keeps
	// its state as the field's value; both are computed from the state
	// before the write, so the ops are exactly what the state gained.
	var textWrites strings.Builder
	for _, c := range t.Values {
		q := schema.Quote(c)
		anyChanged = append(anyChanged, changed(c))
		value, field := "new."+q, "new."+q
		if t.IsText(c) {
			// An UPDATE of a field with no state yet starts it from the
			// text the row held; an inserted row's field from nothing.
			value = fmt.Sprintf("CASE WHEN %s THEN %s END", changed(c), textOps(t, c, keyNew, "old."+q, "new."+q))
			field = textStateAfter(t, c, keyNew, "old."+q, "new."+q)
			fmt.Fprintf(&textWrites, "INSERT INTO _hearth_fields(tbl, pk, col, hlc, node, val) VALUES (%s, %s, %s, hearth_last_hlc(), hearth_node(), %s) ON CONFLICT(tbl, pk, col) DO UPDATE SET hlc = excluded.hlc, node = excluded.node, val = excluded.val;\n",
				name, keyNew, schema.Literal(c), textStateAfter(t, c, keyNew, "NULL", "new."+q))
		}
		changedPack = append(changedPack, fmt.Sprintf("CASE WHEN %s THEN %s END", changed(c), schema.Literal(c)), value)
		fmt.Fprintf(&fieldWrites, "INSERT INTO _hearth_fields(tbl, pk, col, hlc, node, val) SELECT %s, %s, %s, hearth_last_hlc(), hearth_node(), %s WHERE %s ON CONFLICT(tbl, pk, col) DO UPDATE SET hlc = excluded.hlc, node = excluded.node, val = excluded.val;\n",
			name, keyNew, schema.Literal(c), field, changed(c))
	}
	var out []string
	if !t.Resurrect {
		// A row deleted anywhere stays deleted everywhere, so re-using its
		// key would give a row that exists here and nowhere else. Refuse.
		msg := schema.Literal("hearth: a row with this primary key was deleted from " + t.Name + ", which does not allow resurrection; use a new key")
		out = append(out, fmt.Sprintf("CREATE TRIGGER %s BEFORE INSERT ON %s WHEN hearth_applying() = 0 AND EXISTS (SELECT 1 FROM _hearth_rows WHERE tbl = %s AND pk = %s AND del_hlc IS NOT NULL) BEGIN SELECT RAISE(ABORT, %s); END",
			trig("guard"), table, name, keyNew, msg))
	}
	out = append(out, fmt.Sprintf("CREATE TRIGGER %s AFTER INSERT ON %s WHEN hearth_applying() = 0 BEGIN\n%s%s%sEND",
		trig("insert"), table, journal(keyNew, "I", packAll(t, "new.", false), "hearth_hlc()"), inserted(keyNew), textWrites.String()))
	if len(t.Values) > 0 {
		out = append(out, fmt.Sprintf("CREATE TRIGGER %s AFTER UPDATE ON %s WHEN hearth_applying() = 0 AND (%s) AND (%s) BEGIN\n%s%sEND",
			trig("update"), table, strings.Join(keySame, " AND "), strings.Join(anyChanged, " OR "),
			journal(keyNew, "U", "hearth_pack("+strings.Join(changedPack, ", ")+")", "hearth_hlc()"), fieldWrites.String()))
	}
	// Changing a primary key moves the row: a delete of the old key and
	// an insert of the new one.
	out = append(out, fmt.Sprintf("CREATE TRIGGER %s AFTER UPDATE ON %s WHEN hearth_applying() = 0 AND NOT (%s) BEGIN\n%s%s%s%s%sEND",
		trig("rekey"), table, strings.Join(keySame, " AND "),
		journal(keyOld, "D", "NULL", "hearth_hlc()"), deleted(keyOld),
		journal(keyNew, "I", packAll(t, "new.", false), "hearth_hlc()"), inserted(keyNew), textWrites.String()))
	out = append(out, fmt.Sprintf("CREATE TRIGGER %s AFTER DELETE ON %s WHEN hearth_applying() = 0 BEGIN\n%s%sEND",
		trig("delete"), table, journal(keyOld, "D", "NULL", "hearth_hlc()"), deleted(keyOld)))
	return out
}

// Entry is one journal entry.
type Entry struct {
	Seq int64
	change.Change
	// Packed is Values as stored: the encoded map, ready to send.
	Packed []byte
	State  State
	Code   string
	Detail string
	// Pos is the server log position that acknowledged the entry.
	Pos int64
}

const entryColumns = `seq, tbl, pk, op, cols, hlc, sv, state, coalesce(code, ''), coalesce(detail, ''), coalesce(pos, 0)`

func (j *Journal) scanEntry(s *sqlite3.Stmt) (Entry, error) {
	e := Entry{
		Seq:    s.ColumnInt64(0),
		Packed: s.ColumnBlob(4, nil),
		State:  State(s.ColumnText(7)),
		Code:   s.ColumnText(8),
		Detail: s.ColumnText(9),
		Pos:    s.ColumnInt64(10),
	}
	op, err := change.ParseOp(s.ColumnText(3))
	if err != nil {
		return e, fmt.Errorf("journal entry %d: %w", e.Seq, err)
	}
	values, err := change.DecodeValues(e.Packed)
	if err != nil {
		return e, fmt.Errorf("journal entry %d: %w", e.Seq, err)
	}
	e.Change = change.Change{
		Table:  s.ColumnText(1),
		Key:    s.ColumnBlob(2, nil),
		Op:     op,
		Values: values,
		Stamp:  hlc.Stamp{TS: hlc.Timestamp(s.ColumnInt64(5)), Node: j.node},
		Schema: s.ColumnInt64(6),
	}
	return e, nil
}

func (j *Journal) query(conn *sqlite3.Conn, sql string, args ...any) ([]Entry, error) {
	s, done, err := statement(conn, sql)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	defer done()
	for i, a := range args {
		if err := merge.BindValue(s, i+1, a); err != nil {
			return nil, fmt.Errorf("journal: %w", err)
		}
	}
	var out []Entry
	for s.Step() {
		e, err := j.scanEntry(s)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	return out, nil
}

// Unsent returns the oldest entries not yet acknowledged (pending or
// sent), in seq order: at most limit entries and, past the first, at most
// maxBytes of encoded values.
func (j *Journal) Unsent(conn *sqlite3.Conn, limit, maxBytes int) ([]Entry, error) {
	all, err := j.query(conn, `SELECT `+entryColumns+` FROM _hearth_journal WHERE state IN ('pending', 'sent') ORDER BY seq LIMIT ?1`, int64(limit))
	if err != nil {
		return nil, err
	}
	size := 0
	for i, e := range all {
		size += len(e.Packed) + len(e.Key) + len(e.Table) + 32
		if i > 0 && size > maxBytes {
			return all[:i], nil
		}
	}
	return all, nil
}

// Entries returns entries in a given state, oldest first (all states when
// state is empty), for the app to show.
func (j *Journal) Entries(conn *sqlite3.Conn, state State, limit int) ([]Entry, error) {
	if state == "" {
		return j.query(conn, `SELECT `+entryColumns+` FROM _hearth_journal ORDER BY seq LIMIT ?1`, int64(limit))
	}
	return j.query(conn, `SELECT `+entryColumns+` FROM _hearth_journal WHERE state = ?1 ORDER BY seq LIMIT ?2`, string(state), int64(limit))
}

// RowEntries returns one row's newest entries, whatever their state,
// newest first (db.history; the journal is pruned, so old ones go).
func (j *Journal) RowEntries(conn *sqlite3.Conn, table string, key []byte, limit int) ([]Entry, error) {
	return j.query(conn, `SELECT `+entryColumns+` FROM _hearth_journal WHERE tbl = ?1 AND pk = ?2 ORDER BY seq DESC LIMIT ?3`, table, key, int64(limit))
}

// UnsentFor returns the unacknowledged entries of one row after seq.
func (j *Journal) UnsentFor(conn *sqlite3.Conn, table string, key []byte, after int64) ([]Entry, error) {
	return j.query(conn, `SELECT `+entryColumns+` FROM _hearth_journal WHERE state IN ('pending', 'sent') AND tbl = ?1 AND pk = ?2 AND seq > ?3 ORDER BY seq`, table, key, after)
}

// MarkSent moves pending entries with seq in [first, last] to sent.
func MarkSent(conn *sqlite3.Conn, first, last int64) error {
	if err := execArgs(conn, `UPDATE _hearth_journal SET state = 'sent' WHERE seq BETWEEN ?1 AND ?2 AND state = 'pending'`, first, last); err != nil {
		return fmt.Errorf("journal: mark sent: %w", err)
	}
	return nil
}

// Settlement is the server's verdict on one entry.
type Settlement struct {
	Seq   int64
	State State // Acknowledged, Flagged or Refused
	Pos   int64
	Code  string
	// Detail is the violation (flagged) or the reason (refused).
	Detail string
}

// Settle records verdicts. Entries already settled keep their first
// verdict: a retried push is acknowledged again with the same answer.
func (j *Journal) Settle(conn *sqlite3.Conn, verdicts []Settlement) error {
	s, done, err := statement(conn, `UPDATE _hearth_journal SET state = ?2, pos = ?3, code = ?4, detail = ?5, settled_at = ?6 WHERE seq = ?1 AND state IN ('pending', 'sent')`)
	if err != nil {
		return fmt.Errorf("journal: settle: %w", err)
	}
	defer done()
	now := j.now().UnixMilli()
	for _, v := range verdicts {
		switch v.State {
		case Acknowledged, Flagged, Refused:
		default:
			return fmt.Errorf("journal: settle entry %d: %q is not a verdict", v.Seq, v.State)
		}
		s.BindInt64(1, v.Seq)
		s.BindText(2, string(v.State))
		s.BindInt64(3, v.Pos)
		bindOptionalText(s, 4, v.Code)
		bindOptionalText(s, 5, v.Detail)
		s.BindInt64(6, now)
		if err := s.Exec(); err != nil {
			return fmt.Errorf("journal: settle entry %d: %w", v.Seq, err)
		}
	}
	return nil
}

func bindOptionalText(s *sqlite3.Stmt, i int, v string) {
	if v == "" {
		s.BindNull(i)
	} else {
		s.BindText(i, v)
	}
}

// Depth counts the entries not yet acknowledged.
func Depth(conn *sqlite3.Conn) (int64, error) {
	n, err := queryInt(conn, `SELECT count(*) FROM _hearth_journal WHERE state IN ('pending', 'sent')`)
	if err != nil {
		return 0, fmt.Errorf("journal: depth: %w", err)
	}
	return n, nil
}

// Prune deletes acknowledged entries, keeping the newest keep of them
// for the app to inspect. Pending and sent entries are never pruned;
// flagged and refused ones stay until the app dismisses them.
func (j *Journal) Prune(conn *sqlite3.Conn, keep int) error {
	if err := j.SaveClock(conn); err != nil {
		return err
	}
	err := execArgs(conn, `DELETE FROM _hearth_journal WHERE state = 'acknowledged' AND seq NOT IN
		(SELECT seq FROM _hearth_journal WHERE state = 'acknowledged' ORDER BY seq DESC LIMIT ?1)`, int64(keep))
	if err != nil {
		return fmt.Errorf("journal: prune: %w", err)
	}
	return nil
}

// Dismiss deletes a settled entry (typically a flagged or refused one the
// app has shown). Unsettled entries cannot be dismissed.
func Dismiss(conn *sqlite3.Conn, seq int64) error {
	if err := execArgs(conn, `DELETE FROM _hearth_journal WHERE seq = ?1 AND state NOT IN ('pending', 'sent')`, seq); err != nil {
		return fmt.Errorf("journal: dismiss %d: %w", seq, err)
	}
	if conn.Changes() == 0 {
		n, err := queryInt(conn, `SELECT count(*) FROM _hearth_journal WHERE seq = ?1`, seq)
		if err == nil && n > 0 {
			return fmt.Errorf("journal: dismiss %d: the change is not settled yet", seq)
		}
		return fmt.Errorf("journal: dismiss %d: %w", seq, ErrNotFound)
	}
	return nil
}

func execArgs(conn *sqlite3.Conn, sql string, args ...any) error {
	s, done, err := statement(conn, sql)
	if err != nil {
		return err
	}
	defer done()
	for i, a := range args {
		if err := merge.BindValue(s, i+1, a); err != nil {
			return err
		}
	}
	return s.Exec()
}

func queryInt(conn *sqlite3.Conn, sql string, args ...any) (int64, error) {
	s, done, err := statement(conn, sql)
	if err != nil {
		return 0, err
	}
	defer done()
	for i, a := range args {
		if err := merge.BindValue(s, i+1, a); err != nil {
			return 0, err
		}
	}
	var n int64
	if s.Step() {
		n = s.ColumnInt64(0)
	}
	return n, s.Err()
}
