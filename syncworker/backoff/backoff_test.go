package backoff

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestCeilingDoublesUpToMax(t *testing.T) {
	p := Policy{Base: 100 * time.Millisecond, Max: time.Second}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		if got := p.Ceiling(i); got != w*time.Millisecond {
			t.Fatalf("attempt %d: %v", i, got)
		}
	}
	if got := p.Ceiling(1000); got != time.Second {
		t.Fatalf("large attempt: %v", got)
	}
}

func TestDelayIsFullJitter(t *testing.T) {
	p := Policy{Base: 100 * time.Millisecond, Max: time.Second}
	if d := p.Delay(3, func() float64 { return 0 }); d != 0 {
		t.Fatalf("rnd 0: %v", d)
	}
	if d := p.Delay(3, func() float64 { return 0.5 }); d != 400*time.Millisecond {
		t.Fatalf("rnd 0.5: %v", d)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	var lo, hi int
	for range 1000 {
		d := p.Delay(2, rng.Float64)
		if d < 0 || d >= 400*time.Millisecond {
			t.Fatalf("out of range: %v", d)
		}
		if d < 200*time.Millisecond {
			lo++
		} else {
			hi++
		}
	}
	if lo < 400 || hi < 400 {
		t.Fatalf("not uniform: %d below half, %d above", lo, hi)
	}
}
