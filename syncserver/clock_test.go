package syncserver_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/client"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/journal"
	"github.com/hearthdb/hearth/syncworker/wire"
	"github.com/ncruces/go-sqlite3"
)

// testTime is the server's clock in the clock tests: a fixed date that
// moves on with real time, so that timeouts behave and no test depends on
// today's date. Its readings keep time.Now's monotonic part, as a real
// clock's do. Devices read it with a skew of their own, which a test may
// change, as a user setting the device's clock does (the wall part
// jumps, the monotonic part does not).
type testTime struct {
	base  time.Time
	shift time.Duration
}

func newTestTime() *testTime {
	base := time.Date(2031, 6, 1, 9, 0, 0, 0, time.UTC)
	return &testTime{base: base, shift: time.Until(base)}
}

func (c *testTime) now() time.Time { return time.Now().Add(c.shift) }

// skewed is a device's wall clock: the server's time plus skew.
type skewed struct {
	at   *testTime
	mu   sync.Mutex
	skew time.Duration
}

func (s *skewed) now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.at.now().Add(s.skew)
}

func (s *skewed) set(d time.Duration) {
	s.mu.Lock()
	s.skew = d
	s.mu.Unlock()
}

func skewedDevice(t *testing.T, name string, h *harness, at *testTime, skew time.Duration) (*device, *skewed) {
	t.Helper()
	w := &skewed{at: at, skew: skew}
	return newDevice(t, name, h, nil, client.Config{Now: w.now}), w
}

// journalStamps returns the device's journal entries' states and stamps.
func (d *device) journalEntries() []journal.Entry {
	d.t.Helper()
	var es []journal.Entry
	d.with(func(conn *sqlite3.Conn) (err error) { es, err = d.j.Entries(conn, "", 10000); return err })
	return es
}

// nearServerTime fails unless every entry was acknowledged with a stamp
// within [from, server's now + bound].
func nearServerTime(t *testing.T, d *device, at *testTime, from time.Time, bound time.Duration) {
	t.Helper()
	es := d.journalEntries()
	if len(es) == 0 {
		t.Fatalf("%s: no journal entries", d.name)
	}
	limit := at.now().Add(bound)
	for _, e := range es {
		if e.State != journal.Acknowledged {
			t.Fatalf("%s: entry %d is %s (%s %s)", d.name, e.Seq, e.State, e.Code, e.Detail)
		}
		if ts := e.Stamp.TS.Time(); ts.Before(from) || ts.After(limit) {
			t.Fatalf("%s: entry %d stamped %v, not within %v..%v", d.name, e.Seq, ts, from, limit)
		}
	}
}

