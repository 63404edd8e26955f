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

// TestSyncStatusMilestonesAreSentAtOnce: within a window, a status that
// changes the state or the connection, or is the connection's first
// caught-up one, goes at once (it replaces what the window held); the
// statuses of writes after that wait for the window's end as before.
func TestSyncStatusMilestonesAreSentAtOnce(t *testing.T) {
	p := newPage(t)
	const sub = 7
	s := &dbSync{subs: map[int64]struct{}{sub: {}}, pubEvery: time.Hour}
	type seen struct {
		state        string
		cursor, head int64
		pending      int64
		connected    bool
	}
	sent := func() []seen {
		p.mu.Lock()
		defer p.mu.Unlock()
		var out []seen
		for _, m := range p.pushes[sub] {
			st := m["status"].(map[string]any)
			out = append(out, seen{st["state"].(string), st["cursor"].(int64), st["head"].(int64), st["pending"].(int64), st["connected"].(bool)})
		}
		return out
	}
	want := func(what string, n int) {
		t.Helper()
		if got := sent(); len(got) != n {
			t.Fatalf("%s: %d statuses sent, want %d: %+v", what, len(got), n, got)
		}
	}
	syncing := func(cursor, head, pending int64) syncstatus.Status {
		return syncstatus.Status{State: syncstatus.StateSyncing, Connected: true, Cursor: cursor, Head: head, Pending: pending}
	}
	s.publish(p.eng, syncstatus.Status{State: syncstatus.StateConnecting})
	want("the first", 1)
	s.publish(p.eng, syncstatus.Status{State: syncstatus.StateConnecting, Pending: 1})
	want("a pending write while connecting", 1)
	s.publish(p.eng, syncing(3, 5, 1))
	want("connected", 2)
	s.publish(p.eng, syncing(5, 5, 0))
	want("caught up", 3)
	if got := sent()[2]; got.cursor != 5 || got.head != 5 {
		t.Fatalf("the caught-up status sent %+v", got)
	}
	for n := int64(1); n <= 3; n++ {
		s.publish(p.eng, syncing(5, 5, n))
		s.publish(p.eng, syncing(5, 5+n, 0))
		s.publish(p.eng, syncing(5+n, 5+n, 0))
	}
	want("writes after that, within the window", 3)
	s.endWindow(p.eng, s.pubGen)
	want("the window's end", 4)
	if got := sent()[3]; got.cursor != 8 || got.pending != 0 {
		t.Fatalf("the window's end sent %+v, want the newest", got)
	}
	s.publish(p.eng, syncstatus.Status{State: syncstatus.StateBackoff})
	want("disconnected", 5)
	s.publish(p.eng, syncing(8, 8, 0))
	want("reconnected, caught up", 6)
	s.flushStatus(p.eng)
	want("nothing held", 6)
}
