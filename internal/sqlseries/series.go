// Package sqlseries provides SQLite's generate_series table-valued
// function (https://sqlite.org/series.html) as a Go virtual table, for
// SQLite builds that lack the C extension: the worker's SQLite module is
// built without SQLite's ext/misc sources (docs/sqlite-module.md), and an
// app's SQL that used generate_series under the translated build must keep
// working.
//
// The function's results are SQLite's: generate_series(start [, stop
// [, step]]) yields start, start+step, … while not past stop; stop
// defaults to 4294967295, step to 1 (0 counts as 1, a negative step
// counts down); a NULL argument yields no rows; start is required unless
// the value column is bounded from below (value = X, value >= X or
// value > X); rowid is the value. Constraints on the value column narrow
// the range generated; SQLite still checks them, and applies LIMIT and
// OFFSET itself. Its tests compare its results with the C extension's on
// about 8,500 queries.
package sqlseries

import (
	"errors"
	"math"

	"github.com/ncruces/go-sqlite3"
)

// Register adds generate_series to db, replacing one already there.
func Register(db *sqlite3.Conn) error {
	//lint:ignore SA1019 the method that replaces it is for Go 1.27 (conn_127.go); go.mod says 1.26
	return sqlite3.CreateModule(db, "generate_series", nil,
		func(db *sqlite3.Conn, _, _, _ string, _ ...string) (series, error) {
			if err := db.DeclareVTab(`CREATE TABLE x(value, start HIDDEN, stop HIDDEN, step HIDDEN)`); err != nil {
				return series{}, err
			}
			// Innocuous: usable in views and triggers of a schema that is
			// not trusted (SQLite is built with SQLITE_TRUSTED_SCHEMA=0).
			return series{}, db.VTabConfig(sqlite3.VTAB_INNOCUOUS)
		})
}

// Columns of the table, as declared; -1 is the rowid.
const (
	colRowid = -1
	colValue = 0
	colStart = 1
	colStop  = 2
	colStep  = 3
)

// The plan, as BestIndex passes it to Filter in IdxNum: which arguments
// Filter gets (in this order) and the order asked for.
const (
	planStart = 1 << iota // start = X
	planStop              // stop = X
	planStep              // step = X
	planLower             // value >= X (or value > X: the bound is SQLite's to apply exactly)
	planUpper             // value <= X (or value < X)
	planEqual             // value = X
	planDesc              // output by value, descending
	planAsc               // output by value, ascending
)

var errNoStart = errors.New(`first argument to "generate_series()" missing or unusable`)

type series struct{}

func (series) BestIndex(idx *sqlite3.IndexInfo) error {
	plan, unusable := 0, 0
	var argOf [6]int // constraint index + 1 for each argument, 0 for none
	startSeen := false
	for i, c := range idx.Constraint {
		switch c.Column {
		case colRowid, colValue:
			if !c.Usable {
				continue
			}
			switch c.Op {
			case sqlite3.INDEX_CONSTRAINT_EQ, sqlite3.INDEX_CONSTRAINT_IS:
				plan, argOf[5], startSeen = plan|planEqual, i+1, true
			case sqlite3.INDEX_CONSTRAINT_GE, sqlite3.INDEX_CONSTRAINT_GT:
				plan, argOf[3], startSeen = plan|planLower, i+1, true
			case sqlite3.INDEX_CONSTRAINT_LE, sqlite3.INDEX_CONSTRAINT_LT:
				plan, argOf[4] = plan|planUpper, i+1
			}
		case colStart, colStop, colStep:
			bit := 1 << (c.Column - colStart)
			if c.Column == colStart && c.Op == sqlite3.INDEX_CONSTRAINT_EQ {
				startSeen = true
			}
			if !c.Usable {
				unusable |= bit
			} else if c.Op == sqlite3.INDEX_CONSTRAINT_EQ {
				plan, argOf[c.Column-colStart] = plan|bit, i+1
			}
		}
	}
	if !startSeen {
		return errNoStart
	}
	if unusable&^plan != 0 {
		// start, stop and step are inputs: a plan without one it was
		// given (by a join, say) is not a plan.
		return sqlite3.CONSTRAINT
	}
	if plan&planEqual != 0 {
		// value = X bounds both ends: the others add nothing.
		plan &^= planLower | planUpper
		argOf[3], argOf[4] = 0, 0
	}
	n := 0
	for slot, c := range argOf {
		if c == 0 {
			continue
		}
		n++
		// start, stop and step are the function's arguments, not
		// conditions on its rows; the value's bounds SQLite checks again.
		idx.ConstraintUsage[c-1] = sqlite3.IndexConstraintUsage{ArgvIndex: n, Omit: slot < 3}
	}
	switch {
	case plan&(planStart|planStop) == planStart|planStop:
		idx.EstimatedCost = 2
		if plan&planStep != 0 {
			idx.EstimatedCost = 1
		}
		idx.EstimatedRows = 1000
		if len(idx.OrderBy) == 1 && idx.OrderBy[0].Column == colValue {
			if idx.OrderBy[0].Desc {
				plan |= planDesc
			} else {
				plan |= planAsc
			}
			idx.OrderByConsumed = true
		}
	default:
		// Either end may be the 64-bit limit: the planner should find
		// another way first.
		idx.EstimatedRows = math.MaxInt32
		idx.EstimatedCost = math.MaxInt32
	}
	idx.IdxNum = plan
	return nil
}

