package protocol

import (
	"errors"
	"slices"
	"testing"

	"github.com/hearthdb/hearth/codec"
	"github.com/hearthdb/hearth/syncworker/collabtext"
)

// FuzzTextEdits: an editText ops field from the page never panics
// the parser or the field, and the edits it accepts do to the field
// exactly what they do to a plain slice of code points (or are refused
// as out of range, leaving a copy the caller drops).
func FuzzTextEdits(f *testing.F) {
	seed := func(v any) {
		b, err := codec.Encode(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	seed([]any{map[string]any{"at": int64(0), "insert": "oat "}, map[string]any{"at": int64(8), "delete": int64(2)}})
	seed([]any{map[string]any{"at": int64(3), "insert": "👋"}, map[string]any{"at": int64(4), "delete": int64(1)}})
	seed([]any{map[string]any{"at": int64(99), "insert": "x"}})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := codec.Decode(b)
		if err != nil {
			return
		}
		edits, perr := TextEdits(v)
		if perr != nil {
			return
		}
		doc := collabtext.New("fuzz")
		if _, err := doc.Insert(0, "milk, eggs"); err != nil {
			t.Fatal(err)
		}
		model := []rune(doc.String())
		inRange := true
		for _, e := range edits {
			if e.At > len(model) || e.Delete > len(model)-e.At {
				inRange = false
				break
			}
			if e.Delete > 0 {
				model = slices.Delete(model, e.At, e.At+e.Delete)
			} else {
				model = slices.Insert(model, e.At, []rune(e.Insert)...)
			}
		}
		_, err = doc.ApplyEdits(edits)
		switch {
		case err == nil && (!inRange || doc.String() != string(model)):
			t.Fatalf("edits %+v: field %q, model %q (in range: %v)", edits, doc.String(), string(model), inRange)
		case err != nil && inRange && !errors.Is(err, collabtext.ErrInvalid) && !errors.Is(err, collabtext.ErrTooLarge):
			t.Fatalf("edits %+v refused: %v", edits, err)
		case err != nil && !inRange && !errors.Is(err, collabtext.ErrOutOfRange) && !errors.Is(err, collabtext.ErrInvalid):
			t.Fatalf("edits %+v out of range, refused with %v", edits, err)
		}
	})
}
