package collabtext

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Edit is one step of an editor's change to a field, at a position of
// the text as the steps before it left it: Insert types text before the
// character at At; Delete removes that many characters from At. A step
// does one or the other; an empty Insert with no Delete does nothing.
// Positions and counts are in characters as a Doc holds them: Unicode
// code points (runes), not bytes or UTF-16 units.
type Edit struct {
	At     int
	Insert string
	Delete int
}

// MaxEdits is the most steps one ApplyEdits takes: each walks the field,
// so the cost of one call stays bounded (MaxEdits × MaxNodes).
const MaxEdits = 1024

// ErrOutOfRange: an Edit's position, or the end of what it deletes, lies
// outside the text as the steps before it left it.
var ErrOutOfRange = errors.New("TEXT_OP_OUT_OF_RANGE")

// ApplyEdits makes each edit in turn at exactly its position and returns
// the ops to send. Unlike SetText, which can only guess from the old and
// new texts (typing "a" into "aa" at 0 or at 1 reads the same), the
// characters typed hang where the editor put them, so a concurrent edit
// lands on the side the user saw. On an error the Doc may hold some of
// the edits: callers edit a copy they can drop (see journal.EditText).
func (d *Doc) ApplyEdits(edits []Edit) ([]Op, error) {
	if len(edits) > MaxEdits {
		return nil, fmt.Errorf("%w: %d edits, at most %d", ErrTooLarge, len(edits), MaxEdits)
	}
	typed := 0
	for i, e := range edits {
		if e.Insert != "" && e.Delete != 0 {
			return nil, fmt.Errorf("%w: edit %d both inserts and deletes", ErrInvalid, i)
		}
		if !utf8.ValidString(e.Insert) {
			return nil, fmt.Errorf("%w: edit %d inserts text that is not UTF-8", ErrInvalid, i)
		}
		if e.Delete < 0 {
			return nil, fmt.Errorf("%w: edit %d deletes %d characters", ErrInvalid, i, e.Delete)
		}
		typed += utf8.RuneCountInString(e.Insert)
	}
	if len(d.nodes)+typed > MaxNodes {
		return nil, ErrTooLarge
	}
	var ops []Op
	for i, e := range edits {
		if e.At < 0 || e.At > d.visibleN || e.Delete > d.visibleN-e.At {
			return nil, fmt.Errorf("%w: edit %d at %d (deleting %d) of a text of %d characters", ErrOutOfRange, i, e.At, e.Delete, d.visibleN)
		}
		var step []Op
		var err error
		if e.Delete > 0 {
			step, err = d.Delete(e.At, e.Delete)
		} else {
			step, err = d.Insert(e.At, e.Insert)
		}
		if err != nil {
			return nil, err
		}
		ops = append(ops, step...)
	}
	return ops, nil
}
