package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hearthdb/hearth/client"
	"github.com/hearthdb/hearth/syncworker/syncstatus"
)

func TestColumnsOfSortsFiltersAndKeepsUnknownStatuses(t *testing.T) {
	tasks := tasksOf(client.Result{Rows: [][]any{
		{"b", "B", "", "doing", 2.0, "u-01", "", int64(0)},
		{"a", "A", "", "doing", int64(1), "u-02", "", int64(0)},
		{"c", "C", "", "someday", 1.0, "u-01", "", int64(0)},
		{"d", "D", "", "done", 0.5, "u-01", "2026-12-01", int64(3)},
	}})
	cols := columnsOf(tasks, "")
	got := ""
	for _, c := range cols {
		got += c.Status + ":"
		for _, t := range c.Tasks {
			got += t.ID
		}
		got += " "
	}
	if got != "backlog:c doing:ab done:d " {
		t.Fatalf("columns %q", got)
	}
	if n := len(columnsOf(tasks, "u-02")[1].Tasks); n != 1 {
		t.Fatalf("filtered doing column has %d tasks, want 1", n)
	}
	if s := dueAndPriority(tasks[3]); s != "due 2026-12-01 · High" {
		t.Fatalf("dueAndPriority %q", s)
	}
}

func TestMoveTaskWritesMidpointAndRenumbersWhenTight(t *testing.T) {
	c := &Root{writes: make(chan func(context.Context) error, 4), ActiveProject: "p"}
	c.Tasks = []Task{
		{ID: "a", Status: "backlog", Position: 1},
		{ID: "b", Status: "backlog", Position: 2},
		{ID: "x", Status: "doing", Position: 1},
		{ID: "y", Status: "doing", Position: 3},
	}
	c.moveTask("b", 1, 0) // b was second in backlog: lands second in doing
	if got := fmt.Sprint(positionsOf(c.Tasks)); got != "map[a:backlog/1 b:doing/2 x:doing/1 y:doing/3]" {
		t.Fatalf("after move right: %s", got)
	}
	c.moveTask("y", 0, -1) // y up past b: between x (1) and b (2)
	if got := fmt.Sprint(positionsOf(c.Tasks)); got != "map[a:backlog/1 b:doing/2 x:doing/1 y:doing/1.5]" {
		t.Fatalf("after move up: %s", got)
	}
	if len(c.writes) != 2 {
		t.Fatalf("%d writes queued, want one per move", len(c.writes))
	}
	// Neighbours too close to split: the column is renumbered in one batch.
	c.Tasks = []Task{{ID: "p", Status: "done", Position: 1}, {ID: "q", Status: "done", Position: 1 + 1e-12}, {ID: "r", Status: "done", Position: 5}}
	c.moveTask("r", 0, -1)
	if got := fmt.Sprint(positionsOf(c.Tasks)); got != "map[p:done/1 q:done/3 r:done/2]" {
		t.Fatalf("after renumber: %s", got)
	}
}

func positionsOf(tasks []Task) map[string]string {
	out := map[string]string{}
	for _, t := range tasks {
		out[t.ID] = fmt.Sprintf("%s/%v", t.Status, t.Position)
	}
	return out
}

func TestConflictsGroupsSameRoomAndSlot(t *testing.T) {
	got := conflicts([]Booking{
		{ID: "1", Room: "r1", Slot: "s9"}, {ID: "2", Room: "r1", Slot: "s10"},
		{ID: "3", Room: "r1", Slot: "s9"}, {ID: "4", Room: "r2", Slot: "s9"},
	})
	if len(got) != 1 || len(got[0]) != 2 || got[0][0].ID != "1" || got[0][1].ID != "3" {
		t.Fatalf("conflicts %+v", got)
	}
}

func TestSyncURLFollowsPageProtocol(t *testing.T) {
	if u := syncURL("https:", "example.com"); u != "wss://example.com/sync" {
		t.Fatal(u)
	}
	if u := syncURL("http:", "127.0.0.1:8080"); u != "ws://127.0.0.1:8080/sync" {
		t.Fatal(u)
	}
}

func TestRebaseKeepsLocalEditsOverOlderResults(t *testing.T) {
	c := &Root{}
	now := time.Unix(1000, 0)
	moved := Task{ID: "a", Status: "doing", Position: 2}
	c.edits = []localEdit{{seq: 1, id: "a", task: &moved}, {seq: 1, id: "gone"}}
	stale := []Task{{ID: "a", Status: "backlog", Position: 1}, {ID: "gone", Status: "done"}}
	got := c.rebase(stale, now)
	if len(got) != 1 || got[0] != moved || len(c.edits) != 2 {
		t.Fatalf("in flight over a stale result: %+v, %d edits", got, len(c.edits))
	}
	// Written, but the result is still the old one: the edits stay.
	for i := range c.edits {
		c.edits[i].done = now
	}
	if got := c.rebase(stale, now); len(got) != 1 || got[0] != moved || len(c.edits) != 2 {
		t.Fatalf("written over a stale result: %+v", got)
	}
	// The result shows the writes: the edits go, the result rules.
	fresh := []Task{moved}
	if got := c.rebase(fresh, now); len(got) != 1 || got[0] != moved || len(c.edits) != 0 {
		t.Fatalf("fresh result: %+v, %d edits left", got, len(c.edits))
	}
	// An edit no result ever matches (another device won) expires.
	c.edits = []localEdit{{seq: 2, id: "a", task: &Task{ID: "a", Status: "done"}, done: now}}
	if got := c.rebase(fresh, now.Add(2*editExpiry)); got[0] != moved || len(c.edits) != 0 {
		t.Fatalf("expired edit still applied: %+v", got)
	}
}

