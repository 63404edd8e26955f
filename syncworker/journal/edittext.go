package journal

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/collabtext"
	"github.com/hearthdb/hearth/syncworker/merge"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/ncruces/go-sqlite3"
)

// Errors of EditText (besides collabtext's ErrOutOfRange, ErrInvalid and
// ErrTooLarge for the edits themselves).
var (
	// ErrNoRow: the table, or the row with that key, does not exist.
	ErrNoRow = errors.New("no such row")
	// ErrNotText: the column is not a collaborative text column of a
	// synced table, or the key does not fit the table's primary key.
	ErrNotText = errors.New("not a collaborative text field")
)

// textPlan is an edit EditText is writing: while its UPDATE runs, the
// triggers' hearth_text_ops and hearth_text_state take their ops from
// edit instead of a diff, for the write that starts from exactly this
// state and ends at exactly this text. Matching on both keeps it to that
// field: any other write (an app trigger's, say) that happened to match
// would still get ops that turn its state into its new text.
type textPlan struct {
	state []byte
	text  string
	edit  func(*collabtext.Doc) ([]collabtext.Op, error)
}

func (p *textPlan) matches(state []byte, text string) bool {
	return p.text == text && bytes.Equal(p.state, state)
}

// EditText applies an editor's edits, in order, to the collaborative text
// column column of the row of table whose primary key values are key, and
// returns the field's new text. Each edit becomes character ops at
// exactly its position (collabtext.Doc.ApplyEdits), not a diff of the
// result, so a concurrent edit lands on the side the user saw. It is one
// UPDATE of the column: the triggers journal the ops and keep the
// field's state as for any write, so sync, the server and other replicas
// see ordinary text ops, and the edits apply all or not at all.
//
// write runs that UPDATE (nil: on conn), so that a caller tracking which
// tables its statements write (live queries) sees this one. Edits that
// leave the text as it was write nothing.
func (j *Journal) EditText(conn *sqlite3.Conn, table string, key []any, column string, edits []collabtext.Edit, write func(sql string, args []any) error) (string, error) {
	var decl *schema.Info
	for _, t := range j.tables {
		if strings.EqualFold(t.Name, table) {
			info, err := schema.Describe(conn, t)
			if err != nil {
				return "", fmt.Errorf("%w: %s: %v", ErrNoRow, table, err)
			}
			decl = info
		}
	}
	if decl == nil {
		if _, err := schema.Describe(conn, appschema.Table{Name: table}); err != nil {
			return "", fmt.Errorf("%w: %v", ErrNoRow, err)
		}
	}
	if decl == nil || !decl.IsText(column) {
		return "", fmt.Errorf("%w: %s.%s is not listed as a collaborative text column of a synced table", ErrNotText, table, column)
	}
	if len(key) != len(decl.Key) {
		return "", fmt.Errorf("%w: %s has a %d-column primary key, got %d values", ErrNotText, decl.Name, len(decl.Key), len(key))
	}
	current, state, err := readField(conn, decl, key, column)
	if err != nil {
		return "", err
	}
	// A field with no state starts from its text (collabtext.Open, as
	// the UPDATE's trigger does); one whose state lags its value first
	// catches up, as a plain UPDATE would.
	edit := func(doc *collabtext.Doc) ([]collabtext.Op, error) {
		var ops []collabtext.Op
		if doc.String() != current {
			caught, err := doc.SetText(current)
			if err != nil {
				return nil, err
			}
			ops = caught
		}
		more, err := doc.ApplyEdits(edits)
		return append(ops, more...), err
	}
	doc, _, err := collabtext.Open(j.node, state, current)
	if err != nil {
		return "", fmt.Errorf("hearth: collaborative text: %w", err)
	}
	if _, err := edit(doc); err != nil {
		return "", err
	}
	text := doc.String()
	if text == current {
		return text, nil
	}
	j.planned.Store(&textPlan{state: state, text: text, edit: edit})
	defer j.planned.Store(nil)
	sql, args := updateField(decl, key, column, text)
	if write == nil {
		write = func(sql string, args []any) error { return execArgs(conn, sql, args...) }
	}
	if err := write(sql, args); err != nil {
		return "", err
	}
	return text, nil
}

// keyWhere is the SQL condition "the row's primary key is ?first…".
func keyWhere(t *schema.Info, prefix string, first int) string {
	parts := make([]string, len(t.Key))
	for i, k := range t.Key {
		parts[i] = fmt.Sprintf("%s%s IS ?%d", prefix, schema.Quote(k), first+i)
	}
	return strings.Join(parts, " AND ")
}

// readField reads a text field's value and its stored state (nil when
// it has none yet).
func readField(conn *sqlite3.Conn, t *schema.Info, key []any, column string) (string, []byte, error) {
	sql := fmt.Sprintf(`SELECT r.%s, %s FROM %s AS r WHERE %s`,
		schema.Quote(column), textState(t, column, keyExpr(t, "r.")), schema.Quote(t.Name), keyWhere(t, "r.", 1))
	s, _, err := conn.Prepare(sql)
	if err != nil {
		return "", nil, fmt.Errorf("journal: read %s.%s: %w", t.Name, column, err)
	}
	defer s.Close()
	for i, v := range key {
		if err := merge.BindValue(s, i+1, v); err != nil {
			return "", nil, fmt.Errorf("%w: key value %d: %v", ErrNotText, i+1, err)
		}
	}
	if !s.Step() {
		if err := s.Err(); err != nil {
			return "", nil, fmt.Errorf("journal: read %s.%s: %w", t.Name, column, err)
		}
		return "", nil, fmt.Errorf("%w: %s has no row with key %v", ErrNoRow, t.Name, key)
	}
	var state []byte
	if s.ColumnType(1) == sqlite3.BLOB {
		state = bytes.Clone(s.ColumnRawBlob(1))
	}
	return s.ColumnText(0), state, s.Err()
}

// updateField is the UPDATE that writes text into the field.
func updateField(t *schema.Info, key []any, column, text string) (string, []any) {
	sql := fmt.Sprintf(`UPDATE %s SET %s = ?1 WHERE %s`, schema.Quote(t.Name), schema.Quote(column), keyWhere(t, "", 2))
	return sql, append([]any{text}, key...)
}
