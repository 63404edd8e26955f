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
