package client

import (
	"context"
	"fmt"

	"github.com/hearthdb/hearth/wasm/protocol"
)

// TextEdit is one step of DB.EditText, at a position of the text as the
// steps before it left it: Insert types text before the character at
// At; Delete removes that many characters from At. Positions and counts
// are Unicode code points (Go runes), not bytes.
type TextEdit struct {
	At     int
	Insert string
	Delete int
}

// EditText applies an editor's edits, in order, to the collaborative text
// column column of the row of table whose primary key values are key,
// and returns the field's new text. Each edit merges at exactly its
// position (a plain UPDATE is diffed, and a diff cannot tell where in
// "aa" an "a" was typed); all edits apply or none. Errors carry stable
// codes: BAD_REQUEST (not a collaborative text column, a malformed edit),
// NOT_FOUND (no such table or row), TEXT_OP_OUT_OF_RANGE, TEXT_TOO_LARGE.
func (db *DB) EditText(ctx context.Context, table string, key []any, column string, edits []TextEdit) (string, error) {
	k, err := params(key)
	if err != nil {
		return "", err
	}
	keyList, ok := k.([]any)
	if !ok {
		return "", fmt.Errorf("hearth client: the key must list the primary key's values")
	}
	ops := make([]any, len(edits))
	for i, e := range edits {
		op := map[string]any{"at": int64(e.At)}
		if e.Delete != 0 || e.Insert == "" {
			op["delete"] = int64(e.Delete)
		}
		if e.Insert != "" {
			op["insert"] = e.Insert
		}
		ops[i] = op
	}
	reply, err := db.c.request(ctx, protocol.OpEditText, map[string]any{"db": db.handle, "table": table, "key": keyList, "column": column, "ops": ops})
	if err != nil {
		return "", err
	}
	m, _ := reply.(map[string]any)
	text, ok := m["text"].(string)
	if !ok {
		return "", fmt.Errorf("hearth: editText: unexpected reply %v", reply)
	}
	return text, nil
}
