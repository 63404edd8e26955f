package collabtext

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// apply runs a script on a, taking added runes from b.
func applyScript(a, b []rune, script []edit) (string, int) {
	var out []rune
	i, j, cost := 0, 0, 0
	for _, e := range script {
		switch e.kind {
		case keep:
			out = append(out, a[i:i+e.n]...)
			i, j = i+e.n, j+e.n
		case drop:
			i += e.n
			cost += e.n
		case add:
			out = append(out, b[j:j+e.n]...)
			j += e.n
			cost += e.n
		}
	}
	return string(out), cost
}

// lcs is the longest common subsequence's length, by dynamic programming.
func lcs(a, b []rune) int {
	prev := make([]int, len(b)+1)
	for i := range a {
		cur := make([]int, len(b)+1)
		for j := range b {
			if a[i] == b[j] {
				cur[j+1] = prev[j] + 1
			} else {
				cur[j+1] = max(prev[j+1], cur[j])
			}
		}
		prev = cur
	}
	return prev[len(b)]
}

// TestDiffIsAShortestScript: on random texts over a small alphabet, the
// script turns a into b, and inserts plus deletes no more runes than
// the least possible (len(a) + len(b) - 2·LCS).
func TestDiffIsAShortestScript(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	gen := func(n int) []rune {
		r := make([]rune, n)
		for i := range r {
			r[i] = []rune("abcé")[rng.IntN(4)]
		}
		return r
	}
	for i := range 3000 {
		a, b := gen(rng.IntN(30)), gen(rng.IntN(30))
		got, cost := applyScript(a, b, diffRunes(a, b))
		if got != string(b) {
			t.Fatalf("case %d: %q → %q gives %q", i, string(a), string(b), got)
		}
		if least := len(a) + len(b) - 2*lcs(a, b); cost != least {
			t.Fatalf("case %d: %q → %q costs %d, the least is %d", i, string(a), string(b), cost, least)
		}
	}
}

// TestDiffBeyondTheBoundReplacesTheMiddle: an edit larger than
// MaxEditDistance still gives a correct script, keeping the common
// prefix and suffix.
func TestDiffBeyondTheBoundReplacesTheMiddle(t *testing.T) {
	a := []rune("head " + strings.Repeat("x", 2*MaxEditDistance) + " tail")
	b := []rune("head " + strings.Repeat("y", 2*MaxEditDistance) + " tail")
	script := diffRunes(a, b)
	if got, _ := applyScript(a, b, script); got != string(b) {
		t.Fatal("the script does not give the new text")
	}
	if script[0] != (edit{keep, 5}) || script[len(script)-1] != (edit{keep, 5}) {
		t.Fatalf("script %v does not keep the common ends", script)
	}
}
