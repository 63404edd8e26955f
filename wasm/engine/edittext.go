package engine

import (
	"errors"
	"math"

	"github.com/hearthdb/hearth/codec"
	"github.com/hearthdb/hearth/syncworker/collabtext"
	"github.com/hearthdb/hearth/syncworker/journal"
	"github.com/hearthdb/hearth/wasm/protocol"
)

// editText answers OpEditText: an editor's edits of one collaborative
// text field ({table, key, column, ops}), made at their exact positions
// by journal.EditText in one UPDATE, as {text}: the field's new value.
// Like exec, a forwarded request carries a write id, so a retry after a
// tab hand-over does not type its characters twice.
func (e *Engine) editText(db *database, req protocol.Request, enc *codec.Encoder) error {
	table, key, perr := rowOf(req)
	if perr != nil {
		return perr
	}
	column, perr := req.Text("column")
	if perr != nil {
		return perr
	}
	edits, perr := parseTextEdits(req.Fields["ops"])
	if perr != nil {
		return perr
	}
	if db.sync == nil {
		return protocol.Errorf(protocol.CodeBadRequest, "editText: database handle %d was opened without sync options, so it has no collaborative text columns", db.handle)
	}
	wid, retry, err := writeID(req)
	if err != nil {
		return err
	}
	conn := db.conn
	write := func(body *codec.Encoder) error {
		text, err := db.sync.journal.EditText(conn.db, table, key, column, edits, func(sql string, args []any) error {
			_, err := conn.Exec(sql, args)
			return err
		})
		if err != nil {
			return textEditError(err)
		}
		body.Map(1)
		body.Key("text")
		body.Text(text)
		return nil
	}
	if wid == "" {
		protocol.EncodeOKHeader(enc, req.ID)
		return write(enc)
	}
	body, err := conn.RunOnce(wid, retry, write)
	if err != nil {
		return err
	}
	protocol.EncodeOKHeader(enc, req.ID)
	enc.Raw(body)
	return nil
}

// parseTextEdits reads the ops field: at most collabtext.MaxEdits maps,
// each {at, insert} or {at, delete} with nothing else.
func parseTextEdits(v any) ([]collabtext.Edit, *protocol.Error) {
	list, ok := v.([]any)
	if !ok {
		return nil, protocol.Errorf(protocol.CodeBadRequest, "op \"editText\" needs array field \"ops\" of {at, insert} or {at, delete}, got %s", codec.TypeName(v))
	}
	if len(list) > collabtext.MaxEdits {
		return nil, protocol.Errorf(protocol.CodeTextTooLarge, "editText takes at most %d ops, got %d", collabtext.MaxEdits, len(list))
	}
	edits := make([]collabtext.Edit, len(list))
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, protocol.Errorf(protocol.CodeBadRequest, "ops[%d] must be {at, insert} or {at, delete}, got %s", i, codec.TypeName(item))
		}
		at, ok := m["at"].(int64)
		if !ok {
			return nil, protocol.Errorf(protocol.CodeBadRequest, "ops[%d].at must be an integer (a position in code points), got %s", i, codec.TypeName(m["at"]))
		}
		if at < 0 || at > math.MaxInt32 {
			return nil, protocol.Errorf(protocol.CodeTextOpOutOfRange, "ops[%d].at is %d, outside any text", i, at)
		}
		edits[i].At = int(at)
		insert, hasInsert := m["insert"]
		del, hasDelete := m["delete"]
		if hasInsert == hasDelete || len(m) != 2 {
			return nil, protocol.Errorf(protocol.CodeBadRequest, "ops[%d] must have exactly the fields at and either insert or delete", i)
		}
		if hasInsert {
			if edits[i].Insert, ok = insert.(string); !ok {
				return nil, protocol.Errorf(protocol.CodeBadRequest, "ops[%d].insert must be text, got %s", i, codec.TypeName(insert))
			}
			continue
		}
		n, ok := del.(int64)
		if !ok || n < 0 {
			return nil, protocol.Errorf(protocol.CodeBadRequest, "ops[%d].delete must be a count of characters (an integer ≥ 0), got %v", i, del)
		}
		if n > math.MaxInt32 {
			return nil, protocol.Errorf(protocol.CodeTextOpOutOfRange, "ops[%d] deletes %d characters, more than any text holds", i, n)
		}
		edits[i].Delete = int(n)
	}
	return edits, nil
}

// textEditError gives journal.EditText's errors their stable codes.
func textEditError(err error) error {
	var perr *protocol.Error
	switch {
	case errors.As(err, &perr):
		return err
	case errors.Is(err, journal.ErrNoRow):
		return protocol.Errorf(protocol.CodeNotFound, "editText: %v", err)
	case errors.Is(err, collabtext.ErrOutOfRange):
		return protocol.Errorf(protocol.CodeTextOpOutOfRange, "editText: %v", err)
	case errors.Is(err, collabtext.ErrTooLarge):
		return protocol.Errorf(protocol.CodeTextTooLarge, "editText: %v", err)
	case errors.Is(err, journal.ErrNotText), errors.Is(err, collabtext.ErrInvalid):
		return protocol.Errorf(protocol.CodeBadRequest, "editText: %v", err)
	}
	return sqlError(err)
}
