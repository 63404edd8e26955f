package syncserver

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/change"
)

// sliceLog is a store whose log is a slice with gaps in its positions;
// it counts reads.
type sliceLog struct {
	store.Store
	mu      sync.Mutex
	entries []store.Entry
	reads   int
}

func (l *sliceLog) append(pos int64) {
	l.mu.Lock()
	l.entries = append(l.entries, store.Entry{Pos: pos, Client: "c", Change: change.Change{Op: change.Insert, Values: map[string]any{"n": pos}}})
	l.mu.Unlock()
}

func (l *sliceLog) Log(_ context.Context, after int64, limit int) ([]store.Entry, int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reads++
	var out []store.Entry
	for _, e := range l.entries {
		if e.Pos > after && len(out) < limit {
			out = append(out, e)
		}
	}
	head := int64(0)
	if n := len(l.entries); n > 0 {
		head = l.entries[n-1].Pos
	}
	return out, head, nil
}

func positions(es []store.Entry) []int64 {
	out := make([]int64, len(es))
	for i, e := range es {
		out[i] = e.Pos
	}
	return out
}

// TestLogTailMatchesTheStore: every read through the tail returns what
// the store returns, whatever the position, limit and trimming; and many
// sessions reading a new batch cost one store read.
func TestLogTailMatchesTheStore(t *testing.T) {
	l := &sliceLog{}
	s := &Server{store: l, cfg: Config{LogBatch: 5}, tail: newLogTail(0, 20, 1<<30)}
	pos := int64(0)
	ctx := context.Background()
	rnd := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		for range rnd.IntN(4) {
			pos += 1 + rnd.Int64N(3) // gaps, as a store with sequences may leave
			l.append(pos)
		}
		after := max(0, pos-rnd.Int64N(40))
		limit := 1 + rnd.IntN(7)
		got, _, gotHead, err := s.readLog(ctx, after, limit, max(pos, after+1))
		if err != nil {
			t.Fatal(err)
		}
		want, _, _ := l.Log(ctx, after, limit)
		if len(got) != len(want) {
			t.Fatalf("round %d after %d limit %d: got %v, want %v", round, after, limit, positions(got), positions(want))
		}
		for i := range got {
			if got[i].Pos != want[i].Pos {
				t.Fatalf("round %d after %d: got %v, want %v", round, after, positions(got), positions(want))
			}
		}
		if len(got) < limit && gotHead < pos {
			t.Fatalf("round %d: a short read must reach the head %d, got %d", round, pos, gotHead)
		}
	}

	// A new batch, read by 100 live sessions: one store read.
	l.mu.Lock()
	l.reads = 0
	l.mu.Unlock()
	head := pos
	l.append(pos + 1)
	l.append(pos + 2)
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, _, _, err := s.readLog(ctx, head, 5, pos+2)
			if err != nil || len(got) != 2 {
				t.Errorf("got %v, %v", positions(got), err)
			}
		}()
	}
	wg.Wait()
	if l.reads != 1 {
		t.Fatalf("%d store reads for one new batch, want 1", l.reads)
	}
}

func TestCommitTimes(t *testing.T) {
	var c commitTimes
	base := time.Unix(1000, 0)
	c.add(1, 3, base)
	c.add(7, 7, base.Add(2*time.Second)) // recorded before the push at 4..6
	c.add(4, 6, base.Add(time.Second))
	for pos, want := range map[int64]time.Duration{1: 0, 3: 0, 4: time.Second, 6: time.Second, 7: 2 * time.Second} {
		sp, ok := c.lookup(pos)
		if !ok || !sp.at.Equal(base.Add(want)) {
			t.Fatalf("pos %d: %+v %v", pos, sp, ok)
		}
	}
	if _, ok := c.lookup(8); ok {
		t.Fatal("pos 8 was never committed")
	}
	for i := int64(0); i < 2*maxCommitSpans; i++ {
		c.add(10+i, 10+i, base)
	}
	if len(c.spans) > maxCommitSpans {
		t.Fatalf("%d spans kept", len(c.spans))
	}
	if _, ok := c.lookup(10 + 2*maxCommitSpans - 1); !ok {
		t.Fatal("the newest push is forgotten")
	}
}

// TestLogTailRestartKeepsValuesAligned: when a session starts beyond the
// tail, the tail starts over there; the encoded values it hands out must
// still be those of the entries they come with, not of the entries it
// held before.
func TestLogTailRestartKeepsValuesAligned(t *testing.T) {
	l := &sliceLog{}
	s := &Server{store: l, cfg: Config{LogBatch: 5}, tail: newLogTail(0, 100, 1<<30)}
	ctx := context.Background()
	for pos := int64(1); pos <= 3; pos++ {
		l.append(pos)
	}
	if _, _, _, err := s.readLog(ctx, 0, 5, 3); err != nil {
		t.Fatal(err)
	}
	for pos := int64(4); pos <= 12; pos++ {
		l.append(pos)
	}
	// Nobody read 4..10 through the tail: it restarts at 10.
	if _, _, _, err := s.readLog(ctx, 10, 5, 12); err != nil {
		t.Fatal(err)
	}
	l.append(13)
	got, packed, _, err := s.readLog(ctx, 10, 5, 13)
	if err != nil {
		t.Fatal(err)
	}
	want, err := packValues(got)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || len(packed) != len(got) {
		t.Fatalf("got %v with %d packed values", positions(got), len(packed))
	}
	for i := range got {
		if string(packed[i]) != string(want[i]) {
			t.Fatalf("entry %d carries another entry's values", got[i].Pos)
		}
	}
}

// TestLogTailIsBoundedByBytes: a few heavy entries push the oldest out
// of the tail long before its entry count is reached, and reads behind
// it still come right from the store.
func TestLogTailIsBoundedByBytes(t *testing.T) {
	l := &sliceLog{}
	const keepBytes = 64 << 10
	s := &Server{store: l, cfg: Config{LogBatch: 4}, tail: newLogTail(0, 1000, keepBytes)}
	ctx := context.Background()
	heavy := string(make([]byte, 10<<10))
	for pos := int64(1); pos <= 40; pos++ {
		l.mu.Lock()
		l.entries = append(l.entries, store.Entry{Pos: pos, Change: change.Change{Op: change.Insert, Values: map[string]any{"v": heavy}}})
		l.mu.Unlock()
		if _, _, _, err := s.readLog(ctx, pos-1, 4, pos); err != nil {
			t.Fatal(err)
		}
		s.tail.mu.Lock()
		n, b := len(s.tail.entries), s.tail.bytes
		s.tail.mu.Unlock()
		if b > keepBytes {
			t.Fatalf("after %d entries the tail holds %d bytes (%d entries), over its %d", pos, b, n, keepBytes)
		}
	}
	if s.tail.from == 0 {
		t.Fatal("the tail never dropped an entry")
	}
	got, _, _, err := s.readLog(ctx, 0, 4, 40)
	if err != nil || len(got) != 4 || got[0].Pos != 1 {
		t.Fatalf("read behind the tail: %v %v", positions(got), err)
	}
}
