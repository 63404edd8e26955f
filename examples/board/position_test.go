package main

import "testing"

func TestPlacement(t *testing.T) {
	col := []float64{1, 2, 4}
	for _, tc := range []struct {
		at   int
		want float64
	}{{0, 0}, {1, 1.5}, {2, 3}, {3, 5}, {9, 5}} {
		if got, renumber := placement(col, tc.at); renumber || got != tc.want {
			t.Errorf("placement(%v, %d) = %v, %v; want %v", col, tc.at, got, renumber, tc.want)
		}
	}
	if got, _ := placement(nil, 0); got != 1 {
		t.Errorf("empty column: %v, want 1", got)
	}
	// Repeatedly inserting into the same gap ends in a renumber, never in
	// two cards sharing a position.
	lo, hi := 1.0, 2.0
	for i := 0; ; i++ {
		p, renumber := placement([]float64{lo, hi}, 1)
		if renumber {
			if i < 20 {
				t.Fatalf("renumber after only %d splits", i)
			}
			break
		}
		if !(p > lo && p < hi) {
			t.Fatalf("split %d: %v not strictly between %v and %v", i, p, lo, hi)
		}
		hi = p
	}
}
