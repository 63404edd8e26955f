package collabtext

import (
	"errors"
	"testing"
)

// exchange gives each doc the other's ops and checks both read want.
func exchange(t *testing.T, a, b *Doc, fromA, fromB []Op, want string) {
	t.Helper()
	if err := a.Apply(fromB...); err != nil {
		t.Fatal(err)
	}
	if err := b.Apply(fromA...); err != nil {
		t.Fatal(err)
	}
	if a.String() != want || b.String() != want {
		t.Fatalf("a reads %q, b %q; want %q", a.String(), b.String(), want)
	}
}

// TestApplyEditsKeepsTheEditorsIntent: on "aa", A types "a" at 0 while B
// types "X" at 1. With explicit edits both replicas read "aaXa": A's
// character leads. SetText from "aa" to "aaa" cannot tell where A typed;
// its diff appends, and the replicas read "aXaa".
func TestApplyEditsKeepsTheEditorsIntent(t *testing.T) {
	start := func() (*Doc, *Doc) {
		a := New("A")
		base, err := a.Insert(0, "aa")
		if err != nil {
			t.Fatal(err)
		}
		b := New("B")
		if err := b.Apply(base...); err != nil {
			t.Fatal(err)
		}
		return a, b
	}
	a, b := start()
	fromA, err := a.ApplyEdits([]Edit{{At: 0, Insert: "a"}})
	if err != nil {
		t.Fatal(err)
	}
	fromB, err := b.ApplyEdits([]Edit{{At: 1, Insert: "X"}})
	if err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b, fromA, fromB, "aaXa")

	a, b = start()
	if fromA, err = a.SetText("aaa"); err != nil {
		t.Fatal(err)
	}
	if fromB, err = b.ApplyEdits([]Edit{{At: 1, Insert: "X"}}); err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b, fromA, fromB, "aXaa")
}

// TestApplyEditsPositionsAreCodePoints: positions count runes, so an
// emoji (two UTF-16 units, four bytes) is one character.
func TestApplyEditsPositionsAreCodePoints(t *testing.T) {
	d := New("A")
	if _, err := d.ApplyEdits([]Edit{{At: 0, Insert: "a👋b"}, {At: 2, Insert: "é"}, {At: 1, Delete: 1}}); err != nil {
		t.Fatal(err)
	}
	if d.String() != "aéb" {
		t.Fatalf("%q", d.String())
	}
	if _, err := d.ApplyEdits([]Edit{{At: 4, Insert: "x"}}); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("insert past the end: %v", err)
	}
}

// TestApplyEditsIsBounded: too many edits, or more characters than a
// field may ever hold, are refused before anything is typed.
func TestApplyEditsIsBounded(t *testing.T) {
	d := New("A")
	if _, err := d.ApplyEdits(make([]Edit, MaxEdits+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("too many edits: %v", err)
	}
	big := make([]rune, MaxNodes/2+1)
	for i := range big {
		big[i] = 'x'
	}
	if _, err := d.ApplyEdits([]Edit{{Insert: string(big)}, {Insert: string(big)}}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("too many characters: %v", err)
	}
	if d.Nodes() != 0 {
		t.Fatalf("a refused edit typed %d characters", d.Nodes())
	}
}
