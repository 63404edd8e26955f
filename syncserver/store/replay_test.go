package store

import (
	"testing"

	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/hlc"
)

func TestRecordedMismatch(t *testing.T) {
	stamp := hlc.Stamp{TS: 100, Node: "dev"}
	pushed := Pushed{Seq: 4, Change: change.Change{Table: "tasks", Key: []byte{1}, Op: change.Insert, Stamp: stamp}}
	full := Recorded{Stamp: stamp, StampKnown: true, Table: "tasks", Key: []byte{1}, Op: change.Insert, ChangeKnown: true}
	other := func(edit func(c *Pushed)) *Pushed {
		c := pushed
		edit(&c)
		return &c
	}
	cases := []struct {
		name     string
		rec      Recorded
		c        *Pushed
		restamp  bool
		mismatch bool
	}{
		{"the same change", full, &pushed, false, false},
		{"another stamp", full, other(func(c *Pushed) { c.Stamp.TS++ }), false, true},
		{"another node", full, other(func(c *Pushed) { c.Stamp.Node = "x" }), false, true},
		{"another table", full, other(func(c *Pushed) { c.Table = "notes" }), false, true},
		{"another key", full, other(func(c *Pushed) { c.Key = []byte{2} }), false, true},
		{"another op", full, other(func(c *Pushed) { c.Op = change.Delete }), false, true},
		{"a refusal's record: stamp only", Recorded{Stamp: stamp, StampKnown: true}, other(func(c *Pushed) { c.Table = "notes" }), false, false},
		{"a record from before stamps", Recorded{}, other(func(c *Pushed) { c.Stamp.TS++ }), false, false},
		{"a restamped retry (backend write)", full, other(func(c *Pushed) { c.Stamp.TS++ }), true, false},
	}
	for _, tc := range cases {
		r := tc.rec.Mismatch(&Push{Client: "dev", Restamped: tc.restamp}, tc.c)
		if (r != nil) != tc.mismatch {
			t.Errorf("%s: refusal %v, want mismatch %v", tc.name, r, tc.mismatch)
		}
		if r != nil && r.Code != CodeReplayMismatch {
			t.Errorf("%s: code %s", tc.name, r.Code)
		}
	}
}
