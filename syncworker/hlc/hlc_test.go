package hlc

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

// fakeWall is a settable wall clock.
type fakeWall struct{ t time.Time }

func (f *fakeWall) now() time.Time { return f.t }

func TestEncodingSortsLikeTime(t *testing.T) {
	a := Make(1000, 65535)
	b := Make(1001, 0)
	if !(a < b) {
		t.Fatalf("%v should sort before %v", a, b)
	}
	if a.Millis() != 1000 || a.Logical() != 65535 {
		t.Fatalf("round trip: %d %d", a.Millis(), a.Logical())
	}
	if got := Make(-5, 3); got.Millis() != 0 || got.Logical() != 3 {
		t.Fatalf("negative millis clamp: %v", got)
	}
}

func TestNowIsMonotonicWhenWallGoesBackwards(t *testing.T) {
	w := &fakeWall{t: time.UnixMilli(1_700_000_000_000)}
	c := NewClock(w.now)
	prev := c.Now()
	steps := []time.Duration{0, time.Millisecond, -time.Hour, 0, 0, 5 * time.Millisecond, -time.Second, 2 * time.Hour}
	for _, d := range steps {
		w.t = w.t.Add(d)
		for range 3 {
			got := c.Now()
			if got <= prev {
				t.Fatalf("after wall step %v: %v not after %v", d, got, prev)
			}
			prev = got
		}
	}
	// Once the wall clock passes the last issued time, it takes over again.
	if prev.Millis() != w.t.UnixMilli() || prev.Logical() != 2 {
		t.Fatalf("clock should follow the wall again, got %v at wall %d", prev, w.t.UnixMilli())
	}
}

func TestCounterCarriesIntoMillis(t *testing.T) {
	w := &fakeWall{t: time.UnixMilli(10)}
	c := NewClock(w.now)
	var prev Timestamp
	for i := 0; i < 70000; i++ {
		got := c.Now()
		if got <= prev {
			t.Fatalf("event %d: %v not after %v", i, got, prev)
		}
		prev = got
	}
	if prev.Millis() != 11 {
		t.Fatalf("70000 events in one millisecond should carry once, got %v", prev)
	}
}

func TestObserveOrdersLaterLocalEventsAfterRemote(t *testing.T) {
	behind := &fakeWall{t: time.UnixMilli(1_000_000)}
	ahead := &fakeWall{t: time.UnixMilli(1_000_000 + 3_600_000)} // an hour fast
	slow, fast := NewClock(behind.now), NewClock(ahead.now)

	remote := fast.Now()
	slow.Observe(remote)
	local := slow.Now()
	if local <= remote {
		t.Fatalf("a write made after seeing %v must sort after it, got %v", remote, local)
	}
	// Observing an older timestamp changes nothing.
	slow.Observe(Make(5, 0))
	if next := slow.Now(); next <= local {
		t.Fatalf("observe of an old timestamp moved the clock back: %v <= %v", next, local)
	}
}

// TestSkewedNodesKeepCausality runs messages between nodes with random
// skew, backwards steps and random delivery, and checks that every event
// sorts after every event its node had seen.
func TestSkewedNodesKeepCausality(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const nodes = 5
	walls := make([]*fakeWall, nodes)
	clocks := make([]*Clock, nodes)
	seen := make([]Timestamp, nodes) // greatest timestamp each node has seen
	for i := range walls {
		skew := time.Duration(rng.IntN(7200)-3600) * time.Second
		walls[i] = &fakeWall{t: time.UnixMilli(1_700_000_000_000).Add(skew)}
		clocks[i] = NewClock(walls[i].now)
	}
	type msg struct {
		to int
		ts Timestamp
	}
	var inflight []msg
	for step := 0; step < 20000; step++ {
		n := rng.IntN(nodes)
		walls[n].t = walls[n].t.Add(time.Duration(rng.IntN(40)-10) * time.Millisecond)
		switch rng.IntN(3) {
		case 0, 1: // local event, maybe sent somewhere
			ts := clocks[n].Now()
			if ts <= seen[n] {
				t.Fatalf("step %d node %d: %v does not follow %v", step, n, ts, seen[n])
			}
			seen[n] = ts
			inflight = append(inflight, msg{to: rng.IntN(nodes), ts: ts})
		case 2: // deliver a random message
			if len(inflight) == 0 {
				continue
			}
			i := rng.IntN(len(inflight))
			m := inflight[i]
			inflight = append(inflight[:i], inflight[i+1:]...)
			clocks[m.to].Observe(m.ts)
			if m.ts > seen[m.to] {
				seen[m.to] = m.ts
			}
		}
	}
}

