package engine

import (
	"testing"
	"time"

	"github.com/hearthdb/hearth/syncworker/syncstatus"
)

// TestSyncStatusesAreSentOncePerWindow: of the statuses a sync client
// makes in quick succession, the page gets the first at once and only
// the newest of the rest when the window ends; a window with nothing
// held closes, so the next status goes at once again; a status held
// when the client stops is sent then. The window is an hour here: its
// end is the test's call, not the clock's.
func TestSyncStatusesAreSentOncePerWindow(t *testing.T) {
	p := newPage(t)
	const sub = 7
	s := &dbSync{subs: map[int64]struct{}{sub: {}}, pubEvery: time.Hour}
	sent := func() []int64 {
		p.mu.Lock()
		defer p.mu.Unlock()
		var pending []int64
		for _, m := range p.pushes[sub] {
			pending = append(pending, m["status"].(map[string]any)["pending"].(int64))
		}
		return pending
	}
	want := func(what string, pending ...int64) {
		t.Helper()
		got := sent()
		if len(got) != len(pending) {
			t.Fatalf("%s: sent %v, want %v", what, got, pending)
		}
		for i := range got {
			if got[i] != pending[i] {
				t.Fatalf("%s: sent %v, want %v", what, got, pending)
			}
		}
	}
	for n := int64(1); n <= 4; n++ {
		s.publish(p.eng, syncstatus.Status{Pending: n})
	}
	want("four statuses in one window", 1)
	first := s.pubGen
	s.endWindow(p.eng, first)
	want("the window's end", 1, 4)
	s.endWindow(p.eng, first) // a window already ended does nothing
	want("an ended window's end again", 1, 4)
	s.endWindow(p.eng, s.pubGen) // nothing held: the window closes
	want("an empty window's end", 1, 4)
	s.publish(p.eng, syncstatus.Status{Pending: 5})
	want("a status after the window closed", 1, 4, 5)
	s.publish(p.eng, syncstatus.Status{Pending: 6})
	s.flushStatus(p.eng)
	want("the client stopped", 1, 4, 5, 6)
	s.publish(p.eng, syncstatus.Status{Pending: 7})
	want("a status after the flush", 1, 4, 5, 6, 7)
	if s.pubWindow == nil {
		t.Fatal("no window after a status sent")
	}
	s.flushStatus(p.eng)
}