// TestSkewedDevicesSyncWithoutRefusals: devices 10 minutes and a day
// fast (and one 3 minutes slow), with the default 5-minute bound, sync
// every write, made offline before their first contact or online after,
// with no refusal; their stamps land near the server's time, and a later
// honest edit wins over the fast devices' earlier ones.
func TestSkewedDevicesSyncWithoutRefusals(t *testing.T) {
	at := newTestTime()
	h := newHarness(t, syncserver.Config{Path: t.TempDir() + "/sync.db", Now: at.now})
	start := at.now()
	fast, _ := skewedDevice(t, "fast10m", h, at, 10*time.Minute)
	day, _ := skewedDevice(t, "fastday", h, at, 24*time.Hour)
	slow, _ := skewedDevice(t, "slow3m", h, at, -3*time.Minute)
	devs := []*device{fast, day, slow}
	// Offline first: written with the wrong clock, before any contact.
	for _, d := range devs {
		d.mustExec(`INSERT INTO tasks(id, title) VALUES (?, 'offline')`, d.name)
	}
	for _, d := range devs {
		d.start()
	}
	for _, d := range devs {
		d.mustExec(`INSERT INTO tasks(id, title) VALUES (?, 'online')`, d.name+"-2")
		d.mustExec(`UPDATE tasks SET title = 'edited' WHERE id = ?`, d.name)
	}
	for _, d := range devs {
		d.synced(h)
	}
	for _, d := range devs {
		if st := d.status(); st.Refused != 0 {
			t.Fatalf("%s: %d refusals", d.name, st.Refused)
		}
		// A slow clock's stamps sort after what it saw, so they can be
		// behind the server's time by its skew at most.
		nearServerTime(t, d, at, start.Add(-3*time.Minute), syncserver.DefaultMaxClockSkew)
	}
	// The server stored every stamp within its bound.
	limit := hlc.Make(at.now().Add(syncserver.DefaultMaxClockSkew).UnixMilli(), 0xffff)
	if ahead := h.serverQuery(`SELECT pos, hlc FROM _hearth_log WHERE hlc > ?`, int64(limit)); len(ahead) != 0 {
		t.Fatalf("log entries stamped beyond the bound: %v", ahead)
	}

	// The day-fast device edits a row; the others see it, then one edits
	// it again: the later edit wins everywhere.
	day.mustExec(`UPDATE tasks SET title = 'from the fast one' WHERE id = 'slow3m'`)
	day.synced(h)
	waitFor(t, "the fast edit at slow3m", func() bool {
		return len(slow.query(`SELECT 1 FROM tasks WHERE id = 'slow3m' AND title = 'from the fast one'`)) == 1
	})
	slow.mustExec(`UPDATE tasks SET title = 'later, honest' WHERE id = 'slow3m'`)
	slow.synced(h)
	for _, d := range devs {
		waitFor(t, d.name+" to take the later edit", func() bool {
			return len(d.query(`SELECT 1 FROM tasks WHERE id = 'slow3m' AND title = 'later, honest'`)) == 1
		})
	}
	want := h.serverTasks()
	for _, d := range devs {
		d.synced(h)
		if got := d.tasks(); got != want {
			t.Fatalf("%s diverged:\n%s\nserver:\n%s", d.name, got, want)
		}
	}
}

