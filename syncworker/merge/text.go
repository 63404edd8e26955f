package merge

import (
	"bytes"
	"errors"
	"fmt"
	"maps"

	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/collabtext"
	"github.com/hearthdb/hearth/syncworker/schema"
)

// CodeTextInvalid refuses a change to a collaborative text column whose
// value is neither text nor valid character ops.
const CodeTextInvalid = "TEXT_INVALID"

// CodeTextEpoch refuses character ops of an epoch the field cannot take
// them in (collabtext.ErrEpoch): ops made before a compaction reach a
// replica only translated by the server, which refuses with it too the
// ops it cannot translate (see syncserver/store).
const CodeTextEpoch = "TEXT_EPOCH"

// Collaborative text columns (appschema.Table.Text) keep, as their field
// metadata, the column's whole collabtext state instead of the newest
// value, and a change carries the character ops of its edit (bytes)
// instead of the new text. Merging is applying the ops to the state: a
// join, so the metadata is again the same on every replica that has
// seen the same changes, in any order. The field's stamp is the newest
// that touched it, for the record; it decides nothing.
//
// A plain text value in such a column (written before the column was
// declared collaborative, or by an older replica) merges by the last
// writer as any other, until the first character edit gives the field a
// state.

// ResolveTable is Resolve for a table with collaborative text columns.
// It refuses (*Refusal) ops that do not apply.
func ResolveTable(cur Row, ch *change.Change, t *schema.Info) (Outcome, error) {
	if len(t.Text) == 0 || ch.Op == change.Delete {
		return Resolve(cur, ch, t.Resurrect), nil
	}
	// edits[i] is the ops the change carries for t.Text[i]; on the stack
	// for up to four text columns.
	var buf [4]textEdit
	edits := buf[:0]
	if len(t.Text) > len(buf) {
		edits = make([]textEdit, 0, len(t.Text))
	}
	edited := false
	for _, col := range t.Text {
		ops, ok := ch.Values[col].([]byte)
		edits = append(edits, textEdit{ops, ok})
		edited = edited || ok
	}
	// The ops are not values: Resolve must not write them to the row or
	// keep them as a field's value.
	var out Outcome
	switch {
	case !edited:
		out = Resolve(cur, ch, t.Resurrect)
	case ch.Op == change.Insert:
		// An insert records no field, and the values it writes are
		// Resolve's own copy: take the ops back out of that copy rather
		// than cloning the change (a fresh device's initial sync does
		// this for every row). What is left is what resolving the change
		// without its ops gives: a newer update's value stays.
		out = Resolve(cur, ch, t.Resurrect)
		if out.Effect.Values != nil {
			for i, col := range t.Text {
				if f, ok := cur.Fields[col]; edits[i].ok && (!ok || !f.Stamp.After(ch.Stamp)) {
					delete(out.Effect.Values, col)
				}
			}
		}
	default:
		plain := *ch
		plain.Values = maps.Clone(ch.Values)
		for i, col := range t.Text {
			if edits[i].ok {
				delete(plain.Values, col)
			}
		}
		out = Resolve(cur, &plain, t.Resurrect)
	}
	cloned := false
	for i, col := range t.Text {
		ops := edits[i].ops
		state, _ := cur.Fields[col].Value.([]byte)
		if !edits[i].ok {
			// The insert branch of Resolve copies newer field values
			// into the row it writes: a text column's is its state, and
			// the row holds the state's text.
			if out.Effect.Kind == Write && state != nil {
				if err := setText(out.Effect.Values, col, state); err != nil {
					return out, err
				}
			}
			continue
		}
		merged, text, err := mergeText(state, ops)
		if errors.Is(err, collabtext.ErrEpoch) {
			return out, refuse(CodeTextEpoch, "%s.%s: %v", t.Name, col, err)
		}
		if err != nil {
			return out, refuse(CodeTextInvalid, "%s.%s: %v", t.Name, col, err)
		}
		f := cur.Fields[col]
		stamp := f.Stamp
		if ch.Stamp.After(stamp) {
			stamp = ch.Stamp
		}
		if bytes.Equal(merged, state) && stamp == f.Stamp {
			// Nothing new: a duplicate. An insert still writes the row,
			// whose text column Resolve gave the field's state (a newer
			// update wins its field): the row holds the state's text.
			if out.Effect.Kind == Write {
				out.Effect.Values[col] = text
			}
			continue
		}
		if !cloned {
			// Resolve may hand back cur's own map: never write into the
			// caller's Row.
			out.Row.Fields = maps.Clone(out.Row.Fields)
			if out.Row.Fields == nil {
				out.Row.Fields = map[string]Field{}
			}
			cloned = true
		}
		out.Row.Fields[col] = Field{Stamp: stamp, Value: merged}
		out.FieldsChanged = append(out.FieldsChanged, col)
		out.Changed = true
		switch {
		case out.Effect.Kind == Write:
			out.Effect.Values[col] = text
		case out.Effect.Kind == Remove || !out.Row.Alive(t.Resurrect):
		default:
			if out.Effect.Kind == Keep {
				out.Effect = Effect{Kind: Set, Values: map[string]any{}}
			}
			out.Effect.Values[col] = text
		}
	}
	return out, nil
}