// A card moved twice: once the result shows the second move, the first
// move's edit must not put the card back in the middle column.
func TestRebaseDropsEditsOlderThanOneTheResultShows(t *testing.T) {
	c := &Root{}
	now := time.Unix(1000, 0)
	middle := Task{ID: "a", Status: "doing", Position: 2}
	last := Task{ID: "a", Status: "backlog", Position: 3}
	for _, written := range []bool{true, false} {
		// The first move's write is done or (its reply not yet handled)
		// still in flight; the second's is done.
		first := localEdit{seq: 1, id: "a", task: &middle}
		if written {
			first.done = now
		}
		c.edits = []localEdit{first, {seq: 2, id: "a", task: &last, done: now}, {seq: 3, id: "b", task: &Task{ID: "b", Status: "done"}}}
		got := c.rebase([]Task{last, {ID: "b", Status: "doing"}}, now)
		if len(got) != 2 || got[0] != last || got[1].Status != "done" || len(c.edits) != 1 || c.edits[0].id != "b" {
			t.Fatalf("first write done %v: %+v, edits %+v", written, got, c.edits)
		}
	}
}

func TestSyncStatusOfDropsTheRedundantOfflineError(t *testing.T) {
	offline := syncstatus.Status{Online: false, LastError: &syncstatus.ErrorInfo{Class: "offline", Message: "the device is offline"}}
	if s := syncStatusOf(offline); s.ErrorText != "" || !s.Enabled {
		t.Fatalf("offline: %+v", s)
	}
	failing := syncstatus.Status{Online: true, LastError: &syncstatus.ErrorInfo{Class: "server", Message: "503 from /sync"}}
	if s := syncStatusOf(failing); s.ErrorText != "server: 503 from /sync" {
		t.Fatalf("server error shown as %q", s.ErrorText)
	}
}

func TestHandleKeyActsOnlyOnTheBoardsKeys(t *testing.T) {
	c := &Root{writes: make(chan func(context.Context) error, 4), ActiveProject: "p"}
	c.Tasks = []Task{{ID: "a", Status: "backlog", Position: 1}}
	for _, k := range []struct {
		key, target, tag string
		alt              bool
	}{
		{"Alt", "task-a", "article", true},         // Alt alone: nothing to do, no render
		{"ArrowRight", "task-a", "article", false}, // an arrow without Alt scrolls
		{"ArrowRight", "new-task", "button", true}, // not on a card
		{"n", "edit-title", "input", false},        // typing
		{"ArrowDown", "task-a", "article", true},   // already last: no move
		{"Escape", "task-a", "article", false},     // no editor open
		{"ArrowRight", "task-zz", "article", true}, // no such card
	} {
		if c.HandleKey(k.key, k.target, k.tag, k.alt, false, false) && k.key != "ArrowDown" && k.target != "task-zz" {
			t.Fatalf("%+v: handled", k)
		}
	}
	if len(c.writes) != 0 || c.Tasks[0].Status != "backlog" {
		t.Fatalf("a key the board does not act on wrote: %d writes, %+v", len(c.writes), c.Tasks[0])
	}
	if !c.HandleKey("ArrowRight", "task-a", "article", true, false, false) || c.Tasks[0].Status != "doing" || len(c.writes) != 1 {
		t.Fatalf("Alt+→ on a card: %+v, %d writes", c.Tasks[0], len(c.writes))
	}
	if c.HandleKey("ArrowLeft", "task-a", "article", true, true, false) {
		t.Fatal("Ctrl+Alt+← handled")
	}
	if !c.FocusCard("a") || c.FocusCard("a") {
		t.Fatal("focusing a card renders once, focusing it again not at all")
	}
}

func TestSameTasksIgnoresOrder(t *testing.T) {
	a := []Task{{ID: "a", Status: "doing", Position: 2}, {ID: "b", Status: "backlog", Position: 1}}
	b := []Task{a[1], a[0]}
	if !sameTasks(a, b) {
		t.Fatal("the same tasks in another order are the same board")
	}
	b[0].Position = 3
	if sameTasks(a, b) || sameTasks(a, a[:1]) {
		t.Fatal("a task that moved, or one missing, differs")
	}
	if a[0].ID+a[1].ID != "ab" {
		t.Fatal("sameTasks must not reorder its arguments")
	}
}
