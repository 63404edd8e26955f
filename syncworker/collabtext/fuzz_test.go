package collabtext

import (
	"slices"
	"testing"
)

// FuzzDecodeOps: ops from the network never panic the decoder, and what
// it accepts encodes back to the same ops.
func FuzzDecodeOps(f *testing.F) {
	a := New("a")
	ops, _ := a.Insert(0, "héllo")
	del, _ := a.Delete(1, 2)
	f.Add(EncodeOps(append(ops, del...)))
	f.Add(EncodeOps(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		ops, err := DecodeOps(b)
		if err != nil {
			return
		}
		again, err := DecodeOps(EncodeOps(ops))
		if err != nil || !slices.Equal(again, ops) {
			t.Fatalf("round trip: %v", err)
		}
		// Applying them never panics either.
		_ = New("z").Apply(ops...)
	})
}

// FuzzLoadText: a stored or received state never panics the loader, and
// what it accepts saves to a state that loads to the same text.
func FuzzLoadText(f *testing.F) {
	a := New("a")
	a.Insert(0, "héllo wörld")
	a.Delete(2, 3)
	a.Apply(Op{Kind: Delete, ID: ID{"b", 7}})
	st, _ := a.MarshalBinary()
	f.Add(st)
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Load("a", b)
		if err != nil {
			return
		}
		st, _ := d.MarshalBinary()
		e, err := Load("a", st)
		if err != nil || e.String() != d.String() || e.Held() != d.Held() {
			t.Fatalf("reload: %v", err)
		}
		if _, err := d.Insert(d.Len(), "x"); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzCanonicalText: whatever CanonicalText accepts, Load accepts too,
// saves byte for byte and reads as the same text.
func FuzzCanonicalText(f *testing.F) {
	a := New("a")
	a.Insert(0, "héllo wörld")
	a.Delete(2, 3)
	b := New("b")
	b.Apply(a.State()...)
	b.Insert(4, "xyz")
	a.Apply(b.State()...)
	st, _ := a.MarshalBinary()
	f.Add(st)
	f.Add(EncodeOps(nil))
	f.Fuzz(func(t *testing.T, b []byte) { checkCanonical(t, b) })
}
