package collabtext

import (
	"slices"
	"testing"
)

// FuzzDecodeOps: batches from the network (ops of any epoch, resets)
// never panic the decoder, and what it accepts encodes back to the same
// batch. Merging them into a field, or translating them through it,
// never panics either.
func FuzzDecodeOps(f *testing.F) {
	a := New("a")
	ops, _ := a.Insert(0, "héllo")
	del, _ := a.Delete(1, 2)
	f.Add(EncodeOps(append(ops, del...)))
	f.Add(EncodeOps(nil))
	f.Add(EncodeBatch(Batch{Epoch: 1, Reset: true, Ops: a.State()}))
	c, _ := Compact(a)
	more, _ := c.Insert(1, "xy")
	f.Add(c.Encode(more))
	f.Fuzz(func(t *testing.T, b []byte) {
		batch, err := DecodeBatch(b)
		if err != nil {
			return
		}
		again, err := DecodeBatch(EncodeBatch(batch))
		if err != nil || !slices.Equal(again.Ops, batch.Ops) || again.Epoch != batch.Epoch || again.Reset != batch.Reset {
			t.Fatalf("round trip: %v", err)
		}
		d := New("z")
		d.Insert(0, "ab")
		d.Delete(0, 1)
		_, _ = d.Merge(batch)
		if !batch.Reset {
			batch.Epoch = d.Epoch()
			_, _ = Translate(d, batch)
		}
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
	c, _ := Compact(a)
	st, _ = c.MarshalBinary()
	f.Add(st)
	f.Fuzz(func(t *testing.T, b []byte) { checkCanonical(t, b) })
}
