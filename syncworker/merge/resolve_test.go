package merge

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/hlc"
)

func stamp(ts int64, node string) hlc.Stamp { return hlc.Stamp{TS: hlc.Timestamp(ts), Node: node} }

func TestResolveRules(t *testing.T) {
	ins := func(ts int64, vals map[string]any) *change.Change {
		return &change.Change{Op: change.Insert, Values: vals, Stamp: stamp(ts, "a")}
	}
	upd := func(ts int64, node string, vals map[string]any) *change.Change {
		return &change.Change{Op: change.Update, Values: vals, Stamp: stamp(ts, node)}
	}
	del := func(ts int64) *change.Change { return &change.Change{Op: change.Delete, Stamp: stamp(ts, "a")} }

	var r Row
	out := Resolve(r, ins(10, map[string]any{"x": int64(1), "y": "a"}), false)
	if out.Effect.Kind != Write || !out.Changed {
		t.Fatalf("first insert: %+v", out)
	}
	r = out.Row

	// Concurrent updates to the same field: the higher stamp wins, the
	// node id breaks a timestamp tie.
	out = Resolve(r, upd(20, "b", map[string]any{"x": int64(2)}), false)
	r = out.Row
	if out.Effect.Kind != Set || out.Effect.Values["x"] != int64(2) {
		t.Fatalf("update: %+v", out)
	}
	out = Resolve(r, upd(20, "a", map[string]any{"x": int64(3)}), false)
	if out.Changed || out.Effect.Kind != Keep {
		t.Fatalf("same timestamp, lower node must lose: %+v", out)
	}
	// A duplicate changes nothing.
	if out = Resolve(r, upd(20, "b", map[string]any{"x": int64(2)}), false); out.Changed {
		t.Fatalf("duplicate: %+v", out)
	}
	// A newer insert overwrites fields updated before it but not after.
	r2 := Resolve(r, upd(40, "c", map[string]any{"y": "late"}), false).Row
	out = Resolve(r2, ins(30, map[string]any{"x": int64(9), "y": "b"}), false)
	if out.Effect.Kind != Write || out.Effect.Values["x"] != int64(9) || out.Effect.Values["y"] != "late" {
		t.Fatalf("re-insert: %+v", out.Effect)
	}

	// Delete wins over a newer update and a newer insert by default.
	out = Resolve(r, del(25), false)
	if out.Effect.Kind != Remove {
		t.Fatalf("delete: %+v", out)
	}
	dead := out.Row
	if out = Resolve(dead, ins(99, map[string]any{"x": int64(5)}), false); out.Effect.Kind != Keep {
		t.Fatalf("no resurrection by default: %+v", out)
	}
	if out = Resolve(dead, upd(99, "z", map[string]any{"x": int64(5)}), false); out.Effect.Kind != Keep || !out.Changed {
		t.Fatalf("update of a deleted row is recorded, not shown: %+v", out)
	}
	// With resurrection, only a newer insert brings the row back.
	if out = Resolve(dead, ins(24, map[string]any{"x": int64(5)}), true); out.Effect.Kind != Keep {
		t.Fatalf("older insert must not resurrect: %+v", out)
	}
	if out = Resolve(dead, ins(26, map[string]any{"x": int64(5)}), true); out.Effect.Kind != Write {
		t.Fatalf("newer insert resurrects: %+v", out)
	}
	// A delete older than the newest insert leaves a resurrectable row.
	if out = Resolve(r, del(5), true); out.Effect.Kind != Keep || !out.Changed {
		t.Fatalf("old delete: %+v", out)
	}
	// Updates before any insert are kept for when the insert arrives.
	var orphan Row
	orphan = Resolve(orphan, upd(50, "b", map[string]any{"x": int64(7)}), false).Row
	out = Resolve(orphan, ins(10, map[string]any{"x": int64(1), "y": "a"}), false)
	if out.Effect.Values["x"] != int64(7) || out.Effect.Values["y"] != "a" {
		t.Fatalf("late insert must keep the newer update: %+v", out.Effect)
	}
}

// model is a replica made of metadata and a table, both in memory: the
// pure rule checked on its own, much faster than through SQLite.
type model struct {
	meta  map[string]Row
	table map[string]map[string]any
}

func (m *model) apply(ch *change.Change, resurrect bool) {
	key := string(ch.Key)
	out := Resolve(m.meta[key], ch, resurrect)
	m.meta[key] = out.Row
	switch out.Effect.Kind {
	case Write:
		row := map[string]any{}
		for k, v := range m.table[key] {
			row[k] = v
		}
		for k, v := range out.Effect.Values {
			row[k] = v
		}
		m.table[key] = row
	case Set:
		for k, v := range out.Effect.Values {
			m.table[key][k] = v
		}
	case Remove:
		delete(m.table, key)
	}
}

func (m *model) dump() string {
	return fmt.Sprint(m.table) // fmt sorts map keys
}

// TestResolveConvergesInAnyOrder applies random sets of changes to
// replicas in random orders with duplicates, and checks they agree.
func TestResolveConvergesInAnyOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for round := 0; round < 3000; round++ {
		resurrect := round%2 == 0
		var changes []*change.Change
		used := map[hlc.Stamp]bool{} // a node never issues one stamp twice
		for i := 0; i < 2+rng.IntN(25); i++ {
			st := stamp(int64(rng.IntN(40)), fmt.Sprint("n", rng.IntN(3)))
			if used[st] {
				continue
			}
			used[st] = true
			ch := &change.Change{Key: []byte{byte(rng.IntN(3))}, Stamp: st}
			switch rng.IntN(4) {
			case 0:
				ch.Op = change.Insert
				ch.Values = map[string]any{"x": int64(rng.IntN(5)), "y": fmt.Sprint(rng.IntN(5))}
			case 1, 2:
				ch.Op = change.Update
				ch.Values = map[string]any{}
				for _, col := range []string{"x", "y"} {
					if rng.IntN(2) == 0 {
						ch.Values[col] = int64(rng.IntN(5))
					}
				}
			case 3:
				ch.Op = change.Delete
			}
			changes = append(changes, ch)
		}
		var want string
		for r := 0; r < 4; r++ {
			m := &model{meta: map[string]Row{}, table: map[string]map[string]any{}}
			order := append([]*change.Change(nil), changes...)
			for i := 0; i < rng.IntN(5); i++ { // duplicates
				order = append(order, changes[rng.IntN(len(changes))])
			}
			rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			for _, ch := range order {
				m.apply(ch, resurrect)
			}
			got := m.dump()
			if r == 0 {
				want = got
			} else if got != want {
				t.Fatalf("round %d: replica %d diverged:\n got %s\nwant %s", round, r, got, want)
			}
		}
	}
}