// TestFarFutureStampIsRefusedAndMovesNoClock: a raw connection pushing a
// change stamped 23h59m ahead is refused with CLOCK_SKEW; a change near
// the bound is taken, but the server's later stamps (backend writes, the
// violation rows of invariants) stay within its wall time + bound, and no
// device's clock moves past it.
func TestFarFutureStampIsRefusedAndMovesNoClock(t *testing.T) {
	at := newTestTime()
	bound := 2 * time.Minute
	h := newHarness(t, syncserver.Config{Path: t.TempDir() + "/sync.db", Now: at.now, MaxClockSkew: bound,
		Invariants: []syncserver.Invariant{func(_ context.Context, _ store.Querier, ch syncserver.Change) (string, error) {
			if ch.Values["title"] == "flag me" {
				return "flagged for the test", nil
			}
			return "", nil
		}}})
	watcher, _ := skewedDevice(t, "watcher", h, at, 0)
	watcher.start()
	watcher.mustExec(`INSERT INTO tasks(id, title) VALUES ('w', 'hello')`)
	watcher.synced(h)

	r := dialRaw(t, h.url)
	r.send(wire.Hello{Client: "attacker", Cursor: -1}, 1)
	w, ok := r.recv().(wire.Welcome)
	if !ok {
		t.Fatal("want welcome")
	}
	if w.Now == 0 || w.MaxSkew != bound.Milliseconds() {
		t.Fatalf("welcome tells time %d and bound %d", w.Now, w.MaxSkew)
	}
	key := func(id string) []byte {
		k, err := change.EncodeKey(id)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	push := func(id int64, seq int64, row string, ahead time.Duration) wire.Result {
		t.Helper()
		ts := hlc.Make(at.now().Add(ahead).UnixMilli(), 0)
		r.send(wire.Push{ID: id, Changes: []wire.Pushed{{Seq: seq, Change: change.Change{Table: "tasks", Key: key(row), Op: change.Insert,
			Values: map[string]any{"title": "attack", "done": int64(0)}, Stamp: hlc.Stamp{TS: ts, Node: "attacker"}, Schema: 1}}}}, 1)
		ack, ok := r.recv().(wire.Ack)
		if !ok || len(ack.Results) != 1 {
			t.Fatalf("want an ack, got %#v", ack)
		}
		return ack.Results[0]
	}
	if res := push(1, 1, "future", 23*time.Hour+59*time.Minute); res.State != wire.Refused || res.Code != "CLOCK_SKEW" {
		t.Fatalf("a change 23h59m ahead: %+v", res)
	}
	near := push(2, 2, "near", bound-time.Second)
	if near.State != wire.Acknowledged {
		t.Fatalf("a change inside the bound: %+v", near)
	}

	// The server's own stamps after it: a backend write and the
	// violation row of a flagged push.
	res, err := h.srv.Load().Write(context.Background(), syncserver.WriteRequest{Principal: "backend", IdempotencyKey: "k1",
		Changes: []syncserver.RowWrite{{Table: "tasks", Op: "upsert", Values: map[string]any{"id": "backend", "title": "server"}}}})
	if err != nil || res.Results[0].Status != syncserver.WriteApplied {
		t.Fatalf("backend write: %+v %v", res, err)
	}
	watcher.mustExec(`INSERT INTO tasks(id, title) VALUES ('v', 'flag me')`)
	watcher.synced(h)
	limit := hlc.Make(at.now().Add(bound).UnixMilli(), 0xffff)
	rows := h.serverQuery(`SELECT node, hlc FROM _hearth_log WHERE node LIKE 'server-%'`)
	if len(rows) < 2 {
		t.Fatalf("want the backend write and a violation row in the log, got %v", rows)
	}
	for _, row := range rows {
		if ts := hlc.Timestamp(row[1].(int64)); ts > limit {
			t.Fatalf("server stamp %v beyond wall + bound %v", ts, limit)
		}
	}
	if got := h.serverQuery(`SELECT 1 FROM tasks WHERE id = 'future'`); len(got) != 0 {
		t.Fatal("the refused change was stored")
	}
	// The watcher got everything but the refused change, and its clock
	// stayed within the bound.
	waitFor(t, "the watcher to see the near change and the backend write", func() bool {
		return len(watcher.query(`SELECT 1 FROM tasks WHERE id IN ('near', 'backend')`)) == 2
	})
	if got := watcher.j.Clock().Last(); got > limit {
		t.Fatalf("the watcher's clock moved to %v, past %v", got, limit)
	}
}

// TestOfflineEditsWithAClockTwoHoursFastAreAccepted: a device that synced
// goes offline, its clock jumps two hours ahead, and it edits (a row
// another device wrote too). Reconnecting, it learns the new offset,
// its edits are restamped and accepted, and everyone converges on them.
func TestOfflineEditsWithAClockTwoHoursFastAreAccepted(t *testing.T) {
	at := newTestTime()
	h := newHarness(t, syncserver.Config{Path: t.TempDir() + "/sync.db", Now: at.now})
	roamer, wall := skewedDevice(t, "roamer", h, at, 0)
	other, _ := skewedDevice(t, "other", h, at, 4*time.Minute)
	roamer.start()
	other.start()
	other.mustExec(`INSERT INTO tasks(id, title) VALUES ('shared', 'by other')`)
	other.synced(h)
	waitFor(t, "the shared row at the roamer", func() bool { return len(roamer.query(`SELECT 1 FROM tasks WHERE id = 'shared'`)) == 1 })

	roamer.net.setDown(true)
	roamer.client.Online(false)
	wall.set(2 * time.Hour)
	roamer.mustExec(`UPDATE tasks SET title = 'by roamer, offline' WHERE id = 'shared'`)
	roamer.mustExec(`INSERT INTO tasks(id, title) VALUES ('trip', 'written on the road')`)
	roamer.mustExec(`DELETE FROM tasks WHERE id = 'trip'`)
	roamer.mustExec(`INSERT INTO tasks(id, title) VALUES ('kept', 'also on the road')`)
	ahead := at.now().Add(time.Hour)
	for _, e := range roamer.journalEntries() {
		if e.State == journal.Pending && e.Stamp.TS.Time().Before(ahead) {
			t.Fatalf("the test needs offline entries stamped ahead: %v", e.Stamp.TS.Time())
		}
	}

	roamer.net.setDown(false)
	roamer.client.Online(true)
	roamer.synced(h)
	if st := roamer.status(); st.Refused != 0 {
		t.Fatalf("%d of the roamer's edits refused", st.Refused)
	}
	nearServerTime(t, roamer, at, at.base, syncserver.DefaultMaxClockSkew)
	other.synced(h)
	want := h.serverTasks()
	for _, d := range []*device{roamer, other} {
		if got := d.tasks(); got != want {
			t.Fatalf("%s diverged:\n%s\nserver:\n%s", d.name, got, want)
		}
	}
	if got := h.serverQuery(`SELECT title FROM tasks WHERE id IN ('shared', 'kept', 'trip') ORDER BY id`); len(got) != 2 ||
		got[0][0] != "also on the road" || got[1][0] != "by roamer, offline" {
		t.Fatalf("the offline edits did not win: %v", got)
	}
	if got := roamer.j.Clock().Offset(); got > -2*time.Hour+time.Minute || got < -2*time.Hour-time.Minute {
		t.Fatalf("the roamer's offset is %v, want about -2h", got)
	}
}

// TestClockSetAheadWhileConnectedIsCorrected: a connected device's clock
// is set an hour ahead; its next edits, stamped with it, are restamped
// before they are pushed (the monotonic clock says the wall clock jumped)
// and accepted.
func TestClockSetAheadWhileConnectedIsCorrected(t *testing.T) {
	at := newTestTime()
	h := newHarness(t, syncserver.Config{Path: t.TempDir() + "/sync.db", Now: at.now})
	d, wall := skewedDevice(t, "d", h, at, 0)
	d.start()
	d.mustExec(`INSERT INTO tasks(id, title) VALUES ('before', 'x')`)
	d.synced(h)
	wall.set(time.Hour)
	d.mustExec(`INSERT INTO tasks(id, title) VALUES ('after', 'y')`)
	d.mustExec(`UPDATE tasks SET title = 'z' WHERE id = 'before'`)
	d.synced(h)
	if st := d.status(); st.Refused != 0 {
		t.Fatalf("%d edits refused", st.Refused)
	}
	nearServerTime(t, d, at, at.base, syncserver.DefaultMaxClockSkew)
	if got := h.serverQuery(`SELECT title FROM tasks ORDER BY id`); len(got) != 2 || got[0][0] != "y" || got[1][0] != "z" {
		t.Fatalf("server rows: %v", got)
	}
}

// TestAWellSetClockIsLeftAlone: a device whose clock agrees with the
// server's keeps it, however often it reconnects. The offset a round
// trip measures is only exact to half that trip: correcting a good clock
// by that noise would make two good clocks disagree, and reorder edits
// made that close together. A clock two seconds off is still corrected.
func TestAWellSetClockIsLeftAlone(t *testing.T) {
	at := newTestTime()
	h := newHarness(t, syncserver.Config{Path: t.TempDir() + "/sync.db", Now: at.now})
	good, _ := skewedDevice(t, "good", h, at, 0)
	fast, _ := skewedDevice(t, "fast", h, at, 2*time.Second)
	good.start()
	fast.start()
	for i := range 5 {
		good.mustExec(`INSERT INTO tasks(id, title) VALUES (?, 'x')`, "good-"+string(rune('a'+i)))
		good.synced(h)
		if got := good.j.Clock().Offset(); got != 0 {
			t.Fatalf("round %d: a clock that agrees with the server's was moved by %v", i, got)
		}
		good.net.setDown(true)
		good.client.Online(false)
		good.net.setDown(false)
		good.client.Online(true)
	}
	fast.mustExec(`INSERT INTO tasks(id, title) VALUES ('fast', 'x')`)
	fast.synced(h)
	if got := fast.j.Clock().Offset(); got > -time.Second || got < -3*time.Second {
		t.Fatalf("the fast device's offset is %v, want about -2s", got)
	}
}