func (series) Open() (sqlite3.VTabCursor, error) { return &cursor{}, nil }

// cursor walks from first to last by step (down when desc). start, stop
// and step are the arguments as the hidden columns report them.
type cursor struct {
	start, stop, step int64
	first, last       int64
	by                uint64 // the step's size; 1<<63 when step is MinInt64
	desc              bool
	value             int64
	done              bool
}

func (c *cursor) Filter(plan int, _ string, args ...sqlite3.Value) error {
	*c = cursor{done: true}
	for _, a := range args {
		if a.Type() == sqlite3.NULL {
			return nil
		}
	}
	next := func() sqlite3.Value { a := args[0]; args = args[1:]; return a }
	c.start, c.stop, c.step = 0, 0xffffffff, 1
	if plan&planStart != 0 {
		c.start = next().Int64()
	}
	if plan&planStop != 0 {
		c.stop = next().Int64()
	}
	if plan&planStep != 0 {
		if c.step = next().Int64(); c.step == 0 {
			c.step = 1
		}
	}
	// Bounds on the value stand in for a missing start (counting up from
	// the lowest 64-bit integer) and a missing stop (to the highest).
	if plan&(planStart|planStep) == 0 && plan&(planLower|planEqual) != 0 {
		c.start = math.MinInt64
	}
	if plan&(planStop|planStep) == 0 && plan&(planUpper|planEqual) != 0 {
		c.stop = math.MaxInt64
	}
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	var ok bool
	switch {
	case plan&planEqual != 0:
		v := next()
		if lo, ok = lowerBound(v); !ok {
			return nil
		}
		if hi, ok = upperBound(v); !ok {
			return nil
		}
	default:
		if plan&planLower != 0 {
			if lo, ok = lowerBound(next()); !ok {
				return nil
			}
		}
		if plan&planUpper != 0 {
			if hi, ok = upperBound(next()); !ok {
				return nil
			}
		}
	}
	if lo > hi {
		return nil
	}
	c.desc = c.step < 0
	c.by = uint64(c.step)
	if c.desc {
		c.by = -uint64(c.step) // two's complement: MinInt64 gives 1<<63
	}
	first, last := c.start, c.stop
	if !c.desc {
		if first > last {
			return nil
		}
		if first < lo { // to the first value of the series at or above lo
			k := ceilDiv(uint64(lo)-uint64(first), c.by)
			if k > (uint64(last)-uint64(first))/c.by {
				return nil
			}
			first = int64(uint64(first) + k*c.by)
		}
		last = min(last, hi)
		if first > last {
			return nil
		}
		last = int64(uint64(last) - (uint64(last)-uint64(first))%c.by)
	} else {
		if first < last {
			return nil
		}
		if first > hi { // to the first value of the series at or below hi
			k := ceilDiv(uint64(first)-uint64(hi), c.by)
			if k > (uint64(first)-uint64(last))/c.by {
				return nil
			}
			first = int64(uint64(first) - k*c.by)
		}
		last = max(last, lo)
		if first < last {
			return nil
		}
		last = int64(uint64(last) + (uint64(first)-uint64(last))%c.by)
	}
	if (plan&planDesc != 0 && !c.desc) || (plan&planAsc != 0 && c.desc) {
		first, last, c.desc = last, first, !c.desc
	}
	c.first, c.last, c.value, c.done = first, last, first, false
	return nil
}

// ceilDiv is d/by rounded up, without overflowing.
func ceilDiv(d, by uint64) uint64 {
	q := d / by
	if d%by != 0 {
		q++
	}
	return q
}

// lowerBound is the least integer that value >= v or value > v may let
// through (SQLite checks which), false when none can be.
func lowerBound(v sqlite3.Value) (int64, bool) {
	if v.NumericType() != sqlite3.FLOAT {
		return v.Int64(), true
	}
	r := math.Ceil(v.Float())
	switch {
	case math.IsNaN(r):
		return 0, false
	case r <= math.MinInt64:
		return math.MinInt64, true
	case r >= math.MaxInt64: // 2^63 as a float: above every integer
		return 0, false
	}
	return int64(r), true
}

// upperBound is the greatest integer that value <= v or value < v may let
// through, false when none can be.
func upperBound(v sqlite3.Value) (int64, bool) {
	if v.NumericType() != sqlite3.FLOAT {
		return v.Int64(), true
	}
	r := math.Floor(v.Float())
	switch {
	case math.IsNaN(r):
		return 0, false
	case r >= math.MaxInt64:
		return math.MaxInt64, true
	case r < math.MinInt64:
		return 0, false
	}
	return int64(r), true
}

func (c *cursor) Next() error {
	switch {
	case c.value == c.last:
		c.done = true
	case c.desc:
		c.value = int64(uint64(c.value) - c.by)
	default:
		c.value = int64(uint64(c.value) + c.by)
	}
	return nil
}

func (c *cursor) EOF() bool { return c.done }

func (c *cursor) RowID() (int64, error) { return c.value, nil }

func (c *cursor) Column(ctx sqlite3.Context, n int) error {
	switch n {
	case colStart:
		ctx.ResultInt64(c.start)
	case colStop:
		ctx.ResultInt64(c.stop)
	case colStep:
		ctx.ResultInt64(c.step)
	default:
		ctx.ResultInt64(c.value)
	}
	return nil
}
