package collabtext

// The diff behind SetText, by hand rather than from a diff library: the
// one served (sergi/go-diff) brings regexp and html into the worker's
// bundle (+860 KB raw, measured on the worker build), for what is here
// sixty lines of Myers' algorithm on runes.

// editKind is what one run of a diff does.
type editKind uint8

const (
	keep editKind = iota
	drop
	add
)

// edit is a run of n runes kept or dropped from the old text, or added
// from the new one.
type edit struct {
	kind editKind
	n    int
}

// MaxEditDistance bounds the inserted plus deleted runes the diff
// searches for: its cost grows with the square of that number. An edit
// larger than this, between the common prefix and suffix, becomes one
// replacement of what lies between them.
const MaxEditDistance = 512

// diffRunes is a shortest edit script from a to b (Myers, "An O(ND)
// Difference Algorithm and Its Variations", 1986), deterministic: the
// same texts always give the same script.
func diffRunes(a, b []rune) []edit {
	prefix := 0
	for prefix < len(a) && prefix < len(b) && a[prefix] == b[prefix] {
		prefix++
	}
	suffix := 0
	for suffix < len(a)-prefix && suffix < len(b)-prefix && a[len(a)-1-suffix] == b[len(b)-1-suffix] {
		suffix++
	}
	out := appendEdit(nil, keep, prefix)
	for _, e := range middle(a[prefix:len(a)-suffix], b[prefix:len(b)-suffix]) {
		out = appendEdit(out, e.kind, e.n)
	}
	return appendEdit(out, keep, suffix)
}

// appendEdit appends a run, merged into the last one when of its kind.
func appendEdit(out []edit, k editKind, n int) []edit {
	if n == 0 {
		return out
	}
	if len(out) > 0 && out[len(out)-1].kind == k {
		out[len(out)-1].n += n
		return out
	}
	return append(out, edit{k, n})
}

// middle diffs what lies between the common prefix and suffix.
func middle(a, b []rune) []edit {
	n, m := len(a), len(b)
	if n == 0 || m == 0 || minDistance(n, m) > MaxEditDistance {
		return []edit{{drop, n}, {add, m}}
	}
	limit := min(n+m, MaxEditDistance)
	off := limit + 1
	v := make([]int, 2*limit+3)
	var trace [][]int // trace[d]: v over k in [-d, d] after step d
	for d := 0; d <= limit; d++ {
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || k != d && v[off+k-1] < v[off+k+1] {
				x = v[off+k+1] // down: an insertion
			} else {
				x = v[off+k-1] + 1 // right: a deletion
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x++
				y++
			}
			v[off+k] = x
			if x >= n && y >= m {
				trace = append(trace, append([]int(nil), v[off-d:off+d+1]...))
				return backtrack(trace, n, m)
			}
		}
		trace = append(trace, append([]int(nil), v[off-d:off+d+1]...))
	}
	return []edit{{drop, n}, {add, m}}
}

// minDistance is the least edit distance two texts of these lengths can
// have.
func minDistance(n, m int) int {
	if n > m {
		return n - m
	}
	return m - n
}

// backtrack walks the trace from the end to the start and returns the
// script in order.
func backtrack(trace [][]int, n, m int) []edit {
	var rev []edit
	push := func(k editKind, c int) { rev = appendEdit(rev, k, c) }
	x, y := n, m
	for d := len(trace) - 1; d > 0; d-- {
		prev := trace[d-1] // k in [-(d-1), d-1], at index k+d-1
		at := func(k int) int { return prev[k+d-1] }
		k := x - y
		var pk int
		if k == -d || k != d && at(k-1) < at(k+1) {
			pk = k + 1
		} else {
			pk = k - 1
		}
		px := at(pk)
		py := px - pk
		// The diagonal after the step, then the step itself.
		if pk == k+1 {
			push(keep, x-px)
			push(add, 1)
		} else {
			push(keep, x-px-1)
			push(drop, 1)
		}
		x, y = px, py
	}
	push(keep, x) // d = 0: the diagonal from the start
	out := make([]edit, 0, len(rev))
	for i := len(rev) - 1; i >= 0; i-- {
		out = append(out, rev[i])
	}
	return out
}
