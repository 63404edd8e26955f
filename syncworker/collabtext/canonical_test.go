package collabtext

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// checkCanonical asserts CanonicalText's promise on b: when it accepts b,
// Load accepts it too, saves it byte for byte and reads the same text.
func checkCanonical(t *testing.T, b []byte) (ok bool) {
	t.Helper()
	text, ok := CanonicalText(b)
	if !ok {
		return false
	}
	d, err := Load("", b)
	if err != nil {
		t.Fatalf("CanonicalText accepted what Load refuses: %v (% x)", err, b)
	}
	if st, _ := d.MarshalBinary(); !bytes.Equal(st, b) {
		t.Fatalf("CanonicalText accepted a state that saves differently:\n got % x\nsave % x", b, st)
	}
	if d.String() != text {
		t.Fatalf("text %q, Load's %q", text, d.String())
	}
	return true
}

// Every state MarshalBinary writes is canonical, whatever edits made it:
// typing, deleting, concurrent replicas, tombstones.
func TestCanonicalTextOfStates(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 4))
	for round := range 300 {
		docs := []*Doc{New("alice"), New("bob"), New("carol-a-longer-name")}
		var sent []Op
		for range rng.IntN(40) {
			d := docs[rng.IntN(len(docs))]
			var ops []Op
			var err error
			if d.Len() > 0 && rng.IntN(3) == 0 {
				pos := rng.IntN(d.Len())
				ops, err = d.Delete(pos, 1+rng.IntN(min(3, d.Len()-pos)))
			} else {
				ops, err = d.Insert(rng.IntN(d.Len()+1), []string{"a", "héllo", "✓ done", "\n", "日本"}[rng.IntN(5)])
			}
			if err != nil {
				t.Fatal(err)
			}
			sent = append(sent, ops...)
			if rng.IntN(2) == 0 {
				for _, other := range docs {
					if err := other.Apply(sent...); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		for _, d := range docs {
			st, _ := d.MarshalBinary()
			if !checkCanonical(t, st) {
				t.Fatalf("round %d: a saved state is not canonical: % x", round, st)
			}
		}
	}
	st, _ := New("x").MarshalBinary()
	if !checkCanonical(t, st) {
		t.Fatal("the empty state is not canonical")
	}
}

// Valid states out of canonical form, and invalid ones, are left to Load.
func TestCanonicalTextRefuses(t *testing.T) {
	a := New("a")
	ops, _ := a.Insert(0, "abc")
	st, _ := a.MarshalBinary()
	b := New("b")
	b.Apply(ops...)
	bops, _ := b.Insert(1, "X")
	held := New("c")
	held.Apply(bops...) // its parent has not arrived: held back
	heldState, _ := held.MarshalBinary()
	del, _ := a.Delete(0, 1)
	cases := map[string][]byte{
		"empty":            nil,
		"ops out of order": EncodeOps([]Op{ops[1], ops[0], ops[2]}),
		"a delete":         EncodeOps(append(ops, del...)),
		"a duplicate":      EncodeOps(append(ops, ops[2])),
		"held ops":         heldState,
		"overlong varint":  append([]byte{st[0], 0x81, 0x00}, st[2:]...),
		"trailing bytes":   append(bytes.Clone(st), 0),
		"unused name":      append([]byte{formatOps, 2, 1, 'a', 1, 'z'}, st[4:]...),
		"truncated":        st[:len(st)-1],
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			if checkCanonical(t, b) {
				t.Fatalf("accepted % x", b)
			}
		})
	}
	if !checkCanonical(t, st) {
		t.Fatal("the state itself is not canonical")
	}
}

func BenchmarkCanonicalText(b *testing.B) {
	d, _, err := FromText("server-seed-node", "A task of the seed workspace, with a description of ordinary length.")
	if err != nil {
		b.Fatal(err)
	}
	st, _ := d.MarshalBinary()
	for _, mode := range []string{"CanonicalText", "Load+MarshalBinary+String"} {
		b.Run(mode, func(b *testing.B) {
			for b.Loop() {
				if mode == "CanonicalText" {
					if _, ok := CanonicalText(st); !ok {
						b.Fatal("not canonical")
					}
					continue
				}
				d, err := Load("", st)
				if err != nil {
					b.Fatal(err)
				}
				d.MarshalBinary()
				_ = d.String()
			}
		})
	}
}
