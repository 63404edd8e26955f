package engine

import (
	"errors"

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
	edits, perr := protocol.TextEdits(req.Fields["ops"])
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
