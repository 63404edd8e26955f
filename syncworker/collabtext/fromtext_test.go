package collabtext

import (
	"slices"
	"testing"
)

// TestFromTextMergesOneCopy: two replicas start the same field from the
// same text and edit it apart; merged both ways, the text reads once
// with both edits. A replica that started from another text keeps both
// texts, refused nothing.
func TestFromTextMergesOneCopy(t *testing.T) {
	ok := mustOps(t)
	a, baseA, err := FromText("a", "hello world")
	if err != nil {
		t.Fatal(err)
	}
	b, baseB, err := FromText("b", "hello world")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(baseA, baseB) || len(baseA) != 11 {
		t.Fatalf("the same text built differently: %v and %v", baseA, baseB)
	}
	if a.Replica() != "a" || a.String() != "hello world" {
		t.Fatalf("a reads %q as %q", a.String(), a.Replica())
	}
	editA := ok(a.SetText("Oh, hello world"))
	editB := ok(b.SetText("hello world!"))
	for _, op := range editA {
		if op.Kind == Insert && op.ID.Replica != "a" {
			t.Fatalf("a typed %v under another name", op.ID)
		}
	}
	if editA[0].ID.Seq != 1 {
		t.Fatalf("a's first typed character is %v, want its seq 1", editA[0].ID)
	}
	fromA, fromB := append(baseA, editA...), append(baseB, editB...)
	for i, order := range [][][]Op{{fromA, fromB}, {fromB, fromA}} {
		d := New("reader")
		for _, ops := range order {
			if err := d.Apply(ops...); err != nil {
				t.Fatalf("order %d: %v", i, err)
			}
		}
		if got := d.String(); got != "Oh, hello world!" {
			t.Fatalf("order %d merged %q", i, got)
		}
	}

	c, baseC, err := FromText("c", "goodbye")
	if err != nil {
		t.Fatal(err)
	}
	if baseC[0].ID.Replica == baseA[0].ID.Replica {
		t.Fatal("different texts share base IDs")
	}
	if err := c.Apply(baseA...); err != nil {
		t.Fatalf("another text's base: %v", err)
	}
	if got := c.String(); len(got) != len("goodbye")+len("hello world") {
		t.Fatalf("the two texts merged into %q", got)
	}

	empty, ops, err := FromText("e", "")
	if err != nil || len(ops) != 0 || empty.Nodes() != 0 {
		t.Fatalf("FromText of nothing: %d nodes, %v, %v", empty.Nodes(), ops, err)
	}
}
