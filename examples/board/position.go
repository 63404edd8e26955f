package main

// Cards are ordered within a column by a REAL position. A move writes
// one row: the moved card takes the midpoint of its new neighbours, so
// concurrent moves on two devices merge field by field without
// renumbering anyone else's cards.

// minGap is the smallest gap between neighbours that a midpoint still
// splits cleanly; below it the column is renumbered (rare: about fifty
// moves into the same gap).
const minGap = 1e-9

// positionBetween is the position for a card placed between before and
// after; hasBefore/hasAfter say whether those neighbours exist.
func positionBetween(before float64, hasBefore bool, after float64, hasAfter bool) float64 {
	switch {
	case hasBefore && hasAfter:
		return before + (after-before)/2
	case hasBefore:
		return before + 1
	case hasAfter:
		return after - 1
	default:
		return 1
	}
}

// placement computes where a card lands at index at of column (the
// column's positions in order, without the moved card). It returns the
// new position, or renumber=true when the gap there is too small to split
// and the column must be renumbered first.
func placement(column []float64, at int) (pos float64, renumber bool) {
	at = max(0, min(at, len(column)))
	var before, after float64
	hasBefore, hasAfter := at > 0, at < len(column)
	if hasBefore {
		before = column[at-1]
	}
	if hasAfter {
		after = column[at]
	}
	if hasBefore && hasAfter && after-before < minGap {
		return 0, true
	}
	return positionBetween(before, hasBefore, after, hasAfter), false
}
