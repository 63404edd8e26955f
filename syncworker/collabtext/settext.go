package collabtext

import (
	"fmt"
	"unicode/utf8"
)

// SetText makes the field read s, as the smallest run of character
// inserts and deletes from the current text (a plain SQL UPDATE of the
// column becomes these), and returns the ops to send. Characters the
// edit leaves alone keep their IDs: a concurrent edit elsewhere in the
// field survives the merge.
func (d *Doc) SetText(s string) ([]Op, error) {
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("%w: text is not UTF-8", ErrInvalid)
	}
	order := d.order()
	visible := make([]*node, 0, d.visibleN)
	old := make([]rune, 0, d.visibleN)
	for _, n := range order {
		if !n.deleted {
			visible = append(visible, n)
			old = append(old, n.char)
		}
	}
	next := []rune(s)
	if len(d.nodes)+len(next) > MaxNodes {
		return nil, ErrTooLarge
	}
	var ops []Op
	at := 0   // index into visible: the old text's next character
	from := 0 // index into next: the new text's next character
	for _, df := range diffRunes(old, next) {
		n := df.n
		switch df.kind {
		case keep:
			at += n
			from += n
		case drop:
			for _, v := range visible[at : at+n] {
				v.deleted = true
				d.visibleN--
				ops = append(ops, Op{Kind: Delete, ID: v.id})
			}
			at += n
		case add:
			// After the old text's previous character, deleted in this
			// same edit or not: the new run takes the place of what it
			// replaces.
			after := &d.root
			if at > 0 {
				after = visible[at-1]
			}
			ins, err := d.insertAfter(after, string(next[from:from+n]))
			if err != nil {
				return ops, err
			}
			ops = append(ops, ins...)
			from += n
		}
	}
	return ops, nil
}