func TestStampOrder(t *testing.T) {
	stamps := []Stamp{{Make(2, 0), "b"}, {Make(1, 5), "z"}, {Make(2, 0), "a"}, {}, {Make(1, 5), "a"}}
	sort.Slice(stamps, func(i, j int) bool { return stamps[i].Compare(stamps[j]) < 0 })
	want := []Stamp{{}, {Make(1, 5), "a"}, {Make(1, 5), "z"}, {Make(2, 0), "a"}, {Make(2, 0), "b"}}
	for i := range want {
		if stamps[i] != want[i] {
			t.Fatalf("order %d: got %v want %v", i, stamps[i], want[i])
		}
	}
	if !(Stamp{}).IsZero() || (Stamp{TS: 1}).IsZero() {
		t.Fatal("IsZero")
	}
	if !stamps[4].After(stamps[3]) || stamps[3].After(stamps[3]) {
		t.Fatal("After")
	}
}

// TestOffsetCorrectsTheWallButNeverGoesBack: a clock an hour fast that
// learns its offset stamps in the corrected time once the corrected time
// passes what it issued; until then the counter advances.
func TestOffsetCorrectsTheWallButNeverGoesBack(t *testing.T) {
	const server = 1_700_000_000_000
	w := &fakeWall{t: time.UnixMilli(server).Add(time.Minute)} // a minute fast
	c := NewClock(w.now)
	before := c.Now()
	c.SetOffset(-time.Minute)
	if c.Offset() != -time.Minute || c.Wall().UnixMilli() != server {
		t.Fatalf("corrected wall %d, offset %v", c.Wall().UnixMilli(), c.Offset())
	}
	next := c.Now()
	if next <= before || next.Millis() != before.Millis() {
		t.Fatalf("a corrected clock behind the last stamp must advance the counter: %v after %v", next, before)
	}
	w.t = w.t.Add(2 * time.Minute)
	if got := c.Now(); got != Make(server+2*time.Minute.Milliseconds(), 0) {
		t.Fatalf("once past the last stamp the corrected wall takes over: %v", got)
	}
}

// TestObserveWithinBoundsTheClock: a stamp further ahead than the bound
// moves the clock only up to wall + bound; one inside moves it all the way.
func TestObserveWithinBoundsTheClock(t *testing.T) {
	const wall = 1_700_000_000_000
	w := &fakeWall{t: time.UnixMilli(wall)}
	c := NewClock(w.now)
	bound := 5 * time.Minute
	limit := Make(wall+bound.Milliseconds(), logicalMask)

	near := Make(wall+bound.Milliseconds()-1, 7)
	if c.ObserveWithin(near, bound) || c.Last() != near {
		t.Fatalf("a stamp inside the bound is observed as is: %v", c.Last())
	}
	far := Make(wall+(24*time.Hour-time.Minute).Milliseconds(), 0)
	if !c.ObserveWithin(far, bound) {
		t.Fatal("a stamp beyond the bound must be reported")
	}
	if c.Last() != limit {
		t.Fatalf("the clock moved to %v, past wall + bound %v", c.Last(), limit)
	}
	for range 10 {
		if got := c.Now(); got.Millis() > wall+bound.Milliseconds()+1 {
			t.Fatalf("a later stamp %v is past wall + bound", got)
		}
	}
	// No bound: the old behaviour.
	u := NewClock(w.now)
	if u.ObserveWithin(far, 0) || u.Last() != far {
		t.Fatal("maxAhead 0 means no bound")
	}
	// The bound follows the corrected wall.
	o := NewClock(w.now)
	o.SetOffset(time.Hour)
	if o.ObserveWithin(Make(wall+time.Hour.Milliseconds()+bound.Milliseconds()-1, 0), bound) {
		t.Fatal("the bound is measured from the corrected wall")
	}
}

func TestRewind(t *testing.T) {
	w := &fakeWall{t: time.UnixMilli(1000)}
	c := NewClock(w.now)
	c.Observe(Make(9000, 0))
	c.Rewind(Make(500, 3))
	if got := c.Now(); got != Make(1000, 0) {
		t.Fatalf("after a rewind the wall leads again: %v", got)
	}
}