// textEdit is a change's value for a text column: ok when it is ops.
type textEdit struct {
	ops []byte
	ok  bool
}

// mergeText applies ops to a field's state and returns the merged state
// and its text. Into a field with no state (a fresh replica's initial
// sync), ops that are already a state in canonical form
// (collabtext.CanonicalText) are the merged state as they are: no tree
// is built, and what is stored is byte for byte what MarshalBinary would
// have written.
func mergeText(state, ops []byte) (merged []byte, text string, err error) {
	if len(state) == 0 {
		if text, ok := collabtext.CanonicalText(ops); ok {
			// A copy: the change's bytes may share a buffer with the
			// rest of the message they came in.
			return bytes.Clone(ops), text, nil
		}
	}
	doc, err := collabtext.Load("", state)
	if err != nil {
		return nil, "", fmt.Errorf("the stored text state: %w", err)
	}
	batch, err := collabtext.DecodeBatch(ops)
	if err == nil {
		// A reset or a later epoch gives a new Doc (collabtext.Merge).
		doc, err = doc.Merge(batch)
	}
	if err != nil {
		return nil, "", err
	}
	merged, _ = doc.MarshalBinary()
	return merged, doc.String(), nil
}

func setText(values map[string]any, col string, state []byte) error {
	doc, err := collabtext.Load("", state)
	if err != nil {
		return refuse(CodeTextInvalid, "%s: the stored text state: %v", col, err)
	}
	values[col] = doc.String()
	return nil
}

// checkText validates a change's value for a collaborative text column:
// text (merged by the last writer) or character ops.
func checkText(t *schema.Info, col string, v any) error {
	ops, ok := v.([]byte)
	if !ok {
		return errNotOps
	}
	if _, err := collabtext.DecodeBatch(ops); err != nil {
		return refuse(CodeTextInvalid, "%s.%s: %v", t.Name, col, err)
	}
	return nil
}

var errNotOps = errors.New("not ops")

// TextState is the text a collaborative column's field metadata holds
// (nil when it holds none).
func TextState(f Field) []byte {
	state, _ := f.Value.([]byte)
	return state
}

// TextEdits turns the plain text that a writer on the server side gives a
// collaborative text column (the app's backend through the write
// endpoint, another program writing the PostgreSQL table) into the
// character ops of that edit, made as replica against the field as it
// stands: start returns its state (nil for none) and, for a field with
// none, the plain text it holds, which the edit starts from as a
// replica's does (collabtext.Open). Only the origin of a write may do
// this: every replica that merges the change must merge the same ops.
// Values already ops, and other columns, are left alone.
func TextEdits(t *schema.Info, ch *change.Change, start func(col string) (state []byte, text string), replica string) error {
	if len(t.Text) == 0 || ch.Op == change.Delete {
		return nil
	}
	for _, col := range t.Text {
		text, ok := ch.Values[col].(string)
		if !ok {
			continue
		}
		state, held := start(col)
		doc, ops, err := collabtext.Open(replica, state, held)
		if err != nil {
			return refuse(CodeTextInvalid, "%s.%s: the stored text state: %v", t.Name, col, err)
		}
		edit, err := doc.SetText(text)
		if err != nil {
			return refuse(CodeTextInvalid, "%s.%s: %v", t.Name, col, err)
		}
		if ch.Values == nil {
			continue
		}
		ch.Values[col] = doc.Encode(append(ops, edit...))
	}
	return nil
}
